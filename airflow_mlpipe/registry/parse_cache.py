"""A per-host cache of registry record bodies for the DAG processor, keyed by (path, etag).

The registry DAG file lists the registry once per parse (names + etags) and asks this cache for
each record: an unchanged record (same etag as a cached copy) costs no request, a new or changed
one is downloaded once and cached. Files are written atomically (temp file + rename); a corrupt,
partial or foreign cache file is ignored and the record read again, so the cache can only cost
time, never give a wrong DAG. Lives in ``$MLPIPE_HOME/cache/registry/<registry digest>/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.workspace import mlpipe_home
from airflow_mlpipe.storage.base import FileInfo, Store


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class BodyCache:
    def __init__(self, store: Store, folder: Path | None = None):
        self.store = store
        self.folder = folder or mlpipe_home() / "cache" / "registry" / _digest(store.location(""))
        self.used: set[str] = set()
        self.downloads = 0
        self._fetched: dict[str, dict[str, Any] | None] = {}  # this parse's downloads, by cache name

    def prefetch(self, infos: list[FileInfo], workers: int = 8) -> None:
        """Download the records that have no valid cached body, ``workers`` at a time (a cold cache
        costs one round trip per record; in parallel they overlap). Errors are left for ``get``."""
        from concurrent.futures import ThreadPoolExecutor

        missing = [i for i in infos if self._cached(i) is None]
        if len(missing) < 2:
            return

        def fetch(info: FileInfo) -> None:
            try:
                self._fetched[self._file(info).name] = self._download(info)
            except ValueError:
                pass  # not a JSON object: get() reads it again and reports it

        with ThreadPoolExecutor(min(workers, len(missing))) as pool:
            list(pool.map(fetch, missing))

    def _file(self, info: FileInfo) -> Path:
        return self.folder / f"{_digest(info.path + chr(0) + info.etag)}.json"

    def get(self, info: FileInfo) -> dict[str, Any] | None:
        """The record ``info`` lists (None when it was deleted since); raises ValueError for a
        record that is not a JSON object."""
        name = self._file(info).name
        self.used.add(name)
        if name in self._fetched:
            return self._fetched.pop(name)
        cached = self._cached(info)
        return cached if cached is not None else self._download(info)

    def _cached(self, info: FileInfo) -> dict[str, Any] | None:
        try:
            held = json.loads(self._file(info).read_bytes())
            if held["path"] == info.path and held["etag"] == info.etag and isinstance(held["body"], dict):
                return held["body"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing, partial or corrupt: read the record again
        return None

    def _download(self, info: FileInfo) -> dict[str, Any] | None:
        raw = self.store.read_bytes(info.path)
        self.downloads += 1
        if raw is None:
            return None
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError(f"{info.path} holds {type(body).__name__}, not a JSON object")
        if _matches(info, raw):  # what was read is what was listed (not a newer write)
            self._store(self._file(info), {"path": info.path, "etag": info.etag, "body": body})
        return body

    def _store(self, target: Path, held: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            with os.fdopen(fd, "w") as fh:
                json.dump(held, fh)
            os.replace(tmp, target)
        except OSError:
            pass  # a cache that cannot be written costs time only

    def prune(self) -> None:
        """Forget cached bodies of records that are gone or changed (after a parse that changed any)."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        if self.downloads == 0 and len(names) == len(self.used):
            return
        for name in names:
            if name not in self.used:
                (self.folder / name).unlink(missing_ok=True)


def _matches(info: FileInfo, raw: bytes) -> bool:
    if info.etag.startswith("md5-"):  # a content tag (storage/blob.py): check it exactly
        return hashlib.md5(raw).hexdigest() == info.etag[4:]
    return len(raw) == info.size
