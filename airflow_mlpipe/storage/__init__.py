"""Datastore I/O: ``open_store(spec)`` gives the backend for a datastore spec."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store

__all__ = ["FileInfo", "Store", "open_store"]


def open_store(spec: dict[str, Any]) -> Store:
    """The backend for a datastore spec (as stored in a pipeline spec: no secrets)."""
    kind = spec.get("type")
    if kind == "local":
        from airflow_mlpipe.storage.local import LocalStore

        return LocalStore(spec["path"])
    if kind == "azure_blob":
        from airflow_mlpipe.storage.blob import BlobStore

        return BlobStore(spec["conn_id"], spec["container"])
    raise DatastoreError(
        f"datastore {spec.get('name')!r} has type {kind!r}; supported types are 'local' and "
        "'azure_blob' (Azure Files and ADLS Gen2 are not supported yet)"
    )
