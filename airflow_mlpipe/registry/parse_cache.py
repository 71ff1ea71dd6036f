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

    def _file(self, info: FileInfo) -> Path:
        return self.folder / f"{_digest(info.path + chr(0) + info.etag)}.json"

    def get(self, info: FileInfo) -> dict[str, Any] | None:
        """The record ``info`` lists (None when it was deleted since); raises ValueError for a
        record that is not a JSON object."""
        target = self._file(info)
        self.used.add(target.name)
        try:
            held = json.loads(target.read_bytes())
            if held["path"] == info.path and held["etag"] == info.etag and isinstance(held["body"], dict):
                return held["body"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing, partial or corrupt: read the record again
        raw = self.store.read_bytes(info.path)
        self.downloads += 1
        if raw is None:
            return None
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError(f"{info.path} holds {type(body).__name__}, not a JSON object")
        if _matches(info, raw):  # what was read is what was listed (not a newer write)
            self._store(target, {"path": info.path, "etag": info.etag, "body": body})
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
