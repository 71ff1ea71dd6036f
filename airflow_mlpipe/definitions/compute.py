"""Compute targets: an AmlCompute cluster becomes an Airflow pool (slots = max_nodes) and a queue.

Steps on a cluster run on Airflow workers, at most ``max_nodes`` at once; with the Celery or
Kubernetes executor, workers serving the queue named after the target run them. A Databricks
workspace is attached instead (``ComputeTarget.attach``, see databricks_compute.py).
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.workspace import Workspace, write_json_atomic
from airflow_mlpipe.exceptions import ComputeTargetException

LOCAL = "local"


class AmlComputeProvisioningConfiguration:
    def __init__(self, **settings: Any):
        self.settings = settings


class ComputeStatus:
    """A compute target's status; ``serialize()`` gives v1's dict, ``str()`` its provisioning state."""

    def __init__(self, target: ComputeTarget, pool: dict[str, Any] | None):
        self.provisioning_state = target.provisioning_state
        self._target = target
        self._pool = pool

    def serialize(self) -> dict[str, Any]:
        spec, pool = self._target.spec, self._pool or {}
        slots = int(spec.get("max_nodes", 1))
        running, queued = pool.get("running_slots", 0), pool.get("queued_slots", 0)
        return {
            "provisioningState": self.provisioning_state,
            "allocationState": "Resizing" if queued else "Steady",
            "currentNodeCount": pool.get("occupied_slots", 0),
            "targetNodeCount": slots,
            "nodeStateCounts": {
                "runningNodeCount": running,
                "preparingNodeCount": queued,
                "idleNodeCount": max(slots - running - queued, 0),
                "unusableNodeCount": 0,
                "leavingNodeCount": 0,
                "preemptedNodeCount": 0,
            },
            "scaleSettings": {"minNodeCount": spec.get("min_nodes", 0), "maxNodeCount": slots},
            "vmSize": spec.get("vm_size", ""),
            "vmPriority": spec.get("vm_priority", "dedicated"),
            "airflowPool": self._target.name if self._pool is not None else None,
            "errors": None,
        }

    def __str__(self) -> str:
        return self.provisioning_state

    def __eq__(self, other: object) -> bool:
        return str(self) == other if isinstance(other, str) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.provisioning_state)


class ComputeTarget:
    """A named compute target of a workspace (Azure ML v1: ``ComputeTarget(workspace, name)``)."""

    type = "ComputeTarget"
    _noun: str | None = None  # how a wrong-type error names this class; default "a <type>"

    def __new__(cls, workspace: Workspace | None = None, name: str | None = None):
        if workspace is None or name is None:
            return super().__new__(cls)
        spec = workspace._load_compute().get(name)
        if spec is None:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: compute target {name!r} not found in workspace "
                f"{workspace.name!r}; {cls._create_hint(name)}"
            )
        target_cls = _class_of(spec.get("type"))
        if not issubclass(target_cls, cls):
            raise ComputeTargetException(
                f"compute target {name!r} of workspace {workspace.name!r} is a {spec.get('type')} target, "
                f"not {cls._noun or 'a ' + cls.type}; get it with ComputeTarget(ws, {name!r})"
            )
        obj = super().__new__(target_cls)
        obj._init(workspace, name, spec)
        return obj

    def __init__(self, workspace: Workspace | None = None, name: str | None = None):
        pass  # state is set in __new__ from the workspace's stored definition

    def _init(self, workspace: Workspace, name: str, spec: dict[str, Any]) -> None:
        self.workspace = workspace
        self.name = name
        self.spec = dict(spec)
        self.provisioning_state = "Succeeded"

    @classmethod
    def _create_hint(cls, name: str) -> str:
        return (
            f"create it with ComputeTarget.create(ws, {name!r}, "
            "AmlCompute.provisioning_configuration(max_nodes=...))"
        )

    @staticmethod
    def attach(workspace: Workspace, name: str, attach_configuration: Any) -> ComputeTarget:
        """Attach an existing compute resource (v1): a Databricks workspace, a Data Factory or a Data
        Lake Analytics account (see their classes)."""
        from airflow_mlpipe.definitions.adla_compute import AdlaCompute, DataLakeAnalyticsAttachConfiguration
        from airflow_mlpipe.definitions.databricks_compute import (
            DatabricksAttachConfiguration,
            DatabricksCompute,
        )
        from airflow_mlpipe.definitions.datafactory_compute import (
            DataFactoryAttachConfiguration,
            DataFactoryCompute,
        )

        if isinstance(attach_configuration, DataFactoryAttachConfiguration):
            return DataFactoryCompute._define(workspace, name, attach_configuration)
        if isinstance(attach_configuration, DataLakeAnalyticsAttachConfiguration):
            return AdlaCompute._attach(workspace, name, attach_configuration)
        if not isinstance(attach_configuration, DatabricksAttachConfiguration):
            raise ComputeTargetException(
                f"compute target {name!r}: only DatabricksCompute.attach_configuration(...), "
                "DataFactoryCompute.attach_configuration(...) and AdlaCompute.attach_configuration(...) "
                "can be attached, "
                f"got {type(attach_configuration).__name__}; define clusters with ComputeTarget.create"
            )
        return DatabricksCompute._attach(workspace, name, attach_configuration)

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: AmlComputeProvisioningConfiguration
    ) -> ComputeTarget:
        from airflow_mlpipe.definitions.datafactory_compute import (
            DataFactoryCompute,
            DataFactoryProvisioningConfiguration,
        )

        if isinstance(provisioning_configuration, DataFactoryProvisioningConfiguration):
            return DataFactoryCompute._define(workspace, name, provisioning_configuration)
        if not isinstance(provisioning_configuration, AmlComputeProvisioningConfiguration):
            raise ComputeTargetException(
                f"compute target {name!r}: only AmlCompute.provisioning_configuration(...) and "
                "DataFactoryCompute.provisioning_configuration() are supported, "
                f"got {type(provisioning_configuration).__name__}"
            )
        validate_target_name(name)
        spec = {"type": "AmlCompute", **provisioning_configuration.settings}
        workspace._save_compute(name, spec)
        return ComputeTarget(workspace, name)

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: int = 20,
        is_delete_operation: bool = False,
    ) -> None:
        """A pool exists as soon as it is defined: nothing to wait for."""
        if show_output:
            print(f"{self.name}: provisioning state Succeeded (Airflow pool with {self.pool_slots} slot(s))")

    def delete(self) -> None:
        self._forget()

    def _forget(self) -> None:
        """Remove the target's definition from the workspace (nothing outside it is touched)."""
        current = self.workspace._load_compute()
        current.pop(self.name, None)
        write_json_atomic(self.workspace._compute_file, current)

    def get_status(self) -> ComputeStatus:
        """The target's state; for a cluster, its Airflow pool's slots in use (v1's AmlComputeStatus)."""
        pool = None
        if self.spec.get("type") == "AmlCompute":
            from airflow_mlpipe.client.auth import workspace_client
            from airflow_mlpipe.client.rest import AirflowApiError

            try:
                pool = workspace_client(self.workspace).request("GET", f"/api/v2/pools/{self.name}")
            except AirflowApiError as exc:
                if exc.status not in (None, 404):  # 404: no run has used the cluster yet
                    raise
        return ComputeStatus(self, pool)

    @property
    def pool_slots(self) -> int:
        return int(self.spec.get("max_nodes", 1))

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, max_nodes={self.spec.get('max_nodes')})"


class AmlCompute(ComputeTarget):
    type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        **unsupported: Any,
    ) -> AmlComputeProvisioningConfiguration:
        """Settings of a cluster; max_nodes bounds how many of its steps run at once.

        vm_size, vm_priority, min_nodes, idle_seconds_before_scaledown, tags and description are
        kept as the target's description: Airflow's workers, not this call, decide machine sizes.
        """
        if unsupported:
            raise ComputeTargetException(
                f"AmlCompute.provisioning_configuration: {sorted(unsupported)} cannot be honoured here "
                "(networking, identities and admin users belong to the Airflow deployment); remove them"
            )
        if max_nodes is None:
            max_nodes = 4
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise ComputeTargetException(f"max_nodes must be a positive integer, got {max_nodes!r}")
        if not isinstance(min_nodes, int) or not 0 <= min_nodes <= max_nodes:
            raise ComputeTargetException(
                f"min_nodes must be an integer between 0 and max_nodes ({max_nodes}), got {min_nodes!r}"
            )
        if vm_priority not in ("dedicated", "lowpriority"):
            raise ComputeTargetException(
                f"vm_priority must be 'dedicated' or 'lowpriority', got {vm_priority!r}"
            )
        settings: dict[str, Any] = {
            "vm_size": vm_size,
            "vm_priority": vm_priority,
            "min_nodes": min_nodes,
            "max_nodes": max_nodes,
        }
        if idle_seconds_before_scaledown is not None:
            settings["idle_seconds_before_scaledown"] = idle_seconds_before_scaledown
        if tags:
            settings["tags"] = dict(tags)
        if description:
            settings["description"] = description
        return AmlComputeProvisioningConfiguration(**settings)


class AttachedCompute(ComputeTarget):
    """A remote service attached as a compute target (Databricks, ADLA): its steps run there through
    the Airflow connection ``conn_id``, which alone holds the credentials; ``detach()`` forgets it."""

    @property
    def conn_id(self) -> str | None:
        """The Airflow connection to the service; None for an ADLA account whose jobs run in-process."""
        return self.spec.get("conn_id")

    def refresh_state(self) -> None:
        """Nothing changes behind an attached target's back: its definition is the stored one."""

    def detach(self) -> None:
        """Remove the target from the workspace; the Airflow connection it used is left as it is."""
        self._forget()

    def get_credentials(self) -> dict[str, Any]:
        raise ComputeTargetException(
            f"compute target {self.name!r}: its credentials stay in Airflow connection {self.conn_id!r}; "
            "read or change them in Airflow (UI, CLI or REST API)"
        )


def _class_of(stored_type: Any) -> type[ComputeTarget]:
    """The class of a stored compute target, by its ``type``."""
    if stored_type == "AmlCompute":
        return AmlCompute
    if stored_type == "Databricks":
        from airflow_mlpipe.definitions.databricks_compute import DatabricksCompute

        return DatabricksCompute
    if stored_type == "DataFactory":
        from airflow_mlpipe.definitions.datafactory_compute import DataFactoryCompute

        return DataFactoryCompute
    if stored_type == "DataLakeAnalytics":
        from airflow_mlpipe.definitions.adla_compute import AdlaCompute

        return AdlaCompute
    return ComputeTarget


REMOTE_TYPES = ("Databricks", "DataLakeAnalytics")  # targets whose steps run on a remote service


def is_pool(target: dict[str, Any]) -> bool:
    """Whether a compute target's steps run on Airflow workers, in a pool and queue named after it
    (AmlCompute and the like), rather than on a remote service they wait for (Databricks, ADLA)."""
    return target.get("type") not in REMOTE_TYPES


def validate_target_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ComputeTargetException(f"compute target name must be a string of 1-64 characters, got {name!r}")
    if not all(c.isalnum() or c in "-_" for c in name):
        raise ComputeTargetException(
            f"compute target name {name!r} may only contain letters, digits, '-' and '_' "
            "(it names an Airflow pool and queue)"
        )
    return name


def check_attached_resource(
    resource_id: Any, resource_group: Any, name: Any, name_arg: str, resource_type: str, service: str
) -> None:
    """v1's checks of an attach configuration: an Azure resource id of ``resource_type``
    (``Microsoft.Databricks``), or both ``resource_group`` and the resource's name (``name_arg``)."""
    if resource_id:
        parts = str(resource_id).split("/")
        if len(parts) != 9:
            raise ComputeTargetException(f"Invalid resource_id provided: {resource_id}")
        if parts[6] != resource_type:
            raise ComputeTargetException(
                f"Invalid resource_id provided, resource type {parts[6]} does not match for {service}"
            )
        if resource_group:
            raise ComputeTargetException(
                "Since resource_id is provided, please do not provide resource_group."
            )
        if name:
            raise ComputeTargetException(f"Since resource_id is provided, please do not provide {name_arg}.")
    elif resource_group or name:
        if not resource_group:
            raise ComputeTargetException("resource_group is not provided.")
        if not name:
            raise ComputeTargetException(f"{name_arg} is not provided.")
    else:
        raise ComputeTargetException(
            f"Please provide resource_group and {name_arg} for the {service} compute resource being "
            "attached. Or please provide resource_id for the resource being attached."
        )


def attached_resource(resource_id: Any, resource_group: Any, name: Any) -> tuple[str, str]:
    """(resource group, resource name) of an attach configuration, from resource_id when given."""
    if resource_id:
        parts = str(resource_id).split("/")
        return parts[4], parts[8]
    return str(resource_group), str(name)


def check_new_target(workspace: Any, name: str, kind: str) -> None:
    """A valid name, not taken by a compute target of another type (``kind``: the new one's type)."""
    validate_target_name(name)
    existing = workspace._load_compute().get(name)
    if existing is not None and existing.get("type") != kind:
        raise ComputeTargetException(
            f"compute target {name!r} already exists as a {existing.get('type')} target in workspace "
            f"{workspace.name!r}; delete it first (ComputeTarget(ws, {name!r}).delete()) or choose another name"
        )
