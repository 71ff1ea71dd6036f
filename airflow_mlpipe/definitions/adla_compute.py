"""AdlaCompute: an Azure Data Lake Analytics account attached as a compute target (Azure ML v1's
``azureml.core.compute.AdlaCompute``). Its AdlaSteps run as U-SQL jobs through an Airflow connection
(the ADLA job API, or ``mlpipe adla serve``), so credentials live only in Airflow's connection store.

Where each ADLA account's job API is, and which datastore is its default store (the files its
scripts read and write), comes from the workspace config's ``adla`` section::

    "adla": {"<ADLA account name>": {"conn_id": "<an Airflow connection>", "datastore": "<datastore name>"}}

The connection (see hooks/adla.py; its credentials, hooks/adla_auth.py) holds the endpoint and the credentials.
"""

from __future__ import annotations

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

TYPE = "DataLakeAnalytics"  # v1's compute type name
IN_PROCESS = "in-process"  # an account with no job API configured: the U-SQL engine on the worker
ENTRY_KEYS = ("conn_id", "datastore")
_SECRETS = {"token", "access_token", "password", "client_secret", "secret", "key"}
_EXAMPLE = '{"conn_id": "<an Airflow connection to the job API>", "datastore": "<its default store>"}'


def check_adla_config(section: Any, where: Any, datastores: set[str]) -> dict[str, dict[str, Any]]:
    """The checked ``adla`` section of a workspace config: ADLA account name -> entry."""
    where = f"'adla' in {where or 'workspace config'}"
    if not isinstance(section, dict):
        raise WorkspaceConfigError(f"{where}: expected an object of ADLA account name -> {_EXAMPLE}")
    return {name: _check_entry(entry, f"{where}[{name!r}]", datastores) for name, entry in section.items()}


def _check_entry(entry: Any, where: str, datastores: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise WorkspaceConfigError(f"{where}: expected {_EXAMPLE}, got {entry!r}")
    secret = sorted(_SECRETS & set(entry))
    if secret:
        raise WorkspaceConfigError(
            f"{where}: {secret} must not be in the config file; put the credentials in the Airflow "
            "connection named by 'conn_id' (password: a client secret or, for mlpipe adla serve, its token)"
        )
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise WorkspaceConfigError(f"{where}: unknown keys {unknown}; known: {list(ENTRY_KEYS)}")
    for key in ENTRY_KEYS:
        if not (isinstance(entry.get(key), str) and entry[key].strip()):
            raise WorkspaceConfigError(f"{where}: {key!r} must be a non-empty string, as in {_EXAMPLE}")
    if entry["datastore"] not in datastores:
        raise WorkspaceConfigError(
            f"{where}: datastore {entry['datastore']!r} is not defined in this workspace; "
            f"known: {sorted(datastores)}"
        )
    return dict(entry)


def adla_accounts(workspace: Workspace) -> dict[str, dict[str, Any]]:
    """The workspace's checked ``adla`` section (``Workspace.adla``; empty before it is set up)."""
    return dict(getattr(workspace, "adla", None) or {})


class DataLakeAnalyticsAttachConfiguration:
    """v1's attach configuration of an ADLA account: a resource id, or resource group + account name."""

    def __init__(
        self,
        resource_group: str | None = None,
        account_name: str | None = None,
        resource_id: str | None = None,
    ):
        self.resource_group = resource_group
        self.account_name = account_name
        self.resource_id = resource_id
        self.validate_configuration()

    def validate_configuration(self) -> None:
        """v1's checks, with v1's messages."""
        if not (self.resource_id or self.resource_group or self.account_name):
            raise ComputeTargetException(
                "Please provide resource_group and account_name for the ADLA compute resource being attached. "
                "Or please provide resource_id for the resource being attached."
            )
        check_attached_resource(
            self.resource_id,
            self.resource_group,
            self.account_name,
            "account_name",
            "Microsoft.DataLakeAnalytics",
            "DataLakeAnalytics",
        )

    def adla_account(self) -> tuple[str, str]:
        """(resource group, account name), from resource_id when it was given."""
        return attached_resource(self.resource_id, self.resource_group, self.account_name)

    def __repr__(self) -> str:
        return (
            f"DataLakeAnalyticsAttachConfiguration(resource_group={self.resource_group!r}, "
            f"account_name={self.account_name!r}, resource_id={self.resource_id!r})"
        )


class AdlaCompute(AttachedCompute):
    """An ADLA account as a compute target: AdlaSteps on it run as U-SQL jobs through the Airflow
    connection ``conn_id``, reading and writing the datastore ``datastore``; no Airflow pool."""

    type = TYPE
    _noun = "an AdlaCompute"

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None, account_name: str | None = None, resource_id: str | None = None
    ) -> DataLakeAnalyticsAttachConfiguration:
        """What ``ComputeTarget.attach(ws, name, config)`` attaches (v1's signature)."""
        return DataLakeAnalyticsAttachConfiguration(resource_group, account_name, resource_id)

    @staticmethod
    def attach(workspace: Workspace, name: str, resource_id: str) -> ComputeTarget:  # type: ignore[override]
        """Deprecated in v1, and refused as v1 did: use ``ComputeTarget.attach`` with a configuration."""
        raise ComputeTargetException(
            "This method is DEPRECATED. Please use the following code to attach a ADLA compute resource.\n"
            "# Attach ADLA\n"
            'attach_config = AdlaCompute.attach_configuration(resource_group="name_of_resource_group",\n'
            '                                                 account_name="name_of_adla_account")\n'
            "compute = ComputeTarget.attach(workspace, name, attach_config)"
        )

    @staticmethod
    def provisioning_configuration(*args: Any, **kwargs: Any) -> Any:
        """v1 could create an ADLA account; ADLA was retired on 2024-02-29: attach one instead."""
        raise ComputeTargetException(
            "AdlaCompute.provisioning_configuration: ADLA accounts cannot be created (the service was retired "
            "on 2024-02-29); attach the job service that runs your U-SQL (an account, or `mlpipe adla serve`) "
            "with ComputeTarget.attach(ws, name, AdlaCompute.attach_configuration(resource_group=..., "
            "account_name=...))"
        )

    @staticmethod
    def _attach(workspace: Workspace, name: str, config: DataLakeAnalyticsAttachConfiguration) -> AdlaCompute:
        check_new_target(workspace, name, TYPE)
        resource_group, account = config.adla_account()
        entry = adla_accounts(workspace).get(account)
        spec: dict[str, Any] = {"type": TYPE, "resource_group": resource_group, "account_name": account}
        if entry is None:
            # no job API for this account in the config: AdlaSteps on it run the U-SQL engine in-process
            # on the worker (add "adla": {account: {"conn_id": ..., "datastore": ...}} to use a job API)
            spec["engine"] = IN_PROCESS
        else:
            spec.update(conn_id=entry["conn_id"], datastore=entry["datastore"])
        workspace._save_compute(name, spec)
        return AdlaCompute(workspace, name)

    @classmethod
    def _create_hint(cls, name: str) -> str:
        return (
            f"attach it with ComputeTarget.attach(ws, {name!r}, AdlaCompute.attach_configuration("
            "resource_group=..., account_name=...))"
        )

    @property
    def account_name(self) -> str:
        return str(self.spec.get("account_name"))

    @property
    def datastore(self) -> str | None:
        """The account's default store (where its jobs' paths are); None when they run in-process."""
        return self.spec.get("datastore")

    @property
    def cluster_resource_id(self) -> str:
        """v1's resource id of the attached account."""
        return (
            f"/subscriptions/{self.workspace.subscription_id}/resourceGroups/{self.spec.get('resource_group')}"
            f"/providers/Microsoft.DataLakeAnalytics/accounts/{self.account_name}"
        )

    @property
    def provisioning_errors(self) -> None:
        return None

    def to_spec(self) -> dict[str, Any]:
        if self.spec.get("engine") == IN_PROCESS:
            return {"name": self.name, "type": TYPE, "engine": IN_PROCESS, "account_name": self.account_name}
        return {
            "name": self.name,
            "type": TYPE,
            "conn_id": self.conn_id,
            "datastore": self.datastore,
            "account_name": self.account_name,
        }

    def wait_for_completion(self, show_output: bool = False, *args: Any, **kwargs: Any) -> None:
        """Attaching is done when attach() returns: nothing to wait for."""
        if show_output:
            where = f"Airflow connection {self.conn_id}" if self.conn_id else "in-process on the workers"
            print(f"{self.name}: provisioning state Succeeded ({where})")

    def delete(self) -> None:
        raise ComputeTargetException(
            f"compute target {self.name!r} is an attached ADLA account: it cannot be deleted here; use detach()"
        )

    def __repr__(self) -> str:
        return (
            f"AdlaCompute(name={self.name!r}, account_name={self.account_name!r}, conn_id={self.conn_id!r}, "
            f"datastore={self.datastore!r})"
        )
