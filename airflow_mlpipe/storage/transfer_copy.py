"""The file copy of a DataTransferStep, between any two file datastores (local, Blob, ADLS Gen2,
Azure Files), in two phases so that a failed or killed copy leaves no partial destination:

1. **stage**: every file is copied under a hidden folder ``.mlpipe-transfer/<key>/<id>/`` at the
   root of the destination datastore. The destination's service copies it server-side
   (``Store.copy_from_url`` from the source's short-lived read-only ``readable_url``) wherever it can
   fetch the source; otherwise the bytes stream through the worker in bounded memory
   (``open_read`` -> ``write_stream``), never a whole file at once. Several files move at a time.
2. **place**: only when every file is staged and checked by size is each one moved to its final name
   (``Store.move``: a rename where the service has one, a same-account copy on Blob).

The staging folder is removed at the end, and ``clear_staging`` removes what a killed try left.
Progress (files, bytes, rate) goes to the log as the copy runs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo

STAGING = ".mlpipe-transfer"
PARALLEL_FILES = 4
PROGRESS_EVERY = 10.0  # seconds between progress lines

log = logging.getLogger(__name__)


@dataclass
class CopyReport:
    """What a copy did: files and bytes, how many went server-side, and how long it took."""

    files: int = 0
    bytes: int = 0
    server_side: int = 0
    streamed: int = 0
    seconds: float = 0.0

    def rate(self) -> float:
        """Bytes per second over the whole copy."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


class Progress:
    """Thread-safe counters that log ``files, bytes and rate`` at most every PROGRESS_EVERY seconds."""

    def __init__(
        self,
        what: str,
        total_files: int,
        total_bytes: int,
        say: Callable[..., None] | None = None,
        every: float = PROGRESS_EVERY,
    ):
        self.what, self.total_files, self.total_bytes = what, total_files, total_bytes
        self.say = say or log.info
        self.every = every
        self.report = CopyReport()
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()

    def add(self, size: int, server_side: bool) -> None:
        with self._lock:
            self.report.files += 1
            self.report.bytes += size
            if server_side:
                self.report.server_side += 1
            else:
                self.report.streamed += 1
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self.line(now)

    def line(self, now: float | None = None) -> None:
        took = (now or time.monotonic()) - self.started
        r = self.report
        self.say(
            "%s: %d/%d files, %s/%s, %s/s",
            self.what,
            r.files,
            self.total_files,
            _size(r.bytes),
            _size(self.total_bytes),
            _size(r.bytes / took if took > 0 else 0),
        )

    def finish(self) -> CopyReport:
        self.report.seconds = time.monotonic() - self.started
        return self.report


def staging_root(key: str) -> str:
    """The staging folder of one transfer task (``key`` names its DAG, run and task)."""
    return f"{STAGING}/{key}"


def clear_staging(dst: Any, key: str) -> int:
    """Remove what earlier tries of this transfer staged (a killed try cannot clean up after
    itself); returns how many files were removed."""
    left = dst.list(staging_root(key))
    if left:
        dst.delete(staging_root(key))
    return len(left)


def copy_files(
    src: Any,
    pairs: list[tuple[str, str]],
    dst: Any,
    *,
    key: str,
    what: str = "copy",
    say: Callable[..., None] | None = None,
    server_side: bool = True,
    workers: int = PARALLEL_FILES,
) -> tuple[list[FileInfo], CopyReport]:
    """Copy each (source path, destination path) from ``src`` to ``dst``: staged, then placed.
    Returns the placed files and a report. ``server_side=False`` streams every file (for
    comparisons). Raises DatastoreError naming ``what`` and the file when a copy fails; what was
    staged is removed and no destination name was written."""
    sources = []
    for s, d in pairs:
        info = src.stat(s)
        if info is None:
            raise DatastoreError(f"{what}: nothing at {src.location(s)}")
        sources.append((info, d))
    progress = Progress(what, len(sources), sum(i.size for i, _ in sources), say)
    staging = f"{staging_root(key)}/{uuid.uuid4().hex[:12]}"

    def stage(item: tuple[FileInfo, str]) -> tuple[str, str]:
        info, final = item
        tmp = f"{staging}/{final}"
        one = f"{what}: {src.location(info.path)} -> {dst.location(final)}"
        url = src.readable_url(info.path) if server_side else None
        got = dst.copy_from_url(url, tmp, info, one) if url else None
        by_service = got is not None
        if got is None:
            got = dst.write_stream(tmp, src.open_read(info.path))
        if got.size != info.size:
            raise DatastoreError(f"{one}: copied {got.size} bytes of {info.size}")
        progress.add(info.size, by_service)
        return tmp, final

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            staged = list(pool.map(stage, sources))  # every file complete and checked ...
            placed = list(pool.map(lambda t: dst.move(*t), staged))  # ... before any final name
    finally:
        try:
            dst.delete(staging)
        except Exception as exc:  # the next try's clear_staging removes it
            log.warning("%s: could not remove the staging folder %s: %s", what, dst.location(staging), exc)
    progress.line()
    return placed, progress.finish()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop returns
