"""An Azure Files (File service REST) emulator for tests: no local server speaks the protocol.

It serves, with Shared Key auth and Azure's XML errors, the operations the official
azure-storage-file-share client uses: shares, directories, files (create, put range, get with
ranges, properties, rename, delete), listing with continuation and file leases. File bodies are
sparse files in a data folder, so large files cost disk, not memory. Run it as its own process
(``start_file_emulator``) so a test's memory and its lifetime are the client's alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

MAX_RANGE = 4 * 1024 * 1024  # Put Range accepts at most 4 MiB per request
SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip
CONTENT_PROPS = (
    "cache-control",
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
)


class StorageError(Exception):
    """An Azure error answer: HTTP status, x-ms-error-code and message."""

    def __init__(self, status: int, code: str, message: str, **headers: str):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


@dataclass
class Node:
    name: str
    is_dir: bool
    etag: str = ""
    modified: float = 0.0
    created: str = field(default_factory=_now_iso)
    file_id: str = field(default_factory=lambda: str(secrets.randbits(63)))
    children: dict[str, Node] = field(default_factory=dict)  # lower-cased name -> node
    body: Path | None = None
    size: int = 0
    props: dict[str, str] = field(default_factory=dict)  # content-type, content-md5, ...
    lease: str | None = None


class FileService:
    """The account's state: shares -> directory trees; names are case-insensitive as in Azure."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.shares: dict[str, Node] = {}
        self.lock = threading.RLock()
        self._counter = int(time.time() * 1e7)

    def touch(self, node: Node) -> None:
        self._counter += 1
        node.etag = f'"0x{self._counter:X}"'
        node.modified = time.time()

    def share(self, name: str) -> Node:
        node = self.shares.get(name.lower())
        if node is None:
            raise StorageError(404, "ShareNotFound", "The specified share does not exist.")
        return node

    def find(self, share: str, parts: list[str]) -> Node | None:
        node = self.share(share)
        for part in parts:
            if not node.is_dir:
                return None
            node = node.children.get(part.lower())
            if node is None:
                return None
        return node

    def parent(self, share: str, parts: list[str]) -> Node:
        node = self.find(share, parts[:-1])
        if node is None or not node.is_dir:
            raise StorageError(404, "ParentNotFound", "The specified parent path does not exist.")
        return node


def check_lease(node: Node, lease_id: str | None) -> None:
    """A write on a leased file needs its lease id (412 as Azure answers)."""
    if node.lease is None:
        if lease_id:
            raise StorageError(
                412, "LeaseNotPresentWithFileOperation", "There is currently no lease on the file."
            )
        return
    if not lease_id:
        raise StorageError(412, "LeaseIdMissing", "There is currently a lease on the file and no lease ID was specified in the request.")  # fmt: skip
    if lease_id != node.lease:
        raise StorageError(412, "LeaseIdMismatchWithFileOperation", "The lease ID specified did not match the lease ID for the file.")  # fmt: skip


def parse_range(value: str | None) -> tuple[int, int | None] | None:
    if not value:
        return None
    start, _, end = value.split("=", 1)[1].partition("-")
    return int(start), (int(end) if end else None)


class Handler(BaseHTTPRequestHandler):
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
            self._authenticate(split.path, split.query)
            parts = [p for p in unquote(split.path).split("/") if p]  # %2F separates too, as in Azure
            if not parts or parts[0] != self.server.account:
                raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")  # fmt: skip
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

    def _authenticate(self, raw_path: str, raw_query: str) -> None:
        auth = self.headers.get("Authorization")
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

    def _share_op(self, svc: FileService, share: str) -> tuple[int, dict[str, str], Any]:
        key = share.lower()
        if self.command == "PUT" and self.query.get("comp") is None:
            if key in svc.shares:
                raise StorageError(409, "ShareAlreadyExists", "The specified share already exists.")
            node = svc.shares[key] = Node(share, True)
            svc.touch(node)
            return 201, {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True)}, b""
        node = svc.share(share)
        if self.command == "DELETE":
            del svc.shares[key]
            return 202, {}, b""
        if self.command in ("GET", "HEAD") and self.query.get("comp") is None:
            return 200, {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True),
                         "x-ms-share-quota": "5120"}, b""  # fmt: skip
        raise StorageError(400, "UnsupportedQueryParameter", "This share operation is not emulated.")

    def _directory_op(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        if not rest:  # the share's root directory
            root = svc.share(share)
            if self.command in ("GET", "HEAD"):
                return 200, self._stamp(root), b""
            raise StorageError(409, "ResourceAlreadyExists", "The specified resource already exists.")
        node = svc.find(share, rest)
        if self.command == "PUT" and self.query.get("comp") is None:
            parent = svc.parent(share, rest)
            if node is not None:
                code = "ResourceAlreadyExists" if node.is_dir else "ResourceTypeMismatch"
                raise StorageError(409, code, "The specified resource already exists.")
            node = parent.children[rest[-1].lower()] = Node(rest[-1], True)
            svc.touch(node)
            return 201, self._stamp(node), b""
        if node is None or not node.is_dir:
            raise StorageError(404, "ResourceNotFound", "The specified resource does not exist.")
        if self.command in ("GET", "HEAD"):
            return 200, self._stamp(node), b""
        if self.command == "DELETE":
            if node.children:
                raise StorageError(409, "DirectoryNotEmpty", "The specified directory is not empty.")
            del svc.parent(share, rest).children[rest[-1].lower()]
            return 202, {}, b""
        raise StorageError(400, "UnsupportedQueryParameter", "This directory operation is not emulated.")

    def _list(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        node = svc.find(share, rest)
        if node is None or not node.is_dir:
            raise StorageError(404, "ResourceNotFound", "The specified resource does not exist.")
        prefix = self.query.get("prefix", "")
        wanted = int(self.query.get("maxresults") or 5000)
        limit = min(wanted, self.server.page_size)
        marker = self.query.get("marker", "")
        start = base64.urlsafe_b64decode(marker.encode()).decode() if marker else ""
        names = sorted(
            (n for n in node.children.values() if n.name.startswith(prefix) and n.name >= start),
            key=lambda n: n.name,
        )
        page, more = names[:limit], names[limit:]
        include = {x.strip().lower() for x in self.query.get("include", "").split(",") if x.strip()}
        entries = []
        for child in page:
            props = f"<Content-Length>{child.size}</Content-Length>" if not child.is_dir else ""
            if "timestamps" in include:
                props += (f"<CreationTime>{child.created}</CreationTime><LastAccessTime>{child.created}</LastAccessTime>"
                          f"<LastWriteTime>{child.created}</LastWriteTime><ChangeTime>{child.created}</ChangeTime>"
                          f"<Last-Modified>{formatdate(child.modified, usegmt=True)}</Last-Modified>")  # fmt: skip
            if "etag" in include:
                props += f"<Etag>{escape(child.etag)}</Etag>"
            extra = f"<Attributes>{'Directory' if child.is_dir else 'Archive'}</Attributes>" if "attributes" in include else ""  # fmt: skip
            tag = "Directory" if child.is_dir else "File"
            entries.append(f"<{tag}><FileId>{child.file_id}</FileId><Name>{escape(child.name)}</Name>"
                           f"<Properties>{props}</Properties>{extra}</{tag}>")  # fmt: skip
        next_marker = base64.urlsafe_b64encode(more[0].name.encode()).decode() if more else ""
        endpoint = f"http://{self.headers.get('Host')}/{self.server.account}"
        xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="{escape(endpoint)}" '
               f'ShareName="{escape(share)}" DirectoryPath="{escape("/".join(rest))}"><Marker>{escape(marker)}</Marker>'
               f"<Prefix>{escape(prefix)}</Prefix><MaxResults>{wanted}</MaxResults><DirectoryId>{node.file_id}</DirectoryId>"
               f"<Entries>{''.join(entries)}</Entries><NextMarker>{next_marker}</NextMarker></EnumerationResults>")  # fmt: skip
        return 200, {"Content-Type": "application/xml"}, xml.encode()

    def _file(self, svc: FileService, share: str, rest: list[str]) -> Node:
        svc.parent(share, rest)
        node = svc.find(share, rest)
        if node is None or node.is_dir:
            raise StorageError(404, "ResourceNotFound", "The specified resource does not exist.")
        return node

    def _create_file(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        if (
            self.headers.get("x-ms-type", "").lower() != "file"
            or self.headers.get("x-ms-content-length") is None
        ):
            raise StorageError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")  # fmt: skip
        size = int(self.headers["x-ms-content-length"])
        parent = svc.parent(share, rest)
        node = parent.children.get(rest[-1].lower())
        if node is not None and node.is_dir:
            raise StorageError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")  # fmt: skip
        if node is not None:
            check_lease(node, self.headers.get("x-ms-lease-id"))
        else:
            node = parent.children[rest[-1].lower()] = Node(
                rest[-1], False, body=svc.data_dir / uuid.uuid4().hex
            )
        assert node.body is not None
        with open(node.body, "wb") as fh:
            fh.truncate(size)
        node.size = size
        node.props = {p: self.headers[f"x-ms-{p}"] for p in (*CONTENT_PROPS, "content-md5") if self.headers.get(f"x-ms-{p}")}  # fmt: skip
        svc.touch(node)
        return 201, self._stamp(node), b""

    def _put_range(
        self, svc: FileService, share: str, rest: list[str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        node = self._file(svc, share, rest)
        check_lease(node, self.headers.get("x-ms-lease-id"))
        rng = parse_range(self.headers.get("x-ms-range") or self.headers.get("Range"))
        if rng is None or rng[1] is None:
            raise StorageError(400, "MissingRequiredHeader", "x-ms-range is required for Put Range.")
        start, end = rng
        count = end - start + 1
        if count > MAX_RANGE:
            raise StorageError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")  # fmt: skip
        if end >= node.size:
            raise StorageError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")  # fmt: skip
        mode = self.headers.get("x-ms-write", "update").lower()
        if mode == "update":
            if len(body) != count:
                raise StorageError(
                    400, "InvalidHeaderValue", "The Content-Length does not match the range size."
                )
            md5 = self.headers.get("Content-MD5")
            if md5 and base64.b64decode(md5) != hashlib.md5(body).digest():
                raise StorageError(400, "Md5Mismatch", "The MD5 value specified in the request did not match the MD5 value calculated by the server.")  # fmt: skip
        assert node.body is not None
        with open(node.body, "r+b") as fh:
            fh.seek(start)
            fh.write(body if mode == "update" else b"\0" * count)
        svc.touch(node)
        headers = {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True), "x-ms-request-server-encrypted": "true"}  # fmt: skip
        if mode == "update":
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        return 201, headers, b""

    def _set_properties(
        self, svc: FileService, share: str, rest: list[str]
    ) -> tuple[int, dict[str, str], Any]:
        node = self._file(svc, share, rest)
        check_lease(node, self.headers.get("x-ms-lease-id"))
        if self.headers.get("x-ms-content-length") is not None:
            node.size = int(self.headers["x-ms-content-length"])
            assert node.body is not None
            with open(node.body, "r+b") as fh:
                fh.truncate(node.size)
        # content properties not given are cleared, as the service documents
        node.props = {p: self.headers[f"x-ms-{p}"] for p in (*CONTENT_PROPS, "content-md5") if self.headers.get(f"x-ms-{p}")}  # fmt: skip
        svc.touch(node)
        return 200, self._stamp(node), b""

    def _rename(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        source = self.headers.get("x-ms-file-rename-source")
        if not source:
            raise StorageError(
                400, "MissingRequiredHeader", "x-ms-file-rename-source is required for Rename File."
            )
        src_path = urlsplit(source).path
        src_parts = [p for p in unquote(src_path).split("/") if p]
        if src_parts and src_parts[0] == self.server.account:
            src_parts = src_parts[1:]
        if len(src_parts) < 2 or src_parts[0].lower() != share.lower():
            raise StorageError(
                400, "InvalidHeaderValue", "The rename source must be a file in the same share."
            )
        node = self._file(svc, share, src_parts[1:])
        check_lease(node, self.headers.get("x-ms-source-lease-id"))
        dest_parent = svc.parent(share, rest)
        existing = dest_parent.children.get(rest[-1].lower())
        if existing is not None and existing is not node:
            if existing.is_dir:
                raise StorageError(409, "ResourceTypeMismatch", "The destination is a directory.")
            if self.headers.get("x-ms-file-rename-replace-if-exists", "false").lower() != "true":
                raise StorageError(409, "ResourceAlreadyExists", "The specified resource already exists.")
            check_lease(existing, self.headers.get("x-ms-destination-lease-id"))
            if existing.body is not None:
                existing.body.unlink(missing_ok=True)
        del svc.parent(share, src_parts[1:]).children[src_parts[-1].lower()]
        node.name = rest[-1]
        dest_parent.children[rest[-1].lower()] = node
        return 200, self._stamp(node), b""

    def _lease(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        node = self._file(svc, share, rest)
        action = self.headers.get("x-ms-lease-action", "").lower()
        current, proposed = self.headers.get("x-ms-lease-id"), self.headers.get("x-ms-proposed-lease-id")
        base = {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True)}
        if action == "acquire":
            if self.headers.get("x-ms-lease-duration", "-1") != "-1":
                raise StorageError(400, "InvalidHeaderValue", "File leases are infinite: x-ms-lease-duration must be -1.")  # fmt: skip
            new = proposed or str(uuid.uuid4())
            if node.lease is not None and node.lease != new:
                raise StorageError(409, "LeaseAlreadyPresent", "There is already a lease present.")
            node.lease = new
            return 201, {**base, "x-ms-lease-id": new}, b""
        if action == "break":
            if node.lease is None:
                raise StorageError(409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file.")  # fmt: skip
            node.lease = None
            return 202, {**base, "x-ms-lease-time": "0"}, b""
        if node.lease is None:
            raise StorageError(
                409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file."
            )
        if current != node.lease:
            raise StorageError(409, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the file.")  # fmt: skip
        if action == "release":
            node.lease = None
            return 200, base, b""
        if action == "change" and proposed:
            node.lease = proposed
            return 200, {**base, "x-ms-lease-id": proposed}, b""
        raise StorageError(400, "InvalidHeaderValue", f"Lease action {action!r} is not valid for a file.")

    def _get_file(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        node = self._file(svc, share, rest)
        lease_id = self.headers.get("x-ms-lease-id")
        if lease_id and lease_id != node.lease:
            raise StorageError(412, "LeaseIdMismatchWithFileOperation", "The lease ID specified did not match the lease ID for the file.")  # fmt: skip
        headers = {**self._stamp(node), "x-ms-type": "File", "Accept-Ranges": "bytes", "x-ms-server-encrypted": "true",
                   "Content-Type": node.props.get("content-type", "application/octet-stream"),
                   "x-ms-lease-state": "leased" if node.lease else "available",
                   "x-ms-lease-status": "locked" if node.lease else "unlocked"}  # fmt: skip
        if node.lease:
            headers["x-ms-lease-duration"] = "infinite"
        for prop in CONTENT_PROPS[:1] + CONTENT_PROPS[2:]:
            if prop in node.props:
                headers[prop.title()] = node.props[prop]
        md5 = node.props.get("content-md5")
        rng = parse_range(self.headers.get("x-ms-range") or self.headers.get("Range"))
        if self.command == "HEAD" or rng is None:
            if md5:
                headers["Content-MD5"] = md5
            headers["Content-Length"] = str(node.size)
            return 200, headers, (node.body, 0, node.size)
        start, end = rng
        if start >= node.size:
            raise StorageError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.",
                               **{"Content-Range": f"bytes */{node.size}"})  # fmt: skip
        end = node.size - 1 if end is None else min(end, node.size - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{node.size}"
        if md5:
            headers["x-ms-content-md5"] = md5
        if self.headers.get("x-ms-range-get-content-md5", "").lower() == "true":
            assert node.body is not None
            with open(node.body, "rb") as fh:
                fh.seek(start)
                headers["Content-MD5"] = base64.b64encode(
                    hashlib.md5(fh.read(end - start + 1)).digest()
                ).decode()
        return 206, headers, (node.body, start, end - start + 1)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, account: str, key: bytes, data_dir: Path, page_size: int):
        super().__init__(("127.0.0.1", port), Handler)
        self.account, self.key, self.page_size = account, key, page_size
        self.service = FileService(data_dir)


# running it as a process ----------------------------------------------------------------------


@dataclass
class FileEmulator:
    """A running emulator process: its endpoint and the account's connection string."""

    process: subprocess.Popen[bytes]
    port: int
    account: str
    key: str = field(repr=False)  # the account key never shows in a repr or a test report

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
                f"FileEndpoint={self.endpoint};")  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_file_emulator(
    data_dir: Path, *, account: str = "devstoreaccount1", page_size: int = 5000
) -> FileEmulator:
    """Start the emulator in its own process group on a free loopback port; stop() ends it."""
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLPIPE_FILE_EMULATOR_KEY": key}
    cmd = [sys.executable, __file__, str(data_dir), account, str(page_size)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the Azure Files emulator did not start (said {line!r})")
    return FileEmulator(proc, int(line.split()[1]), account, key)


def main(argv: list[str]) -> None:
    data_dir, account, page_size = Path(argv[0]), argv[1], int(argv[2])
    key = base64.b64decode(os.environ.pop("MLPIPE_FILE_EMULATOR_KEY"))
    server = Server(0, account, key, data_dir, page_size)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
