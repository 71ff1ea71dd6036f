"""The DFS emulator's state (accounts of filesystems of paths), its errors and Shared Key signing."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from .copying import CopyState

SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip
DFS_PARAMS = {"resource", "action", "recursive", "directory", "continuation", "mode", "position"}


class StorageError(Exception):
    """An Azure error response: status, x-ms-error-code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Node:
    """A file or directory of a hierarchical filesystem."""

    is_dir: bool
    etag: str
    mtime: float
    ctime: float
    data: Path | None = None  # committed content (files)
    size: int = 0
    md5: str | None = None  # base64 Content-MD5 set at flush
    content_type: str | None = None
    stage: Path | None = None  # appended, not yet flushed bytes, at their file offsets
    ranges: list[tuple[int, int]] = field(default_factory=list)
    lease_id: str | None = None
    lease_until: float | None = None  # None with a lease id = infinite
    copy: CopyState | None = None  # the last Copy Blob into this path

    def leased(self) -> bool:
        return self.lease_id is not None and (self.lease_until is None or self.lease_until > time.time())


class Account:
    """The state of one storage account: filesystems of paths, guarded by one lock."""

    def __init__(self, root: Path, name: str, key: str, page_size: int = 5000):
        self.root, self.name, self.key, self.page_size = root, name, base64.b64decode(key), page_size
        self.filesystems: dict[str, dict[str, Node]] = {}
        self.lock = threading.RLock()
        self._seq = 0
        root.mkdir(parents=True, exist_ok=True)

    def new_etag(self) -> str:
        self._seq += 1
        return f'"0x8D{time.time_ns() // 100:X}{self._seq:04X}"'

    def new_node(self, is_dir: bool) -> Node:
        now = time.time()
        return Node(is_dir=is_dir, etag=self.new_etag(), mtime=now, ctime=now)

    def scratch(self) -> Path:
        return self.root / uuid.uuid4().hex

    def fs(self, name: str, dfs: bool) -> dict[str, Node]:
        if name not in self.filesystems:
            raise err("FilesystemNotFound" if dfs else "ContainerNotFound")
        return self.filesystems[name]


# Azure's status and message for each error code the emulator answers with
ERRORS: dict[str, tuple[int, str]] = {
    "FilesystemNotFound": (404, "The specified filesystem does not exist."),
    "ContainerNotFound": (404, "The specified container does not exist."),
    "FilesystemAlreadyExists": (409, "The specified filesystem already exists."),
    "ContainerAlreadyExists": (409, "The specified container already exists."),
    "BlobNotFound": (404, "The specified blob does not exist."),
    "NoAuthenticationInformation": (
        401,
        "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
    ),
    "AuthenticationFailed": (
        403,
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        "correctly including the signature.",
    ),
    "LeaseNotPresentWithLeaseOperation": (409, "There is currently no lease on the blob."),
    "LeaseIdMismatchWithLeaseOperation": (
        409,
        "The lease ID specified did not match the lease ID for the blob.",
    ),
    "InternalError": (500, "The server encountered an internal error. Please retry the request."),
    "UnsupportedQueryParameter": (
        400,
        "One of the query parameters specified in the request URI is not supported.",
    ),
    "NoPendingCopyOperation": (409, "There is currently no pending copy operation."),
    "CopyIdMismatch": (
        409,
        "The specified copy ID did not match the copy ID for the pending copy operation.",
    ),
    "ConditionNotMet": (412, "The condition specified using HTTP conditional header(s) is not met."),
    "DirectoryNotEmpty": (
        409,
        "The recursive query parameter value must be true to delete a non-empty directory.",
    ),
    "InvalidDestinationPath": (400, "The destination path is the source or lies below it."),
    "InvalidFlushOperation": (409, "The resource is a directory."),
    "InvalidFlushPosition": (
        400,
        "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.",
    ),
    "InvalidHeaderValue": (400, "The value for one of the HTTP headers is not in the correct format."),
    "InvalidInput": (400, "The request body ended early."),
    "InvalidRange": (416, "The range specified is invalid for the current size of the resource."),
    "InvalidSourceUri": (400, "The source URI is invalid or names another filesystem."),
    "InvalidUri": (400, "The requested URI does not represent any resource."),
    "LeaseAlreadyPresent": (409, "There is already a lease present."),
    "LeaseIdMismatch": (412, "The lease ID specified did not match the lease ID for the path."),
    "LeaseIdMissing": (
        412,
        "There is currently a lease on the path and no lease ID was specified in the request.",
    ),
    "LeaseNotPresent": (412, "There is currently no lease on the path."),
    "Md5Mismatch": (
        400,
        "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
    ),
    "PathAlreadyExists": (409, "The specified path already exists."),
    "PathConflict": (
        409,
        "The specified path, or an element of the path, exists and its resource type is invalid for this operation.",
    ),
    "PathNotFound": (404, "The specified path does not exist."),
    "RenameDestinationParentPathNotFound": (
        404,
        "The parent directory of the destination path does not exist.",
    ),
    "SourceConditionNotMet": (412, "The source path is leased; give its lease id."),
    "SourcePathNotFound": (404, "The source path for a rename operation does not exist."),
}


def err(code: str, message: str | None = None) -> StorageError:
    """The StorageError Azure answers with for ``code``."""
    status, text = ERRORS[code]
    return StorageError(status, code, message or text)


def canonical_query(raw: str) -> list[tuple[str, str]]:
    """Query parameters as Azure canonicalizes them: lower-case names, decoded values, sorted."""
    params: dict[str, list[str]] = {}
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        params.setdefault(unquote(name).lower(), []).append(unquote(value))
    return sorted((k, ",".join(v)) for k, v in params.items())


def string_to_sign(method: str, raw_path: str, raw_query: str, headers: dict[str, str], account: str) -> str:
    """The Shared Key string-to-sign of a request (Blob, Queue and File/DFS services, 2015-02-21+)."""
    values = [headers.get(h, "") for h in SIGNED_HEADERS]
    if values[2] == "0":
        values[2] = ""  # a zero Content-Length signs as empty
    xms = sorted((k, v.strip()) for k, v in headers.items() if k.startswith("x-ms-"))
    text = method + "\n" + "\n".join(values) + "\n"
    text += "".join(f"{k}:{v}\n" for k, v in xms) + f"/{account}{raw_path}"
    return text + "".join(f"\n{k}:{v}" for k, v in canonical_query(raw_query))


def _drop_files(node: Node) -> None:
    for p in (node.data, node.stage):
        if p is not None:
            p.unlink(missing_ok=True)


def _md5(path: Path) -> bytes:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
