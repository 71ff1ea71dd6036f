"""Experiments: submitting pipelines, Azure ML v1 style, over Airflow's REST API v2.

``Experiment(ws, name).submit(pipeline)`` uploads each step's source folder as a content-addressed
snapshot on the workspace's datastore, sends the pipeline spec to the registry route of Airflow's API
server (DAG id ``experiment_<name>``; client/registry_api.py), waits until
Airflow has serialized that DAG version, and triggers a run with the parameters in its conf.
``submit`` also takes a PublishedPipeline or a PipelineEndpoint, as in v1. An experiment's runs
are the runs of its DAG plus the published pipeline runs submitted under its name.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.client.auth import workspace_client
from airflow_mlpipe.client.pipeline_run import PipelineRun, PipelineRunFailed, _matches
from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.client.step_run import StepRun
from airflow_mlpipe.definitions.compute import is_pool
from airflow_mlpipe.definitions.parameter import coerce_param
from airflow_mlpipe.exceptions import MlpipeError, UserErrorException
from airflow_mlpipe.registry.published import DAG_PREFIX
from airflow_mlpipe.registry.submission import SUBMISSION_KEY
from airflow_mlpipe.storage.base import safe_segment

__all__ = [
    "Experiment",
    "PipelineRun",
    "PipelineRunFailed",
    "StepRun",
    "workspace_client",
]
EXPERIMENT_PREFIX = "experiment_"


class Experiment:
    """A named group of pipeline runs (v1's Experiment); its own DAG is ``experiment_<name>``."""

    def __init__(self, workspace: Any, name: str, _skip_name_validation: bool = False, **kwargs: Any):
        self.workspace = workspace
        self.name = name
        self.dag_id = kwargs.pop("_dag_id", None) or experiment_dag_id(name)
        unknown = set(kwargs) - {"_id", "_archived_time", "_create_in_cloud", "_experiment_dto"}
        if unknown:
            raise UserErrorException(f"Experiment: unsupported arguments {sorted(unknown)}")

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={getattr(self.workspace, 'name', None)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def id(self) -> str:
        return self.dag_id

    def get_tracked_runs(self, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """This experiment's runs as the tracking pages list them (its DAG's and published runs
        submitted under it), newest first: ``{"runs": [...], "total_entries"}``."""
        from airflow_mlpipe.client.tracking import TrackingApi

        return TrackingApi(workspace_client(self.workspace)).runs(
            experiment=self.name, limit=limit, offset=offset
        )

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> PipelineRun:
        """Run a Pipeline, a PublishedPipeline or a PipelineEndpoint under this experiment.

        Pipeline: ``pipeline_parameters``, ``regenerate_outputs``, ``continue_on_step_failure``.
        PublishedPipeline: ``pipeline_parameters``, ``regenerate_outputs``. PipelineEndpoint: also
        ``pipeline_version``. Any other argument is an error naming it."""
        from airflow_mlpipe.client.endpoints import PipelineEndpoint
        from airflow_mlpipe.client.published import PublishedPipeline
        from airflow_mlpipe.definitions.pipeline import Pipeline

        allowed = {
            Pipeline: {
                "pipeline_parameters",
                "regenerate_outputs",
                "continue_on_step_failure",
                "timeout_seconds",
            },
            PublishedPipeline: {"pipeline_parameters", "regenerate_outputs"},
            PipelineEndpoint: {"pipeline_parameters", "regenerate_outputs", "pipeline_version"},
        }
        kind = next((k for k in allowed if isinstance(config, k)), None)
        if kind is None:
            raise UserErrorException(
                f"Experiment.submit: expected a Pipeline, PublishedPipeline or PipelineEndpoint, got {config!r}"
            )
        unknown = set(kwargs) - allowed[kind]
        if unknown:
            raise UserErrorException(
                f"Experiment.submit({kind.__name__}): unsupported arguments {sorted(unknown)}; "
                f"it takes {sorted(allowed[kind])}"
            )
        if kind is Pipeline:
            return self._submit_pipeline(config, tags=tags, **kwargs)
        if kind is PublishedPipeline:
            return config.submit(self.workspace, self.name, tags=tags, **kwargs)
        return config.submit(self.name, tags=tags, **kwargs)

    def _submit_pipeline(
        self,
        pipeline: Any,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        timeout_seconds: float = 180,
        tags: dict[str, str] | None = None,
    ) -> PipelineRun:
        from airflow_mlpipe.client.registry_api import RegistryApi
        from airflow_mlpipe.registry.dagfile import spec_tag

        spec = pipeline.to_spec()
        conf = check_parameters(spec, pipeline_parameters)  # before anything is written or started
        client = workspace_client(self.workspace)
        client.token()  # wrong credentials fail here, before anything is uploaded
        upload_snapshots(spec)
        meta = {"experiment": self.name, "continue_on_step_failure": bool(continue_on_step_failure)}
        RegistryApi(client).put(self.dag_id, spec, meta)  # the server keeps an equal entry as it is
        wait_for_dag_version(
            client, self.dag_id, spec_tag(spec, bool(continue_on_step_failure)), timeout_seconds
        )
        ensure_pools(client, spec)
        conf["regenerate_outputs"] = bool(regenerate_outputs)
        conf[SUBMISSION_KEY] = {
            "experiment_name": self.name,
            "run_source": "SDK",
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        }
        run = client.trigger(self.dag_id, conf)
        return PipelineRun(self.workspace, self.dag_id, run["dag_run_id"], client, spec)

    # --- runs and experiments ---------------------------------------------------------------

    def get_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
    ) -> list[Any]:
        """This experiment's runs, newest first: its DAG's runs and the published pipeline runs
        submitted under its name (with ``include_children``, each followed by its step runs)."""
        client = workspace_client(self.workspace)
        found = _dag_runs(client, self.dag_id)
        found += [r for r in _dag_runs(client, DAG_PREFIX) if _experiment_of(r) == self.name]
        found.sort(key=lambda r: r.get("run_after") or r.get("queued_at") or "", reverse=True)
        runs = []
        for raw in found:
            run = PipelineRun(self.workspace, raw["dag_id"], raw["dag_run_id"], client)
            run._run_cache = raw
            runs.append(run)
        if tags is not None:
            runs = [r for r in runs if _matches(r.get_tags(), tags)]
        if properties is not None:
            runs = [r for r in runs if _matches(r.get_properties(), properties)]
        if include_children:
            return [c for r in runs for c in (r, *r.get_children())]
        return runs

    @staticmethod
    def list(
        workspace: Any, experiment_name: str | None = None, view_type: str = "ActiveOnly", tags: Any = None
    ) -> list[Experiment]:
        """The experiments on a workspace's Airflow: each ``experiment_<name>`` DAG, and each name
        published pipeline runs were submitted under."""
        client = workspace_client(workspace)
        dags = client.collection("/api/v2/dags", "dags", {"dag_id_pattern": EXPERIMENT_PREFIX})
        names = {
            d["dag_id"][len(EXPERIMENT_PREFIX) :] for d in dags if d["dag_id"].startswith(EXPERIMENT_PREFIX)
        }
        names |= {n for n in (_experiment_of(r) for r in _dag_runs(client, DAG_PREFIX)) if n}
        if experiment_name is not None:
            names &= {experiment_name}
        return [Experiment(workspace, n, _skip_name_validation=True) for n in sorted(names)]


def _dag_runs(client: AirflowClient, dag_id_or_prefix: str) -> list[dict[str, Any]]:
    """Every run of one DAG, or (a prefix ending in '_') of the DAGs whose ids start with it."""
    if dag_id_or_prefix.endswith("_"):
        return client.collection(
            "/api/v2/dags/~/dagRuns", "dag_runs", {"dag_id_prefix_pattern": dag_id_or_prefix}
        )
    try:
        return client.collection(f"/api/v2/dags/{quote(dag_id_or_prefix)}/dagRuns", "dag_runs")
    except AirflowApiError as exc:
        if exc.status == 404:  # the experiment's DAG does not exist (yet)
            return []
        raise


def _experiment_of(run: dict[str, Any]) -> str | None:
    return ((run.get("conf") or {}).get(SUBMISSION_KEY) or {}).get("experiment_name")


def experiment_dag_id(name: str) -> str:
    if not name or safe_segment(name) != name:
        raise UserErrorException(
            f"experiment name {name!r} may only contain letters, digits, '.', '_' and '-'"
        )
    return f"experiment_{name}"


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
        if is_pool(target):
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
            from airflow_mlpipe.client.registry_api import RegistryApi

            broken = RegistryApi(client).broken_error(dag_id)  # what the DAG processor found
            raise MlpipeError(
                f"Airflow did not load DAG {dag_id!r} within {timeout:.0f}s"
                + (f": {broken}" if broken else "")
            )
        time.sleep(0.5)


def _reparse_file_of(client: AirflowClient, dag_id: str) -> bool:
    """Ask Airflow to parse the file DAG ``dag_id`` comes from now, not at its next scan."""
    details = client.request("GET", f"/api/v2/dags/{quote(dag_id)}/details")
    try:
        client.request("PUT", f"/api/v2/parseDagFile/{details['file_token']}")
    except AirflowApiError as exc:
        if exc.status != 409:  # 409: another client asked for the same parse at the same moment
            raise
    return True
