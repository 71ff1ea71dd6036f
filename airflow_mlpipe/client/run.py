"""Submitting pipelines and following their runs, Azure ML v1 style, over Airflow's REST API v2.

``Experiment(ws, name).submit(pipeline)`` uploads each step's source folder as a content-addressed
snapshot, writes the pipeline spec to the registry (DAG id ``experiment_<name>``), waits until
Airflow has serialized that DAG version, and triggers a run with the parameters in its conf.

Status names are Azure ML's (see ``airflow_mlpipe.runstatus``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.definitions.parameter import coerce_param
from airflow_mlpipe.exceptions import MlpipeError, UserErrorException
from airflow_mlpipe.runstatus import CANCEL_NOTE, RUN_STATUS, TASK_STATUS
from airflow_mlpipe.storage.base import safe_segment


class PipelineRunFailed(MlpipeError):
    """A pipeline run ended Failed (Azure ML v1 raised ActivityFailedException)."""


def workspace_client(ws: Any) -> AirflowClient:
    """The Airflow deployment of a workspace: its config's 'api' section, MLPIPE_API_* variables,
    or the embedded deployment (`mlpipe up`)."""
    api = dict(getattr(ws, "api", {}) or {})
    url = os.environ.get("MLPIPE_API_URL") or api.get("url")
    if url:
        user = os.environ.get("MLPIPE_API_USERNAME") or api.get("username") or "admin"
        password_env = api.get("password_env", "MLPIPE_API_PASSWORD")
        password = os.environ.get(password_env)
        if password is None:
            raise UserErrorException(f"the Airflow API password is not set: export {password_env}")
        return AirflowClient(url, user, password)
    from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

    dep = LocalDeployment()
    return AirflowClient(dep.url, USERNAME, dep.password())


def experiment_dag_id(name: str) -> str:
    if not name or safe_segment(name) != name:
        raise UserErrorException(
            f"experiment name {name!r} may only contain letters, digits, '.', '_' and '-'"
        )
    return f"experiment_{name}"


class Experiment:
    def __init__(self, workspace: Any, name: str):
        self.workspace = workspace
        self.name = name
        self.dag_id = experiment_dag_id(name)

    def submit(
        self,
        pipeline: Any,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        timeout_seconds: float = 180,
    ) -> PipelineRun:
        from airflow_mlpipe.registry import Registry
        from airflow_mlpipe.registry.dagfile import spec_tag

        spec = pipeline.to_spec()
        conf = check_parameters(spec, pipeline_parameters)  # before anything is written or started
        client = workspace_client(self.workspace)
        client.token()  # wrong credentials fail here, before anything is uploaded
        upload_snapshots(spec)
        meta = {"experiment": self.name, "continue_on_step_failure": bool(continue_on_step_failure)}
        registry = Registry(workspace_registry_root(self.workspace))
        current = registry.get(self.dag_id)
        if current is None or current["spec"] != spec or current["meta"] != meta:
            registry.put(self.dag_id, spec, "experiment", meta)
        wait_for_dag_version(client, self.dag_id, spec_tag(spec), timeout_seconds)
        ensure_pools(client, spec)
        conf["regenerate_outputs"] = bool(regenerate_outputs)
        run = client.trigger(self.dag_id, conf)
        return PipelineRun(self.workspace, self.dag_id, run["dag_run_id"], client, spec)


def workspace_registry_root(ws: Any) -> str | None:
    """The registry folder of a workspace: its config's 'api.registry', else the embedded one."""
    api = getattr(ws, "api", None) or {}
    return api.get("registry")


def upload_snapshots(spec: dict[str, Any]) -> None:
    """Upload each step's source folder as a content-addressed snapshot and pin its id in the spec."""
    from airflow_mlpipe.reuse.fingerprint import default_hash_cache
    from airflow_mlpipe.snapshots import upload_snapshot
    from airflow_mlpipe.storage import open_store

    store_name = spec["reuse"]["datastore"]
    store = open_store(spec["datastores"][store_name])
    snapshots: dict[str, str] = {}
    for step in spec["steps"]:
        folder = step["settings"].get("source_directory")
        if folder:
            if folder not in snapshots:
                snapshots[folder] = upload_snapshot(store, folder, default_hash_cache())["id"]
            step["settings"]["snapshot"] = {"id": snapshots[folder], "datastore": store_name}


def ensure_pools(client: AirflowClient, spec: dict[str, Any]) -> None:
    for name, target in spec["compute_targets"].items():
        client.ensure_pool(name, int(target.get("max_nodes", 1)), f"AmlCompute {name}")


def check_parameters(spec: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec["parameters"]))
    if unknown:
        raise UserErrorException(
            f"unknown pipeline parameter(s) {unknown}; this pipeline has {sorted(spec['parameters'])}"
        )
    return {
        n: coerce_param(n, spec["parameters"][n]["type"], v, where="pipeline_parameters")
        for n, v in given.items()
    }


def wait_for_dag_version(client: AirflowClient, dag_id: str, tag: str, timeout: float) -> None:
    """Wait until Airflow has parsed and serialized the DAG built from this exact spec."""
    deadline = time.monotonic() + timeout
    asked = False
    while True:
        try:
            dag = client.get_dag(dag_id)
            if tag in {t["name"] for t in dag.get("tags", [])}:
                return
            if not asked:  # an older version is serialized: ask for a parse now, not at the next scan
                asked = _reparse_file_of(client, dag_id)
        except AirflowApiError as exc:
            if exc.status != 404:
                raise
            if not asked:  # a new DAG: every registry DAG comes from one file, so reparse that file
                found = client.request("GET", "/api/v2/dags", params={"tags": "mlpipe-registry", "limit": 1})
                if found.get("dags"):
                    asked = _reparse_file_of(client, found["dags"][0]["dag_id"])
        if time.monotonic() > deadline:
            from airflow_mlpipe.registry import Registry

            broken = Registry().broken().get(dag_id)
            raise MlpipeError(
                f"Airflow did not load DAG {dag_id!r} within {timeout:.0f}s"
                + (f": {broken}" if broken else "")
            )
        time.sleep(0.5)


def _reparse_file_of(client: AirflowClient, dag_id: str) -> bool:
    """Ask Airflow to parse the file DAG ``dag_id`` comes from now, not at its next scan."""
    details = client.request("GET", f"/api/v2/dags/{quote(dag_id)}/details")
    client.request("PUT", f"/api/v2/parseDagFile/{details['file_token']}")
    return True


class PipelineRun:
    """One DAG run of a submitted (or any translated) pipeline."""

    def __init__(
        self, workspace: Any, dag_id: str, run_id: str, client: AirflowClient | None = None, spec: Any = None
    ):
        self.workspace = workspace
        self.dag_id = dag_id
        self.run_id = run_id
        self.client = client or workspace_client(workspace)
        self._spec = spec

    @property
    def id(self) -> str:
        return f"{self.dag_id}/{self.run_id}"

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

    def _path(self) -> str:
        return f"/api/v2/dags/{quote(self.dag_id)}/dagRuns/{quote(self.run_id, safe='')}"

    def _run(self) -> dict[str, Any]:
        return self.client.request("GET", self._path())

    def get_status(self) -> str:
        run = self._run()
        if run.get("note") == CANCEL_NOTE:
            return "Canceled"
        return RUN_STATUS.get(run["state"], run["state"])

    def get_steps(self) -> list[StepRun]:
        tis = self.client.task_instances(self.dag_id, self.run_id)
        return [
            StepRun(self, ti["task_id"])
            for ti in sorted(tis, key=lambda t: (t["start_date"] or "~", t["task_id"]))
        ]

    def find_step_run(self, name: str) -> list[StepRun]:
        return [s for s in self.get_steps() if s.name == name]

    def cancel(self) -> None:
        self.client.request("PATCH", self._path(), json={"state": "failed"}, params={"update_mask": "state"})
        self.client.request("PATCH", self._path(), json={"note": CANCEL_NOTE}, params={"update_mask": "note"})

    def wait_for_completion(
        self, show_output: bool = True, timeout_seconds: float = sys.maxsize, raise_on_error: bool = True
    ) -> str:
        deadline = time.monotonic() + timeout_seconds
        seen: dict[str, str] = {}
        shown: set[str] = set()
        if show_output:
            print(f"PipelineRunId: {self.id}")
        while True:
            status = self.get_status()
            if show_output:
                for step in self.get_steps():
                    st = step.get_status()
                    if seen.get(step.name) != st:
                        seen[step.name] = st
                        print(f"StepRun({step.name}) Status: {st}")
                    if st in ("Finished", "Failed") and step.name not in shown:
                        shown.add(step.name)
                        for line in step.get_log_lines():
                            print(f"  [{step.name}] {line}")
            if status in ("Finished", "Failed", "Canceled"):
                break
            if time.monotonic() > deadline:
                raise MlpipeError(
                    f"run {self.id} did not finish within {timeout_seconds:.0f}s (status {status})"
                )
            time.sleep(1)
        if show_output:
            print(f"PipelineRun Execution Summary\n  PipelineRun Status: {status}")
        if status == "Failed" and raise_on_error:
            failed = [s.name for s in self.get_steps() if s.get_status() == "Failed"]
            raise PipelineRunFailed(f"pipeline run {self.id} failed; failed steps: {failed}")
        return status

    def publish_pipeline(
        self,
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> Any:
        """Publish the pipeline this run ran, with the snapshots it ran (Azure ML v1's name)."""
        from airflow_mlpipe.client.published import PublishedPipeline
        from airflow_mlpipe.registry import Registry

        entry = Registry(workspace_registry_root(self.workspace)).get(self.dag_id)
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

    def get_metrics(self) -> dict[str, Any]:
        """Pipeline-level metrics (``run.parent.log`` in the steps)."""
        out: dict[str, Any] = {}
        for step in self.get_steps():
            out.update((step._result() or {}).get("parent_metrics") or {})
        return out


class StepRun:
    def __init__(self, pipeline_run: PipelineRun, name: str):
        self.pipeline_run = pipeline_run
        self.name = name

    def _ti(self) -> dict[str, Any]:
        pr = self.pipeline_run
        return pr.client.request("GET", f"{pr._path()}/taskInstances/{quote(self.name, safe='')}")

    def _result(self) -> dict[str, Any] | None:
        pr = self.pipeline_run
        return pr.client.xcom(pr.dag_id, pr.run_id, self.name)

    def get_status(self) -> str:
        return TASK_STATUS.get(self._ti()["state"], "NotStarted")

    def get_metrics(self) -> dict[str, Any]:
        return dict((self._result() or {}).get("metrics") or {})

    def get_details(self) -> dict[str, Any]:
        ti, result = self._ti(), self._result() or {}
        return {
            "runId": f"{self.pipeline_run.id}/{self.name}",
            "status": TASK_STATUS.get(ti["state"], "NotStarted"),
            "startTimeUtc": ti.get("start_date"),
            "endTimeUtc": ti.get("end_date"),
            "tryNumber": ti.get("try_number"),
            "reused_from": result.get("reused_from"),
            "outputs": result.get("outputs", {}),
        }

    def get_log_lines(self) -> list[str]:
        pr, ti = self.pipeline_run, self._ti()
        if not ti.get("try_number"):
            return []
        return pr.client.task_log(pr.dag_id, pr.run_id, self.name, ti["try_number"])

    def get_log(self) -> str:
        """The step's task log: its stdout, and stderr lines marked [stderr]."""
        return "\n".join(self.get_log_lines())

    def get_output_data(self, name: str) -> OutputData:
        outputs = (self._result() or {}).get("outputs") or {}
        if name not in outputs:
            raise UserErrorException(
                f"step {self.name!r} has no stored output {name!r}; it has {sorted(outputs)}"
            )
        return OutputData(self.pipeline_run.workspace, name, outputs[name])


class OutputData:
    """A step output stored on a datastore (Azure ML v1's PortDataReference)."""

    def __init__(self, workspace: Any, name: str, location: dict[str, Any]):
        self.workspace = workspace
        self.name = name
        self.location = location
        self.path_on_datastore = location["path"]
        self.datastore_name = location["datastore"]

    def download(
        self, local_path: str | os.PathLike[str], overwrite: bool = False, show_progress: bool = True
    ) -> str:
        from airflow_mlpipe.definitions.datastore import Datastore

        target = Path(local_path) / self.name
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise UserErrorException(f"{target} is not empty; pass overwrite=True")
        store = Datastore.get(self.workspace, self.datastore_name).store
        files = store.download(self.path_on_datastore, target) if self.location.get("files") else []
        if show_progress:
            print(f"Downloaded {len(files)} file(s) of output {self.name} to {target}")
        return str(target)
