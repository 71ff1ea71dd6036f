"""Schedule, Azure ML v1 style: submit a published pipeline (or an endpoint's default version) on a
recurrence or when files change on a datastore.

A schedule is a registry record (registry/schedules.py), written and read through the plugin's
registry routes, and a DAG ``schedule_<id>`` built from it (registry/schedule_dag.py). v1's checks
are made here, before anything is written, and raised
(v1 printed some of them). Beyond v1's arguments, ``create`` takes:

- ``first_run="next_slot"`` (default) or ``"immediately"``: v1 ran a schedule with no
  ``start_time`` at once on creation, which surprised users; here that is asked for, not implied;
- ``catchup=False``: run missed slots after a pause or an outage (Airflow's catch-up);
- ``recursive=False``: a datastore schedule watches the direct children of the path, as v1 did;
  True watches the whole tree;
- ``per_blob=False``: one run per polling window with every changed path, unlike v1's one run per
  blob; True keeps v1's behaviour.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_mlpipe.client.auth import workspace_client
from airflow_mlpipe.client.registry_api import RegistryApi, workspace_registry
from airflow_mlpipe.client.rest import AirflowClient

log = logging.getLogger(__name__)


def _registry(workspace: Any) -> RegistryApi:
    return workspace_registry(workspace)


class Schedule:
    """A schedule of a published pipeline or pipeline endpoint; its DAG is ``schedule_<id>``."""

    def __init__(self, workspace: Any, record: dict[str, Any], client: AirflowClient | None = None):
        self._workspace = workspace
        self._record = record
        self._client = client

    # --- properties (v1's) -----------------------------------------------------------------

    id = property(lambda self: self._record["id"])
    name = property(lambda self: self._record["name"])
    description = property(lambda self: self._record["description"])
    pipeline_id = property(lambda self: self._record["pipeline_id"])
    pipeline_endpoint_id = property(lambda self: self._record["pipeline_endpoint_id"])
    status = property(lambda self: self._record["status"])
    datastore_name = property(lambda self: self._record["datastore_name"])
    polling_interval = property(lambda self: self._record["polling_interval"])
    data_path_parameter_name = property(lambda self: self._record["data_path_parameter_name"])
    continue_on_step_failure = property(lambda self: self._record["continue_on_step_failure"])
    path_on_datastore = property(lambda self: self._record["path_on_datastore"])
    dag_id = property(lambda self: self._record["dag_id"])

    @property
    def recurrence(self) -> Any:
        from airflow_mlpipe.definitions.schedule import ScheduleRecurrence

        spec = self._record["recurrence"]
        return None if spec is None else ScheduleRecurrence.from_spec(spec)

    @property
    def client(self) -> AirflowClient:
        if self._client is None:
            self._client = workspace_client(self._workspace)
        return self._client

    def __repr__(self) -> str:
        kind = (
            f"recurrence={self.recurrence!r}"
            if self._record["recurrence"]
            else f"datastore={self.datastore_name!r}, path_on_datastore={self.path_on_datastore!r}"
        )
        return f"Schedule(name={self.name!r}, id={self.id!r}, status={self.status!r}, {kind})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # --- create ------------------------------------------------------------------------------

    @staticmethod
    def create(
        workspace: Any,
        name: str,
        pipeline_id: str,
        experiment_name: str,
        recurrence: Any = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: float = 3600,
        datastore: Any = None,
        polling_interval: float = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        **options: Any,
    ) -> Schedule:
        """Create a schedule of published pipeline ``pipeline_id`` (see the module doc for the
        options beyond v1's)."""
        return Schedule._create(workspace, {"pipeline_id": pipeline_id}, locals(), options)

    @staticmethod
    def create_for_pipeline_endpoint(
        workspace: Any,
        name: str,
        pipeline_endpoint_id: str,
        experiment_name: str,
        recurrence: Any = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: float = 3600,
        datastore: Any = None,
        polling_interval: float = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        **options: Any,
    ) -> Schedule:
        """Create a schedule of a pipeline endpoint: each run submits its default version then."""
        return Schedule._create(workspace, {"pipeline_endpoint_id": pipeline_endpoint_id}, locals(), options)

    @staticmethod
    def _create(
        workspace: Any, target: dict[str, str], args: dict[str, Any], options: dict[str, Any]
    ) -> Schedule:
        from airflow_mlpipe.client.schedule_checks import check_settings

        for private in ("_workflow_provider", "_service_endpoint"):
            options.pop(private, None)
        client = workspace_client(workspace)
        client.token()  # wrong credentials fail before anything is written
        registry = RegistryApi(client)
        settings = check_settings(workspace, registry, target, args, options)
        record = registry.create_schedule(target, args["experiment_name"], settings)
        schedule = Schedule(workspace, record, client)
        schedule._provisioned(args["wait_for_provisioning"], args["wait_timeout"])
        return schedule

    def _provisioned(self, wait: bool, timeout: float) -> None:
        """Have Airflow load this version of the schedule's DAG (waited for when ``wait``, else asked
        for), and pause or unpause it as the status says."""
        from airflow_mlpipe.client.rest import AirflowApiError
        from airflow_mlpipe.client.run import wait_for_dag_version
        from airflow_mlpipe.exceptions import MlpipeError
        from airflow_mlpipe.registry.schedule_dag import schedule_tag

        try:
            wait_for_dag_version(self.client, self.dag_id, schedule_tag(self._record), timeout if wait else 0)
        except MlpipeError:  # not waiting: the parse was asked for; the DAG comes at its next parse
            if wait:
                raise
        try:
            self.client.set_paused(self.dag_id, self.status != "Active")
        except AirflowApiError as exc:
            if exc.status != 404:  # a new DAG not loaded yet: it is created paused as the status says
                raise

    # --- lookups -----------------------------------------------------------------------------

    @staticmethod
    def get(
        workspace: Any, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> Schedule:
        return Schedule(workspace, _registry(workspace).get_schedule(id))

    @staticmethod
    def list(
        workspace: Any,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> list[Schedule]:
        records = _registry(workspace).list_schedules(active_only, pipeline_id, pipeline_endpoint_id)
        return [Schedule(workspace, r) for r in records]

    @staticmethod
    def get_all(workspace: Any, active_only: bool = True, pipeline_id: str | None = None,
                pipeline_endpoint_id: str | None = None, _workflow_provider: Any = None,
                _service_endpoint: Any = None) -> list[Schedule]:  # fmt: skip
        """Deprecated in v1 in favour of ``Schedule.list``."""
        log.warning("Schedule.get_all(workspace) is being deprecated. Use Schedule.list(workspace) instead.")
        return Schedule.list(workspace, active_only, pipeline_id, pipeline_endpoint_id)

    @staticmethod
    def get_schedules_for_pipeline_id(workspace: Any, pipeline_id: str, **_: Any) -> list[Schedule]:
        return Schedule.list(workspace, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(
        workspace: Any, pipeline_endpoint_id: str, **_: Any
    ) -> list[Schedule]:
        return Schedule.list(workspace, pipeline_endpoint_id=pipeline_endpoint_id)

    @staticmethod
    def load_yaml(
        workspace: Any, filename: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> dict[str, Any]:
        """v1's YAML form of a schedule's arguments: a dict for ``Schedule.create(**...)``."""
        from airflow_mlpipe.client.schedule_checks import load_yaml

        return load_yaml(workspace, filename)

    # --- changes -----------------------------------------------------------------------------

    def update(
        self,
        name: str | None = None,
        description: str | None = None,
        recurrence: Any = None,
        pipeline_parameters: dict[str, Any] | None = None,
        status: str | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: float = 3600,
        datastore: Any = None,
        polling_interval: float | None = None,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        **options: Any,
    ) -> None:
        """Change the given settings (v1's checks: a recurrence only on a recurrence schedule, a
        datastore only on a datastore schedule); None leaves a setting as it is."""
        from airflow_mlpipe.client.schedule_checks import check_update

        registry = _registry(self._workspace)
        args = {k: v for k, v in locals().items() if k not in ("self", "options", "registry")}
        changes = check_update(self._workspace, registry, self._record, args, options)
        self._record = registry.update_schedule(self.id, changes)
        self._provisioned(wait_for_provisioning, wait_timeout)

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: float = 3600) -> None:
        """Set the schedule 'Active': its DAG is unpaused."""
        self.update(status="Active", wait_for_provisioning=wait_for_provisioning, wait_timeout=wait_timeout)

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: float = 3600) -> None:
        """Set the schedule 'Disabled': its DAG is paused; runs already started go on."""
        self.update(status="Disabled", wait_for_provisioning=wait_for_provisioning, wait_timeout=wait_timeout)

    def refresh(self) -> Schedule:
        self._record = _registry(self._workspace).get_schedule(self.id)
        return self

    # --- runs --------------------------------------------------------------------------------

    def get_pipeline_runs(self) -> list[Any]:
        """The pipeline runs this schedule started, newest first."""
        from airflow_mlpipe.client.pipeline_run import PipelineRun

        return [
            PipelineRun(self._workspace, r["dag_id"], r["dag_run_id"], self.client)
            for r in schedule_runs(self.client, self.id)
        ]

    def get_last_pipeline_run(self) -> Any:
        """The last pipeline run this schedule started, or None."""
        runs = self.get_pipeline_runs()
        return runs[0] if runs else None


def schedule_runs(client: AirflowClient, schedule_id: str) -> list[dict[str, Any]]:
    """The DAG runs (REST API v2 records) of the pipeline runs schedule ``schedule_id`` started,
    newest first: runs of published pipelines whose run id and conf name the schedule."""
    from airflow_mlpipe.registry.published import DAG_PREFIX
    from airflow_mlpipe.registry.submission import SUBMISSION_KEY

    found = client.collection(
        "/api/v2/dags/~/dagRuns",
        "dag_runs",
        {"dag_id_prefix_pattern": DAG_PREFIX, "run_id_pattern": f"schedule_{schedule_id[:8]}__"},
    )
    mine = [
        r
        for r in found
        if ((r.get("conf") or {}).get(SUBMISSION_KEY) or {}).get("schedule_id") == schedule_id
    ]
    return sorted(mine, key=lambda r: (r.get("run_after") or "", r["dag_run_id"]), reverse=True)
