"""Copies streamed through the worker between any two datastores, for what no service copies
server-side: each file is read in chunks and written as it arrives (bounded memory, never a whole
file), several files at once, and a file becomes visible only when it is whole (the destination's
``write_stream`` contract)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo

PARALLEL_FILES = 4


def stream_copy(
    src: Any,
    pairs: list[tuple[str, str]],
    dst: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int = PARALLEL_FILES,
) -> list[FileInfo]:
    """Copy each (source path, destination path); returns the destination files, checked by size."""
    lock = threading.Lock()
    done = {"files": 0, "bytes": 0}

    def one(pair: tuple[str, str]) -> FileInfo:
        src_path, dst_path = pair
        source = src.stat(src_path)
        if source is None:
            raise DatastoreError(f"copy: nothing at {src.location(src_path)}")
        moved = {"bytes": 0}

        def counted() -> Any:
            for chunk in src.open_read(src_path):
                moved["bytes"] += len(chunk)
                yield chunk

        info = dst.write_stream(dst_path, counted())
        if info.size != source.size:
            raise DatastoreError(
                f"copy of {src.location(src_path)} to {dst.location(dst_path)}: wrote {info.size} bytes of {source.size}"
            )
        with lock:
            done["files"] += 1
            done["bytes"] += info.size
            if progress is not None:
                progress(done["files"], done["bytes"])
        return info

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, pairs))
