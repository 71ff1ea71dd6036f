"""DBFS API 2.0 on a local folder: DBFS path ``/x/y`` is ``ROOT/dbfs/x/y``; ``/mnt/NAME`` may be a mount.

Streamed uploads (create/add-block/close) write to a temporary file outside DBFS and are renamed into
place on close, so a half-written file is never visible to a reader or to a job.
"""

from __future__ import annotations

import base64
import binascii
import errno
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, already_exists, invalid, not_found

log = logging.getLogger(__name__)

MAX_BLOCK = 1024 * 1024  # bytes: the limit of put contents, add-block data and read length
DEFAULT_READ = 512 * 1024


def decode_b64(value: Any, field: str, where: str) -> bytes:
    """Base64 text -> bytes, or INVALID_PARAMETER_VALUE naming the field."""
    if not isinstance(value, str):
        raise invalid(f"Field {field} of {where} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"Field {field} of {where} is not valid base64") from None


def _too_big(what: str, size: int) -> ApiError:
    return ApiError(
        400,
        "MAX_BLOCK_SIZE_EXCEEDED",
        f"The {what} ({size} bytes) exceeds the maximum size of {MAX_BLOCK} bytes; "
        "upload larger files with create, add-block and close",
    )


class Dbfs:
    """The DBFS API over a local folder, with mounts (symlinks under ``/mnt``) followed."""

    def __init__(self, root: Path, mounts: dict[str, str] | None = None) -> None:
        self.root = Path(root) / "dbfs"
        self.uploads = Path(root) / "tmp" / "dbfs-uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.mounts: dict[str, Path] = {}
        for mount, target in (mounts or {}).items():
            self.mount(mount, target)
        self._lock = threading.Lock()
        self._handles: dict[int, tuple[str, Path, bool]] = {}  # handle -> (dbfs path, temp file, overwrite)
        self._next_handle = 1

    # --- paths ------------------------------------------------------------------------------

    def mount(self, mount: str, target: str) -> None:
        """Make DBFS ``/mnt/NAME`` a symlink to a local folder, as dbutils.fs.mount would."""
        parts = [p for p in mount.split("/") if p]
        if len(parts) != 2 or parts[0] != "mnt":
            raise ValueError(f"mount point {mount!r} must look like /mnt/NAME")
        target_dir = Path(target).resolve()
        if not target_dir.is_dir():
            raise ValueError(f"mount {mount}: local folder {target} does not exist")
        link = self.root / "mnt" / parts[1]
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise ValueError(f"mount {mount}: DBFS already has a folder there ({link}); remove it first")
        link.symlink_to(target_dir, target_is_directory=True)
        self.mounts["/mnt/" + parts[1]] = target_dir

    def normalize(self, path: str | None, field: str = "path") -> str:
        """``dbfs:/x/./y`` -> ``/x/y``; relative paths and ``..`` escaping the root are errors."""
        if not path:
            raise invalid(f"Missing required field: {field}")
        text = path[5:] if path.startswith("dbfs:") else path
        if not text.startswith("/"):
            raise invalid(f"{field} {path!r} must be an absolute DBFS path such as /tmp/x or dbfs:/tmp/x")
        parts: list[str] = []
        for part in text.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise invalid(f"{field} {path!r} escapes the DBFS root with '..'")
                parts.pop()
            else:
                parts.append(part)
        return "/" + "/".join(parts)

    def local(self, path: str | None, field: str = "path") -> Path:
        """The local file behind a DBFS path (mount symlinks resolve on use)."""
        norm = self.normalize(path, field)
        return self.root / norm.lstrip("/") if norm != "/" else self.root

    def _status(self, dbfs_path: str, local: Path) -> dict[str, Any]:
        st = local.stat()
        is_dir = local.is_dir()
        return {
            "path": dbfs_path,
            "is_dir": is_dir,
            "file_size": 0 if is_dir else st.st_size,
            "modification_time": int(st.st_mtime * 1000),
        }

    def _check_writable(self, norm: str, local: Path, overwrite: bool) -> None:
        if local.is_dir():
            raise already_exists(f"A directory already exists at {norm}; a file cannot replace it")
        if local.exists() and not overwrite:
            raise already_exists(
                f"A file or directory already exists at the input path {norm}; pass overwrite=true to replace it"
            )
        parent = local.parent
        while parent != self.root and not parent.exists():
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise already_exists(f"A file exists where a parent directory of {norm} should be")

    def _install(self, tmp: Path, local: Path) -> None:
        """Move a finished temp file into place atomically (copying first across filesystems)."""
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, local)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            staged = local.with_name(f".{local.name}.dbfs-staging")
            shutil.copyfile(tmp, staged)
            os.replace(staged, local)
            tmp.unlink()

    # --- API ----------------------------------------------------------------------------------

    def put_bytes(self, path: str | None, data: bytes, overwrite: bool) -> dict[str, Any]:
        """Write a whole file (the put endpoint, JSON or multipart)."""
        norm = self.normalize(path)
        local = self.local(norm)
        with self._lock:
            self._check_writable(norm, local, overwrite)
            tmp = self.uploads / f"put-{threading.get_ident()}-{os.getpid()}"
            tmp.write_bytes(data)
            self._install(tmp, local)
        log.info("dbfs put %s (%s bytes)", norm, len(data))
        return {}

    def put(self, p: Params) -> dict[str, Any]:
        """POST dbfs/put with base64 ``contents`` (at most 1 MB)."""
        contents = p.raw("contents")
        if contents is None:
            raise invalid("Missing required field: contents (or upload the file as multipart/form-data)")
        data = decode_b64(contents, "contents", "dbfs/put")
        if len(data) > MAX_BLOCK:
            raise _too_big("contents of dbfs/put", len(data))
        return self.put_bytes(p.text("path", required=True), data, p.flag("overwrite"))

    def create(self, p: Params) -> dict[str, Any]:
        """POST dbfs/create: open a stream, answering its handle."""
        norm = self.normalize(p.text("path", required=True))
        overwrite = p.flag("overwrite")
        with self._lock:
            self._check_writable(norm, self.local(norm), overwrite)
            handle = self._next_handle
            self._next_handle += 1
            tmp = self.uploads / f"handle-{handle}"
            tmp.write_bytes(b"")
            self._handles[handle] = (norm, tmp, overwrite)
        return {"handle": handle}

    def _handle(self, p: Params) -> tuple[int, str, Path, bool]:
        handle = p.integer("handle", required=True)
        entry = self._handles.get(handle)  # type: ignore[arg-type]
        if entry is None:
            raise not_found(f"No open DBFS stream with handle {handle}; open one with dbfs/create")
        return (handle, *entry)  # type: ignore[return-value]

    def add_block(self, p: Params) -> dict[str, Any]:
        """POST dbfs/add-block: append at most 1 MB (decoded) to an open stream."""
        data = decode_b64(p.raw("data"), "data", "dbfs/add-block")
        if len(data) > MAX_BLOCK:
            raise _too_big("block of dbfs/add-block", len(data))
        with self._lock:
            _, _, tmp, _ = self._handle(p)
            with tmp.open("ab") as fh:
                fh.write(data)
        return {}

    def close(self, p: Params) -> dict[str, Any]:
        """POST dbfs/close: the file appears at its path only now."""
        with self._lock:
            handle, norm, tmp, overwrite = self._handle(p)
            del self._handles[handle]
            local = self.local(norm)
            try:
                self._check_writable(norm, local, overwrite)
            except ApiError:
                tmp.unlink(missing_ok=True)
                raise
            self._install(tmp, local)
        log.info("dbfs stream %s closed into %s", handle, norm)
        return {}

    def read(self, p: Params) -> dict[str, Any]:
        """GET dbfs/read: ``length`` (<= 1 MB) bytes from ``offset`` as base64."""
        norm = self.normalize(p.text("path", required=True))
        offset = p.integer("offset", 0) or 0
        length = p.integer("length", DEFAULT_READ)
        assert length is not None
        if offset < 0 or length < 0:
            raise invalid(f"offset ({offset}) and length ({length}) of dbfs/read must not be negative")
        if length > MAX_BLOCK:
            raise ApiError(
                400,
                "MAX_READ_SIZE_EXCEEDED",
                f"length {length} exceeds the maximum read size of {MAX_BLOCK} bytes",
            )
        local = self.local(norm)
        if not local.exists():
            raise not_found(f"No file or directory exists on path {norm}.")
        if local.is_dir():
            raise invalid(f"{norm} is a directory; dbfs/read reads files only")
        with local.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode("ascii")}

    def get_status(self, p: Params) -> dict[str, Any]:
        """GET dbfs/get-status."""
        norm = self.normalize(p.text("path", required=True))
        local = self.local(norm)
        if not local.exists():
            raise not_found(f"No file or directory exists on path {norm}.")
        return self._status(norm, local)

    def list(self, p: Params) -> dict[str, Any]:
        """GET dbfs/list: a directory's entries, or the file itself."""
        norm = self.normalize(p.text("path", required=True))
        local = self.local(norm)
        if not local.exists():
            raise not_found(f"No file or directory exists on path {norm}.")
        if not local.is_dir():
            return {"files": [self._status(norm, local)]}
        prefix = norm.rstrip("/")
        files = [
            self._status(f"{prefix}/{child.name}", child)
            for child in sorted(local.iterdir())
            if child.exists()
        ]
        return {"files": files}

    def mkdirs(self, p: Params) -> dict[str, Any]:
        """POST dbfs/mkdirs: like ``mkdir -p``; a file in the way is RESOURCE_ALREADY_EXISTS."""
        norm = self.normalize(p.text("path", required=True))
        local = self.local(norm)
        probe = local
        while probe != self.root:
            if probe.exists() and not probe.is_dir():
                raise already_exists(
                    f"A file already exists at {probe.relative_to(self.root)}; cannot create {norm}"
                )
            probe = probe.parent
        local.mkdir(parents=True, exist_ok=True)
        return {}

    def _guard_mounts(self, norm: str, verb: str) -> None:
        if norm == "/":
            raise invalid(f"Cannot {verb} the DBFS root")
        for mount in self.mounts:
            if mount == norm or mount.startswith(norm.rstrip("/") + "/"):
                raise invalid(
                    f"Cannot {verb} {norm}: it is or holds the mount point {mount} (a local folder)"
                )

    def delete(self, p: Params) -> dict[str, Any]:
        """POST dbfs/delete; a missing path is not an error, a non-empty folder needs recursive."""
        norm = self.normalize(p.text("path", required=True))
        self._guard_mounts(norm, "delete")
        local = self.local(norm)
        with self._lock:
            if not local.exists() and not local.is_symlink():
                return {}
            if local.is_dir() and not local.is_symlink():
                if any(local.iterdir()) and not p.flag("recursive"):
                    raise ApiError(
                        400, "IO_ERROR", f"{norm} is a non-empty directory; pass recursive=true to delete it"
                    )
                shutil.rmtree(local)
            else:
                local.unlink()
        log.info("dbfs delete %s", norm)
        return {}

    def move(self, p: Params) -> dict[str, Any]:
        """POST dbfs/move: rename a file or directory; the destination must not exist."""
        src = self.normalize(p.text("source_path", required=True), "source_path")
        dst = self.normalize(p.text("destination_path", required=True), "destination_path")
        self._guard_mounts(src, "move")
        local_src, local_dst = self.local(src), self.local(dst)
        with self._lock:
            if not local_src.exists():
                raise not_found(f"No file or directory exists on path {src}.")
            if local_dst.exists():
                raise already_exists(f"A file or directory already exists at the destination path {dst}.")
            if (dst + "/").startswith(src.rstrip("/") + "/"):
                raise invalid(f"Cannot move {src} into itself ({dst})")
            local_dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(local_src), str(local_dst))
        return {}

    def close_all(self) -> None:
        """Drop every open stream (the server is stopping)."""
        with self._lock:
            for _, tmp, _ in self._handles.values():
                tmp.unlink(missing_ok=True)
            self._handles.clear()
