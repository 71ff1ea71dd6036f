"""The protocol every step operator follows.

resolve parameters and inputs -> (reuse check: the reuse cache) -> run -> store outputs under a
path no other run writes -> verify -> push the step result to XCom. A subclass implements only
``run_step``; remote steps (Databricks, ADLA) split it into submit / defer / complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_mlpipe.definitions.parameter import coerce_param
from airflow_mlpipe.exceptions import DatastoreError, StepFailedError
from airflow_mlpipe.operators.reuse_steps import RESULT_FORMAT, RUN_FILE_KINDS, ReuseSteps
from airflow_mlpipe.reuse.fingerprint import content_hash, hash_folder
from airflow_mlpipe.spec import task_id_for
from airflow_mlpipe.storage import open_store
from airflow_mlpipe.storage.base import safe_segment


def upload_verified(store: Any, folder: Path, prefix: str, what: str) -> dict[str, int]:
    """Upload ``folder`` under ``prefix`` and check by listing that every file arrived whole;
    returns relative path -> size. ``what`` names the data in the error."""
    local = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    listed = store.upload_dir(folder, prefix)
    remote = {f.path[len(prefix) + 1 :]: f.size for f in listed}
    if remote != local:
        raise DatastoreError(
            f"{what} did not store completely at {store.location(prefix)} "
            f"({len(remote)} of {len(local)} files match)"
        )
    return local


def compute_path(base: Path, path_on_compute: str | None, step: str) -> Path:
    """Where an input or output lives on the worker: ``base``, or ``path_on_compute`` inside it."""
    if not path_on_compute:
        return base
    rel = Path(path_on_compute.lstrip("/"))
    if ".." in rel.parts:
        raise StepFailedError(f"step {step!r}: path_on_compute {path_on_compute!r} may not contain '..'")
    return base / rel


@dataclass
class StepRun:
    """What one execution of a step works with."""

    workdir: Path
    parameters: dict[str, Any]
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> materialized input
    outputs: dict[str, Path] = field(default_factory=dict)  # output name -> local folder
    metrics: dict[str, Any] = field(default_factory=dict)
    parent_metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parent_tags: dict[str, str] = field(default_factory=dict)
    # run files the script stores (upload_file, log_image, ./outputs): the step's and its pipeline run's
    files_dirs: dict[str, Path] = field(default_factory=dict)


class StepOperator(ReuseSteps, BaseOperator):
    """Base of the step operators. ``step`` and ``pipeline`` are parts of a pipeline spec."""

    ui_color = "#cfe3f7"
    # Set by the concrete operator's __init__. This class has no __init__ of its own: Airflow wraps
    # every __init__ in an operator's class chain with apply_defaults, which costs parse time on
    # pipelines of thousands of steps (bench/parse_dag.py).
    step: dict[str, Any]
    pipeline: dict[str, Any]

    # --- the protocol ----------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        self._upstream_results: dict[str, dict[str, Any]] = {}  # XCom pulls, once per execution
        failed = self.failed_siblings(context)
        if failed:
            self.stop(context, failed)
        parameters = self.resolve_parameters(context)
        from airflow_mlpipe.reuse.decide import bind_inputs

        # DataPath parameters point inputs at this run's data
        self.step = bind_inputs(self.step, parameters, self.pipeline["datastores"])
        decision = self.reuse_decision(context, parameters)
        if decision["entry"] is not None:
            return self.reused_result(decision["entry"], parameters)
        if decision["cache"] is None:
            return self.compute(context, parameters, None)
        cache, fp = decision["cache"], decision["fingerprint"]

        def waiting() -> None:
            self.log.info("reuse: another run is computing fingerprint %s; waiting for it", fp[:12])

        with cache.lease(fp, on_wait=waiting) as lease:
            if lease["waited"] and not decision["forced"]:
                entry = self.usable_entry(cache, fp)
                if entry is not None:
                    return self.reused_result(entry, parameters)
            return self.compute(context, parameters, decision, lease)

    # --- continue_on_step_failure=False: a failed step stops the others --------------------

    def failed_siblings(self, context: Any) -> list[str]:
        """The steps of this run that failed, when the pipeline stops on a failed step (Azure ML
        v1's default); asked before a step starts and, by a running script's watcher, as it runs."""
        if not self.pipeline.get("stop_on_failure"):
            return []
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        return sorted(task for task, state in states.items() if state == "failed" and task != ti.task_id)

    def stop(self, context: Any, failed: list[str]) -> None:
        """End this step as v1 cancels the rest of a failed run: marked (STOPPED_KEY, so clients
        show it Canceled), failed without retries, its outputs neither stored nor committed."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_mlpipe.runstatus import STOPPED_KEY

        context["ti"].xcom_push(key=STOPPED_KEY, value={"failed_steps": failed})
        raise AirflowFailException(
            f"step {self.task_id!r} stopped: step(s) {failed} of this run failed, and the pipeline stops on "
            "a failed step (continue_on_step_failure=False; submit with True to let independent steps run)"
        )

    def compute(
        self, context: Any, parameters: dict[str, Any], decision: dict[str, Any] | None, lease: Any = None
    ) -> dict[str, Any]:
        workdir = Path(tempfile.mkdtemp(prefix=f"mlpipe-{safe_segment(self.task_id)}-"))
        try:
            run = StepRun(workdir=workdir, parameters=parameters)
            run.files_dirs = {k: workdir / "run_files" / k for k in RUN_FILE_KINDS}
            self.materialize_inputs(context, run)
            self.prepare_outputs(run)
            self.run_step(context, run)
            stored = self.store_outputs(context, run)
            result = self.step_result(context, run, stored)
            result.update(self.store_run_files(context, run))
            if decision is not None:
                self.commit(context, decision, result, lease)
            return result
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def run_step(self, context: Any, run: StepRun) -> None:
        raise NotImplementedError

    # --- parameters ------------------------------------------------------------------------

    def resolve_parameters(self, context: Any) -> dict[str, Any]:
        """The run's value of every parameter the pipeline declares (Airflow validated them)."""
        given = context.get("params") or {}
        values = {}
        for name, p in self.pipeline["parameters"].items():
            raw = given[name] if name in given else p["default"]
            values[name] = coerce_param(name, p["type"], raw, where=f"step {self.task_id!r}")
        return values

    def value_of(self, encoded: dict[str, Any], run: StepRun) -> Any:
        if "parameter" in encoded:
            return run.parameters[encoded["parameter"]]
        return encoded["literal"]

    # --- inputs ----------------------------------------------------------------------------

    def materialize_inputs(self, context: Any, run: StepRun) -> None:
        for inp in self.step["inputs"]:
            target = compute_path(
                run.workdir / "inputs" / inp["name"], inp.get("path_on_compute"), self.task_id
            )
            if inp["mode"] == "mount":
                self.log.info("input %s: mount is served as a download on Airflow workers", inp["name"])
            if inp["kind"] == "pipeline_data":
                loc = self.upstream_output(context, inp["data"])
                target.mkdir(parents=True, exist_ok=True)
                if loc["files"]:
                    self.datastore_store(loc["datastore"], inp["name"]).download(loc["path"], target)
                path = target
                if not self.pipeline["data"].get(inp["data"], {}).get("is_directory", True):
                    # a single-file output: the consumer gets the file, as its producer wrote it
                    files = [p for p in target.rglob("*") if p.is_file()]
                    if len(files) != 1:
                        raise StepFailedError(
                            f"step {self.task_id!r}: input {inp['name']!r} is a single-file PipelineData "
                            f"(is_directory=False) but {len(files)} files were stored"
                        )
                    path = files[0]
                run.inputs[inp["name"]] = {"kind": "path", "path": str(path)}
                self.log.info("input %s: %s file(s) from step %s", inp["name"], loc["files"], loc["producer"])
            elif inp["kind"] == "dataset":
                ds = inp["dataset"]
                files: list[str] = []
                for entry in ds["paths"]:
                    store = self.datastore_store(entry["datastore"], f"input {inp['name']!r}")
                    files += [str(p) for p in store.download(entry["path"], target)]
                self.log.info("input %s: %d file(s) of a %s dataset", inp["name"], len(files), ds["type"])
                if ds["type"] == "tabular" and inp["mode"] == "direct":
                    run.inputs[inp["name"]] = {
                        "kind": "tabular",
                        "path": str(target),
                        "files": sorted(files),
                        "options": ds["options"],
                    }
                else:
                    run.inputs[inp["name"]] = {"kind": "path", "path": str(target)}
            elif inp["kind"] == "datastore_path":
                store = self.datastore_store(inp["datastore"], f"input {inp['name']!r}")
                store.download(inp["path"], target)
                run.inputs[inp["name"]] = {"kind": "path", "path": str(target)}
            else:  # pragma: no cover - the spec builder only writes the kinds above
                raise StepFailedError(f"step {self.task_id!r}: unknown input kind {inp['kind']!r}")

    def datastore_store(self, name: str, where: str) -> Any:
        spec = self.pipeline["datastores"].get(name)
        if spec is None:
            raise DatastoreError(
                f"step {self.task_id!r}: {where} is on datastore {name!r}, which this step's workspace "
                f"does not define (known: {sorted(self.pipeline['datastores'])})"
            )
        return open_store(spec)

    def upstream_output(self, context: Any, data_name: str) -> dict[str, Any]:
        """Where the producing step stored PipelineData ``data_name`` in this DAG run.

        Fingerprinting and materializing both need it: the XCom is pulled once per execution.
        """
        known = getattr(self, "_upstream_results", None)
        if known is not None and data_name in known:
            return known[data_name]
        loc = self._pull_upstream_output(context, data_name)
        if known is not None:
            known[data_name] = loc
        return loc

    def _pull_upstream_output(self, context: Any, data_name: str) -> dict[str, Any]:
        producer = self.pipeline["data"].get(data_name, {}).get("producer")
        candidates = [task_id_for(producer)] if producer else sorted(self.upstream_task_ids)
        for task_id in candidates:
            result = context["ti"].xcom_pull(task_ids=task_id, key="return_value")
            if isinstance(result, dict) and data_name in (result.get("outputs") or {}):
                return {**result["outputs"][data_name], "producer": task_id}
        raise StepFailedError(
            f"step {self.task_id!r}: no result for input PipelineData {data_name!r} from "
            f"{'step ' + repr(producer) if producer else 'any upstream task'}; did that step succeed in this run?"
        )

    # --- outputs ---------------------------------------------------------------------------

    def prepare_outputs(self, run: StepRun) -> None:
        for out in self.step["outputs"]:
            folder = compute_path(
                run.workdir / "outputs" / out["name"], out.get("path_on_compute"), self.task_id
            )
            folder.mkdir(parents=True)
            run.outputs[out["name"]] = folder

    def output_prefix(self, context: Any, name: str) -> str:
        """A location no other run, task or try writes."""
        ti = context["ti"]
        return "/".join(
            [
                "mlpipe/runs",
                safe_segment(ti.dag_id),
                safe_segment(ti.run_id),
                safe_segment(ti.task_id),
                f"try{ti.try_number}-{uuid.uuid4().hex[:8]}",
                name,
            ]
        )

    def store_outputs(self, context: Any, run: StepRun) -> dict[str, dict[str, Any]]:
        stored: dict[str, dict[str, Any]] = {}
        for out in self.step["outputs"]:
            local = run.outputs[out["name"]]
            ds_name = self.pipeline["data"][out["name"]]["datastore"]
            store = self.datastore_store(ds_name, f"output {out['name']!r}")
            prefix = self.output_prefix(context, out["name"])
            output_hash = content_hash(hash_folder(local))
            local_files = upload_verified(
                store, local, prefix, f"step {self.task_id!r}: output {out['name']!r}"
            )
            size = sum(local_files.values())
            self.log.info(
                "output %s: stored %d file(s), %d bytes at %s",
                out["name"],
                len(local_files),
                size,
                store.location(prefix),
            )
            stored[out["name"]] = {
                "datastore": ds_name,
                "path": prefix,
                "files": len(local_files),
                "bytes": size,
                "content_hash": output_hash,
            }
        return stored

    def default_datastore(self) -> str | None:
        """The pipeline's default datastore (where its reuse cache and run files live)."""
        return (self.pipeline.get("reuse") or {}).get("datastore")

    def store_run_files(self, context: Any, run: StepRun) -> dict[str, Any]:
        """Store the run files the script left (``run.upload_file``, ``run.log_image``, its ./outputs
        and ./logs; see client/run_base.py) on the pipeline's default datastore, under a path no
        other run, task or try writes; list them for the result."""
        ds_name = self.default_datastore()
        if ds_name is None:
            return {}
        store = self.datastore_store(ds_name, "the run files")
        found = {}
        for kind, folder in run.files_dirs.items():
            if not folder.is_dir():
                continue  # the script stored none
            prefix = self.output_prefix(context, f"_{kind}")
            names = upload_verified(store, folder, prefix, f"step {self.task_id!r}: run files")
            if names:
                found[kind] = {"datastore": ds_name, "path": prefix, "names": names}
                self.log.info("run files: stored %s", ", ".join(sorted(names)))
        return found

    # --- result ----------------------------------------------------------------------------

    def step_result(self, context: Any, run: StepRun, stored: dict[str, Any]) -> dict[str, Any]:
        result = {
            "format": RESULT_FORMAT,
            "step": self.step["name"],
            "kind": self.step["kind"],
            "outputs": stored,
            "parameters": run.parameters,
            "metrics": run.metrics,
            "parent_metrics": run.parent_metrics,
            "tags": run.tags,
            "parent_tags": run.parent_tags,
            "reused_from": None,
        }
        json.dumps(result)
        return result
