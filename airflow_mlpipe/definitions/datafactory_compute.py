"""DataFactoryCompute (Azure ML v1's ``azureml.core.compute.DataFactoryCompute``): where
DataTransferSteps run. Azure Data Factory itself is never called: a Data Factory target is an Airflow
pool (and queue) named after it, whose slots bound how many transfers run at once.

Both v1 ways of defining one are accepted: ``ComputeTarget.create(ws, name,
DataFactoryCompute.provisioning_configuration())`` and ``ComputeTarget.attach(ws, name,
DataFactoryCompute.attach_configuration(resource_group=..., factory_name=...))``. Each takes
``max_concurrent_transfers`` (an airflow-mlpipe addition, default 1): the pool's slots.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.compute import (
    ComputeTarget,
    attached_resource,
    check_attached_resource,
    check_new_target,
)
from airflow_mlpipe.definitions.workspace import Workspace, write_json_atomic
from airflow_mlpipe.exceptions import ComputeTargetException

TYPE = "DataFactory"


def _slots(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ComputeTargetException(
            f"max_concurrent_transfers must be a positive integer (the Airflow pool's slots), got {value!r}"
        )
    return value


class DataFactoryProvisioningConfiguration:
    """v1's provisioning configuration; ``location`` is kept as a description."""

    def __init__(self, location: str | None = None, max_concurrent_transfers: int = 1):
        self.location = location
        self.max_concurrent_transfers = _slots(max_concurrent_transfers)

    def validate_configuration(self) -> None:
        """Nothing to check beyond the constructor's checks (as in v1)."""


class DataFactoryAttachConfiguration:
    """v1's attach configuration of an existing Data Factory, with v1's checks."""

    def __init__(
        self,
        resource_group: str | None = None,
        factory_name: str | None = None,
        resource_id: str | None = None,
        max_concurrent_transfers: int = 1,
    ):
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.resource_id = resource_id
        self.max_concurrent_transfers = _slots(max_concurrent_transfers)
        self.validate_configuration()

    def validate_configuration(self) -> None:
        """v1's checks: a Data Factory resource id, or both resource_group and factory_name."""
        check_attached_resource(
            self.resource_id,
            self.resource_group,
            self.factory_name,
            "factory_name",
            "Microsoft.DataFactory",
            "DataFactory",
        )

    def factory(self) -> tuple[str, str]:
        """(resource group, factory name), from resource_id when it was given."""
        return attached_resource(self.resource_id, self.resource_group, self.factory_name)


class DataFactoryCompute(ComputeTarget):
    """A Data Factory target: an Airflow pool (slots = ``max_nodes`` in its spec) for transfer steps."""

    type = TYPE

    @staticmethod
    def provisioning_configuration(
        location: str | None = None, max_concurrent_transfers: int = 1
    ) -> DataFactoryProvisioningConfiguration:
        return DataFactoryProvisioningConfiguration(location, max_concurrent_transfers)

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None,
        factory_name: str | None = None,
        resource_id: str | None = None,
        max_concurrent_transfers: int = 1,
    ) -> DataFactoryAttachConfiguration:
        return DataFactoryAttachConfiguration(
            resource_group, factory_name, resource_id, max_concurrent_transfers
        )

    @staticmethod
    def attach(workspace: Workspace, name: str, resource_id: str) -> ComputeTarget:  # type: ignore[override]
        """Deprecated in v1, and refused as v1 did."""
        raise ComputeTargetException(
            "This method is DEPRECATED. Please use the following code to attach a DataFactory compute resource.\n"
            "# Attach DataFactory\n"
            'attach_config = DataFactoryCompute.attach_configuration(resource_group="name_of_resource_group",\n'
            '                                                        factory_name="name_of_datafactory")\n'
            "compute = ComputeTarget.attach(workspace, name, attach_config)"
        )

    @staticmethod
    def _define(workspace: Workspace, name: str, config: Any) -> DataFactoryCompute:
        """Store the target (create or attach): its spec names no Azure resource it would call."""
        check_new_target(workspace, name, TYPE)
        spec: dict[str, Any] = {"type": TYPE, "max_nodes": config.max_concurrent_transfers}
        if isinstance(config, DataFactoryAttachConfiguration):
            spec["resource_group"], spec["factory_name"] = config.factory()
        elif config.location:
            spec["location"] = config.location
        workspace._save_compute(name, spec)
        return ComputeTarget(workspace, name)  # type: ignore[return-value]

    @classmethod
    def _create_hint(cls, name: str) -> str:
        return f"create it with ComputeTarget.create(ws, {name!r}, DataFactoryCompute.provisioning_configuration())"

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "type": TYPE, "max_nodes": self.pool_slots}

    def refresh_state(self) -> None:
        """Nothing changes behind the target's back: its definition is the stored one."""

    def detach(self) -> None:
        """Remove the target from the workspace (as delete(): no Data Factory is touched)."""
        current = self.workspace._load_compute()
        current.pop(self.name, None)
        write_json_atomic(self.workspace._compute_file, current)

    def __repr__(self) -> str:
        return f"DataFactoryCompute(name={self.name!r}, max_concurrent_transfers={self.pool_slots})"
