"""An ADLS Gen2 endpoint emulator for the official ``azure-storage-file-datalake`` client.

It speaks the documented REST dialects the SDK sends to one account: the DFS "Path" and
"Filesystem" operations (create, append, flush, rename, delete, list) and the Blob operations the
SDK routes to the blob endpoint (container create, Get Blob, Get Blob Properties, Lease Blob).
Requests are verified with Shared Key like Azure. Content lives on disk, so large files cost no
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
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip
DFS_PARAMS = {"resource", "action", "recursive", "directory", "continuation", "mode", "position"}


class StorageError(Exception):
    """An Azure error response: status, x-ms-error-code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Node:
    """A file or directory of a hierarchical filesystem."""

    is_dir: bool
    etag: str
    mtime: float
    ctime: float
    data: Path | None = None  # committed content (files)
    size: int = 0
    md5: str | None = None  # base64 Content-MD5 set at flush
    content_type: str | None = None
    stage: Path | None = None  # appended, not yet flushed bytes, at their file offsets
    ranges: list[tuple[int, int]] = field(default_factory=list)
    lease_id: str | None = None
    lease_until: float | None = None  # None with a lease id = infinite

    def leased(self) -> bool:
        return self.lease_id is not None and (self.lease_until is None or self.lease_until > time.time())


class Account:
    """The state of one storage account: filesystems of paths, guarded by one lock."""

    def __init__(self, root: Path, name: str, key: str, page_size: int = 5000):
        self.root, self.name, self.key, self.page_size = root, name, base64.b64decode(key), page_size
        self.filesystems: dict[str, dict[str, Node]] = {}
        self.lock = threading.RLock()
        self._seq = 0
        root.mkdir(parents=True, exist_ok=True)

    def new_etag(self) -> str:
        self._seq += 1
        return f'"0x8D{time.time_ns() // 100:X}{self._seq:04X}"'

    def new_node(self, is_dir: bool) -> Node:
        now = time.time()
        return Node(is_dir=is_dir, etag=self.new_etag(), mtime=now, ctime=now)

    def scratch(self) -> Path:
        return self.root / uuid.uuid4().hex

    def fs(self, name: str, dfs: bool) -> dict[str, Node]:
        if name not in self.filesystems:
            raise err("FilesystemNotFound" if dfs else "ContainerNotFound")
        return self.filesystems[name]


# Azure's status and message for each error code the emulator answers with
ERRORS: dict[str, tuple[int, str]] = {
    "FilesystemNotFound": (404, "The specified filesystem does not exist."),
    "ContainerNotFound": (404, "The specified container does not exist."),
    "FilesystemAlreadyExists": (409, "The specified filesystem already exists."),
    "ContainerAlreadyExists": (409, "The specified container already exists."),
    "BlobNotFound": (404, "The specified blob does not exist."),
    "NoAuthenticationInformation": (
        401,
        "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
    ),
    "AuthenticationFailed": (
        403,
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        "correctly including the signature.",
    ),
    "LeaseNotPresentWithLeaseOperation": (409, "There is currently no lease on the blob."),
    "LeaseIdMismatchWithLeaseOperation": (
        409,
        "The lease ID specified did not match the lease ID for the blob.",
    ),
    "InternalError": (500, "The server encountered an internal error. Please retry the request."),
    "UnsupportedQueryParameter": (
        400,
        "One of the query parameters specified in the request URI is not supported.",
    ),
    "ConditionNotMet": (412, "The condition specified using HTTP conditional header(s) is not met."),
    "DirectoryNotEmpty": (
        409,
        "The recursive query parameter value must be true to delete a non-empty directory.",
    ),
    "InvalidDestinationPath": (400, "The destination path is the source or lies below it."),
    "InvalidFlushOperation": (409, "The resource is a directory."),
    "InvalidFlushPosition": (
        400,
        "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.",
    ),
    "InvalidHeaderValue": (400, "The value for one of the HTTP headers is not in the correct format."),
    "InvalidInput": (400, "The request body ended early."),
    "InvalidRange": (416, "The range specified is invalid for the current size of the resource."),
    "InvalidSourceUri": (400, "The source URI is invalid or names another filesystem."),
    "InvalidUri": (400, "The requested URI does not represent any resource."),
    "LeaseAlreadyPresent": (409, "There is already a lease present."),
    "LeaseIdMismatch": (412, "The lease ID specified did not match the lease ID for the path."),
    "LeaseIdMissing": (
        412,
        "There is currently a lease on the path and no lease ID was specified in the request.",
    ),
    "LeaseNotPresent": (412, "There is currently no lease on the path."),
    "Md5Mismatch": (
        400,
        "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
    ),
    "PathAlreadyExists": (409, "The specified path already exists."),
    "PathConflict": (
        409,
        "The specified path, or an element of the path, exists and its resource type is invalid for this operation.",
    ),
    "PathNotFound": (404, "The specified path does not exist."),
    "RenameDestinationParentPathNotFound": (
        404,
        "The parent directory of the destination path does not exist.",
    ),
    "SourceConditionNotMet": (412, "The source path is leased; give its lease id."),
    "SourcePathNotFound": (404, "The source path for a rename operation does not exist."),
}


def err(code: str, message: str | None = None) -> StorageError:
    """The StorageError Azure answers with for ``code``."""
    status, text = ERRORS[code]
    return StorageError(status, code, message or text)


def canonical_query(raw: str) -> list[tuple[str, str]]:
    """Query parameters as Azure canonicalizes them: lower-case names, decoded values, sorted."""
    params: dict[str, list[str]] = {}
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        params.setdefault(unquote(name).lower(), []).append(unquote(value))
    return sorted((k, ",".join(v)) for k, v in params.items())


def string_to_sign(method: str, raw_path: str, raw_query: str, headers: dict[str, str], account: str) -> str:
    """The Shared Key string-to-sign of a request (Blob, Queue and File/DFS services, 2015-02-21+)."""
    values = [headers.get(h, "") for h in SIGNED_HEADERS]
    if values[2] == "0":
        values[2] = ""  # a zero Content-Length signs as empty
    xms = sorted((k, v.strip()) for k, v in headers.items() if k.startswith("x-ms-"))
    text = method + "\n" + "\n".join(values) + "\n"
    text += "".join(f"{k}:{v}\n" for k, v in xms) + f"/{account}{raw_path}"
    return text + "".join(f"\n{k}:{v}" for k, v in canonical_query(raw_query))


class Handler(BaseHTTPRequestHandler):
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
        if "sig" in self.q:
            raise err("AuthenticationFailed", "SAS tokens are not supported by this emulator.")
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

    def _node(self, paths: dict[str, Node], path: str) -> Node:
        node = paths.get(path)
        if node is None:
            raise err("PathNotFound" if self.dfs else "BlobNotFound")
        return node

    def _conditions(self, node: Node | None) -> None:
        """If-Match / If-None-Match as Azure applies them to writes and reads."""
        if_match, if_none = self.h.get("if-match"), self.h.get("if-none-match")
        if if_match and (node is None or (if_match != "*" and if_match != node.etag)):
            raise err("ConditionNotMet")
        if if_none and node is not None and (if_none == "*" or if_none == node.etag):
            if self.dfs and if_none == "*":
                raise err("PathAlreadyExists")
            if self.command in ("GET", "HEAD"):
                raise StorageError(304, "ConditionNotMet", "Not modified.")
            raise err("ConditionNotMet")

    def _lease_guard(self, node: Node | None) -> None:
        """A write to a leased path needs its lease id, like Azure."""
        given = self.h.get("x-ms-lease-id")
        if node is not None and node.leased():
            if not given:
                raise err("LeaseIdMissing")
            if given != node.lease_id:
                raise err("LeaseIdMismatch")
        elif given:
            raise err("LeaseNotPresent")

    def _create(self, paths: dict[str, Node], path: str, is_dir: bool):
        old = paths.get(path)
        self._conditions(old)
        self._lease_guard(old)
        if old is not None and old.is_dir != is_dir:
            raise err("PathConflict")
        self._make_parents(paths, path)
        if old is not None:
            _drop_files(old)
        node = self.server.account.new_node(is_dir)
        node.content_type = self.h.get("x-ms-content-type")
        if old is not None:
            node.lease_id, node.lease_until, node.ctime = old.lease_id, old.lease_until, old.ctime
        paths[path] = node
        return 201, {"ETag": node.etag, "Last-Modified": _http_date(node.mtime)}, b""

    def _make_parents(self, paths: dict[str, Node], path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            node = paths.get(parent)
            if node is None:
                paths[parent] = self.server.account.new_node(True)
            elif not node.is_dir:
                raise err("PathConflict", f"The parent path {parent!r} is a file.")

    def _append(self, paths: dict[str, Node], path: str, body: Path | None):
        node = self._node(paths, path)
        self._lease_guard(node)
        if node.is_dir:
            raise err("InvalidFlushOperation")
        pos, size = int(self.q.get("position", "-1")), body.stat().st_size if body else 0
        if pos < node.size:
            raise err("InvalidFlushPosition")
        if body is not None and "content-md5" in self.h:
            if base64.b64encode(_md5(body)).decode() != self.h["content-md5"]:
                raise err("Md5Mismatch")
        if node.stage is None:
            node.stage = self.server.account.scratch()
            if node.data is not None:
                shutil.copyfile(node.data, node.stage)
            else:
                node.stage.touch()
        if body is not None:
            with open(node.stage, "r+b") as out, open(body, "rb") as src:
                out.seek(pos)
                shutil.copyfileobj(src, out, 1 << 20)
            body.unlink()
        node.ranges.append((pos, pos + size))
        return 202, {}, b""

    def _flush(self, paths: dict[str, Node], path: str):
        node = self._node(paths, path)
        self._conditions(node)
        self._lease_guard(node)
        pos = int(self.q.get("position", "-1"))
        covered = node.size
        for start, end in sorted(node.ranges):
            if start <= covered < end:
                covered = end
        if pos < node.size or pos > covered:
            raise err("InvalidFlushPosition")
        if pos > node.size:
            assert node.stage is not None
            with open(node.stage, "r+b") as fh:
                fh.truncate(pos)
            if node.data is not None:
                node.data.unlink(missing_ok=True)
            node.data, node.stage, node.size = node.stage, None, pos
        if self.q.get("retainuncommitteddata", "false") != "true" and node.stage is not None:
            node.stage.unlink(missing_ok=True)
            node.stage = None
        node.ranges = [r for r in node.ranges if r[1] > pos] if node.stage else []
        node.md5 = self.h.get("x-ms-content-md5") or None
        node.content_type = self.h.get("x-ms-content-type", node.content_type)
        node.etag, node.mtime = self.server.account.new_etag(), time.time()
        return 200, {"ETag": node.etag, "Last-Modified": _http_date(node.mtime)}, b""

    def _rename(self, paths: dict[str, Node], fs_name: str, dest: str):
        source = unquote(self.h["x-ms-rename-source"].split("?")[0]).strip("/").split("/", 1)
        if source[0] != fs_name or len(source) < 2:
            raise err("InvalidSourceUri")
        src = source[1].strip("/")
        node = self._node(paths, src) if src in paths else None
        if node is None:
            raise err("SourcePathNotFound")
        if node.leased() and self.h.get("x-ms-source-lease-id") != node.lease_id:
            raise err("SourceConditionNotMet")
        if dest == src or dest.startswith(src + "/"):
            raise err("InvalidDestinationPath")
        parent = dest.rsplit("/", 1)[0] if "/" in dest else ""
        if parent and (parent not in paths or not paths[parent].is_dir):
            raise err("RenameDestinationParentPathNotFound")
        old = paths.get(dest)
        self._conditions(old)
        self._lease_guard(old)
        if old is not None and old.is_dir and any(p.startswith(dest + "/") for p in paths):
            raise err("DirectoryNotEmpty", "The destination directory is not empty.")
        if old is not None:
            _drop_files(old)
        for name in sorted(p for p in paths if p == src or p.startswith(src + "/")):
            paths[dest + name[len(src) :]] = paths.pop(name)
        return 201, {"ETag": node.etag, "Last-Modified": _http_date(node.mtime)}, b""

    def _delete(self, paths: dict[str, Node], path: str):
        node = self._node(paths, path)
        self._conditions(node)
        self._lease_guard(node)
        below = [p for p in paths if p.startswith(path + "/")]
        if below and self.q.get("recursive") != "true":
            raise err("DirectoryNotEmpty")
        for name in [path, *below]:
            _drop_files(paths.pop(name))
        return (200 if self.dfs else 202), {}, b""

    def _read(self, paths: dict[str, Node], path: str, head: bool):
        node = self._node(paths, path)
        self._conditions(node)
        headers = {
            "ETag": node.etag, "Last-Modified": _http_date(node.mtime), "x-ms-blob-type": "BlockBlob",
            "x-ms-creation-time": _http_date(node.ctime), "Accept-Ranges": "bytes",
            "x-ms-lease-state": "leased" if node.leased() else "available",
            "x-ms-lease-status": "locked" if node.leased() else "unlocked",
            "x-ms-server-encrypted": "true", "x-ms-resource-type": "directory" if node.is_dir else "file",
        }  # fmt: skip
        if node.lease_id and node.leased():
            headers["x-ms-lease-duration"] = "infinite" if node.lease_until is None else "fixed"
        if node.is_dir:
            headers["x-ms-meta-hdi_isfolder"] = "true"
        if node.content_type:
            headers["Content-Type"] = node.content_type
        rng = self.h.get("x-ms-range") or self.h.get("range")
        if head or not rng:
            if node.md5:
                headers["Content-MD5"] = node.md5
            return (
                200,
                headers | {"Content-Length": str(node.size)},
                (b"" if head or node.data is None else node.data),
            )
        first, _, last = rng.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last) if last else node.size - 1, node.size - 1)
        if start >= node.size:
            raise err("InvalidRange")
        if node.md5:
            headers["x-ms-blob-content-md5"] = node.md5
        headers["Content-Range"] = f"bytes {start}-{end}/{node.size}"
        return 206, headers, (node.data, start, end - start + 1)  # type: ignore[return-value]

    def _lease(self, paths: dict[str, Node], path: str):
        node, action, now = self._node(paths, path), self.h.get("x-ms-lease-action", ""), time.time()
        given, proposed = self.h.get("x-ms-lease-id"), self.h.get("x-ms-proposed-lease-id")
        if action == "acquire":
            duration = int(self.h.get("x-ms-lease-duration", "-1"))
            if duration != -1 and not 15 <= duration <= 60:
                raise err(
                    "InvalidHeaderValue",
                    "The value for the x-ms-lease-duration header is not in the range 15 to 60 or -1.",
                )
            if node.leased() and node.lease_id != proposed:
                raise err("LeaseAlreadyPresent")
            node.lease_id = proposed or str(uuid.uuid4())
            node.lease_until = None if duration == -1 else now + duration
            node._duration = duration  # type: ignore[attr-defined]
            return (
                201,
                {"x-ms-lease-id": node.lease_id, "ETag": node.etag, "Last-Modified": _http_date(node.mtime)},
                b"",
            )
        if node.lease_id is None or (given != node.lease_id and action in ("renew", "release", "change")):
            code = (
                "LeaseNotPresentWithLeaseOperation"
                if node.lease_id is None
                else "LeaseIdMismatchWithLeaseOperation"
            )
            raise err(code)
        if action == "renew":
            duration = getattr(node, "_duration", -1)
            node.lease_until = None if duration == -1 else now + duration
        elif action == "release":
            node.lease_id = node.lease_until = None
        elif action == "change" and proposed:
            node.lease_id = proposed
        elif action == "break":
            node.lease_id = node.lease_until = None
            return 202, {"x-ms-lease-time": "0", "ETag": node.etag}, b""
        else:
            raise err("InvalidHeaderValue", f"Lease action {action!r} is not valid.")
        extra = {"x-ms-lease-id": node.lease_id} if node.lease_id else {}
        return 200, extra | {"ETag": node.etag, "Last-Modified": _http_date(node.mtime)}, b""

    def _list(self, paths: dict[str, Node]):
        directory = self.q.get("directory", "").strip("/")
        if directory and (directory not in paths or not paths[directory].is_dir):
            raise err("PathNotFound")
        recursive = self.q.get("recursive", "false") == "true"
        names = sorted(
            p for p in paths
            if (not directory or p.startswith(directory + "/"))
            and (recursive or "/" not in p[len(directory) + 1 if directory else 0 :])
        )  # fmt: skip
        after = (
            base64.urlsafe_b64decode(self.q["continuation"]).decode() if self.q.get("continuation") else None
        )
        if after is not None:
            names = [n for n in names if n > after]
        limit = min(int(self.q.get("maxresults") or 5000), self.server.account.page_size)
        page, headers = names[:limit], {"Content-Type": "application/json;charset=utf-8"}
        if len(names) > limit:
            headers["x-ms-continuation"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        entries = []
        for name in page:
            n = paths[name]
            entry = {"name": name, "contentLength": str(n.size), "etag": n.etag.strip('"'),
                     "lastModified": _http_date(n.mtime), "owner": "$superuser", "group": "$superuser",
                     "permissions": "rwxr-x---" if n.is_dir else "rw-r-----",
                     "creationTime": str(int(n.ctime * 10**7) + 116444736000000000)}  # fmt: skip
            if n.is_dir:
                entry["isDirectory"] = "true"
            entries.append(entry)
        return 200, headers, json.dumps({"paths": entries}).encode()

    # responses ----------------------------------------------------------------------------

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


def _drop_files(node: Node) -> None:
    for p in (node.data, node.stage):
        if p is not None:
            p.unlink(missing_ok=True)


def _md5(path: Path) -> bytes:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DfsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, account: Account, host: str = "127.0.0.1", port: int = 0):
        self.account = account
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        """The account URL in path style (the SDK takes the account name from the path)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/{quote(self.account.name)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="folder for file contents")
    parser.add_argument("--account", default="devaccount")
    parser.add_argument("--page-size", type=int, default=5000, help="most paths per list page")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--exit-with-stdin", action="store_true", help="stop when stdin closes (the parent process died)"
    )
    args = parser.parse_args()
    key = os.environ.get("DFS_EMULATOR_KEY")
    if not key:
        parser.error("set DFS_EMULATOR_KEY to the account key (base64)")
    server = DfsServer(Account(args.root, args.account, key, args.page_size), port=args.port)
    print(f"PORT {server.server_address[1]}", flush=True)
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
