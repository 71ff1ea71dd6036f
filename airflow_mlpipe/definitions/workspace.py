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
from airflow_mlpipe.exceptions import DatastoreError, UserErrorException, WorkspaceConfigError

__all__ = ["DatastoreNotFoundError", "Workspace", "mlpipe_home", "parse_duration", "write_json_atomic"]

if TYPE_CHECKING:
    from airflow_mlpipe.definitions.compute import ComputeTarget
    from airflow_mlpipe.definitions.datastore import Datastore

CONFIG_FILE_NAME = "mlpipe.json"
DEFAULT_DATASTORE = "workspaceblobstore"
BUILTIN_DATASTORES = ("workspaceblobstore", "workspacefilestore")
# Keys that would put a secret into the config file (and so into specs and logs).
SECRET_KEYS = {"connection_string", "account_key", "sas_token", "password", "client_secret", "token"}
DATASTORE_KEYS = {
    "local": {"type", "path"},
    "azure_blob": {"type", "conn_id", "container"},
    "azure_data_lake_gen2": {"type", "conn_id", "filesystem"},
    "azure_file_share": {"type", "conn_id", "share"},
    "postgres": {"type", "conn_id", "database"},
    "mysql": {"type", "conn_id", "database"},
    "azure_sql": {"type", "conn_id", "database"},
}
SQL_TYPES = ("postgres", "mysql", "azure_sql")


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
IDENTITY_KEYS = ("workspace_name", "subscription_id", "resource_group", "location")


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
        config = self._find_config(None, CONFIG_FILE_NAME)
        fields = self._read_config(config) if config is not None else {}
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
        self.reuse = self._check_reuse(reuse or {})
        self.docker = check_docker(docker or {}, self.config_path)
        from airflow_mlpipe.definitions.databricks_compute import check_databricks_config, embedded_databricks

        # the Databricks workspaces DatabricksCompute targets attach to (no credentials here); the
        # embedded workspace has the emulator of `mlpipe up --databricks` as Databricks workspace "local"
        if databricks is None and self.config_path is None:
            databricks = embedded_databricks()
        self.databricks = check_databricks_config(
            {} if databricks is None else databricks, self.config_path, set(self._datastore_specs)
        )

    def _check_datastore(self, ds_name: str, spec: Any, source: str | None = None) -> dict[str, Any]:
        where = f"datastore {ds_name!r} " + (source or f"in {self.config_path or 'workspace config'}")
        if not isinstance(spec, dict):
            raise WorkspaceConfigError(f"{where}: expected an object, got {type(spec).__name__}")
        secret = SECRET_KEYS & set(spec)
        if secret:
            raise WorkspaceConfigError(
                f"{where}: {sorted(secret)} must not be in the config file; keep credentials in an "
                "Airflow connection and give its id as 'conn_id'"
            )
        kind = spec.get("type")
        if kind not in DATASTORE_KEYS:
            raise WorkspaceConfigError(
                f"{where}: type {kind!r} is not supported; use one of {sorted(DATASTORE_KEYS)}"
            )
        allowed = DATASTORE_KEYS[kind]
        missing = allowed - set(spec)
        unknown = set(spec) - allowed - {"name"}
        if missing or unknown:
            raise WorkspaceConfigError(
                f"{where}: a {kind!r} datastore takes exactly {sorted(allowed)}"
                + (f"; missing {sorted(missing)}" if missing else "")
                + (f"; unknown {sorted(unknown)}" if unknown else "")
            )
        out = dict(spec)
        if kind == "local":
            base = self.config_path.parent if self.config_path else Path.cwd()
            out["path"] = str((base / os.path.expanduser(spec["path"])).resolve())
        return out

    def _check_reuse(self, reuse: Any) -> dict[str, Any]:
        where = f"'reuse' in {self.config_path or 'workspace config'}"
        if not isinstance(reuse, dict) or set(reuse) - {"datastore", "max_age"}:
            raise WorkspaceConfigError(f"{where}: expected an object with 'datastore' and/or 'max_age'")
        out: dict[str, Any] = {"datastore": reuse.get("datastore"), "max_age": None}
        if out["datastore"] is not None and out["datastore"] not in self._datastore_specs:
            raise WorkspaceConfigError(f"{where}: datastore {out['datastore']!r} is not defined")
        if reuse.get("max_age") is not None:
            out["max_age"] = parse_duration(reuse["max_age"], where + " max_age")
        return out

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
        config = cls._find_config(path, _file_name or CONFIG_FILE_NAME)
        ws = cls.__new__(cls)
        ws.auth = auth
        ws._setup(**(cls._read_config(config) if config is not None else {}))
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

    @staticmethod
    def _read_config(config: Path) -> dict[str, Any]:
        try:
            data = json.loads(config.read_text())
        except json.JSONDecodeError as exc:
            raise WorkspaceConfigError(f"{config}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise WorkspaceConfigError(f"{config}: expected a JSON object at the top level")
        known = {"root", "default_datastore", "datastores", "api", "reuse", "docker", "databricks"}
        known |= set(IDENTITY_KEYS)
        unknown = set(data) - known
        if unknown:
            raise WorkspaceConfigError(f"{config}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        root = data.get("root")
        if root:
            root = (config.parent / os.path.expanduser(root)).resolve()
        folder = config.parent.parent if config.parent.name == ".azureml" else config.parent
        return {
            **{k: data[k] for k in IDENTITY_KEYS if data.get(k) is not None},
            "workspace_name": data.get("workspace_name", folder.name),
            "root": root or folder / ".mlpipe" / "workspace",
            "datastores": data.get("datastores") or {},
            "default_datastore": data.get("default_datastore", DEFAULT_DATASTORE),
            "config_path": config,
            "api": data.get("api"),
            "reuse": data.get("reuse"),
            "docker": data.get("docker"),
            "databricks": data.get("databricks"),
        }

    @staticmethod
    def _find_config(path: str | Path | None, file_name: str) -> Path | None:
        if path is not None:
            p = Path(path)
            if p.is_dir():
                p = next((c for c in _candidates(p, file_name) if c.is_file()), p / file_name)
            if not p.is_file():
                raise WorkspaceConfigError(f"workspace config {p} does not exist")
            return p.resolve()
        env = os.environ.get("MLPIPE_CONFIG")
        if env:
            p = Path(env)
            if not p.is_file():
                raise WorkspaceConfigError(f"MLPIPE_CONFIG points to {p}, which does not exist")
            return p.resolve()
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            for candidate in _candidates(folder, file_name):
                if candidate.is_file():
                    return candidate
        return None

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


def _candidates(folder: Path, file_name: str) -> tuple[Path, Path]:
    """Where a config file may be in a folder: there, or in its ``.azureml`` subfolder (as v1)."""
    return folder / file_name, folder / ".azureml" / file_name


# how steps with a container environment reach Docker (docs/environments.md); no secrets here:
# registry logins come from the Airflow connection named by conn_id
DOCKER_KEYS = ("conn_id", "base_url", "default_base_image")
DEFAULT_BASE_IMAGE = "python:3.11-slim"


def check_docker(docker: Any, where: Any) -> dict[str, str | None]:
    if not isinstance(docker, dict) or set(docker) - set(DOCKER_KEYS):
        raise WorkspaceConfigError(
            f"'docker' in {where or 'workspace config'}: expected an object with keys among {list(DOCKER_KEYS)}, got {docker!r}"
        )
    bad = [k for k, v in docker.items() if v is not None and not (isinstance(v, str) and v)]
    if bad:
        raise WorkspaceConfigError(
            f"'docker' in {where or 'workspace config'}: {bad} must be non-empty strings"
        )
    return {k: docker.get(k) for k in DOCKER_KEYS}
