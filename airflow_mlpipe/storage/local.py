"""A datastore that is a folder on the local disk (the embedded default)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path


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
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".mlpipe-tmp-"):
                    continue  # an upload in progress is not a file yet
                out.append(self._info(Path(dirpath) / name))
        return out

    def _info(self, p: Path) -> FileInfo:
        st = p.stat()
        rel = p.relative_to(self.root).as_posix()
        return FileInfo(rel, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}")

    def exists(self, path: str) -> bool:
        return self._abs(path).exists()

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        dest = self._abs(path)
        if dest == self.root:
            raise DatastoreError("cannot upload a file to the datastore root itself; give a file path")
        if dest.exists() and not overwrite:
            return False
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

    def download_file(self, path: str, local: Path) -> None:
        src = self._abs(path)
        if not src.is_file():
            raise DatastoreError(f"no file at {src}")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)
