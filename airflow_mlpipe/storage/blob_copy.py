"""Server-side copies between Azure Blob datastores: the service moves the bytes, not the worker.

Each source blob is read through a short-lived read-only SAS (signed with the source connection's
account key, or a user delegation key under Azure AD); ``Copy Blob`` is started on the destination
and polled to completion (Azure and Azurite may finish it asynchronously, and Azurite's response
lacks the copy status), then the copy is checked against the source's size and Content-MD5.
Copies first land under a temporary folder next to the destination and are moved into place (a
second, same-account copy) only when all of them are complete and verified, so a failed or killed
transfer leaves no partial destination. Airflow's ``WasbHook.copy_blobs`` neither signs the source
nor polls, so this module does both.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, normalize_path
from airflow_mlpipe.storage.blob import BlobStore, _tag

SAS_LIFETIME = dt.timedelta(hours=1)
POLL_SECONDS = 0.2
STAGING = ".mlpipe-transfer"
PARALLEL = 4


def source_url(store: BlobStore, path: str) -> str:
    """The blob's URL with a read-only SAS valid for SAS_LIFETIME (never logged)."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    service = store.service
    blob = store.client.get_blob_client(path)
    expiry = dt.datetime.now(dt.timezone.utc) + SAS_LIFETIME
    key = getattr(service.credential, "account_key", None)
    if key:
        sas = generate_blob_sas(
            service.account_name,
            store.container,
            path,
            account_key=key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
        )
    else:  # Azure AD: a user delegation key signs the SAS
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        delegation = service.get_user_delegation_key(start, expiry)
        sas = generate_blob_sas(
            service.account_name,
            store.container,
            path,
            user_delegation_key=delegation,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
        )
    return f"{blob.url}?{sas}"


def _copy_one(src_url: str, dest: Any, what: str, timeout: float) -> Any:
    """Start Copy Blob from ``src_url`` onto ``dest`` and wait for it; the destination's properties."""
    dest.start_copy_from_url(src_url)
    deadline = time.monotonic() + timeout
    while True:
        props = dest.get_blob_properties()
        status = props.copy.status
        if status in (None, "success"):
            return props
        if status in ("failed", "aborted"):
            raise DatastoreError(f"{what}: the service's copy {status}: {props.copy.status_description}")
        if time.monotonic() > deadline:
            dest.abort_copy(props.copy.id)
            raise DatastoreError(f"{what}: the service's copy did not finish within {timeout:.0f}s; aborted")
        time.sleep(POLL_SECONDS)


def copy_between(
    src: BlobStore,
    pairs: list[tuple[str, str]],
    dst: BlobStore,
    *,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = 3600,
    parallel: int = PARALLEL,
) -> list[FileInfo]:
    """Copy each (source path, destination path) server-side; returns the destination files.

    All copies are staged under ``.mlpipe-transfer-<id>/`` in the destination container and
    verified (size, and Content-MD5 when the source has one) before any destination name is
    written; ``progress(files_done, bytes_done)`` follows the staging copies. ``parallel`` copies
    run at once (the service does the work; the worker only starts and polls them).
    """
    if not pairs:
        return []
    dst._ensure_container()
    staging = f"{STAGING}-{uuid.uuid4().hex[:12]}"
    staged: list[str] = []
    lock = threading.Lock()
    done = {"files": 0, "bytes": 0}

    def stage(pair: tuple[str, str]) -> tuple[str, str, Any]:
        src_path, dst_path = normalize_path(pair[0]), normalize_path(pair[1])
        source = src._properties(src_path)
        if source is None:
            raise DatastoreError(f"copy: nothing at {src.location(src_path)}")
        tmp = f"{staging}/{dst_path}"
        with lock:
            staged.append(tmp)
        what = f"copy of {src.location(src_path)} to {dst.location(dst_path)}"
        props = _copy_one(source_url(src, src_path), dst.client.get_blob_client(tmp), what, timeout)
        _verify(source, props, what)
        with lock:
            done["files"] += 1
            done["bytes"] += props.size
            if progress is not None:
                progress(done["files"], done["bytes"])
        return tmp, dst_path, props

    def place(item: tuple[str, str, Any]) -> FileInfo:  # a same-account copy into the final name
        tmp, dst_path, props = item
        what = f"moving {dst.location(tmp)} into place"
        placed = _copy_one(source_url(dst, tmp), dst.client.get_blob_client(dst_path), what, timeout)
        _verify(props, placed, what)
        return FileInfo(dst_path, placed.size, _tag(placed), placed.last_modified.timestamp())

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            ready = list(pool.map(stage, pairs))  # every copy complete and verified ...
            return list(pool.map(place, ready))  # ... before the first destination name is written
    finally:
        for tmp in staged:
            try:
                dst.client.delete_blob(tmp)
            except Exception:  # the staging folder is named as such; a later transfer may clear it
                pass


def _verify(source: Any, copied: Any, what: str) -> None:
    if copied.size != source.size:
        raise DatastoreError(f"{what}: copied {copied.size} bytes of {source.size}")
    want = source.content_settings.content_md5
    got = copied.content_settings.content_md5
    if want and got and bytes(want) != bytes(got):
        raise DatastoreError(f"{what}: the copy's Content-MD5 differs from the source's")
