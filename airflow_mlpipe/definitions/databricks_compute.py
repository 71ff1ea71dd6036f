"""DatabricksCompute: a Databricks workspace attached as a compute target (Azure ML v1's
``azureml.core.compute.DatabricksCompute``). Its steps run as Databricks jobs through an Airflow
connection, so the access token lives only in Airflow's connection store.

Where each Databricks workspace is comes from the workspace config's ``databricks`` section::

    "databricks": {"<databricks workspace_name>": {"conn_id": "<an Airflow databricks connection>"}
                   or {"host": "https://adb-1.2.azuredatabricks.net"} (+ "port", "schema"),
                   optionally with "mounts": {"<datastore name>": "/mnt/<mount point>"}}
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from airflow_mlpipe.definitions.compute import (
    AttachedCompute,
    ComputeTarget,
    attached_resource,
    check_attached_resource,
    check_new_target,
)
from airflow_mlpipe.definitions.workspace import Workspace
from airflow_mlpipe.exceptions import ComputeTargetException, WorkspaceConfigError

log = logging.getLogger(__name__)

TYPE = "Databricks"
CONN_PREFIX = "mlpipe_databricks_"  # the Airflow connection attach() creates for a host entry
ENTRY_KEYS = ("conn_id", "host", "port", "schema", "mounts")
_SECRETS = {"token", "access_token", "password", "pat", "client_secret"}
_EXAMPLE = (
    '{"conn_id": "<an Airflow databricks connection>"} or {"host": "https://adb-<id>.azuredatabricks.net"}'
)


def check_databricks_config(section: Any, where: Any, datastores: set[str]) -> dict[str, dict[str, Any]]:
    """The checked ``databricks`` section of a workspace config: Databricks workspace name -> entry."""
    where = f"'databricks' in {where or 'workspace config'}"
    if not isinstance(section, dict):
        raise WorkspaceConfigError(f"{where}: expected an object of Databricks workspace name -> {_EXAMPLE}")
    return {
        name: _check_entry(name, entry, f"{where}[{name!r}]", datastores) for name, entry in section.items()
    }


def _check_entry(name: str, entry: Any, where: str, datastores: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise WorkspaceConfigError(f"{where}: expected {_EXAMPLE}, got {entry!r}")
    secret = _SECRETS & set(entry)
    if secret:
        raise WorkspaceConfigError(
            f"{where}: {sorted(secret)} must not be in the config file; pass the token once to "
            "DatabricksCompute.attach_configuration(access_token=...) (it goes to an Airflow connection) "
            "or name an Airflow connection with 'conn_id'"
        )
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise WorkspaceConfigError(f"{where}: unknown keys {unknown}; known: {list(ENTRY_KEYS)}")
    if ("conn_id" in entry) == ("host" in entry):
        raise WorkspaceConfigError(f"{where}: give exactly one of 'conn_id' and 'host', as in {_EXAMPLE}")
    for key in ("conn_id", "host"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            raise WorkspaceConfigError(f"{where}: {key!r} must be a non-empty string, got {entry[key]!r}")
    if "conn_id" in entry and ({"port", "schema"} & set(entry)):
        raise WorkspaceConfigError(
            f"{where}: 'port' and 'schema' go with 'host'; with 'conn_id' the Airflow connection has them"
        )
    port = entry.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise WorkspaceConfigError(f"{where}: 'port' must be an integer from 1 to 65535, got {port!r}")
    if entry.get("schema") not in (None, "http", "https"):
        raise WorkspaceConfigError(f"{where}: 'schema' must be 'https' or 'http', got {entry['schema']!r}")
    mounts = entry.get("mounts", {})
    if not isinstance(mounts, dict):
        raise WorkspaceConfigError(
            f"{where}: 'mounts' must map datastore names to mount points, got {mounts!r}"
        )
    for ds, point in mounts.items():
        if ds not in datastores:
            raise WorkspaceConfigError(
                f"{where}: mounts names datastore {ds!r}, which this workspace does not define; "
                f"known: {sorted(datastores)}"
            )
        if not (isinstance(point, str) and point.startswith("/") and point.strip("/")):
            raise WorkspaceConfigError(
                f"{where}: mounts[{ds!r}] must be a DBFS mount point such as '/mnt/{ds}', got {point!r}"
            )
    out = dict(entry)
    out["mounts"] = {ds: point.rstrip("/") for ds, point in mounts.items()}
    return out


def embedded_databricks() -> dict[str, dict[str, Any]]:
    """The embedded deployment's Databricks emulator (``mlpipe up --databricks``), if it runs: the
    Databricks workspace "local", reached through the deployment's connection."""
    import json

    from airflow_mlpipe.definitions.workspace import mlpipe_home

    try:
        state = json.loads((mlpipe_home() / "deployment.json").read_text())
    except (OSError, ValueError):
        return {}
    emulator = state.get("databricks")
    if not isinstance(emulator, dict) or not emulator.get("conn_id"):
        return {}
    return {"local": {"conn_id": emulator["conn_id"], "mounts": dict(emulator.get("mounts") or {})}}


class DatabricksAttachConfiguration:
    """v1's attach configuration of a Databricks workspace; the token is kept out of its repr."""

    def __init__(
        self,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        resource_id: str | None = None,
        access_token: str = "",
    ):
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.resource_id = resource_id
        if access_token is None:
            access_token = ""
        if not isinstance(access_token, str):
            raise ComputeTargetException("access_token must be a string (a Databricks personal access token)")
        self._access_token = access_token
        self.validate_configuration()

    @property
    def access_token(self) -> str:
        return self._access_token

    def validate_configuration(self) -> None:
        """v1's checks: a Databricks resource id, or both resource_group and workspace_name."""
        check_attached_resource(
            self.resource_id,
            self.resource_group,
            self.workspace_name,
            "workspace_name",
            "Microsoft.Databricks",
            "Databricks",
        )

    def databricks_workspace(self) -> tuple[str, str]:
        """(resource group, name), from resource_id when it was given."""
        return attached_resource(self.resource_id, self.resource_group, self.workspace_name)

    def __repr__(self) -> str:
        token = "'***'" if self._access_token else "''"
        return (
            f"DatabricksAttachConfiguration(resource_group={self.resource_group!r}, "
            f"workspace_name={self.workspace_name!r}, resource_id={self.resource_id!r}, access_token={token})"
        )


class DatabricksCompute(AttachedCompute):
    """A Databricks workspace as a compute target: steps on it run as Databricks jobs through the
    Airflow connection ``conn_id``; it is no Airflow pool or queue."""

    type = TYPE

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None,
        workspace_name: str | None = None,
        resource_id: str | None = None,
        access_token: str = "",
    ) -> DatabricksAttachConfiguration:
        """What ``ComputeTarget.attach(ws, name, config)`` attaches (v1's signature)."""
        return DatabricksAttachConfiguration(resource_group, workspace_name, resource_id, access_token)

    @staticmethod
    def attach(workspace: Workspace, name: str, resource_id: str, access_token: str) -> ComputeTarget:  # type: ignore[override]
        """Deprecated in v1, and refused as v1 did: use ``ComputeTarget.attach`` with a configuration."""
        raise ComputeTargetException(
            "This method is DEPRECATED. Please use the following code to attach a Databricks compute resource.\n"
            "# Attach Databricks\n"
            'attach_config = DatabricksCompute.attach_configuration(resource_group="name_of_resource_group",\n'
            '                                                       workspace_name="name_of_databricks_workspace",\n'
            '                                                       access_token="databricks_token")\n'
            "compute = ComputeTarget.attach(workspace, name, attach_config)"
        )

    @staticmethod
    def _attach(workspace: Workspace, name: str, config: DatabricksAttachConfiguration) -> DatabricksCompute:
        check_new_target(workspace, name, TYPE)
        resource_group, db_name = config.databricks_workspace()
        entry = workspace.databricks.get(db_name)
        if entry is None:
            raise ComputeTargetException(
                f"compute target {name!r}: the workspace config ({workspace.config_path or 'none found'}) "
                f"does not say where Databricks workspace {db_name!r} is; add to it "
                f'"databricks": {{"{db_name}": {_EXAMPLE}}}'
            )
        if "conn_id" in entry:
            conn_id = entry["conn_id"]
            if config.access_token:
                warnings.warn(
                    f"compute target {name!r}: access_token is not used or stored: Databricks workspace "
                    f"{db_name!r} is reached through Airflow connection {conn_id!r}, which holds the credentials",
                    UserWarning,
                    stacklevel=3,
                )
        elif not config.access_token:
            raise ComputeTargetException(
                f"compute target {name!r}: Databricks workspace {db_name!r} is given by 'host' in the workspace "
                "config, so attach_configuration needs access_token (it is stored only in the Airflow "
                f"connection {CONN_PREFIX + name!r}); or give the entry the 'conn_id' of an existing connection"
            )
        else:
            conn_id = CONN_PREFIX + name
            _put_connection(workspace, name, conn_id, entry, config.access_token)
        spec = {"type": TYPE, "conn_id": conn_id, "resource_group": resource_group, "workspace_name": db_name}
        workspace._save_compute(name, spec)
        return ComputeTarget(workspace, name)  # type: ignore[return-value]

    @classmethod
    def _create_hint(cls, name: str) -> str:
        return (
            f"attach it with ComputeTarget.attach(ws, {name!r}, DatabricksCompute.attach_configuration("
            "resource_group=..., workspace_name=..., access_token=...))"
        )

    @property
    def conn_id(self) -> str:
        return str(self.spec["conn_id"])

    @property
    def databricks_workspace_name(self) -> str:
        return str(self.spec.get("workspace_name"))

    def mounts(self) -> dict[str, str]:
        """Datastore name -> DBFS mount point in this Databricks workspace (from the workspace config)."""
        entry = self.workspace.databricks.get(self.databricks_workspace_name) or {}
        return dict(entry.get("mounts") or {})

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "type": TYPE, "conn_id": self.conn_id, "mounts": self.mounts()}

    def wait_for_completion(self, show_output: bool = False, *args: Any, **kwargs: Any) -> None:
        """Attaching is done when attach() returns: nothing to wait for."""
        if show_output:
            print(f"{self.name}: provisioning state Succeeded (Airflow connection {self.conn_id})")

    def delete(self) -> None:
        raise ComputeTargetException(
            "Delete is not supported for Databricks object. Try to use detach instead."
        )

    def __repr__(self) -> str:
        return (
            f"DatabricksCompute(name={self.name!r}, workspace_name={self.databricks_workspace_name!r}, "
            f"conn_id={self.conn_id!r})"
        )


def _put_connection(workspace: Workspace, name: str, conn_id: str, entry: dict[str, Any], token: str) -> None:
    """Create or update Airflow connection ``conn_id`` over the REST API; the token goes only there."""
    from airflow_mlpipe.client.auth import workspace_client
    from airflow_mlpipe.client.rest import AirflowApiError

    body = {
        "connection_id": conn_id,
        "conn_type": "databricks",
        "description": f"airflow-mlpipe compute target {name!r} (DatabricksCompute)",
        "host": entry["host"],
        "port": entry.get("port"),
        "schema": entry.get("schema"),
        "password": token,
    }
    client = workspace_client(workspace)
    try:
        try:
            client.request("GET", f"/api/v2/connections/{conn_id}")
        except AirflowApiError as exc:
            if exc.status != 404:
                raise
            client.request("POST", "/api/v2/connections", json=body)
            log.info("compute target %s: created Airflow connection %s", name, conn_id)
        else:
            client.request("PATCH", f"/api/v2/connections/{conn_id}", json=body)
            log.info("compute target %s: updated Airflow connection %s", name, conn_id)
    except AirflowApiError as exc:  # an error may echo the request: keep the token out of it
        raise ComputeTargetException(
            f"compute target {name!r}: could not write Airflow connection {conn_id!r}: "
            + str(exc).replace(token, "***")
        ) from None
