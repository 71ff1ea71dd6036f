"""The DFS emulator's path operations (create, append, flush, rename, delete, read, lease, list,
Copy Blob), a mixin of its request handler; see dfs.py."""

from __future__ import annotations

import base64
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .copying import CopyState, SasError, open_source, run_copy, source_name
from .dfs_state import Node, StorageError, _drop_files, _http_date, _md5, err


class PathOps:
    """Each method answers one operation on a path: (status, headers, payload)."""

    h: dict[str, str]
    q: dict[str, str]
    dfs: bool
    command: str
    server: Any

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
        if node.copy is not None:
            headers.update(node.copy.headers())
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

    # Copy Blob ----------------------------------------------------------------------------

    def _copy_blob(self, fs_name: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Copy Blob from ``x-ms-copy-source`` (a blob or file URL with a SAS) onto ``path``: the
        service reads the source itself; the destination exists at once, empty, and gets the
        source's bytes, Content-MD5 and Content-Type when the copy succeeds (202 with
        ``x-ms-copy-status: pending``; Get Blob Properties shows the progress)."""
        acct = self.server.account
        if not path:
            raise err("InvalidUri")
        with acct.lock:
            self._copy_target(acct.fs(fs_name, False), path)
        source = self.h["x-ms-copy-source"]
        try:
            response = open_source(source, self.h.get("x-ms-version", ""))
        except SasError as exc:
            raise StorageError(exc.status, exc.code, exc.message) from None
        with acct.lock:
            paths = acct.fs(fs_name, False)
            old = self._copy_target(paths, path)
            self._make_parents(paths, path)
            if old is not None:
                _drop_files(old)
            node = paths[path] = acct.new_node(False)
            if old is not None:
                node.lease_id, node.lease_until, node.ctime = old.lease_id, old.lease_until, old.ctime
            state = node.copy = CopyState(
                source_name(source), int(response.headers.get("Content-Length") or 0)
            )
            headers = {"ETag": node.etag, "Last-Modified": _http_date(node.mtime),
                       "x-ms-copy-id": state.id, "x-ms-copy-status": state.status}  # fmt: skip
        target = acct.scratch()

        def finish(ok: bool, size: int, source_headers: dict[str, str], description: str) -> None:
            with acct.lock:
                if node.copy is not state or state.status != "pending":  # aborted, or replaced
                    target.unlink(missing_ok=True)
                    return
                if ok:
                    node.data, node.size, state.done, state.status = target, size, size, "success"
                    node.md5 = source_headers.get("content-md5") or None
                    node.content_type = source_headers.get("content-type")
                else:
                    target.unlink(missing_ok=True)
                    state.status, state.description = "failed", description
                state.completed = node.mtime = time.time()
                node.etag = acct.new_etag()

        run_copy(response, target, acct.root, finish, delay=self.server.copy_delay)
        return 202, headers, b""

    def _copy_target(self, paths: dict[str, Node], path: str) -> Node | None:
        """The file a copy replaces (None: a new one): not a directory; leased needs its lease id."""
        old = paths.get(path)
        self._conditions(old)
        self._lease_guard(old)
        if old is not None and old.is_dir:
            raise err("PathConflict")
        return old

    def _abort_copy(self, paths: dict[str, Node], path: str) -> tuple[int, dict[str, str], bytes]:
        """Abort Copy Blob: a pending copy stops and leaves an empty blob."""
        node = self._node(paths, path)
        if self.h.get("x-ms-copy-action", "").lower() != "abort":
            raise err("InvalidHeaderValue", "x-ms-copy-action must be 'abort'.")
        self._lease_guard(node)
        state = node.copy
        if state is None or state.status != "pending":
            raise err("NoPendingCopyOperation")
        if self.q.get("copyid") != state.id:
            raise err("CopyIdMismatch")
        state.status, state.completed, node.size = "aborted", time.time(), 0
        node.etag, node.mtime = self.server.account.new_etag(), time.time()
        return 204, {}, b""
