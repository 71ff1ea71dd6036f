"""The Azure Files emulator's operations (shares, directories, files, ranges, rename, leases,
Copy File), a mixin of its request handler; see files.py."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from .copying import CopyState, SasError, open_source, run_copy, source_name
from .files_state import CONTENT_PROPS, MAX_RANGE, FileService, Node, StorageError, check_lease, parse_range


class FileOps:
    """Each method answers one File service operation: (status, headers, payload)."""

    headers: Any
    query: dict[str, str]
    command: str
    server: Any

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
        if node.copy is not None:
            headers.update(node.copy.headers())
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

    # Copy File ----------------------------------------------------------------------------

    def _copy_file(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        """Copy File from ``x-ms-copy-source`` (a file or blob URL with a SAS): the service reads the
        source itself; the destination exists at once, empty, and fills in when the copy succeeds
        (202 with ``x-ms-copy-status: pending``; Get File Properties shows the progress)."""
        if not rest:
            raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")  # fmt: skip
        with svc.lock:
            self._copy_target(svc, share, rest)
        source = self.headers["x-ms-copy-source"]
        try:
            response = open_source(source, self.headers.get("x-ms-version", ""))
        except SasError as exc:
            raise StorageError(exc.status, exc.code, exc.message) from None
        with svc.lock:
            node = self._copy_target(svc, share, rest)
            if node is None:
                node = Node(rest[-1], False, body=svc.data_dir / uuid.uuid4().hex)
                svc.parent(share, rest).children[rest[-1].lower()] = node
            assert node.body is not None
            open(node.body, "wb").close()
            node.size, node.props = 0, {}
            state = node.copy = CopyState(
                source_name(source), int(response.headers.get("Content-Length") or 0)
            )
            svc.touch(node)
            headers = {"ETag": node.etag, "Last-Modified": formatdate(node.modified, usegmt=True),
                       "x-ms-copy-id": state.id, "x-ms-copy-status": state.status}  # fmt: skip
        target = svc.data_dir / uuid.uuid4().hex

        def finish(ok: bool, size: int, source_headers: dict[str, str], description: str) -> None:
            with svc.lock:
                if node.copy is not state or state.status != "pending":  # aborted, or copied over
                    target.unlink(missing_ok=True)
                    return
                if ok:
                    if node.body is not None:
                        node.body.unlink(missing_ok=True)
                    node.body, node.size, state.done, state.status = target, size, size, "success"
                    props = (*CONTENT_PROPS, "content-md5")  # Copy File copies the source's properties
                    node.props = {p: source_headers[p] for p in props if source_headers.get(p)}
                else:
                    target.unlink(missing_ok=True)
                    state.status, state.description = "failed", description
                state.completed = time.time()
                svc.touch(node)

        run_copy(response, target, svc.data_dir, finish, delay=self.server.copy_delay)
        return 202, headers, b""

    def _copy_target(self, svc: FileService, share: str, rest: list[str]) -> Node | None:
        """The file a copy replaces (None: a new one); its parent must exist, it may not be a
        directory, and a leased file needs its lease id."""
        node = svc.parent(share, rest).children.get(rest[-1].lower())
        if node is not None and node.is_dir:
            raise StorageError(409, "ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")  # fmt: skip
        if node is not None:
            check_lease(node, self.headers.get("x-ms-lease-id"))
        return node

    def _abort_copy(self, svc: FileService, share: str, rest: list[str]) -> tuple[int, dict[str, str], Any]:
        """Abort Copy File: a pending copy stops and leaves an empty file."""
        node = self._file(svc, share, rest)
        if self.headers.get("x-ms-copy-action", "").lower() != "abort":
            raise StorageError(400, "InvalidHeaderValue", "x-ms-copy-action must be 'abort'.")
        check_lease(node, self.headers.get("x-ms-lease-id"))
        state = node.copy
        if state is None or state.status != "pending":
            raise StorageError(409, "NoPendingCopyOperation", "There is currently no pending copy operation.")
        if self.query.get("copyid") != state.id:
            raise StorageError(409, "CopyIdMismatch", "The specified copy ID did not match the copy ID for the pending copy operation.")  # fmt: skip
        state.status, state.completed, node.size = "aborted", time.time(), 0
        assert node.body is not None
        open(node.body, "wb").close()
        svc.touch(node)
        return 204, {}, b""
