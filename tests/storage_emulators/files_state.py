"""The Azure Files emulator's state: shares of directory trees, file nodes, leases and errors."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .copying import CopyState

MAX_RANGE = 4 * 1024 * 1024  # Put Range accepts at most 4 MiB per request
SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip
CONTENT_PROPS = (
    "cache-control",
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
)


class StorageError(Exception):
    """An Azure error answer: HTTP status, x-ms-error-code and message."""

    def __init__(self, status: int, code: str, message: str, **headers: str):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


@dataclass
class Node:
    name: str
    is_dir: bool
    etag: str = ""
    modified: float = 0.0
    created: str = field(default_factory=_now_iso)
    file_id: str = field(default_factory=lambda: str(secrets.randbits(63)))
    children: dict[str, Node] = field(default_factory=dict)  # lower-cased name -> node
    body: Path | None = None
    size: int = 0
    props: dict[str, str] = field(default_factory=dict)  # content-type, content-md5, ...
    lease: str | None = None
    copy: CopyState | None = None  # the last Copy File into this file


class FileService:
    """The account's state: shares -> directory trees; names are case-insensitive as in Azure."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.shares: dict[str, Node] = {}
        self.lock = threading.RLock()
        self._counter = int(time.time() * 1e7)

    def touch(self, node: Node) -> None:
        self._counter += 1
        node.etag = f'"0x{self._counter:X}"'
        node.modified = time.time()

    def share(self, name: str) -> Node:
        node = self.shares.get(name.lower())
        if node is None:
            raise StorageError(404, "ShareNotFound", "The specified share does not exist.")
        return node

    def find(self, share: str, parts: list[str]) -> Node | None:
        node = self.share(share)
        for part in parts:
            if not node.is_dir:
                return None
            node = node.children.get(part.lower())
            if node is None:
                return None
        return node

    def parent(self, share: str, parts: list[str]) -> Node:
        node = self.find(share, parts[:-1])
        if node is None or not node.is_dir:
            raise StorageError(404, "ParentNotFound", "The specified parent path does not exist.")
        return node


def check_lease(node: Node, lease_id: str | None) -> None:
    """A write on a leased file needs its lease id (412 as Azure answers)."""
    if node.lease is None:
        if lease_id:
            raise StorageError(
                412, "LeaseNotPresentWithFileOperation", "There is currently no lease on the file."
            )
        return
    if not lease_id:
        raise StorageError(412, "LeaseIdMissing", "There is currently a lease on the file and no lease ID was specified in the request.")  # fmt: skip
    if lease_id != node.lease:
        raise StorageError(412, "LeaseIdMismatchWithFileOperation", "The lease ID specified did not match the lease ID for the file.")  # fmt: skip


def parse_range(value: str | None) -> tuple[int, int | None] | None:
    if not value:
        return None
    start, _, end = value.split("=", 1)[1].partition("-")
    return int(start), (int(end) if end else None)
