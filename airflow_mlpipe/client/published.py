"""PublishedPipeline, Azure ML v1 style (PipelineEndpoint is in ``client.endpoints``).

Publishing asks the plugin's registry route for an immutable entry (DAG id ``published_<id>``) and
waits until Airflow has loaded its DAG: the client needs only the API URL and credentials. Runs are submitted through the plugin's REST routes (the same ones other
systems call), so the Python client and a ``requests.post`` get the same checks and errors.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.client.auth import workspace_client
from airflow_mlpipe.client.pipeline_run import PipelineRun
from airflow_mlpipe.client.registry_api import RegistryApi, workspace_registry
from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.client.run import ensure_pools, upload_snapshots, wait_for_dag_version
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import pipeline_submit_url
from airflow_mlpipe.registry.submission import split_assignments


def _registry(workspace: Any) -> RegistryApi:
    return workspace_registry(workspace)


def _post_run(
    workspace: Any,
    client: AirflowClient,
    path: str,
    record: dict[str, Any],
    experiment_name: str,
    pipeline_parameters: dict[str, Any] | None,
    regenerate_outputs: bool,
    force_rerun_steps: list[str] | None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> PipelineRun:
    parameter_assignments, data_paths, datasets = split_assignments(record, pipeline_parameters)
    body = {
        "ExperimentName": experiment_name,
        "ParameterAssignments": parameter_assignments,
        "DataPathAssignments": data_paths,
        "DataSetDefinitionValueAssignments": datasets,
        "RunSource": "SDK",
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "RegenerateOutputs": bool(regenerate_outputs),
        "ForceRerunSteps": list(force_rerun_steps or []),
    }
    try:
        run = client.request("POST", path, json=body, params=params)
    except AirflowApiError as exc:
        if exc.status == 400:
            raise UserErrorException(str(exc)) from None
        raise
    return PipelineRun(workspace, run["DagId"], run["Id"], client)


class _RegistryObject:
    """What a published pipeline and an endpoint share: a registry record and a client."""

    def __init__(self, workspace: Any, record: dict[str, Any], client: AirflowClient | None = None):
        self.workspace = workspace
        self._record = record
        self._client = client

    @property
    def id(self) -> str:
        return self._record["id"]

    @property
    def name(self) -> str:
        return self._record["name"]

    @property
    def description(self) -> str | None:
        return self._record["description"]

    @property
    def status(self) -> str:
        return self._record["status"]

    @property
    def client(self) -> AirflowClient:
        if self._client is None:
            self._client = workspace_client(self.workspace)
        return self._client


class PublishedPipeline(_RegistryObject):
    """An immutable published pipeline; its DAG is ``published_<id>``."""

    @property
    def version(self) -> str | None:
        return self._record["version"]

    @property
    def dag_id(self) -> str:
        return self._record["dag_id"]

    @property
    def continue_on_step_failure(self) -> bool:
        return self._record["continue_on_step_failure"]

    @property
    def total_run_steps(self) -> int:
        return len(self._record["steps"])

    @property
    def parameters(self) -> dict[str, Any]:
        """Each PipelineParameter's type and default."""
        return dict(self._record["parameters"])

    @property
    def snapshots(self) -> list[str]:
        return list(self._record["snapshots"])

    @property
    def created(self) -> float:
        return self._record["created"]

    @property
    def endpoint(self) -> str:
        """The REST URL that submits runs (Azure ML's body; Airflow's bearer token)."""
        return pipeline_submit_url(self.client.url, self.id)

    def __repr__(self) -> str:
        return (
            f"PublishedPipeline(name={self.name!r}, id={self.id!r}, version={self.version!r}, "
            f"status={self.status!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublishedPipeline) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # --- lookups ------------------------------------------------------------------------------

    @staticmethod
    def get(workspace: Any, id: str) -> PublishedPipeline:
        return PublishedPipeline(workspace, _registry(workspace).get_pipeline(id))

    @staticmethod
    def list(workspace: Any, active_only: bool = True) -> list[PublishedPipeline]:
        return [PublishedPipeline(workspace, r) for r in _registry(workspace).list_pipelines(active_only)]

    # --- publish ------------------------------------------------------------------------------

    @staticmethod
    def publish_spec(
        workspace: Any,
        spec: dict[str, Any],
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
        published_from: str | None = None,
        timeout_seconds: float = 180,
    ) -> PublishedPipeline:
        """Publish a pipeline spec whose snapshots are uploaded; wait until its DAG is in Airflow."""
        from airflow_mlpipe.registry.dagfile import spec_tag

        client = workspace_client(workspace)
        client.token()  # wrong credentials fail before anything is written
        record = RegistryApi(client).publish(
            spec, name, description, version, bool(continue_on_step_failure), published_from
        )
        wait_for_dag_version(
            client, record["dag_id"], spec_tag(spec, bool(continue_on_step_failure)), timeout_seconds
        )
        client.set_paused(record["dag_id"], False)  # deployments that pause new DAGs
        ensure_pools(client, spec)
        return PublishedPipeline(workspace, record, client)

    # --- runs ---------------------------------------------------------------------------------

    def submit(
        self,
        workspace: Any,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool | None = None,
        regenerate_outputs: bool = False,
        force_rerun_steps: list[str] | None = None,
        tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """Start a run through this pipeline's REST endpoint; nothing starts if a check fails."""
        if kwargs:
            raise UserErrorException(f"PublishedPipeline.submit: unsupported arguments {sorted(kwargs)}")
        if continue_on_step_failure is not None and continue_on_step_failure != self.continue_on_step_failure:
            raise UserErrorException(
                f"published pipeline {self.name!r} was published with continue_on_step_failure="
                f"{self.continue_on_step_failure}; it is fixed per published pipeline, so publish "
                "another one to change it"
            )
        return _post_run(
            workspace,
            self.client,
            pipeline_submit_url("", self.id),
            self._record,
            experiment_name,
            pipeline_parameters,
            regenerate_outputs,
            force_rerun_steps,
            tags=tags,
        )

    # --- status -------------------------------------------------------------------------------

    def disable(self) -> None:
        """Refuse every trigger (409) and pause the DAG."""
        self._record = _registry(self.workspace).set_pipeline_status(self.id, "Disabled")
        self.client.set_paused(self.dag_id, True)

    def enable(self) -> None:
        self.client.set_paused(self.dag_id, False)
        self._record = _registry(self.workspace).set_pipeline_status(self.id, "Active")

    def refresh(self) -> PublishedPipeline:
        self._record = _registry(self.workspace).get_pipeline(self.id)
        return self


def publish_pipeline(
    workspace: Any,
    pipeline: Any,
    name: str,
    description: str | None = None,
    version: str | None = None,
    continue_on_step_failure: bool | None = None,
) -> PublishedPipeline:
    """``Pipeline.publish``: snapshot the steps' source folders, then publish the spec."""
    spec = pipeline.to_spec()
    upload_snapshots(spec)
    return PublishedPipeline.publish_spec(
        workspace, spec, name, description, version, continue_on_step_failure
    )
