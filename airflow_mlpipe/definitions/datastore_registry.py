"""The registered datastores of a workspace, and the Airflow connections that hold their secrets.

A registration (``Datastore.register_*``, see datastore_register.py) writes the datastore's spec
(type, ``conn_id`` and its container, share, filesystem or database: never a secret) to
``datastores.json`` under the workspace root, next to ``compute_targets.json``; the config file's datastores stay read-only. The secrets given to
``register_*`` (account keys, SAS tokens, client secrets, passwords) go only into the Airflow
connection ``mlpipe_ds_<name>``, created or updated over Airflow's REST API v2 with the connection
type the Azure, Postgres and MySQL providers read. ``conn_id=`` (an airflow-mlpipe addition) names an
existing connection instead, and then nothing is sent to Airflow.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlpipe.definitions.workspace import BUILTIN_DATASTORES, Workspace, write_json_atomic
from airflow_mlpipe.exceptions import DatastoreError, MlpipeError, UserErrorException

if TYPE_CHECKING:
    from airflow_mlpipe.definitions.datastore import Datastore

log = logging.getLogger(__name__)

REGISTRY_FILE = "datastores.json"
CONN_PREFIX = "mlpipe_ds_"  # the Airflow connection register_* creates for datastore <name>
_NAME = re.compile(r"^[A-Za-z0-9_]{1,200}$")
CONN_TYPES = {
    "azure_blob": "wasb",
    "azure_data_lake_gen2": "adls",
    "azure_file_share": "azure_fileshare",
    "postgres": "postgres",
    "mysql": "mysql",
    "azure_sql": "mssql",
}
GEN1_RETIRED = (
    "Datastore.register_azure_data_lake: Azure Data Lake Storage Gen1 was retired on 2024-02-29 and "
    "cannot be registered; move the data to ADLS Gen2 and use Datastore.register_azure_data_lake_gen2"
)


# --- the registry file ------------------------------------------------------------------------


def load_registry(root: Path) -> dict[str, Any]:
    """``{"datastores": {name: {"spec", "owns_connection", "info"}}, "default": name | None}``."""
    path = Path(root) / REGISTRY_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"datastores": {}, "default": None}
    except ValueError as exc:
        raise DatastoreError(f"{path}: not valid JSON ({exc}); fix or delete the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("datastores", {}), dict):
        raise DatastoreError(f"{path}: expected {{'datastores': {{...}}, 'default': ...}}; fix or delete it")
    return {"datastores": dict(data.get("datastores") or {}), "default": data.get("default")}


def _save_registry(root: Path, registry: dict[str, Any]) -> None:
    if load_registry(root) != registry:  # DAG files re-run register_* at every parse
        write_json_atomic(Path(root) / REGISTRY_FILE, registry)


def save_default(workspace: Workspace, name: str) -> None:
    registry = load_registry(workspace.root)
    registry["default"] = name
    _save_registry(workspace.root, registry)


def registered_info(workspace: Workspace, name: str) -> dict[str, Any]:
    """The non-secret facts a registration recorded (account, server, credential type), if any."""
    entry = load_registry(workspace.root)["datastores"].get(name) or {}
    return dict(entry.get("info") or {})


# --- registering --------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    """v1's rule: letters, digits and '_', case-insensitive (capitals become lowercase, with a warning)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserErrorException(
            f"datastore name {name!r} is invalid: use 1-200 letters, digits and '_' (v1's rule)"
        )
    if name != name.lower():
        warnings.warn(
            f"Datastore name {name} contains capital letters. They will be converted to lowercase letters.",
            UserWarning,
            stacklevel=4,
        )
    return name.lower()


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserErrorException(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value.strip()


def register(
    workspace: Workspace,
    name: Any,
    kind: str,
    location: dict[str, str],
    info: dict[str, Any],
    connection: dict[str, Any],
    secrets: list[str],
    conn_id: str | None,
    overwrite: bool,
) -> Datastore:
    """Store datastore ``name`` of type ``kind`` at ``location`` (its container/share/filesystem/
    database); its connection is ``conn_id`` when given, else ``mlpipe_ds_<name>`` written from
    ``connection`` (whose ``secrets`` appear in no error)."""
    from airflow_mlpipe.definitions.datastore import Datastore

    if not isinstance(workspace, Workspace):
        raise UserErrorException(f"register_*: workspace must be a Workspace, got {workspace!r}")
    name = check_name(name)
    where = f"datastore {name!r}"
    if name in BUILTIN_DATASTORES or name in workspace._custom_datastores:
        source = workspace.config_path or "the embedded workspace"
        raise UserErrorException(
            f"{where} is defined by {source}, which register_* does not change; edit it there or "
            "register the datastore under another name"
        )
    secrets = [s for s in secrets if s]
    if conn_id is not None:
        conn_id = _text(conn_id, "conn_id", where)
        if secrets:
            raise UserErrorException(
                f"{where}: give either conn_id (an Airflow connection holding the credentials) or the "
                "credentials themselves, not both"
            )
    if conn_id is not None:  # the connection decides how it signs in
        info = {**info, "credential_type": "AirflowConnection"}
    registry = load_registry(workspace.root)
    old = registry["datastores"].get(name)
    spec = {"type": kind, "conn_id": conn_id or CONN_PREFIX + name, **location}
    entry = {"spec": spec, "owns_connection": conn_id is None, "info": info}
    if old is not None and not overwrite:
        if old["spec"] == spec and old.get("info") == info:
            return Datastore.get(workspace, name)  # the same registration again (a DAG file re-parsed)
        raise UserErrorException(
            f"{where} is already registered in workspace {workspace.name!r} as {_describe(old['spec'])}; "
            "pass overwrite=True to replace it, or unregister() it first"
        )
    checked = workspace._check_datastore(name, spec, "given to register_*")
    if conn_id is None:
        put_connection(
            workspace, name, spec["conn_id"], {"conn_type": CONN_TYPES[kind], **connection}, secrets
        )
    elif old is not None and old.get("owns_connection") and old["spec"]["conn_id"] != conn_id:
        delete_connection(workspace, name, old["spec"]["conn_id"])  # its own connection is no longer used
    registry["datastores"][name] = entry
    _save_registry(workspace.root, registry)
    checked["name"] = name
    workspace._datastore_specs[name] = checked
    log.info("registered datastore %s (%s, Airflow connection %s)", name, kind, spec["conn_id"])
    return Datastore.get(workspace, name)


def _describe(spec: dict[str, Any]) -> str:
    place = next(
        (f"{k} {spec[k]!r}" for k in ("container", "share", "filesystem", "database") if k in spec), ""
    )
    return f"{spec.get('type')} {place} through Airflow connection {spec.get('conn_id')!r}".replace("  ", " ")


def unregister(datastore: Datastore) -> None:
    """Remove a registered datastore; the Airflow connection goes too when register_* created it."""
    ws, name = datastore.workspace, datastore.name
    registry = load_registry(ws.root)
    entry = registry["datastores"].get(name)
    if entry is None or name in ws._custom_datastores or name in BUILTIN_DATASTORES:
        source = ws.config_path or "the embedded workspace"
        raise UserErrorException(
            f"datastore {name!r} was not registered with register_* (it comes from {source}); "
            "remove it from the config file instead"
        )
    if entry.get("owns_connection"):
        delete_connection(ws, name, entry["spec"]["conn_id"])
    del registry["datastores"][name]
    if registry["default"] == name:
        registry["default"] = None
    _save_registry(ws.root, registry)
    ws._datastore_specs.pop(name, None)
    if ws._default_datastore == name:  # back to the config's default
        ws._default_datastore = _config_default(ws)
    log.info("unregistered datastore %s", name)


def _config_default(ws: Workspace) -> str:
    from airflow_mlpipe.definitions.workspace import DEFAULT_DATASTORE

    if ws.config_path is not None:
        default = Workspace._read_config(ws.config_path)["default_datastore"]
        if default in ws._datastore_specs:
            return default
    return DEFAULT_DATASTORE


# --- the Airflow connection ---------------------------------------------------------------------


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def put_connection(
    workspace: Workspace, name: str, conn_id: str, body: dict[str, Any], secrets: list[str]
) -> None:
    """Create or update Airflow connection ``conn_id`` over the REST API; secrets go only there."""
    from airflow_mlpipe.client.auth import workspace_client
    from airflow_mlpipe.client.rest import AirflowApiError

    payload = {"connection_id": conn_id, "description": f"airflow-mlpipe datastore {name!r}", **body}
    extra = payload.get("extra")
    payload["extra"] = json.dumps(extra) if extra else None
    try:
        client = workspace_client(workspace)
        try:
            client.request("GET", f"/api/v2/connections/{conn_id}")
        except AirflowApiError as exc:
            if exc.status != 404:
                raise
            client.request("POST", "/api/v2/connections", json=payload)
            log.info("datastore %s: created Airflow connection %s", name, conn_id)
        else:
            client.request("PATCH", f"/api/v2/connections/{conn_id}", json=payload)
            log.info("datastore %s: updated Airflow connection %s", name, conn_id)
    except (MlpipeError, OSError) as exc:  # an error may echo the request: keep the secrets out
        raise DatastoreError(
            f"datastore {name!r}: could not write Airflow connection {conn_id!r} ("
            + _scrub(str(exc), secrets)
            + "); start the workspace's Airflow (mlpipe up) or check its api settings, or create the "
            "connection yourself and pass conn_id="
        ) from None


def delete_connection(workspace: Workspace, name: str, conn_id: str) -> None:
    """Delete the Airflow connection a registration created (already gone is fine)."""
    from airflow_mlpipe.client.auth import workspace_client
    from airflow_mlpipe.client.rest import AirflowApiError

    try:
        workspace_client(workspace).request("DELETE", f"/api/v2/connections/{conn_id}")
        log.info("datastore %s: deleted Airflow connection %s", name, conn_id)
    except AirflowApiError as exc:
        if exc.status != 404:
            raise DatastoreError(
                f"datastore {name!r}: could not delete Airflow connection {conn_id!r} ({exc}); "
                "delete it in Airflow (UI, CLI or REST API) and unregister again"
            ) from None
