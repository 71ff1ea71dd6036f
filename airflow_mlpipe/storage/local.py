"""A datastore that is a folder on the local disk (the embedded default)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path

STREAM_CHUNK = 4 * 1024 * 1024


class LocalStore(Store):
    kind = "local"

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _abs(self, path: str) -> Path:
        rel = normalize_path(path)
        return self.root / rel if rel else self.root

    def location(self, path: str) -> str:
        return str(self._abs(path))

    def list(self, prefix: str) -> list[FileInfo]:
        target = self._abs(prefix)
        if target.is_file():
            return [self._info(target)]
        if not target.is_dir():
            return []
        out = []
        for dirpath, dirnames, filenames in os.walk(target):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".mlpipe-tmp-"))
            for name in sorted(filenames):
                if name.startswith(".mlpipe-tmp-"):
                    continue  # an upload in progress is not a file yet
                out.append(self._info(Path(dirpath) / name))
        return out

    def _info(self, p: Path) -> FileInfo:
        st = p.stat()
        rel = p.relative_to(self.root).as_posix()
        return FileInfo(rel, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}", st.st_mtime)

    def exists(self, path: str) -> bool:
        return self._abs(path).exists()

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        dest = self._abs(path)
        if dest == self.root:
            raise DatastoreError("cannot upload a file to the datastore root itself; give a file path")
        if dest.exists():
            if not overwrite:
                return False
            if _same_content(local, dest):
                return False  # keep the stored file (and its version tag) when nothing changed
        dest.parent.mkdir(parents=True, exist_ok=True)
        # write beside the target, then rename: readers never see half a file
        fd, tmp = tempfile.mkstemp(prefix=".mlpipe-tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def move(self, src: str, dst: str) -> FileInfo:
        """Rename file ``src`` onto ``dst`` (os.replace: atomic, replacing what is there)."""
        source, target = self._abs(src), self._abs(dst)
        if not source.is_file():
            raise DatastoreError(f"cannot move {source}: no such file")
        if target == self.root or target.is_dir():
            raise DatastoreError(f"cannot move {source} onto {target}: give a file path, not a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return self._info(target)

    def stat(self, path: str) -> FileInfo | None:
        target = self._abs(path)
        return self._info(target) if target.is_file() else None

    def open_read(self, path: str, offset: int = 0) -> Iterator[bytes]:
        with open(self._abs(path), "rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(STREAM_CHUNK):
                yield chunk

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> FileInfo:
        """Write chunks beside the target and rename it into place when all have arrived."""
        dest = self._abs(path)
        if dest == self.root:
            raise DatastoreError("cannot write a file at the datastore root itself; give a file path")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mlpipe-tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self._info(dest)

    def download_file(self, path: str, local: Path) -> None:
        src = self._abs(path)
        if not src.is_file():
            raise DatastoreError(f"no file at {src}")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)

    def publish_dir(self, local_dir: Path, dest: str, *, overwrite: bool) -> list[FileInfo]:
        """Replace folder ``dest`` as a whole: the new folder is built beside it, then renamed
        into place, so readers see the old files or the new ones, never a mix."""
        target = self._abs(dest)
        if target == self.root:
            raise DatastoreError("cannot publish to the datastore root itself; give a folder path")
        if target.is_file() or (target.is_dir() and any(target.iterdir())):
            if not overwrite:
                count = len(self.list(dest))
                raise DatastoreError(
                    f"{target} already holds {count} file(s); the output may not overwrite them "
                    "(as_upload(overwrite=True) or as_mount() replaces them)"
                )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".mlpipe-tmp-", dir=target.parent))
        old = target.parent / f".mlpipe-tmp-old-{uuid.uuid4().hex}"
        try:
            shutil.copytree(local_dir, staging, dirs_exist_ok=True)
            if target.exists():
                os.rename(target, old)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if old.exists() and not target.exists():
                os.rename(old, target)
            raise
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists():
            old.unlink()
        return self.list(dest)

    # small objects and leases -------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self._abs(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def write_bytes(self, path: str, data: bytes) -> None:
        dest = self._abs(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mlpipe-tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        data = self.read_bytes(path)
        return None if data is None else (data, _version(data))

    def write_if(self, path: str, data: bytes, *, match: str | None) -> str | None:
        """Compare and swap under an exclusive flock on one lock file per folder (processes of
        this machine), then the usual atomic replace: readers need no lock."""
        dest = self._abs(path)
        if dest == self.root:
            raise DatastoreError("cannot write a file at the datastore root itself; give a file path")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest.parent / ".mlpipe-tmp-cas.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.read_bytes(path)
                if (None if current is None else _version(current)) != match:
                    return None
                self.write_bytes(path, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return _version(data)

    def delete(self, path: str) -> None:
        target = self._abs(path)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        """A lock file holding its owner and expiry; an expired one is taken over atomically."""
        lock = self._abs(path)
        lock.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"owner": owner, "expires": time.time() + ttl}).encode()
        for _ in range(3):
            # the lock appears with its content (a hard link of a written file), never empty: an
            # empty lock file, seen between create and write, would read as stale and be taken
            fd, tmp = tempfile.mkstemp(prefix=".mlpipe-tmp-", dir=lock.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            try:
                os.link(tmp, lock)
            except FileExistsError:
                held = _read_lock(lock)
                if held is not None and held.get("expires", 0) > time.time():
                    return None
                # expired (or unreadable): exactly one contender wins the rename and retries
                stale = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex}")
                try:
                    os.rename(lock, stale)
                    stale.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
                continue
            finally:
                os.unlink(tmp)
            return {"path": path, "owner": owner, "ttl": ttl}
        return None

    def renew_lease(self, lease: Any) -> bool:
        lock = self._abs(lease["path"])
        held = _read_lock(lock)
        if held is None or held.get("owner") != lease["owner"]:
            return False
        body = json.dumps({"owner": lease["owner"], "expires": time.time() + lease["ttl"]}).encode()
        self.write_bytes(lease["path"], body)
        return True

    def release_lease(self, lease: Any) -> None:
        lock = self._abs(lease["path"])
        held = _read_lock(lock)
        if held is not None and held.get("owner") == lease["owner"]:
            lock.unlink(missing_ok=True)


def _version(data: bytes) -> str:
    """A local object's version tag: its content hash (mtimes are too coarse to order two writes)."""
    return "sha256-" + hashlib.sha256(data).hexdigest()


def _read_lock(lock: Path) -> dict[str, Any] | None:
    try:
        return json.loads(lock.read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    from airflow_mlpipe.reuse.fingerprint import hash_file

    return hash_file(a) == hash_file(b)
