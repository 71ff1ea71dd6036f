"""PipelineRun: one DAG run of a pipeline, followed over Airflow's REST API v2, Azure ML v1 style.

Status names are Azure ML's (see ``airflow_mlpipe.runstatus``).
"""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.client.auth import workspace_client
from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.client.run_base import RunBase, stored_files
from airflow_mlpipe.client.step_run import TERMINAL_STEP, StepRun
from airflow_mlpipe.exceptions import ActivityFailedException, MlpipeError, UserErrorException
from airflow_mlpipe.registry.published import DAG_PREFIX
from airflow_mlpipe.registry.submission import SUBMISSION_KEY
from airflow_mlpipe.runstatus import run_status, task_status

EXECUTION_LOG = "logs/azureml/executionlogs.txt"
TERMINAL_RUN = ("Finished", "Failed", "Canceled")


class PipelineRunFailed(ActivityFailedException):
    """A pipeline run ended Failed (Azure ML v1 raised ActivityFailedException)."""


class PipelineRun(RunBase):
    """One DAG run. v1's form is ``PipelineRun(experiment, run_id)``; the Airflow form is
    ``PipelineRun(workspace, dag_id, dag_run_id[, client])``. ``id`` is ``<dag_id>/<dag_run_id>``."""

    def __init__(self, experiment: Any, run_id: str, *args: Any, **kwargs: Any):
        from airflow_mlpipe.client.run import Experiment

        client: AirflowClient | None = kwargs.pop("client", None)
        self._spec = kwargs.pop("spec", None)
        if isinstance(experiment, Experiment):
            self.workspace = experiment.workspace
            self._experiment = experiment
            client = client or workspace_client(self.workspace)
            dag_id, sep, rid = run_id.partition("/")
            self.dag_id, self.run_id = (
                (dag_id, rid) if sep else (_dag_of_run(client, experiment, run_id), run_id)
            )
        else:  # the Airflow form: (workspace, dag_id, dag_run_id, client=None, spec=None)
            if not args:
                raise UserErrorException(
                    "PipelineRun(experiment, run_id) takes an Experiment, or use "
                    "PipelineRun(workspace, dag_id, dag_run_id)"
                )
            self.workspace, self.dag_id, self.run_id = experiment, run_id, args[0]
            client = args[1] if len(args) > 1 else client
            self._spec = args[2] if len(args) > 2 else self._spec
            self._experiment = None
        self.client = client or workspace_client(self.workspace)
        self._canceled_steps: set[str] | None = None
        self._run_cache: dict[str, Any] | None = None

    @property
    def id(self) -> str:  # type: ignore[override]
        return f"{self.dag_id}/{self.run_id}"

    @property
    def experiment(self) -> Any:
        from airflow_mlpipe.client.run import EXPERIMENT_PREFIX, Experiment

        if self._experiment is None:
            name = self._submission().get("experiment_name")
            if not name:
                name = self.dag_id.removeprefix(EXPERIMENT_PREFIX)
            self._experiment = Experiment(self.workspace, name, _dag_id=self.dag_id)
        return self._experiment

    def __repr__(self) -> str:
        return f"PipelineRun(id={self.id!r})"

    @classmethod
    def get(cls, workspace: Any, run_id: str) -> PipelineRun:
        dag_id, sep, rid = run_id.partition("/")
        if not sep or not rid:
            raise UserErrorException(
                f"run id {run_id!r}: expected '<dag_id>/<dag_run_id>' as PipelineRun.id gives"
            )
        run = cls(workspace, dag_id, rid)
        try:
            run._run()
        except AirflowApiError as exc:
            if exc.status == 404:
                raise UserErrorException(f"no run {rid!r} of pipeline DAG {dag_id!r}") from None
            raise
        return run

    # --- Airflow's view ---------------------------------------------------------------------

    def _path(self) -> str:
        return f"/api/v2/dags/{quote(self.dag_id)}/dagRuns/{quote(self.run_id, safe='')}"

    def _run(self) -> dict[str, Any]:
        self._run_cache = self.client.request("GET", self._path())
        return self._run_cache

    def _submission(self) -> dict[str, Any]:
        run = self._run_cache or self._run()
        return dict((run.get("conf") or {}).get(SUBMISSION_KEY) or {})

    def get_status(self) -> str:
        run = self._run()
        return run_status(run["state"], run.get("note"))

    def _step_status(self, name: str, state: str | None) -> str:
        """Azure ML's name for a step's state; a step stopped by another's failure is Canceled."""
        if state == "failed" and name in self._stopped_steps():
            return "Canceled"
        return task_status(state)

    def _stopped_steps(self) -> set[str]:
        if self._canceled_steps is not None:
            return self._canceled_steps
        ended = self.get_status() in TERMINAL_RUN  # read first: then the list read next is complete
        stopped = self.client.stopped_steps(self.dag_id, self.run_id)
        if ended:
            self._canceled_steps = stopped  # nothing changes any more
        return stopped

    def get_steps(self) -> list[StepRun]:
        tis = self.client.task_instances(self.dag_id, self.run_id)
        return [
            StepRun(self, ti["task_id"], ti)
            for ti in sorted(tis, key=lambda t: (t["start_date"] or "~", t["task_id"]))
        ]

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> list[StepRun]:
        """The step runs (v1: a pipeline run's children), filtered by status, tags or properties."""
        steps = self.get_steps()
        if status is not None:
            steps = [s for s in steps if s._listed_status() == status]
        for wanted, getter in ((tags, StepRun.get_tags), (properties, StepRun.get_properties)):
            if wanted is not None:
                steps = [s for s in steps if _matches(getter(s), wanted)]
        return steps

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step runs of a step, by its name (or its Airflow task id)."""
        return [s for s in self.get_steps() if name in (s.name, s.task_id)]

    def get_details(self) -> dict[str, Any]:
        run = self._run()
        sub = self._submission()
        return {
            "runId": self.id,
            "status": run_status(run["state"], run.get("note")),
            "startTimeUtc": run.get("start_date"),
            "endTimeUtc": run.get("end_date"),
            "properties": self.get_properties(),
            "tags": self.get_tags(),
            "submittedBy": run.get("triggering_user_name"),
            "experimentName": self.experiment.name,
            "runSource": sub.get("run_source"),
            "description": sub.get("description"),
            "inputDatasets": [],
            "outputDatasets": [],
            "logFiles": {EXECUTION_LOG: EXECUTION_LOG},
        }

    def get_details_with_logs(self) -> dict[str, Any]:
        details = self.get_details()
        details["logFiles"] = {EXECUTION_LOG: self._execution_log()}
        return details

    def get_portal_url(self) -> str:
        """The run's page in Airflow's UI."""
        return f"{self.client.url}/dags/{quote(self.dag_id)}/runs/{quote(self.run_id, safe='')}"

    def cancel(self) -> None:
        self.client.request("PATCH", self._path(), json={"state": "failed"}, params={"update_mask": "state"})
        from airflow_mlpipe.runstatus import CANCEL_NOTE

        self.client.request("PATCH", self._path(), json={"note": CANCEL_NOTE}, params={"update_mask": "note"})

    def get_tracking(self) -> dict[str, Any]:
        """What the run's tracking page shows (the plugin's ``/mlpipe/tracking/v1`` route): every
        step with status, durations, reuse (``reused_from``) and why it ran, the graph's edges and
        the pipeline metrics."""
        from airflow_mlpipe.client.tracking import TrackingApi

        return TrackingApi(self.client).run(self.dag_id, self.run_id)

    def get_metrics(self) -> dict[str, Any]:
        """Pipeline-level metrics (``run.parent.log`` in the steps)."""
        out: dict[str, Any] = {}
        for step in self.get_steps():
            out.update((step._result() or {}).get("parent_metrics") or {})
        return out

    # --- waiting ----------------------------------------------------------------------------

    def wait_for_completion(
        self, show_output: bool = True, timeout_seconds: float = sys.maxsize, raise_on_error: bool = True
    ) -> str:
        """Wait until the run ends; with ``show_output`` stream each step's status and log as v1 did."""
        from airflow_mlpipe.client.streaming import RunStreamer

        deadline = time.monotonic() + timeout_seconds
        streamer = RunStreamer(self) if show_output else None
        while True:
            status = self.get_status()
            if streamer is not None:
                streamer.poll(status, final=status in TERMINAL_RUN)
            if status in TERMINAL_RUN:
                break
            if time.monotonic() > deadline:
                raise MlpipeError(
                    f"run {self.id} did not finish within {timeout_seconds:.0f}s (status {status})"
                )
            time.sleep(1)
        if streamer is not None:
            streamer.summary(status)
        if status == "Failed" and raise_on_error:
            failed = [s.name for s in self.get_steps() if s._listed_status() == "Failed"]
            raise PipelineRunFailed(f"Activity Failed: pipeline run {self.id} failed; failed steps: {failed}")
        return status

    # --- publishing ---------------------------------------------------------------------------

    def publish_pipeline(
        self,
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> Any:
        """Publish the pipeline this run ran, with the snapshots it ran (Azure ML v1's name)."""
        from airflow_mlpipe.client.published import PublishedPipeline
        from airflow_mlpipe.client.registry_api import RegistryApi

        entry = RegistryApi(self.client).get(self.dag_id)
        if entry is None:
            raise UserErrorException(
                f"run {self.id}: DAG {self.dag_id!r} is not a registered pipeline (submitted with "
                "Experiment.submit or published); publish its Pipeline object instead"
            )
        if continue_on_step_failure is None:
            continue_on_step_failure = entry["meta"].get("continue_on_step_failure", False)
        return PublishedPipeline.publish_spec(
            self.workspace,
            entry["spec"],
            name,
            description or entry["spec"].get("description"),
            version,
            continue_on_step_failure,
            published_from=self.id,
        )

    # --- RunBase hooks ----------------------------------------------------------------------

    def _meta_key(self) -> tuple[str, str, str | None]:
        return self.dag_id, self.run_id, None

    def _initial_tags(self) -> dict[str, str]:
        """Tags given at submission, then those the steps set with ``run.parent.tag``."""
        tags = {str(k): str(v) for k, v in (self._submission().get("tags") or {}).items()}
        for step in self.get_steps():
            tags.update((step._result() or {}).get("parent_tags") or {})
        return tags

    def _initial_properties(self) -> dict[str, str]:
        sub = self._submission()
        props = {"azureml.runsource": "azureml.PipelineRun", "mlpipe.dag_id": self.dag_id}
        for key, field in (
            ("azureml.pipelineid", "pipeline_id"),
            ("azureml.pipelineEndpointId", "endpoint_id"),
        ):
            if sub.get(field):
                props[key] = str(sub[field])
        return props

    def _execution_log(self) -> str:
        """The run's status, then each step's status and times, as lines."""
        details = self.get_details()
        lines = [
            f"PipelineRun {self.id}: {details['status']} ({details['startTimeUtc']} - {details['endTimeUtc']})"
        ]
        for step in self.get_steps():
            ti = step._ti_cache or step._ti()
            lines.append(
                f"StepRun {step.name}: {step.get_status()} ({ti.get('start_date')} - {ti.get('end_date')})"
            )
        return "\n".join(lines)

    def _files(self) -> dict[str, Any]:
        files: dict[str, Any] = {EXECUTION_LOG: self._execution_log}
        for step in self.get_steps():
            files.update(stored_files(step._result(), "parent_files"))
        return files


def get_run(experiment: Any, run_id: str, rehydrate: bool = True, clazz: Any = None) -> PipelineRun:
    """v1's ``azureml.core.get_run``: the run ``run_id`` of ``experiment``."""
    run = PipelineRun(experiment, run_id)
    run._run()  # an unknown run fails here, naming it
    return run


def _dag_of_run(client: AirflowClient, experiment: Any, run_id: str) -> str:
    """The DAG of a bare run id: the experiment's own, or the published pipeline's it was
    submitted to under the experiment's name (a REST submission answers with the bare id)."""
    try:
        client.request("GET", f"/api/v2/dags/{quote(experiment.dag_id)}/dagRuns/{quote(run_id, safe='')}")
        return experiment.dag_id
    except AirflowApiError as exc:
        if exc.status != 404:
            raise
    found = client.request(
        "GET",
        "/api/v2/dags/~/dagRuns",
        params={"run_id_pattern": run_id, "dag_id_prefix_pattern": DAG_PREFIX},
    )["dag_runs"]
    exact = [r["dag_id"] for r in found if r["dag_run_id"] == run_id]
    if not exact:
        raise UserErrorException(
            f"experiment {experiment.name!r} has no run {run_id!r} (not in DAG {experiment.dag_id!r} "
            "nor in a published pipeline)"
        )
    return exact[0]


def _matches(have: dict[str, str], wanted: Any) -> bool:
    """v1's tag/property filter: a key (present), a list of keys, or a dict of key -> value."""
    if isinstance(wanted, str):
        return wanted in have
    if isinstance(wanted, dict):
        return all(have.get(k) == str(v) for k, v in wanted.items())
    return all(k in have for k in wanted)


__all__ = ["TERMINAL_STEP", "PipelineRun", "PipelineRunFailed", "StepRun", "get_run"]
