"""The Azure Files emulator's HTTP server: plumbing, Shared Key and SAS authentication, routing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from .copying import SasError, is_sas, record, verify_sas
from .files_ops import FileOps
from .files_state import SIGNED_HEADERS, FileService, Node, StorageError, _now_iso, check_lease


class Handler(FileOps, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # plumbing ----------------------------------------------------------------------------

    def _serve(self) -> None:
        body = b""
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            self.query = {k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)}
            parts = [p for p in unquote(split.path).split("/") if p]  # %2F separates too, as in Azure
            self._authenticate(split.path, split.query, parts)
            if not parts or parts[0] != self.server.account:
                raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")  # fmt: skip
            if self.command == "PUT" and self.headers.get("x-ms-copy-source") and "comp" not in self.query:
                # Copy File fetches its source outside the lock (the source may be this server)
                status, headers, payload = self._copy_file(self.server.service, parts[1], parts[2:])
            else:
                with self.server.service.lock:
                    status, headers, payload = self._dispatch(parts[1:], body)
        except StorageError as err:
            self._send_error(err)
            return
        self._send(status, headers, payload)

    def _send(
        self, status: int, headers: dict[str, str], payload: bytes | Path | tuple[Path, int, int]
    ) -> None:
        self.send_response(status)
        base = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": self.headers.get("x-ms-version", "")}
        for key, value in {**base, **headers}.items():
            self.send_header(key, value)
        if isinstance(payload, tuple):
            path, start, count = payload
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(count))
            self.end_headers()
            if self.command != "HEAD":
                with open(path, "rb") as fh:
                    fh.seek(start)
                    while count > 0:
                        chunk = fh.read(min(count, 1024 * 1024))
                        self.wfile.write(chunk)
                        count -= len(chunk)
            return
        assert isinstance(payload, bytes)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _send_error(self, err: StorageError) -> None:
        request_id = str(uuid.uuid4())
        message = f"{err.message}\nRequestId:{request_id}\nTime:{_now_iso()}"
        xml = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{err.code}</Code><Message>{escape(message)}</Message>'
        if err.code == "AuthenticationFailed":
            xml += "<AuthenticationErrorDetail>The MAC signature found in the HTTP request is not the same as any computed signature.</AuthenticationErrorDetail>"  # fmt: skip
        payload = (xml + "</Error>").encode()
        headers = {"x-ms-error-code": err.code, "Content-Type": "application/xml", **err.headers}
        self._send(err.status, headers, b"" if self.command == "HEAD" else payload)

    def _authenticate(self, raw_path: str, raw_query: str, parts: list[str]) -> None:
        auth = self.headers.get("Authorization")
        if not auth and is_sas(self.query):
            self._authenticate_sas(parts)
            return
        if not auth:
            raise StorageError(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")  # fmt: skip
        account = self.server.account
        values = []
        for name in SIGNED_HEADERS:
            value = self.headers.get(name) or ""
            values.append("" if name == "content-length" and value == "0" else value)
        ms = sorted((k.lower(), v.strip()) for k, v in self.headers.items() if k.lower().startswith("x-ms-"))
        ms.sort(key=lambda kv: (kv[0].replace("-", ""), kv[0]))  # the service's order ignores '-' first
        canon_headers = "".join(f"{k}:{v}\n" for k, v in ms)
        grouped: dict[str, list[str]] = {}
        for k, v in parse_qsl(raw_query, keep_blank_values=True):
            grouped.setdefault(k.lower(), []).append(v)
        canon_query = "".join(f"\n{k}:{','.join(sorted(v))}" for k, v in sorted(grouped.items()))
        to_sign = (
            f"{self.command}\n"
            + "\n".join(values)
            + "\n"
            + canon_headers
            + f"/{account}{raw_path}"
            + canon_query
        )
        digest = hmac.new(self.server.key, to_sign.encode("utf-8"), hashlib.sha256).digest()
        expected = f"SharedKey {account}:{base64.b64encode(digest).decode()}"
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            raise StorageError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")  # fmt: skip

    def _authenticate_sas(self, parts: list[str]) -> None:
        """A service SAS (File string-to-sign) for the file or share the request names."""
        path = "/".join(parts[1:])
        try:
            if not parts or parts[0] != self.server.account:
                raise SasError(403, "AuthenticationFailed", "The SAS names another account.")
            verify_sas(self.query, service="file", account=self.server.account, key=self.server.key,
                       resource=path, method=self.command)  # fmt: skip
        except SasError as exc:
            record(self.server.service.data_dir, "sas-refused", path=path, code=exc.code)
            raise StorageError(exc.status, exc.code, exc.message) from None
        record(self.server.service.data_dir, "sas-read", path=path, method=self.command)

    # operations ---------------------------------------------------------------------------

    def _dispatch(self, parts: list[str], body: bytes) -> tuple[int, dict[str, str], Any]:
        svc: FileService = self.server.service
        restype, comp, method = self.query.get("restype"), self.query.get("comp"), self.command
        if not parts:
            raise StorageError(
                400, "InvalidQueryParameterValue", "Account-level operations are not emulated."
            )
        share, rest = parts[0], parts[1:]
        if restype == "share":
            return self._share_op(svc, share)
        if restype == "directory" and comp == "list":
            return self._list(svc, share, rest)
        if restype == "directory":
            return self._directory_op(svc, share, rest)
        if not rest:
            raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")  # fmt: skip
        if method == "PUT" and comp == "range":
            return self._put_range(svc, share, rest, body)
        if method == "PUT" and comp == "properties":
            return self._set_properties(svc, share, rest)
        if method == "PUT" and comp == "rename":
            return self._rename(svc, share, rest)
        if method == "PUT" and comp == "lease":
            return self._lease(svc, share, rest)
        if method == "PUT" and comp == "copy":
            return self._abort_copy(svc, share, rest)
        if method == "PUT" and comp is None:
            return self._create_file(svc, share, rest)
        if method in ("GET", "HEAD") and comp is None:
            return self._get_file(svc, share, rest)
        if method == "DELETE" and comp is None:
            node = self._file(svc, share, rest)
            check_lease(node, self.headers.get("x-ms-lease-id"))
            del svc.parent(share, rest).children[rest[-1].lower()]
            if node.body is not None:
                node.body.unlink(missing_ok=True)
            return 202, {}, b""
        raise StorageError(400, "UnsupportedQueryParameter", f"{method} with comp={comp!r} is not emulated.")

    def _stamp(self, node: Node) -> dict[str, str]:
        return {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True),
                "x-ms-request-server-encrypted": "true", "x-ms-file-id": node.file_id,
                "x-ms-file-attributes": "Directory" if node.is_dir else "Archive",
                "x-ms-file-creation-time": node.created, "x-ms-file-last-write-time": node.created,
                "x-ms-file-change-time": node.created, "x-ms-file-permission-key": "4066528134148476695*1",
                "x-ms-file-parent-id": "0"}  # fmt: skip

    def _file(self, svc: FileService, share: str, rest: list[str]) -> Node:
        svc.parent(share, rest)
        node = svc.find(share, rest)
        if node is None or node.is_dir:
            raise StorageError(404, "ResourceNotFound", "The specified resource does not exist.")
        return node


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int, account: str, key: bytes, data_dir: Path, page_size: int, copy_delay: float = 0.0
    ):
        super().__init__(("127.0.0.1", port), Handler)
        self.account, self.key, self.page_size, self.copy_delay = account, key, page_size, copy_delay
        self.service = FileService(data_dir)
