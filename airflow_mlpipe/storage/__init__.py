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
    if kind == "azure_data_lake_gen2":
        from airflow_mlpipe.storage.adls import AdlsGen2Store

        return AdlsGen2Store(spec["conn_id"], spec["filesystem"], name=spec.get("name"))
    if kind == "azure_file_share":
        from airflow_mlpipe.storage.fileshare import FileShareStore

        return FileShareStore(spec["conn_id"], spec["share"], name=spec.get("name"))
    if kind in ("postgres", "mysql"):
        from airflow_mlpipe.storage.sql import SqlStore

        return SqlStore(spec["conn_id"], kind, spec.get("database"), name=spec.get("name"))
    raise DatastoreError(
        f"datastore {spec.get('name')!r} has type {kind!r}; supported types are 'local', 'azure_blob', "
        "'azure_data_lake_gen2', 'azure_file_share', 'postgres' and 'mysql' (Azure SQL is not supported yet)"
    )
