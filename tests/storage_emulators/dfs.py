"""An ADLS Gen2 endpoint emulator for the official ``azure-storage-file-datalake`` client.

It speaks the documented REST dialects the SDK sends to one account: the DFS "Path" and
"Filesystem" operations (create, append, flush, rename, delete, list) and the Blob operations the
SDK routes to the blob endpoint (container create, Get Blob, Get Blob Properties, Lease Blob), and
Copy Blob / Abort Copy Blob on the blob endpoint (the emulator fetches the source URL itself).
Requests are verified with Shared Key, or a service SAS on reads, like Azure. Modules: dfs_state.py
(state, errors, signing), dfs_ops.py (path operations), copying.py (SAS and copies). Content lives on disk, so large files cost no
memory. Run it as a process: ``python -m tests.storage_emulators.dfs --root DIR`` with the key in
``DFS_EMULATOR_KEY``; it prints ``PORT <n>`` once listening. See README.md for its fidelity.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .copying import SasError, is_sas, read_events, record, verify_sas
from .dfs_ops import PathOps
from .dfs_state import (
    DFS_PARAMS,
    ERRORS,
    Account,
    StorageError,
    _drop_files,
    _http_date,
    _xml,
    canonical_query,
    err,
    string_to_sign,
)  # fmt: skip


class Handler(PathOps, BaseHTTPRequestHandler):
    """One request: authenticate, route by method and query, answer in the operation's dialect."""

    protocol_version = "HTTP/1.1"
    server_version, sys_version = "Windows-Azure-HDFS/1.0 Microsoft-HTTPAPI/2.0", ""
    server: DfsServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read the client's errors

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        acct = self.server.account
        self.raw_path, _, self.raw_query = self.path.partition("?")
        self.q = dict(canonical_query(self.raw_query))
        self.h = {k.lower(): v for k, v in self.headers.items()}
        # the SDK sends Path Delete and Update (PATCH) to the DFS endpoint, reads to the blob one
        self.dfs = bool(DFS_PARAMS & self.q.keys()) or "x-ms-rename-source" in self.h
        self.dfs = self.dfs or (self.command in ("PATCH", "DELETE") and "restype" not in self.q)
        self.request_id = str(uuid.uuid4())
        try:
            self._authenticate()
            parts = [unquote(p) for p in self.raw_path.split("/")[1:]]
            if not parts or parts[0] != acct.name:
                raise err("InvalidUri")
            fs_name, path = (parts[1] if len(parts) > 1 else ""), "/".join(p for p in parts[2:] if p)
            body = self._read_body()
            if self.command == "PUT" and "x-ms-copy-source" in self.h and "comp" not in self.q:
                # Copy Blob fetches its source outside the lock (the source may be this server)
                self._send(*self._copy_blob(fs_name, path))
                return
            with acct.lock:
                status, headers, payload = self._route(fs_name, path, body)
                if isinstance(payload, Path):  # open while no one can delete it
                    payload = (payload, 0, payload.stat().st_size)
                if isinstance(payload, tuple):
                    payload = (open(payload[0], "rb"), payload[1], payload[2])
            self._send(status, headers, payload)
        except StorageError as exc:
            self._send_error(exc)
        except Exception as exc:  # an emulator bug: answer like Azure's 500, keep serving
            self._send_error(err("InternalError", f"{type(exc).__name__}: {exc}"))

    def _read_body(self) -> Path | None:
        """The request body spooled to disk (appends may be large)."""
        length = int(self.h.get("content-length") or 0)
        chunked = self.h.get("transfer-encoding", "").lower() == "chunked"
        if not length and not chunked:
            return None
        spool = self.server.account.scratch()
        with open(spool, "wb") as out:
            if chunked:
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    out.write(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
            else:
                while length:
                    piece = self.rfile.read(min(length, 1 << 20))
                    if not piece:
                        raise err("InvalidInput")
                    out.write(piece)
                    length -= len(piece)
        return spool

    def _authenticate(self) -> None:
        acct = self.server.account
        auth = self.h.get("authorization", "")
        if not auth and is_sas(self.q):
            self._authenticate_sas()
            return
        if not auth:
            raise err("NoAuthenticationInformation")
        when = self.h.get("x-ms-date") or self.h.get("date", "")
        try:
            skew = abs(time.time() - parsedate_to_datetime(when).timestamp())
        except (TypeError, ValueError):
            skew = float("inf")
        text = string_to_sign(self.command, self.raw_path, self.raw_query, self.h, acct.name)
        expected = base64.b64encode(hmac.new(acct.key, text.encode(), hashlib.sha256).digest()).decode()
        scheme, _, cred = auth.partition(" ")
        name, _, sig = cred.partition(":")
        if scheme != "SharedKey" or name != acct.name or not hmac.compare_digest(sig, expected) or skew > 900:
            detail = "Request date header too old." if skew > 900 else (
                "The MAC signature found in the HTTP request is not the same as any computed signature. "
                f"Server used following string to sign: '{text}'.")  # fmt: skip
            raise err("AuthenticationFailed", f"{ERRORS['AuthenticationFailed'][1]}\n{detail}")

    def _authenticate_sas(self) -> None:
        """A service SAS (Blob string-to-sign, which the DataLake SDK's file SAS uses too)."""
        acct = self.server.account
        parts = [unquote(p) for p in self.raw_path.split("/")[1:]]
        path = "/".join(p for p in parts[1:] if p)
        try:
            if not parts or parts[0] != acct.name:
                raise SasError(403, "AuthenticationFailed", "The SAS names another account.")
            verify_sas(
                self.q, service="blob", account=acct.name, key=acct.key, resource=path, method=self.command
            )
        except SasError as exc:
            record(acct.root, "sas-refused", path=path, code=exc.code)
            raise StorageError(exc.status, exc.code, exc.message) from None
        record(acct.root, "sas-read", path=path, method=self.command)

    # routing ------------------------------------------------------------------------------

    def _route(self, fs_name: str, path: str, body: Path | None) -> tuple[int, dict[str, str], bytes | Path]:
        acct, m, q = self.server.account, self.command, self.q
        if not fs_name:
            raise err("UnsupportedQueryParameter", "Account-level operations are not emulated.")
        if not path:
            if m == "PUT" and (q.get("restype") == "container" or q.get("resource") == "filesystem"):
                if fs_name in acct.filesystems:
                    raise err("FilesystemAlreadyExists" if self.dfs else "ContainerAlreadyExists")
                acct.filesystems[fs_name] = {}
                return 201, {"ETag": acct.new_etag(), "Last-Modified": _http_date(time.time())}, b""
            if m == "DELETE":
                paths = acct.fs(fs_name, self.dfs)
                for node in paths.values():
                    _drop_files(node)
                del acct.filesystems[fs_name]
                return 202, {}, b""
            if m in ("GET", "HEAD") and q.get("restype") == "container":
                acct.fs(fs_name, False)
                return 200, {"x-ms-has-immutability-policy": "false", "x-ms-has-legal-hold": "false"}, b""
            if m == "GET" and q.get("resource") == "filesystem":
                return self._list(acct.fs(fs_name, True))
            raise err("UnsupportedQueryParameter", f"{m} on a filesystem with {q} is not emulated.")
        paths = acct.fs(fs_name, self.dfs)
        if m == "PUT" and q.get("comp") == "lease":
            return self._lease(paths, path)
        if m == "PUT" and q.get("comp") == "copy":
            return self._abort_copy(paths, path)
        if m == "PUT" and "x-ms-rename-source" in self.h:
            return self._rename(paths, fs_name, path)
        if m == "PUT" and q.get("resource") in ("file", "directory"):
            return self._create(paths, path, q["resource"] == "directory")
        if m == "PATCH" and q.get("action") == "append":
            return self._append(paths, path, body)
        if m == "PATCH" and q.get("action") == "flush":
            return self._flush(paths, path)
        if m in ("GET", "HEAD") and not self.dfs and not ({"comp", "restype"} & q.keys()):
            return self._read(paths, path, head=m == "HEAD")
        if m == "DELETE":
            return self._delete(paths, path)
        raise err("UnsupportedQueryParameter", f"{m} on a path with {q} is not emulated.")

    def _send(self, status: int, headers: dict[str, str], payload) -> None:
        self.send_response(status)
        base = {"x-ms-request-id": self.request_id, "x-ms-version": self.h.get("x-ms-version", "2025-01-05")}
        if isinstance(payload, tuple):  # an open file, from where, how many bytes
            data, start, length = payload
        else:
            data, start, length = None, 0, len(payload)
        headers = base | headers
        headers.setdefault("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            if data is not None:
                data.close()
            return
        if data is None:
            self.wfile.write(payload)
            return
        with data as fh:
            fh.seek(start)
            while length > 0:
                piece = fh.read(min(length, 1 << 20))
                self.wfile.write(piece)
                length -= len(piece)

    def _send_error(self, exc: StorageError) -> None:
        message = f"{exc.message}\nRequestId:{self.request_id}\nTime:{time.strftime('%Y-%m-%dT%H:%M:%S.0000000Z', time.gmtime())}"
        if self.command == "HEAD":
            body, ctype = b"", None
        elif self.dfs:
            body, ctype = (
                json.dumps({"error": {"code": exc.code, "message": message}}).encode(),
                "application/json;charset=utf-8",
            )
        else:
            xml = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{exc.code}</Code><Message>{_xml(message)}</Message></Error>'
            body, ctype = xml.encode(), "application/xml"
        headers = {"x-ms-error-code": exc.code, "Content-Length": str(len(body))}
        if ctype:
            headers["Content-Type"] = ctype
        self._send(exc.status, headers, body)


class DfsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, account: Account, host: str = "127.0.0.1", port: int = 0, copy_delay: float = 0.0):
        self.account, self.copy_delay = account, copy_delay
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        """The account URL in path style (the SDK takes the account name from the path)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/{quote(self.account.name)}"


@dataclass
class DfsEmulator:
    """A running emulator process (its own process group): the account URL and its data folder."""

    process: subprocess.Popen[str] = field(repr=False)
    url: str
    root: Path

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """What it logged: 'copy-fetch' (it fetched a copy source), 'sas-read', 'sas-refused'."""
        return read_events(self.root, event)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for pipe in (self.process.stdout, self.process.stdin):
            if pipe is not None:
                pipe.close()


def start_dfs_emulator(
    root: Path, key: str, *, account: str = "devaccount", page_size: int = 5000, copy_delay: float = 0.0
) -> DfsEmulator:
    """Start the emulator on a free loopback port; it also exits when this process dies."""
    package = __package__ or "storage_emulators"
    parent = Path(__file__).resolve().parents[len(package.split("."))]
    path = os.pathsep.join(filter(None, [str(parent), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", f"{package}.dfs", "--root", str(root), "--account", account,
           "--page-size", str(page_size), "--copy-delay", str(copy_delay), "--exit-with-stdin"]  # fmt: skip
    env = {**os.environ, "DFS_EMULATOR_KEY": key, "PYTHONPATH": path}
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, text=True, **pipes)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError(f"the DFS emulator did not start (said {line!r})")
    return DfsEmulator(proc, f"http://127.0.0.1:{int(line.split()[1])}/{quote(account)}", root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="folder for file contents")
    parser.add_argument("--account", default="devaccount")
    parser.add_argument("--page-size", type=int, default=5000, help="most paths per list page")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--copy-delay",
        type=float,
        default=0.0,
        help="seconds every Copy Blob stays pending after its bytes arrived",
    )
    parser.add_argument(
        "--exit-with-stdin", action="store_true", help="stop when stdin closes (the parent process died)"
    )
    args = parser.parse_args()
    key = os.environ.get("DFS_EMULATOR_KEY")
    if not key:
        parser.error("set DFS_EMULATOR_KEY to the account key (base64)")
    account = Account(args.root, args.account, key, args.page_size)
    server = DfsServer(account, port=args.port, copy_delay=args.copy_delay)
    print(f"PORT {server.server_address[1]}", flush=True)
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
