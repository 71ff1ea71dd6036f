"""Workspace: an Airflow deployment plus its datastores and compute targets.

``Workspace.from_config()`` looks for a config file, in order: the ``path`` argument (a file, or a
folder holding ``mlpipe.json``), the ``MLPIPE_CONFIG`` environment variable, then ``mlpipe.json`` in
the current folder and its parents. With none, it gives the embedded workspace whose datastores are
folders under ``$MLPIPE_HOME/workspace`` (default ``~/.mlpipe/workspace``). See docs/workspace.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlpipe.definitions.durations import parse_duration
from airflow_mlpipe.definitions.workspace_config import (
    CONFIG_FILE_NAME,
    DEFAULT_BASE_IMAGE,
    DEFAULT_DATASTORE,
    SQL_TYPES,
    check_datastore,
    check_docker,
    check_reuse,
    find_config,
    read_config,
)
from airflow_mlpipe.exceptions import DatastoreError, UserErrorException, WorkspaceConfigError

# DEFAULT_BASE_IMAGE and SQL_TYPES live in workspace_config.py; other modules import them from here
__all__ = [
    "DEFAULT_BASE_IMAGE",
    "SQL_TYPES",
    "DatastoreNotFoundError",
    "Workspace",
    "mlpipe_home",
    "parse_duration",
    "write_json_atomic",
]

if TYPE_CHECKING:
    from airflow_mlpipe.definitions.compute import ComputeTarget
    from airflow_mlpipe.definitions.datastore import Datastore

BUILTIN_DATASTORES = ("workspaceblobstore", "workspacefilestore")


class DatastoreNotFoundError(DatastoreError, UserErrorException):
    """No datastore of that name (a UserErrorException too, which v1 code catches before registering)."""


def mlpipe_home() -> Path:
    """Where the embedded deployment and workspace live (``$MLPIPE_HOME``, default ``~/.mlpipe``)."""
    return Path(os.environ.get("MLPIPE_HOME") or Path.home() / ".mlpipe").resolve()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


# The embedded workspace's identity (documented in docs/workspace.md); a config file may set its own.
LOCAL_IDENTITY = {
    "workspace_name": "local",
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "mlpipe-local",
    "location": "local",
}


class Workspace:
    """Azure ML v1's Workspace, mapped onto an Airflow deployment and its datastores."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        _location: str | None = None,
        _disable_service_check: bool = False,
        _workspace_id: str | None = None,
        sku: str = "basic",
        tags: dict[str, str] | None = None,
        _cloud: str = "AzureCloud",
    ):
        """v1's constructor: the workspace of the config file that ``from_config()`` would find,
        checked against the identity given here; with no config file, the embedded workspace under
        that identity. Each given value must match the config file's."""
        given = {
            "workspace_name": workspace_name,
            "subscription_id": subscription_id,
            "resource_group": resource_group,
            "location": _location,
        }
        config = find_config(None, CONFIG_FILE_NAME)
        fields = read_config(config) if config is not None else {}
        for key, value in given.items():
            found = fields.get(key)
            if value is not None and found is not None and str(value) != str(found):
                raise WorkspaceConfigError(
                    f"Workspace({key}={value!r}) does not match {config}, which says {found!r}; "
                    "pass the values of that file, or point MLPIPE_CONFIG at the workspace you mean"
                )
            if value is not None and found is None:
                fields[key] = value
        self._setup(**fields)
        self.auth = auth
        self.sku = sku
        self.tags = dict(tags or {})

    def _setup(
        self,
        workspace_name: str | None = None,
        root: str | Path | None = None,
        datastores: dict[str, dict[str, Any]] | None = None,
        default_datastore: str = DEFAULT_DATASTORE,
        config_path: str | Path | None = None,
        api: dict[str, Any] | None = None,
        reuse: dict[str, Any] | None = None,
        docker: dict[str, Any] | None = None,
        databricks: dict[str, Any] | None = None,
        adla: dict[str, Any] | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
    ) -> None:
        self.name = workspace_name or LOCAL_IDENTITY["workspace_name"]
        self.subscription_id = subscription_id or LOCAL_IDENTITY["subscription_id"]
        self.resource_group = resource_group or LOCAL_IDENTITY["resource_group"]
        self.location = location or LOCAL_IDENTITY["location"]
        self.auth: Any = getattr(self, "auth", None)
        self.sku: str = getattr(self, "sku", "basic")
        self.tags: dict[str, str] = getattr(self, "tags", {})
        self.root = Path(root).resolve() if root else mlpipe_home() / "workspace"
        self.config_path = Path(config_path) if config_path else None
        self.api = dict(api or {})
        specs: dict[str, dict[str, Any]] = {
            ds: {"type": "local", "path": str(self.root / "datastores" / ds)} for ds in BUILTIN_DATASTORES
        }
        for ds_name, ds_spec in (datastores or {}).items():
            specs[ds_name] = self._check_datastore(ds_name, ds_spec)
        # datastores registered with Datastore.register_* (datastore_register.py); the config's win
        from airflow_mlpipe.definitions.datastore_registry import load_registry

        registry = load_registry(self.root)
        for ds_name, entry in registry["datastores"].items():
            if ds_name not in specs:
                specs[ds_name] = self._check_datastore(ds_name, entry["spec"], f"registered in {self.root}")
        for ds_name, ds_spec in specs.items():
            ds_spec["name"] = ds_name
        self._datastore_specs = specs
        self._custom_datastores = {n: dict(d) for n, d in (datastores or {}).items()}
        if registry["default"] in specs:  # set_as_default() overrides the config's default_datastore
            default_datastore = registry["default"]
        if default_datastore not in specs:
            raise WorkspaceConfigError(
                f"workspace {self.name!r}: default_datastore {default_datastore!r} is not defined; "
                f"known datastores: {sorted(specs)}"
            )
        self._default_datastore = default_datastore
        self.reuse = check_reuse(reuse or {}, self.config_path, self._datastore_specs)
        self.docker = check_docker(docker or {}, self.config_path)
        from airflow_mlpipe.definitions.databricks_compute import check_databricks_config, embedded_databricks

        # the Databricks workspaces DatabricksCompute targets attach to (no credentials here); the
        # embedded workspace has the emulator of `mlpipe up --databricks` as Databricks workspace "local"
        if databricks is None and self.config_path is None:
            databricks = embedded_databricks()
        self.databricks = check_databricks_config(
            {} if databricks is None else databricks, self.config_path, set(self._datastore_specs)
        )
        from airflow_mlpipe.definitions.adla_compute import check_adla_config

        # the Data Lake Analytics accounts (job API endpoints) AdlaCompute targets attach to
        self.adla = check_adla_config(adla or {}, self.config_path, set(self._datastore_specs))

    def _check_datastore(self, ds_name: str, spec: Any, source: str | None = None) -> dict[str, Any]:
        """A datastore spec checked against this workspace's config (workspace_config.check_datastore)."""
        return check_datastore(ds_name, spec, self.config_path, source)

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        path: str | Path | None = None,
        auth: Any = None,
        _logger: Any = None,
        _file_name: str | None = None,
    ) -> Workspace:
        """The workspace of a config file (see the module docstring), else the embedded one."""
        config = find_config(path, _file_name or CONFIG_FILE_NAME)
        ws = cls.__new__(cls)
        ws.auth = auth
        ws._setup(**(read_config(config) if config is not None else {}))
        return ws

    @staticmethod
    def get(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        """v1's ``Workspace.get``: as the constructor, found by name."""
        return Workspace(subscription_id, resource_group, name, auth, _location=location)

    # datastore_registry.py reads the config file through Workspace
    _read_config = staticmethod(read_config)

    # --- datastores ------------------------------------------------------------------------

    def datastore_spec(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._datastore_specs[name])
        except KeyError:
            raise DatastoreNotFoundError(
                f"workspace {self.name!r} has no datastore {name!r}; known: {sorted(self._datastore_specs)}; "
                "register it with Datastore.register_azure_blob_container(ws, ...) (or another register_*)"
            ) from None

    @property
    def datastores(self) -> dict[str, Datastore]:
        from airflow_mlpipe.definitions.datastore import Datastore

        return {n: Datastore.get(self, n) for n in self._datastore_specs}

    def get_default_datastore(self) -> Datastore:
        from airflow_mlpipe.definitions.datastore import Datastore

        return Datastore.get(self, self._default_datastore)

    def set_default_datastore(self, name: str) -> None:
        """Make ``name`` the default datastore, kept in the workspace root (v1 kept it in the service)."""
        from airflow_mlpipe.definitions.datastore_registry import save_default

        self.datastore_spec(name)
        save_default(self, name)
        self._default_datastore = name

    # --- compute targets -------------------------------------------------------------------

    @property
    def _compute_file(self) -> Path:
        return self.root / "compute_targets.json"

    def _load_compute(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self._compute_file.read_text())
        except FileNotFoundError:
            return {}

    def _save_compute(self, name: str, spec: dict[str, Any]) -> None:
        current = self._load_compute()
        if current.get(name) == spec:
            return  # DAG files re-run create() at every parse: write only on change
        current[name] = spec
        write_json_atomic(self._compute_file, current)

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        from airflow_mlpipe.definitions.compute import ComputeTarget

        return {n: ComputeTarget(self, n) for n in self._load_compute()}

    # --- v1's identity and listings ----------------------------------------------------------

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/airflow-mlpipe/workspaces/{self.name}"
        )

    def get_details(self) -> dict[str, Any]:
        """v1's workspace details, with this workspace's own values."""
        return {
            "id": self.id,
            "name": self.name,
            "friendlyName": self.name,
            "location": self.location,
            "resourceGroup": self.resource_group,
            "subscriptionId": self.subscription_id,
            "sku": self.sku,
            "tags": dict(self.tags),
            "defaultDatastore": self._default_datastore,
            "datastores": sorted(self._datastore_specs),
            "configPath": str(self.config_path) if self.config_path else None,
            "root": str(self.root),
            "airflowApiUrl": self.api.get("url"),
        }

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> Path:
        """Write this workspace's config to ``<path>/.azureml/<file_name>`` (default: the current
        folder, ``mlpipe.json``), where ``from_config()`` finds it, as v1 did."""
        target = Path(path or Path.cwd()) / ".azureml" / (file_name or CONFIG_FILE_NAME)
        data: dict[str, Any] = {
            "workspace_name": self.name,
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "location": self.location,
            "root": str(self.root),
            "default_datastore": self._default_datastore,
            "datastores": {n: self.datastore_spec(n) for n in self._custom_datastores},
        }
        for spec in data["datastores"].values():
            spec.pop("name", None)
        if self.api:
            data["api"] = dict(self.api)
        if self.reuse.get("datastore") or self.reuse.get("max_age"):
            data["reuse"] = {k: v for k, v in self.reuse.items() if v is not None}
        if any(self.docker.values()):
            data["docker"] = {k: v for k, v in self.docker.items() if v is not None}
        if self.databricks:
            data["databricks"] = {n: dict(e) for n, e in self.databricks.items()}
        if self.adla:
            data["adla"] = {n: dict(e) for n, e in self.adla.items()}
        write_json_atomic(target, data)
        return target

    @property
    def experiments(self) -> dict[str, Any]:
        """The experiments with runs on this workspace's Airflow, by name."""
        from airflow_mlpipe.client.run import Experiment

        return {e.name: e for e in Experiment.list(self)}

    @property
    def datasets(self) -> dict[str, Any]:
        """The latest version of each registered dataset, by name (``Dataset.get_all``)."""
        from airflow_mlpipe.definitions.registered import Dataset

        return Dataset.get_all(self)

    @property
    def environments(self) -> dict[str, Any]:
        """Registered and curated environments by name (``Environment.list``)."""
        from airflow_mlpipe.definitions.environment import Environment

        return Environment.list(self)

    def __repr__(self) -> str:
        return (
            f"Workspace.create(name={self.name!r}, subscription_id={self.subscription_id!r}, "
            f"resource_group={self.resource_group!r})"
        )
