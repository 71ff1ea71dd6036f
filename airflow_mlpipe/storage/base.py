"""The datastore I/O contract every backend (local folder, Azure Blob, ...) implements."""

from __future__ import annotations

import fnmatch
import posixpath
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError

GLOB_CHARS = set("*?[")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_segment(text: str) -> str:
    """A string made safe as one path segment (run ids hold ':' and '+')."""
    return _UNSAFE.sub("_", text).strip("_") or "_"


@dataclass(frozen=True)
class FileInfo:
    """One file on a datastore: its path relative to the datastore root, size and version tag."""

    path: str
    size: int
    etag: str
    mtime: float = 0.0  # seconds since the epoch


def normalize_path(path: str, *, where: str = "datastore path") -> str:
    """A clean relative POSIX path; rejects absolute paths and '..' that would leave the store."""
    if path is None:
        return ""
    raw = str(path).replace("\\", "/").strip()
    norm = posixpath.normpath(raw) if raw else ""
    if norm in (".", ""):
        return ""
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise DatastoreError(
            f"{where} {path!r} points outside the datastore; use a path relative to its root"
        )
    return norm


def split_glob(path: str) -> tuple[str, str | None]:
    """Split 'a/b/*.csv' into ('a/b', '*.csv'); a path with no wildcard gives (path, None)."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if GLOB_CHARS & set(part):
            return "/".join(parts[:i]), "/".join(parts[i:])
    return path, None


def glob_match(rel: str, pattern: str) -> bool:
    """Glob semantics on '/'-separated paths: '*' stays inside a folder, '**' crosses folders."""
    return _match_parts(rel.split("/"), pattern.split("/"))


def _match_parts(parts: list[str], pats: list[str]) -> bool:
    if not pats:
        return not parts
    if pats[0] == "**":
        return any(_match_parts(parts[i:], pats[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pats[0]) and _match_parts(parts[1:], pats[1:])


class Store:
    """Datastore backend. Paths are relative POSIX paths inside the datastore."""

    kind = "abstract"

    def list(self, prefix: str) -> list[FileInfo]:
        """Every file at or below ``prefix`` (a file path or a folder)."""
        raise NotImplementedError

    def list_folder(self, prefix: str) -> list[FileInfo]:
        """Every file below folder ``prefix`` (no check whether ``prefix`` is a file itself: one
        request on services that need two for ``list``)."""
        return self.list(prefix)

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        """Store one local file at ``path``, atomically. Returns False when skipped (exists)."""
        raise NotImplementedError

    def download_file(self, path: str, local: Path) -> None:
        raise NotImplementedError

    # small objects (cache entries, indexes) and leases -----------------------------------

    def read_bytes(self, path: str) -> bytes | None:
        """The content of a small object, or None when there is none."""
        raise NotImplementedError

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small object atomically (readers see the old or the new content, never a mix)."""
        raise NotImplementedError

    def delete(self, path: str) -> None:
        raise NotImplementedError

    def stat(self, path: str) -> FileInfo | None:
        """The file at ``path``, or None when there is none."""
        raise NotImplementedError

    # conditional writes (records several processes update: registry/records.py) ------------

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        """The content of a small object and its version tag (for ``write_if``), or None when
        there is none. Version tags compare only with each other (a Blob's ETag; a local file's
        content hash), not with ``FileInfo.etag``."""
        raise NotImplementedError

    def write_if(self, path: str, data: bytes, *, match: str | None) -> str | None:
        """Write a small object atomically only if it is still at version ``match`` (If-Match), or,
        with ``match=None``, only if there is none yet (If-None-Match: *). The new version tag, or
        None when the condition failed (someone else wrote or deleted it first)."""
        raise NotImplementedError

    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        """An exclusive lease on ``path`` for ``ttl`` seconds, or None when someone else holds it."""
        raise NotImplementedError

    def renew_lease(self, lease: Any) -> bool:
        """Extend a held lease; False when it was lost (expired and taken)."""
        raise NotImplementedError

    def release_lease(self, lease: Any) -> None:
        raise NotImplementedError

    @contextmanager
    def held_lease(
        self,
        path: str,
        ttl: float,
        wait: float,
        busy: Callable[[], Exception],
        poll: tuple[float, float] = (0.02, 0.2),
    ) -> Iterator[None]:
        """Hold the lease on ``path`` for the block, waiting at most ``wait`` seconds for it (a
        pause drawn from ``poll`` between tries); ``busy()`` is raised when it cannot be had."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        while (lease := self.acquire_lease(path, owner, ttl)) is None:
            if time.monotonic() > deadline:
                raise busy()
            time.sleep(random.uniform(*poll))
        try:
            yield
        finally:
            self.release_lease(lease)

    def location(self, path: str) -> str:
        """A human-readable URL of ``path`` for logs (never carries a secret)."""
        raise NotImplementedError

    # copies between datastores (DataTransferStep; storage/transfer_copy.py) ----------------

    def readable_url(self, path: str) -> str | None:
        """A URL another storage service can read ``path`` from with no credentials of its own (a
        short-lived read-only SAS; never logged), or None when this store has none (a local folder)."""
        return None

    def copy_from_url(self, url: str, path: str, source: FileInfo, what: str) -> FileInfo | None:
        """Have this store's service copy ``url`` into file ``path`` server-side, polled to completion
        and verified against ``source`` (size, and MD5 where both sides give one); the new file's
        info. None when this service cannot fetch that URL: the caller then streams the bytes.
        ``what`` names the copy in errors."""
        return None

    def move(self, src: str, dst: str) -> FileInfo:
        """Make file ``src`` visible at ``dst`` (replacing what is there) and remove ``src``: a rename
        where the service has one, else a same-account server-side copy. Atomic per file."""
        raise NotImplementedError

    # shared logic -------------------------------------------------------------------------

    def resolve(self, path: str) -> list[tuple[FileInfo, str]]:
        """Files a data path means, each with its path relative to the download folder.

        A file path gives that file (named by its base name); a folder gives everything below
        it (relative to the folder); a glob ('folder/*.csv') gives its matches (relative to the
        part before the first wildcard).
        """
        path = normalize_path(path)
        base, pattern = split_glob(path)
        if pattern is not None:
            found = []
            for info in self.list(base):
                rel = info.path[len(base) + 1 :] if base else info.path
                if glob_match(rel, pattern):
                    found.append((info, rel))
            return found
        found = []
        for info in self.list(path):
            if info.path == path:
                found.append((info, posixpath.basename(path)))
            else:
                found.append((info, info.path[len(path) + 1 :] if path else info.path))
        return found

    @staticmethod
    def names_one_file(path: str, files: list[tuple[FileInfo, str]]) -> bool:
        """Whether ``path`` (resolved to ``files``) names one file, not a folder or a glob."""
        return len(files) == 1 and files[0][0].path == normalize_path(path)

    def download(self, path: str, local_dir: Path, *, max_workers: int = 8) -> list[Path]:
        """Download what ``path`` means into ``local_dir``; raises when it matches nothing."""
        files = self.resolve(path)
        if not files:
            raise DatastoreError(f"nothing found at {self.location(path)}")
        return self.download_resolved(files, local_dir, max_workers=max_workers)

    def download_resolved(
        self, files: list[tuple[FileInfo, str]], local_dir: Path, *, max_workers: int = 8
    ) -> list[Path]:
        """Download files ``resolve`` found, each to ``local_dir`` / its relative path."""
        local_dir.mkdir(parents=True, exist_ok=True)
        targets = [(info, local_dir / rel) for info, rel in files]
        from concurrent.futures import ThreadPoolExecutor

        if len(targets) == 1 or max_workers <= 1:
            for info, target in targets:
                self.download_file(info.path, target)
        else:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                list(pool.map(lambda t: self.download_file(t[0].path, t[1]), targets))
        return [t for _, t in targets]

    def upload_dir(self, local_dir: Path, prefix: str, *, max_workers: int = 8) -> list[FileInfo]:
        """Store every file below ``local_dir`` under ``prefix``; returns what is now stored."""
        prefix = normalize_path(prefix)
        files = sorted(p for p in local_dir.rglob("*") if p.is_file())
        rels = [p.relative_to(local_dir).as_posix() for p in files]
        jobs = [(p, posixpath.join(prefix, r) if prefix else r) for p, r in zip(files, rels, strict=True)]
        from concurrent.futures import ThreadPoolExecutor

        if len(jobs) <= 1 or max_workers <= 1:
            for p, dest in jobs:
                self.upload_file(p, dest, overwrite=True)
        else:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                list(pool.map(lambda j: self.upload_file(j[0], j[1], overwrite=True), jobs))
        return self.list(prefix) if jobs else []

    def check_publish(self, dest: str, *, overwrite: bool) -> list[FileInfo]:
        """What folder ``dest`` holds before an output is published there; an error when it holds
        files and ``overwrite`` is False."""
        existing = self.list(dest)
        if existing and not overwrite:
            raise DatastoreError(
                f"{self.location(dest)} already holds {len(existing)} file(s); the output may not "
                "overwrite them (as_upload(overwrite=True) or as_mount() replaces them)"
            )
        return existing

    def publish_dir(self, local_dir: Path, dest: str, *, overwrite: bool) -> list[FileInfo]:
        """Make folder ``dest`` hold exactly the files of ``local_dir``; with ``overwrite=False`` a
        ``dest`` that holds files already is an error. Each file is replaced atomically; stores
        with an atomic folder rename (the local one) replace the whole folder at once."""
        dest = normalize_path(dest)
        existing = self.check_publish(dest, overwrite=overwrite)
        listed = self.upload_dir(local_dir, dest)
        kept = {f.path for f in listed}
        for info in existing:
            if info.path not in kept:
                self.delete(info.path)
        return self.list(dest)
