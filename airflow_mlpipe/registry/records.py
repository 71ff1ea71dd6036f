"""JSON records on a Store that processes on several machines read and change at once.

A change is a read-modify-write with a conditional write (If-Match on the version that was read),
retried a bounded number of times when another writer got in between: no update is ever lost,
whichever machines the writers run on. A change that must see several records at once (an
endpoint name unique among endpoints) also holds the registry's lease, a store lease on one lock
object that expires by itself if its holder dies.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from airflow_mlpipe.exceptions import MlpipeError
from airflow_mlpipe.storage.base import FileInfo, Store

LOCK_PATH = ".lock"
LEASE_TTL = 30.0  # seconds; a Blob lease lasts 15 to 60 s
LEASE_WAIT = 60.0  # how long a writer waits for the lease before it gives up
UPDATE_ATTEMPTS = 25  # conditional writes tried before a change gives up


class RegistryBusyError(MlpipeError, TimeoutError):
    """Other writers kept the registry (or one record) busy for longer than a writer waits."""


def dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True).encode()


class Records:
    def __init__(self, store: Store):
        self.store = store

    def read(self, path: str) -> dict[str, Any] | None:
        raw = self.store.read_bytes(path)
        return None if raw is None else json.loads(raw)

    def write(self, path: str, record: dict[str, Any]) -> None:
        self.store.write_bytes(path, dumps(record))

    def create(self, path: str, record: dict[str, Any]) -> None:
        """Store a new record; an error if one exists at ``path`` already (ids are fresh UUIDs)."""
        if self.store.write_if(path, dumps(record), match=None) is None:
            raise RegistryBusyError(f"{self.store.location(path)} exists already; not overwritten")

    def files(self, folder: str) -> list[FileInfo]:
        return [i for i in self.store.list(folder) if i.path.endswith(".json")]

    def read_all(self, folder: str) -> list[dict[str, Any]]:
        """Every record in ``folder`` (one listed but deleted before it was read is left out)."""
        found = (self.read(info.path) for info in self.files(folder))
        return [r for r in found if r is not None]

    def update(
        self, path: str, change: Callable[[dict[str, Any]], None], missing: Callable[[], Exception]
    ) -> dict[str, Any]:
        """Apply ``change`` (in place) to the record at ``path`` and store it if nobody wrote it
        since it was read; else read it again and re-apply. ``missing()`` is raised when there is
        no record. Returns the record as stored."""
        for attempt in range(UPDATE_ATTEMPTS):
            got = self.store.read_versioned(path)
            if got is None:
                raise missing()
            record = json.loads(got[0])
            change(record)
            if self.store.write_if(path, dumps(record), match=got[1]) is not None:
                return record
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # jittered backoff
        raise RegistryBusyError(
            f"{self.store.location(path)} was changed by another writer at each of {UPDATE_ATTEMPTS} "
            "attempts; nothing was changed, try again"
        )

    def locked(self) -> AbstractContextManager[None]:
        """Hold the registry's lease (bounded wait; RegistryBusyError when it cannot be had)."""
        return self.store.held_lease(
            LOCK_PATH,
            LEASE_TTL,
            LEASE_WAIT,
            busy=lambda: RegistryBusyError(
                f"the registry lock {self.store.location(LOCK_PATH)} was held by another writer "
                f"for {LEASE_WAIT:.0f}s; nothing was changed, try again"
            ),
        )
