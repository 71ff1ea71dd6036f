"""The workspace config file (``mlpipe.json``): where ``Workspace.from_config()`` finds it, what it
may hold, and the checks on each section, kept apart from the Workspace object built from it
(definitions/workspace.py). See docs/workspace.md."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.durations import parse_duration
from airflow_mlpipe.exceptions import WorkspaceConfigError

CONFIG_FILE_NAME = "mlpipe.json"
DEFAULT_DATASTORE = "workspaceblobstore"
IDENTITY_KEYS = ("workspace_name", "subscription_id", "resource_group", "location")
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
# how steps with a container environment reach Docker (docs/environments.md); no secrets here:
# registry logins come from the Airflow connection named by conn_id
DOCKER_KEYS = ("conn_id", "base_url", "default_base_image")
DEFAULT_BASE_IMAGE = "python:3.11-slim"


def find_config(path: str | Path | None, file_name: str) -> Path | None:
    """The config file: ``path`` (a file, or a folder holding one), else ``$MLPIPE_CONFIG``, else
    the first found in the current folder and its parents; None when there is none."""
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


def read_config(config: Path) -> dict[str, Any]:
    """A config file's contents as keyword arguments of ``Workspace._setup`` (unknown keys refused)."""
    try:
        data = json.loads(config.read_text())
    except json.JSONDecodeError as exc:
        raise WorkspaceConfigError(f"{config}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise WorkspaceConfigError(f"{config}: expected a JSON object at the top level")
    known = {"root", "default_datastore", "datastores", "api", "reuse", "docker", "databricks", "adla"}
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
        "adla": data.get("adla"),
    }


def _candidates(folder: Path, file_name: str) -> tuple[Path, Path]:
    """Where a config file may be in a folder: there, or in its ``.azureml`` subfolder (as v1)."""
    return folder / file_name, folder / ".azureml" / file_name


def check_datastore(
    ds_name: str, spec: Any, config_path: Path | None, source: str | None = None
) -> dict[str, Any]:
    """A datastore spec checked (its type's keys exactly, no secrets); a local path made absolute
    (relative to the config file's folder). ``source`` says where the spec came from, for errors."""
    where = f"datastore {ds_name!r} " + (source or f"in {config_path or 'workspace config'}")
    if not isinstance(spec, dict):
        raise WorkspaceConfigError(f"{where}: expected an object, got {type(spec).__name__}")
    refuse_secrets(
        spec, SECRET_KEYS, where, "keep credentials in an Airflow connection and give its id as 'conn_id'"
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
        base = config_path.parent if config_path else Path.cwd()
        out["path"] = str((base / os.path.expanduser(spec["path"])).resolve())
    return out


def refuse_secrets(section: dict[str, Any], secret_keys: Collection[str], where: str, instead: str) -> None:
    """Refuse a config section holding a secret (it would reach specs and logs); ``instead`` says
    where the secret belongs."""
    secret = set(secret_keys) & set(section)
    if secret:
        raise WorkspaceConfigError(f"{where}: {sorted(secret)} must not be in the config file; {instead}")


def check_reuse(reuse: Any, config_path: Path | None, datastores: Collection[str]) -> dict[str, Any]:
    """The 'reuse' section: the cache's datastore (one of ``datastores``) and its max_age in seconds."""
    where = f"'reuse' in {config_path or 'workspace config'}"
    if not isinstance(reuse, dict) or set(reuse) - {"datastore", "max_age"}:
        raise WorkspaceConfigError(f"{where}: expected an object with 'datastore' and/or 'max_age'")
    out: dict[str, Any] = {"datastore": reuse.get("datastore"), "max_age": None}
    if out["datastore"] is not None and out["datastore"] not in datastores:
        raise WorkspaceConfigError(f"{where}: datastore {out['datastore']!r} is not defined")
    if reuse.get("max_age") is not None:
        out["max_age"] = parse_duration(reuse["max_age"], where + " max_age")
    return out


def check_docker(docker: Any, where: Any) -> dict[str, str | None]:
    """The 'docker' section: each of DOCKER_KEYS a non-empty string or absent."""
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
