"""Bytes of the tracking routes' downloads, streamed from a datastore: one file in chunks, or a
folder as a zip written on the fly (no temporary file, bounded memory)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any


def stream_file(store: Any, path: str) -> Iterator[bytes]:
    """The file's bytes in chunks (``open_read`` where the backend streams, else one read)."""
    if hasattr(store, "open_read"):
        yield from store.open_read(path)
        return
    data = store.read_bytes(path)
    if data:
        yield data


class _Sink:
    """A write-only, unseekable file for ZipFile: what it wrote is taken out piece by piece."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def zip_stream(store: Any, folder: str, files: list[Any]) -> Iterator[bytes]:
    """A zip of ``files`` (FileInfo under ``folder``), named relative to the folder."""
    sink = _Sink()
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for info in sorted(files, key=lambda f: f.path):
            name = info.path[len(prefix) :] if info.path.startswith(prefix) else info.path
            with archive.open(name, "w", force_zip64=True) as dest:
                for chunk in stream_file(store, info.path):
                    dest.write(chunk)
                    if sum(len(p) for p in sink.parts) >= 1 << 20:
                        yield sink.take()
            yield sink.take()
    yield sink.take()
