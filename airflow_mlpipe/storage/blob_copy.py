"""Server-side copies onto Azure Blob Storage: the service moves the bytes, not the worker.

A source is read through a short-lived read-only SAS (signed with the account key, or a user
delegation key under Azure AD); ``Copy Blob`` is started on the destination and polled to
completion (Azure may finish it asynchronously, and Azurite's response lacks the copy status), then
checked against the source's size and Content-MD5. Airflow's ``WasbHook.copy_blobs`` neither signs
the source nor polls, so this module does both. ``BlobStore`` and ``AdlsGen2Store`` (whose blob
endpoint takes Copy Blob too) build their ``readable_url`` / ``copy_from_url`` / ``move`` on it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path
from airflow_mlpipe.storage.server_copy import sas_window, start_copy, verify_copy, wait_for_copy

if TYPE_CHECKING:
    from airflow_mlpipe.storage.blob import BlobStore

STAGING = ".mlpipe-transfer"
PARALLEL = 4


def source_url(store: BlobStore, path: str) -> str:
    """The blob's URL with a read-only SAS valid for server_copy.SAS_LIFETIME (never logged)."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    service = store.service
    start, expiry = sas_window()
    key = getattr(service.credential, "account_key", None)
    signer: dict[str, Any] = (
        {"account_key": key}
        if key
        else {"user_delegation_key": service.get_user_delegation_key(start, expiry)}  # Azure AD
    )
    sas = generate_blob_sas(
        service.account_name,
        store.container,
        path,
        permission=BlobSasPermissions(read=True),
        expiry=expiry,
        start=start,
        **signer,
    )
    return f"{store.client.get_blob_client(path).url}?{sas}"


def copy_blob(dest: Any, url: str, source: FileInfo, what: str, timeout: float) -> Any:
    """Copy Blob from ``url`` onto the BlobClient ``dest``, polled to completion (aborted after
    ``timeout`` seconds) and verified against ``source``; the destination's properties."""
    start_copy(lambda: dest.start_copy_from_url(url), what)
    props = wait_for_copy(dest.get_blob_properties, dest.abort_copy, what, timeout)
    verify_copy(source, props.size, props.content_settings.content_md5, what)
    return props


def copy_between(
    src: Store,
    pairs: list[tuple[str, str]],
    dst: Store,
    *,
    progress: Callable[[int, int], None] | None = None,
    parallel: int = PARALLEL,
) -> list[FileInfo]:
    """Copy each (source path, destination path) server-side; returns the destination files.

    Every copy lands under ``.mlpipe-transfer/<id>/`` in the destination and is verified before
    any destination name is written (``dst.move``); ``progress(files_done, bytes_done)`` follows
    the staging copies. A pair the destination service cannot fetch is an error (stream those
    with ``storage.stream_copy``). ``parallel`` copies run at once: the services do the work.
    """
    if not pairs:
        return []
    staging = f"{STAGING}/{uuid.uuid4().hex[:12]}"
    lock = threading.Lock()
    done = {"files": 0, "bytes": 0}

    def stage(pair: tuple[str, str]) -> tuple[str, str]:
        src_path, dst_path = normalize_path(pair[0]), normalize_path(pair[1])
        source = src.stat(src_path)  # type: ignore[attr-defined]
        if source is None:
            raise DatastoreError(f"copy: nothing at {src.location(src_path)}")
        what = f"copy of {src.location(src_path)} to {dst.location(dst_path)}"
        url = src.readable_url(src_path)
        staged = f"{staging}/{dst_path}"
        info = dst.copy_from_url(url, staged, source, what) if url else None
        if info is None:
            raise DatastoreError(f"{what}: the destination service cannot read the source; stream it instead")
        with lock:
            done["files"] += 1
            done["bytes"] += info.size
            if progress is not None:
                progress(done["files"], done["bytes"])
        return staged, dst_path

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            ready = list(pool.map(stage, pairs))  # every copy complete and verified ...
            return list(pool.map(lambda item: dst.move(*item), ready))  # ... before any is placed
    finally:
        try:
            dst.delete(staging)
        except Exception:  # the staging folder is named as such; a later transfer may clear it
            pass
