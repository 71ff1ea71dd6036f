"""A view of a datastore below one folder: the pipeline registry's records on the default datastore.

Paths given to a PrefixedStore are relative to its prefix, and the paths it lists come back the
same way, so code written against a folder of its own (the registry) runs unchanged on a shared
datastore next to other data. Only the small-object, listing, lease and conditional-write parts
of the Store contract are delegated: that is what records need.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path


class PrefixedStore(Store):
    def __init__(self, store: Store, prefix: str):
        self.base = store
        self.prefix = normalize_path(prefix, where="registry prefix")
        self.kind = store.kind

    def _full(self, path: str) -> str:
        rel = normalize_path(path)
        return f"{self.prefix}/{rel}" if rel else self.prefix

    def _strip(self, info: FileInfo) -> FileInfo:
        return dataclasses.replace(info, path=info.path[len(self.prefix) + 1 :])

    def location(self, path: str) -> str:
        return self.base.location(self._full(path))

    def list(self, prefix: str) -> list[FileInfo]:
        full = self._full(prefix)
        # the prefix itself is a folder: one request where the service needs two for a file check
        found = self.base.list_folder(full) if full == self.prefix else self.base.list(full)
        return [self._strip(i) for i in found if i.path.startswith(self.prefix + "/")]

    def exists(self, path: str) -> bool:
        return self.base.exists(self._full(path))

    def stat(self, path: str) -> FileInfo | None:
        info = self.base.stat(self._full(path))
        return None if info is None else self._strip(info)

    def read_bytes(self, path: str) -> bytes | None:
        return self.base.read_bytes(self._full(path))

    def write_bytes(self, path: str, data: bytes) -> None:
        self.base.write_bytes(self._full(path), data)

    def delete(self, path: str) -> None:
        self.base.delete(self._full(path))

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        return self.base.read_versioned(self._full(path))

    def write_if(self, path: str, data: bytes, *, match: str | None) -> str | None:
        return self.base.write_if(self._full(path), data, match=match)

    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        return self.base.acquire_lease(self._full(path), owner, ttl)

    def renew_lease(self, lease: Any) -> bool:
        return self.base.renew_lease(lease)

    def release_lease(self, lease: Any) -> None:
        self.base.release_lease(lease)
