"""Azure Blob Storage datastore, through the Microsoft Azure provider's WasbHook.

Credentials stay in the Airflow connection (or its secrets backend); only the connection id and
the container name are ever stored in a pipeline spec.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path

CHUNK = 4 * 1024 * 1024


class BlobStore(Store):
    kind = "azure_blob"

    def __init__(self, conn_id: str, container: str, *, service_client: Any = None):
        self.conn_id = conn_id
        self.container = container
        self._service_client = service_client
        self._container_checked = False
        self._lock = threading.Lock()

    @cached_property
    def service(self) -> Any:
        if self._service_client is not None:
            return self._service_client
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        try:
            return WasbHook(wasb_conn_id=self.conn_id).get_conn()
        except Exception as exc:  # connection missing or malformed
            raise DatastoreError(
                f"Azure Blob datastore on container {self.container!r}: cannot use Airflow "
                f"connection {self.conn_id!r} ({type(exc).__name__}: {exc}); define it as a 'wasb' "
                "connection (e.g. AIRFLOW_CONN_<ID> or the Connections page)"
            ) from exc

    @cached_property
    def client(self) -> Any:
        return self.service.get_container_client(self.container)

    def location(self, path: str) -> str:
        account = getattr(self.service, "account_name", None) or "blob"
        return f"wasb://{self.container}@{account}/{normalize_path(path)}"

    def _ensure_container(self) -> None:
        if self._container_checked:
            return
        with self._lock:
            if self._container_checked:
                return
            from azure.core.exceptions import ResourceExistsError

            try:
                self.client.create_container()
            except ResourceExistsError:
                pass
            self._container_checked = True

    def list(self, prefix: str) -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        prefix = normalize_path(prefix)
        out: list[FileInfo] = []
        try:
            if prefix:
                blob = self.client.get_blob_client(prefix)
                try:
                    props = blob.get_blob_properties()
                    return [FileInfo(prefix, props.size, str(props.etag).strip('"'))]
                except ResourceNotFoundError:
                    pass
            start = f"{prefix}/" if prefix else None
            for b in self.client.list_blobs(name_starts_with=start):
                out.append(FileInfo(b.name, b.size, str(b.etag).strip('"')))
        except ResourceNotFoundError:
            return []  # no container yet: nothing stored
        return sorted(out, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        return bool(self.list(path))

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        from azure.core.exceptions import ResourceExistsError

        path = normalize_path(path)
        if not path:
            raise DatastoreError("cannot upload a file to the container root itself; give a file path")
        self._ensure_container()
        blob = self.client.get_blob_client(path)
        # a blob is committed whole (block list commit), so readers never see a partial upload
        try:
            with open(local, "rb") as data:
                blob.upload_blob(data, overwrite=overwrite, max_concurrency=4)
        except ResourceExistsError:
            if overwrite:
                raise
            return False
        return True

    def download_file(self, path: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with open(tmp, "wb") as out:
            self.client.get_blob_client(path).download_blob(max_concurrency=4).readinto(out)
        tmp.replace(local)
