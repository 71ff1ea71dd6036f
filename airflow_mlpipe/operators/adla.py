"""AdlaStepOperator: runs an AdlaStep's U-SQL script as one job of an ADLA account (or of
``mlpipe adla serve``) through AdlaHook, deferred to AdlaJobTrigger.

The protocol is RemoteStepOperator's (base.py): reuse check -> bind data -> ``PUT jobs/{id}`` ->
defer -> verify and store outputs -> commit. The job reads and writes the account's default store
(the compute target's ``datastore``):

- an input already on that datastore (one path, no glob, no URL) is read in place; any other input is
  downloaded to the worker and staged there, under a path no other run writes;
- each output is written in place under ``output_prefix`` (a path no other run, task or try writes):
  ``@@name@@`` becomes ``/<prefix>/<name>``, so ``OUTPUT ... TO "@@name@@"`` writes one file there and
  ``"@@name@@/part.csv"`` a folder of files. After the job the prefix is listed; an output declared on
  another datastore, or with a named destination, is copied there.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.adla import substituted_script
from airflow_mlpipe.definitions.adla_compute import IN_PROCESS
from airflow_mlpipe.exceptions import MlpipeError, StepFailedError, UserErrorException
from airflow_mlpipe.hooks.adla import AdlaHook, JobState
from airflow_mlpipe.operators.base import (
    RemoteStepOperator,
    StepOperator,
    StepRun,
    operator_spec,
    upload_verified,
)
from airflow_mlpipe.reuse.fingerprint import content_hash, hash_folder
from airflow_mlpipe.storage.base import GLOB_CHARS, safe_segment

SCRIPT_CONTEXT_LINES = 2  # lines shown around a failed job's U-SQL line


class AdlaStepOperator(RemoteStepOperator):
    """Run an AdlaStep's U-SQL script as an ADLA job and wait for it.

    Deferrable by default, as DatabricksStepOperator: a job takes minutes and a waiting step should
    hold no worker slot. ``deferrable=False`` polls from the worker."""

    template_fields = ()
    ui_color = "#d7e8f9"
    hook_class = AdlaHook
    target_keys = ("conn_id", "datastore")
    target_error = "an AdlaStep needs an AdlaCompute target with a connection and a datastore"
    hook: AdlaHook

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """On a Databricks target the step runs as Spark SQL: the translator's AdlaStepOperator (and
        one written by hand with a DatabricksCompute) is an AdlaSparkStepOperator instead."""
        _check_hand_written_params(kwargs)
        if cls is AdlaStepOperator and _on_databricks(kwargs):
            from airflow_mlpipe.operators.adla_spark import AdlaSparkStepOperator

            return AdlaSparkStepOperator(*args, **kwargs)  # not an AdlaStepOperator: no second __init__
        return super().__new__(cls)

    def __init__(
        self,
        *,
        step: dict[str, Any] | None = None,
        pipeline: dict[str, Any] | None = None,
        deferrable: bool = True,
        polling_period_seconds: float = 5,
        **kwargs: Any,
    ):
        """From the translator: ``step`` and ``pipeline`` specs. Written by hand: AdlaStep's keyword
        arguments (``script_name=``, ``inputs=``, ``compute_target=``, ...), named after ``task_id``."""
        from airflow_mlpipe.definitions.adla import AdlaStep

        step, pipeline = operator_spec("AdlaStepOperator", AdlaStep, step, pipeline, kwargs)
        super().__init__(**kwargs)
        self.step = step
        self.pipeline = pipeline
        self.deferrable = deferrable
        self.polling_period_seconds = polling_period_seconds
        self._job_id: str | None = None

    # --- submit ----------------------------------------------------------------------------

    def submit(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        ti = context["ti"]
        job_id = str(uuid.uuid4())
        self._job_id = job_id
        ti.xcom_push(key="job_id", value=job_id)  # before the PUT: a task killed during it still cancels
        plan = self.job_plan(context, parameters)
        settings = self.step["settings"]
        self.hook.submit_job(
            job_id,
            name=_job_name(ti, self.step["name"]),
            script=plan["script"],
            degree_of_parallelism=settings.get("degree_of_parallelism"),
            priority=settings.get("priority"),
            runtime_version=settings.get("runtime_version"),
        )
        self.log.info("submitted ADLA job %s", job_id)
        plan["job_id"] = job_id
        return plan

    def job_plan(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        """Bind the inputs and outputs of this run and substitute them (and the params) into the
        script: what the job is given."""
        inputs = self.bind_inputs_remote(context, parameters)
        outputs = {}
        for out in self.step["outputs"]:
            prefix = self.output_prefix(context, out["name"])
            outputs[out["name"]] = {"prefix": prefix, "path": f"/{prefix}/{out['name']}"}
        values = {**inputs, **{name: o["path"] for name, o in outputs.items()}}
        return {"script": self.script(parameters, values), "outputs": outputs}

    def script(self, parameters: dict[str, Any], locations: dict[str, str]) -> str:
        """The U-SQL script with ``@@name@@`` replaced by this run's ``params`` values and the
        ``locations`` of its inputs and outputs (logged, one per line)."""
        settings = self.step["settings"]
        script, values = substituted_script(
            self.task_id, self.source_folder(settings), settings, parameters, locations
        )
        for name, value in sorted(values.items()):
            self.log.info("@@%s@@ = %s", name, value)
        return script

    # --- in-process: the U-SQL engine on DuckDB, in this worker ------------------------------

    @property
    def in_process(self) -> bool:
        """Whether the target is an account with no job API configured: the script runs here."""
        name = self.step.get("compute_target") or ""
        return ((self.pipeline.get("compute_targets") or {}).get(name) or {}).get("engine") == IN_PROCESS

    def compute(
        self, context: Any, parameters: dict[str, Any], decision: dict[str, Any] | None, lease: Any = None
    ) -> dict[str, Any]:
        if self.in_process:  # the local protocol: inputs downloaded, outputs stored and verified
            return StepOperator.compute(self, context, parameters, decision, lease)
        return super().compute(context, parameters, decision, lease)

    def run_step(self, context: Any, run: StepRun) -> None:
        from airflow_mlpipe.usql import UsqlError, compile_script

        locations = {name: str(inp["path"]) for name, inp in run.inputs.items()}
        # as on an account: "@@out@@" names a file (or a folder of files) inside the output's folder
        locations.update({name: str(folder / name) for name, folder in run.outputs.items()})
        script = self.script(run.parameters, locations)
        name = self.step["settings"]["script_name"]
        try:
            program = compile_script(script, name=name)
            for warning in program.warnings:
                self.log.warning("%s", warning)
            self.log.info("running %s in-process on DuckDB", name)
            rows = program.run_duckdb({p: p for p in (*program.inputs, *program.outputs)})
        except UsqlError as exc:
            raise StepFailedError(f"step {self.task_id!r}: {exc}") from None
        for path, count in sorted(rows.items()):
            self.log.info("U-SQL output %s: %d rows", path, count)

    def bind_inputs_remote(self, context: Any, parameters: dict[str, Any]) -> dict[str, str]:
        """Input name -> the path the job reads: in place on the account's store, or staged there."""
        account = self.target["datastore"]
        located: dict[str, str] = {}
        to_stage: set[str] = set()
        for inp in self.step["inputs"]:
            path = self._in_place(context, inp, account)
            if path is None:
                to_stage.add(inp["name"])
            else:
                located[inp["name"]] = path
                self.log.info("input %s: read in place at %s", inp["name"], path)
        if not to_stage:
            return located
        store = self.datastore_store(account, "the ADLA account's default store")
        staging = self.output_prefix(context, "_inputs")
        run = StepRun(
            workdir=Path(tempfile.mkdtemp(prefix=f"mlpipe-{safe_segment(self.task_id)}-")),
            parameters=parameters,
        )
        try:
            self.materialize_inputs(context, run, names=to_stage)
            for name in sorted(to_stage):
                root = run.workdir / "inputs" / name
                local = Path(run.inputs[name]["path"])
                prefix = f"{staging}/{name}"
                upload_verified(store, root, prefix, f"step {self.task_id!r}: input {name!r}")
                rel = local.relative_to(root).as_posix() if local != root else ""
                located[name] = "/" + (posixpath.join(prefix, rel) if rel else prefix)
                self.log.info("input %s: staged at %s", name, store.location(prefix))
        finally:
            shutil.rmtree(run.workdir, ignore_errors=True)
        return located

    def _in_place(self, context: Any, inp: dict[str, Any], account: str) -> str | None:
        if inp.get("path_on_compute"):
            return None
        if inp["kind"] == "pipeline_data":
            loc = self.upstream_output(context, inp["data"])
            if loc["datastore"] != account:
                return None
            if self.pipeline["data"].get(inp["data"], {}).get("is_directory", True):
                return "/" + loc["path"]
            files = self.datastore_store(account, f"input {inp['name']!r}").list(loc["path"])
            return "/" + files[0].path if len(files) == 1 else None
        entries = inp["dataset"]["paths"] if inp["kind"] == "dataset" else [inp]
        if len(entries) != 1 or "url" in entries[0] or entries[0].get("datastore") != account:
            return None
        path = str(entries[0]["path"]).strip("/")
        return None if GLOB_CHARS & set(path) else "/" + path

    # --- wait ------------------------------------------------------------------------------

    def wait(self, context: Any, plan: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlpipe.triggers.adla import AdlaJobTrigger, event_for

        job_id = plan["job_id"]
        state = self.hook.get_job_state(job_id)
        if self.deferrable and not state.is_terminal:
            self.defer(
                trigger=AdlaJobTrigger(job_id, self.target["conn_id"], self.polling_period_seconds),
                method_name="execute_complete",
                kwargs={"plan": plan},
            )
        while not state.is_terminal:
            time.sleep(self.polling_period_seconds)
            state = self.hook.get_job_state(job_id)
        return self.finish(context, event_for(job_id, state) or {}, plan)

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, plan: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if plan is None or not event:
            raise StepFailedError(f"step {self.task_id!r}: the ADLA trigger sent no event: {event!r}")
        self._job_id = plan["job_id"]
        if "job_state" not in event:
            raise StepFailedError(
                f"step {self.task_id!r}: could not follow ADLA job {plan['job_id']}: {event.get('message')}; "
                "the job may still run (a retry of the task submits a new one)"
            )
        return self.finish(context, event, plan)

    # --- complete --------------------------------------------------------------------------

    def complete(
        self, context: Any, event: dict[str, Any], plan: dict[str, Any], run: StepRun
    ) -> dict[str, Any]:
        state = JobState.from_json(event["job_state"])
        if not state.is_successful:
            message = failure_message(self.task_id, plan["job_id"], state, plan.get("script", ""))
            self.log.error("%s", message)
            raise StepFailedError(message)
        self.log.info("ADLA job %s succeeded", plan["job_id"])
        account = self.target["datastore"]
        store = self.datastore_store(account, "the ADLA account's default store")
        stored: dict[str, Any] = {}
        copy_back: set[str] = set()
        for name, entry in plan["outputs"].items():
            prefix = entry["prefix"]
            listed = store.list(prefix)
            if not listed:
                raise StepFailedError(
                    f"step {self.task_id!r}: output {name!r}: the job wrote nothing at {store.location(prefix)}; "
                    f'the script must OUTPUT to "@@{name}@@" (or a file under it)'
                )
            local = run.workdir / "outputs" / name
            local.mkdir(parents=True)
            run.outputs[name] = local
            for f in listed:  # read back: the content hash lets consumers reuse what did not change
                store.download_file(f.path, local / f.path[len(prefix) + 1 :])
            data = self.pipeline["data"][name]
            if data["datastore"] != account or data.get("destination") or data.get("source_globs"):
                copy_back.add(name)
                continue
            size = sum(f.size for f in listed)
            self.log.info(
                "output %s: %d file(s), %d bytes at %s", name, len(listed), size, store.location(prefix)
            )
            stored[name] = {
                "datastore": account,
                "path": prefix,
                "files": len(listed),
                "bytes": size,
                "content_hash": content_hash(hash_folder(local)),
            }
        stored.update(self.store_outputs(context, run, names=copy_back))
        return stored

    def on_kill(self) -> None:
        if self._job_id is not None:
            self.log.info("cancelling ADLA job %s", self._job_id)
            self.hook.cancel_job(self._job_id)


def failure_message(task_id: str, job_id: str, state: JobState, script: str) -> str:
    """A failed job's errors, each with its U-SQL line and the script around it."""
    lines = [f"step {task_id!r}: ADLA job {job_id} ended {state.result}"]
    if state.errors:
        lines.append(state.describe())
    script_lines = script.splitlines()
    for err in state.errors:
        number = err.get("lineNumber")
        if isinstance(number, int) and 1 <= number <= len(script_lines):
            lines.append(f"U-SQL line {number}:")
            low, high = (
                max(1, number - SCRIPT_CONTEXT_LINES),
                min(len(script_lines), number + SCRIPT_CONTEXT_LINES),
            )
            for n in range(low, high + 1):
                lines.append(f"{'>' if n == number else ' '} {n:4d} | {script_lines[n - 1]}")
    return "\n".join(lines)


def _on_databricks(kwargs: dict[str, Any]) -> bool:
    """Whether the operator's step (a spec, or AdlaStep's arguments) runs on a Databricks target."""
    from airflow_mlpipe.definitions.adla import DATABRICKS_TYPE, SPARK_ENGINE

    step = kwargs.get("step")
    if isinstance(step, dict):
        target = ((kwargs.get("pipeline") or {}).get("compute_targets") or {}).get(
            step.get("compute_target") or ""
        )
        return (target or {}).get("type") == DATABRICKS_TYPE or step["settings"].get("engine") == SPARK_ENGINE
    target = kwargs.get("compute_target")
    if isinstance(target, str) and target != "local":  # a name: the workspace's attached target
        from airflow_mlpipe.definitions.compute import ComputeTarget
        from airflow_mlpipe.definitions.workspace import Workspace

        try:
            target = ComputeTarget(Workspace.from_config(), target)
        except MlpipeError:  # no config or an unknown name: AdlaStep's own checks say so
            return False
    return getattr(target, "type", None) == DATABRICKS_TYPE


def _check_hand_written_params(kwargs: dict[str, Any]) -> None:
    """Airflow turns a task's ``params=`` into JSON Params before the operator sees them, so a
    hand-written operator's AdlaStep ``params`` can hold literals only: say so before Airflow's
    'not serializable' error does."""
    from airflow_mlpipe.definitions.parameter import PipelineParameter

    if kwargs.get("step") is not None or not isinstance(kwargs.get("params"), dict):
        return
    for key, value in kwargs["params"].items():
        if isinstance(value, PipelineParameter):
            raise UserErrorException(
                f"step {kwargs.get('task_id')!r}: params[{key!r}] is a PipelineParameter; a hand-written "
                "AdlaStepOperator takes literal params only (Airflow makes params= the task's Params). "
                "Build the pipeline with AdlaStep and Pipeline(...).to_dag(), or give the literal value"
            )


def _job_name(ti: Any, step: str) -> str:
    return f"{step} ({ti.dag_id}/{ti.run_id})"[:260]
