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

from airflow_mlpipe.exceptions import DatastoreError, WorkspaceConfigError

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
}


def mlpipe_home() -> Path:
    """Where the embedded deployment and workspace live (``$MLPIPE_HOME``, default ``~/.mlpipe``)."""
    return Path(os.environ.get("MLPIPE_HOME") or Path.home() / ".mlpipe").resolve()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


class Workspace:
    """Azure ML v1's Workspace, mapped onto an Airflow deployment and its datastores."""

    def __init__(
        self,
        name: str = "local",
        root: str | Path | None = None,
        datastores: dict[str, dict[str, Any]] | None = None,
        default_datastore: str = DEFAULT_DATASTORE,
        config_path: str | Path | None = None,
        api: dict[str, Any] | None = None,
        reuse: dict[str, Any] | None = None,
    ):
        self.name = name
        self.root = Path(root).resolve() if root else mlpipe_home() / "workspace"
        self.config_path = Path(config_path) if config_path else None
        self.api = dict(api or {})
        specs: dict[str, dict[str, Any]] = {
            ds: {"type": "local", "path": str(self.root / "datastores" / ds)} for ds in BUILTIN_DATASTORES
        }
        for ds_name, ds_spec in (datastores or {}).items():
            specs[ds_name] = self._check_datastore(ds_name, ds_spec)
        for ds_name, ds_spec in specs.items():
            ds_spec["name"] = ds_name
        self._datastore_specs = specs
        if default_datastore not in specs:
            raise WorkspaceConfigError(
                f"workspace {name!r}: default_datastore {default_datastore!r} is not defined; "
                f"known datastores: {sorted(specs)}"
            )
        self._default_datastore = default_datastore
        self.reuse = self._check_reuse(reuse or {})

    def _check_datastore(self, ds_name: str, spec: Any) -> dict[str, Any]:
        where = f"datastore {ds_name!r} in {self.config_path or 'workspace config'}"
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
        if auth is not None:
            raise WorkspaceConfigError(
                "Workspace.from_config(auth=...) is not supported: the deployment's credentials come "
                "from the config file's 'api' section or MLPIPE_API_* environment variables"
            )
        config = cls._find_config(path, _file_name or CONFIG_FILE_NAME)
        if config is None:
            return cls()
        try:
            data = json.loads(config.read_text())
        except json.JSONDecodeError as exc:
            raise WorkspaceConfigError(f"{config}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise WorkspaceConfigError(f"{config}: expected a JSON object at the top level")
        known = {"workspace_name", "root", "default_datastore", "datastores", "api", "reuse"}
        unknown = set(data) - known
        if unknown:
            raise WorkspaceConfigError(f"{config}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        root = data.get("root")
        if root:
            root = (config.parent / os.path.expanduser(root)).resolve()
        return cls(
            name=data.get("workspace_name", config.parent.name),
            root=root or config.parent / ".mlpipe" / "workspace",
            datastores=data.get("datastores") or {},
            default_datastore=data.get("default_datastore", DEFAULT_DATASTORE),
            config_path=config,
            api=data.get("api"),
            reuse=data.get("reuse"),
        )

    @staticmethod
    def _find_config(path: str | Path | None, file_name: str) -> Path | None:
        if path is not None:
            p = Path(path)
            if p.is_dir():
                p = p / file_name
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
            candidate = folder / file_name
            if candidate.is_file():
                return candidate
        return None

    # --- datastores ------------------------------------------------------------------------

    def datastore_spec(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._datastore_specs[name])
        except KeyError:
            raise DatastoreError(
                f"workspace {self.name!r} has no datastore {name!r}; known: {sorted(self._datastore_specs)}"
            ) from None

    @property
    def datastores(self) -> dict[str, Datastore]:
        from airflow_mlpipe.definitions.datastore import Datastore

        return {n: Datastore.get(self, n) for n in self._datastore_specs}

    def get_default_datastore(self) -> Datastore:
        from airflow_mlpipe.definitions.datastore import Datastore

        return Datastore.get(self, self._default_datastore)

    def set_default_datastore(self, name: str) -> None:
        self.datastore_spec(name)
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

    def __repr__(self) -> str:
        return f"Workspace.create(name={self.name!r}, root={str(self.root)!r})"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, where: str = "duration") -> float:
    """Seconds from a number, a timedelta, or text such as '90m', '12h', '30d'."""
    from datetime import timedelta

    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif (
        isinstance(value, str)
        and value.strip()[:-1].replace(".", "", 1).isdigit()
        and value.strip()[-1] in _UNITS
    ):
        seconds = float(value.strip()[:-1]) * _UNITS[value.strip()[-1]]
    else:
        raise WorkspaceConfigError(
            f"{where}: {value!r} is not a duration; use seconds, a timedelta, or text like '90m', '12h', '30d'"
        )
    if seconds <= 0:
        raise WorkspaceConfigError(f"{where}: a duration must be positive, got {value!r}")
    return seconds
