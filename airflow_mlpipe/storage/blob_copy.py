"""Server-side copies onto Azure Blob Storage: the service moves the bytes, not the worker.

A source is read through a short-lived read-only SAS (signed with the account key, or a user
delegation key under Azure AD); ``Copy Blob`` is started on the destination and polled to
completion (Azure may finish it asynchronously, and Azurite's response lacks the copy status), then
checked against the source's size and Content-MD5. Airflow's ``WasbHook.copy_blobs`` neither signs
the source nor polls, so this module does both. ``BlobStore`` and ``AdlsGen2Store`` (whose blob
endpoint takes Copy Blob too) build their ``readable_url`` / ``copy_from_url`` / ``move`` on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipe.storage.base import FileInfo
from airflow_mlpipe.storage.server_copy import sas_window, start_copy, verify_copy, wait_for_copy

if TYPE_CHECKING:
    from airflow_mlpipe.storage.blob import BlobStore


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
