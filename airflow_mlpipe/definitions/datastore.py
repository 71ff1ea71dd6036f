"""Datastore and DataReference (Azure ML v1 names), backed by airflow_mlpipe.storage."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions import datastore_register as _register
from airflow_mlpipe.definitions.workspace import SQL_TYPES, Workspace
from airflow_mlpipe.exceptions import DatastoreError, UserErrorException
from airflow_mlpipe.storage import Store, open_store
from airflow_mlpipe.storage.base import normalize_path

V1_TYPE_NAMES = {
    "local": "Local",
    "azure_blob": "AzureBlob",
    "azure_data_lake_gen2": "AzureDataLakeGen2",
    "azure_file_share": "AzureFile",
    "postgres": "AzurePostgreSql",
    "mysql": "AzureMySql",
    "azure_sql": "AzureSqlDatabase",
}


class Datastore:
    """A named datastore of a workspace: ``Datastore(ws, "workspaceblobstore")``."""

    def __new__(cls, workspace: Workspace, name: str | None = None):
        return cls.get(workspace, name) if name else cls.get_default(workspace)

    @classmethod
    def _make(cls, workspace: Workspace, name: str) -> Datastore:
        obj = object.__new__(cls)
        obj.workspace = workspace
        obj.name = name
        obj.spec = workspace.datastore_spec(name)
        obj._store = None
        return obj

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore._make(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return workspace.get_default_datastore()

    # v1's registration API (datastore_register.py); ``conn_id=`` names an existing Airflow connection
    register_azure_blob_container = staticmethod(_register.register_azure_blob_container)
    register_azure_file_share = staticmethod(_register.register_azure_file_share)
    register_azure_data_lake_gen2 = staticmethod(_register.register_azure_data_lake_gen2)
    register_azure_postgre_sql = staticmethod(_register.register_azure_postgre_sql)
    register_azure_my_sql = staticmethod(_register.register_azure_my_sql)
    register_azure_sql_database = staticmethod(_register.register_azure_sql_database)
    register_azure_data_lake = staticmethod(_register.register_azure_data_lake)

    @staticmethod
    def register_dbfs(workspace: Workspace, datastore_name: str) -> Datastore:
        raise UserErrorException(
            "Datastore.register_dbfs is not supported: a DatabricksStep reaches datastores through the "
            "mounts of its Databricks workspace (workspace config 'databricks' -> 'mounts')"
        )

    @staticmethod
    def register_hdfs(workspace: Workspace, datastore_name: str, *args: Any, **kwargs: Any) -> Datastore:
        raise UserErrorException(
            "Datastore.register_hdfs is not supported: copy the data to Blob, ADLS Gen2 or Azure Files"
        )

    def set_as_default(self) -> None:
        """Make this the workspace's default datastore (kept in the workspace root)."""
        self.workspace.set_default_datastore(self.name)

    def unregister(self) -> None:
        """Remove a datastore registered with register_*; the data stays where it is, and the Airflow
        connection register_* created goes too (a connection named with conn_id= stays)."""
        from airflow_mlpipe.definitions.datastore_registry import unregister

        unregister(self)

    @property
    def datastore_type(self) -> str:
        return V1_TYPE_NAMES[self.spec["type"]]

    @property
    def is_sql(self) -> bool:
        return self.spec["type"] in SQL_TYPES

    @property
    def conn_id(self) -> str | None:
        """The Airflow connection that holds this datastore's credentials (None for a local folder)."""
        return self.spec.get("conn_id")

    @property
    def container_name(self) -> str | None:
        """The blob container, file share or ADLS Gen2 filesystem (v1 called each container_name)."""
        return self.spec.get("container") or self.spec.get("share") or self.spec.get("filesystem")

    @property
    def database_name(self) -> str | None:
        return self.spec.get("database")

    def _info(self, key: str) -> Any:
        from airflow_mlpipe.definitions.datastore_registry import registered_info

        return registered_info(self.workspace, self.name).get(key)

    @property
    def account_name(self) -> str | None:
        return self._info("account_name")

    @property
    def protocol(self) -> str | None:
        return self._info("protocol")

    @property
    def endpoint(self) -> str | None:
        return self._info("endpoint")

    @property
    def server_name(self) -> str | None:
        return self._info("server_name")

    @property
    def credential_type(self) -> str | None:
        return self._info("credential_type")

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.spec)
        return self._store

    # --- uploads ---------------------------------------------------------------------------

    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        src = Path(src_dir)
        if not src.is_dir():
            raise DatastoreError(f"Datastore.upload: src_dir {src} is not a folder")
        files = sorted(p for p in src.rglob("*") if p.is_file())
        return self.upload_files(files, src, target_path, overwrite, show_progress)

    def upload_files(
        self,
        files: list[str | Path],
        relative_root: str | Path | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload local files; each keeps its path relative to ``relative_root`` (default: its name).

        With ``overwrite=False`` a file already on the datastore is skipped, as in Azure ML v1.
        """
        if isinstance(files, (str, Path)):
            raise UserErrorException("Datastore.upload_files: 'files' must be a list of paths")
        target = normalize_path(target_path or "", where="target_path")
        root = Path(relative_root).resolve() if relative_root is not None else None
        total = len(files)
        if show_progress:
            print(f"Uploading an estimated of {total} files")
        done = 0
        for f in files:
            local = Path(f)
            if not local.is_file():
                raise DatastoreError(f"Datastore.upload_files: {local} is not a file")
            if root is not None:
                try:
                    rel = local.resolve().relative_to(root).as_posix()
                except ValueError:
                    raise DatastoreError(f"{local} is not under relative_root {root}") from None
            else:
                rel = local.name
            dest = posixpath.join(target, rel) if target else rel
            uploaded = self.store.upload_file(local, dest, overwrite=overwrite)
            done += 1
            if show_progress:
                verb = "Uploaded" if uploaded else "Target already exists. Skipping upload for"
                print(f"{verb} {local}, {done} files out of an estimated total of {total}")
        if show_progress:
            print(f"Uploaded {done} files")
        return DataReference(self, path_on_datastore=target or None)

    def download(
        self,
        target_path: str | Path,
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        target = Path(target_path)
        count = 0
        for info, _rel in self.store.resolve(prefix or ""):
            dest = target / info.path
            if dest.exists() and not overwrite:
                continue
            self.store.download_file(info.path, dest)
            count += 1
            if show_progress:
                print(f"Downloaded {info.path}")
        return count

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        return DataReference(self, data_reference_name=data_reference_name, path_on_datastore=path)

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_download(path_on_compute)

    def as_mount(self) -> DataReference:
        return self.path().as_mount()

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, type={self.datastore_type!r})"


class DataReference:
    """A path on a datastore, consumed by a step as a download or a mount."""

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ):
        if mode not in ("mount", "download"):
            raise UserErrorException(
                f"DataReference mode {mode!r} is not supported; use 'mount' or 'download' "
                "('upload' is what PipelineData outputs do)"
            )
        if not isinstance(datastore, Datastore):
            raise UserErrorException(f"DataReference: datastore must be a Datastore, got {datastore!r}")
        if datastore.is_sql and not getattr(self, "_sql", False):
            raise UserErrorException(
                f"DataReference: datastore {datastore.name!r} is a {datastore.datastore_type} database; "
                "refer to a table, query or stored procedure with SqlDataReference(datastore, sql_table=...)"
            )
        self.datastore = datastore
        self.path_on_datastore = normalize_path(path_on_datastore or "")
        self.data_reference_name = data_reference_name or (
            posixpath.basename(self.path_on_datastore) or datastore.name
        ).replace(".", "_").replace("-", "_")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def _copy(self, **changes: Any) -> DataReference:
        kwargs = {
            "datastore": self.datastore,
            "data_reference_name": self.data_reference_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }
        kwargs.update(changes)
        return DataReference(**kwargs)

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._copy(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_mount(self) -> DataReference:
        return self._copy(mode="mount")

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        full = posixpath.join(self.path_on_datastore, path) if path else self.path_on_datastore
        return self._copy(path_on_datastore=full, data_reference_name=data_reference_name)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore={self.datastore.name!r}, path_on_datastore="
            f"{self.path_on_datastore!r}, mode={self.mode!r})"
        )


class DataPath:
    """A path on a datastore (Azure ML v1's ``azureml.data.datapath.DataPath``).

    Its use in a pipeline is as the default of a PipelineParameter, so that each run (and each
    REST call's ``DataPathAssignments``) can point the step at other data.
    """

    def __init__(self, datastore: Datastore | None = None, path_on_datastore: str | None = None, name=None):
        if not isinstance(datastore, Datastore):
            raise UserErrorException(f"DataPath: datastore must be a Datastore, got {datastore!r}")
        if path_on_datastore is not None and not isinstance(path_on_datastore, str):
            raise UserErrorException(f"DataPath: path_on_datastore must be a str, got {path_on_datastore!r}")
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.name = name

    @property
    def datastore_name(self) -> str:
        return self.datastore.name

    def to_spec(self) -> dict[str, str]:
        return {"datastore": self.datastore.name, "path": self.path_on_datastore}

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore.name!r}, path_on_datastore={self.path_on_datastore!r})"


class DataPathComputeBinding:
    """How a step consumes a DataPath parameter: ``(param, DataPathComputeBinding(mode=...))``."""

    def __init__(self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False):
        if mode not in ("mount", "download"):
            raise UserErrorException(
                f"DataPathComputeBinding: mode must be 'mount' or 'download', got {mode!r}"
            )
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def __repr__(self) -> str:
        return f"DataPathComputeBinding(mode={self.mode!r}, path_on_compute={self.path_on_compute!r})"
