"""DatabricksStepOperator: runs a DatabricksStep (notebook, Python script or jar) as one Databricks
run submitted with the Databricks provider's hook, deferred to the provider's trigger.

The protocol is RemoteStepOperator's (base.py): reuse check -> bind data (databricks_bind.py) ->
``runs/submit`` -> defer -> verify and store outputs -> commit. A task's attempts live under one
DBFS folder; each attempt ``gN`` has its own idempotency token, so a retried task finds the run its
previous try started (running or succeeded: it is adopted, not started again) and starts a new run
only when that one failed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.databricks.operators.databricks import DatabricksJobRunLink

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.databricks import CALLER, DatabricksStepHook, RunState, dbfs_uri, fuse_path
from airflow_mlpipe.operators.base import RemoteStepOperator, StepRun, operator_spec
from airflow_mlpipe.operators.databricks_bind import DatabricksData, attempt_root
from airflow_mlpipe.operators.run_records import experiment_name, step_run_id
from airflow_mlpipe.reuse.fingerprint import digest
from airflow_mlpipe.storage.base import safe_segment

TIMEOUT_GRACE = 120  # seconds the local deadline waits beyond the remote one (Databricks enforces it first)
OUTPUT_TAIL_LINES = 30
NOTEBOOK_METRIC = "notebook_exit_value"  # the dbutils.notebook.exit() value, as a step metric
PLAN_FILE = "plan.json"  # in an attempt's DBFS folder: what its run was given
RUN_ID_FILE = "run_id"  # written once the run is submitted
DONE_FILE = "done"  # written once the attempt's result is stored


class DatabricksStepOperator(DatabricksData, RemoteStepOperator):
    """Run a DatabricksStep's notebook, script or jar on Databricks and wait for it.

    Deferrable by default, unlike Airflow's ``default_deferrable``: a Databricks run takes minutes
    and a waiting step should hold no worker slot. ``deferrable=False`` polls from the worker (for a
    deployment without a triggerer)."""

    template_fields = ()
    operator_extra_links = (DatabricksJobRunLink(),)
    ui_color = "#f9d7cf"
    hook_class = DatabricksStepHook
    target_error = "a DatabricksStep needs a DatabricksCompute target with a connection"
    hook: DatabricksStepHook

    def __init__(
        self,
        *,
        step: dict[str, Any] | None = None,
        pipeline: dict[str, Any] | None = None,
        deferrable: bool = True,
        polling_period_seconds: float = 5,
        **kwargs: Any,
    ):
        """From the translator: ``step`` and ``pipeline`` specs. Written by hand: DatabricksStep's
        keyword arguments (``notebook_path=``, ``inputs=``, ``compute_target=``, ...), the step
        named after ``task_id``."""
        from airflow_mlpipe.definitions.databricks import DatabricksStep

        step, pipeline = operator_spec("DatabricksStepOperator", DatabricksStep, step, pipeline, kwargs)
        super().__init__(**kwargs)
        self.step = step
        self.pipeline = pipeline
        self.deferrable = deferrable
        self.polling_period_seconds = polling_period_seconds
        self._run_id: int | None = None

    # --- reuse: the code that would run is part of the fingerprint ---------------------------

    reuse_in_triggerer_ok = False  # the triggerer cannot export the notebook or read DBFS here

    def reuse_decision(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        remote = self.remote_code_digest()
        if remote is not None:
            self.step = {**self.step, "settings": {**self.step["settings"], "remote_code": remote}}
        return super().reuse_decision(context, parameters)

    def remote_code_digest(self) -> str | None:
        """A workspace notebook's exported source, a DBFS script's bytes and the DBFS jars and eggs
        it loads: what runs, though it is not in the pipeline's source folder."""
        task = self.step["settings"]["task"]
        hook, parts = self.hook, []
        if "notebook_path" in task:
            parts.append(hashlib.sha256(hook.export_notebook(task["notebook_path"])).hexdigest())
        paths = [task["python_script_path"]] if "python_script_path" in task else []
        for lib in self.step["settings"].get("libraries") or []:
            for kind in ("jar", "egg", "whl"):
                if isinstance(lib.get(kind), str) and lib[kind].startswith("dbfs:"):
                    paths.append(lib[kind])
        for path in paths:
            files = hook.dbfs_files(path)
            if "" not in files:
                raise StepFailedError(f"step {self.task_id!r}: {path} is not a file on DBFS")
            sha = hashlib.sha256()
            for chunk in hook.dbfs_read_chunks(path, files[""]):
                sha.update(chunk)
            parts.append(f"{path}:{sha.hexdigest()}")
        return digest(parts) if parts else None

    # --- submit ----------------------------------------------------------------------------

    def submit(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        hook, ti = self.hook, context["ti"]
        root = attempt_root(ti)
        gen, run_id = self._last_attempt(hook, root)
        while True:
            attempt = f"{root}/g{gen}"
            if run_id is not None:
                state = hook.get_run_state(run_id)
                if state.is_terminal and not state.is_successful:
                    self.log.info(
                        "attempt g%s: Databricks run %s ended %s; starting a new run", gen, run_id, state
                    )
                    self._clean(hook, attempt)
                    gen, run_id = gen + 1, None
                    continue
                self.log.info(
                    "attempt g%s: adopting Databricks run %s (%s) an earlier try started", gen, run_id, state
                )
                plan = json.loads(_read_small(hook, f"{attempt}/{PLAN_FILE}"))
                break
            plan = self._plan(context, hook, attempt, parameters)
            hook.dbfs_put_bytes(f"{attempt}/{PLAN_FILE}", json.dumps(plan).encode())
            self._check_cluster(hook)
            token = hashlib.sha256(f"{step_run_id(ti)}/g{gen}".encode()).hexdigest()
            run_id = hook.submit_run(self._run_spec(plan, token))
            hook.dbfs_put_bytes(f"{attempt}/{RUN_ID_FILE}", str(run_id).encode())
            self.log.info("submitted Databricks run %s (attempt g%s)", run_id, gen)
            break
        self._run_id = run_id
        plan.update(run_id=run_id, attempt=attempt, run_page_url=hook.get_run_page_url(run_id))
        ti.xcom_push(key="run_id", value=run_id)
        ti.xcom_push(key="run_page_url", value=plan["run_page_url"])
        self.log.info("Databricks run page: %s", plan["run_page_url"])
        return plan

    def _last_attempt(self, hook: DatabricksStepHook, root: str) -> tuple[int, int | None]:
        """The newest attempt an earlier try of this task made, and its run id if it was submitted
        (an attempt staged but perhaps not submitted is staged and submitted again with its token:
        Databricks starts no second run for a token it knows)."""
        # one level at a time: an attempt being adopted may have many staged files below it
        names = [posixpath.basename(e["path"]) for e in hook.dbfs_list(root) if e.get("is_dir")]
        gens = [int(n[1:]) for n in names if n[:1] == "g" and n[1:].isdigit()]
        if not gens:
            return 1, None
        gen = max(gens)
        markers = {posixpath.basename(e["path"]) for e in hook.dbfs_list(f"{root}/g{gen}")}
        if DONE_FILE in markers:  # its result was stored: this try (a cleared task) runs anew
            return gen + 1, None
        if RUN_ID_FILE not in markers or PLAN_FILE not in markers:
            return gen, None
        return gen, int(_read_small(hook, f"{root}/g{gen}/{RUN_ID_FILE}"))

    def bind_data(
        self, context: Any, hook: DatabricksStepHook, attempt: str, parameters: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The inputs (staged or in place) and outputs (folders on DBFS) of attempt ``attempt``."""
        run = StepRun(workdir=_scratch(self.task_id), parameters=parameters)
        try:
            inputs = self.bind_inputs_remote(context, hook, attempt, run)
        finally:
            shutil.rmtree(run.workdir, ignore_errors=True)
        return inputs, self.bind_outputs_remote(hook, attempt)

    def _plan(
        self, context: Any, hook: DatabricksStepHook, attempt: str, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        """Stage the data and the source of attempt ``attempt``; what the run is given."""
        inputs, outputs = self.bind_data(context, hook, attempt, parameters)
        settings = self.step["settings"]
        task = dict(settings["task"])
        if "python_script_name" in task:
            source = posixpath.join(attempt, "source")
            self.stage_folder(hook, Path(self.source_folder(settings)), source, "source")
            task["python_script_path"] = dbfs_uri(posixpath.join(source, task.pop("python_script_name")))
        context_file = self.run_context_file(context, hook, attempt, parameters, inputs, outputs)
        ti = context["ti"]
        run_values = {
            "AZUREML_RUN_ID": step_run_id(ti),
            "AZUREML_ARM_PROJECT_NAME": experiment_name(context),
            "MLPIPE_RUN_CONTEXT": fuse_path(context_file),
        }

        def value(encoded: dict[str, Any]) -> str:
            got = parameters[encoded["parameter"]] if "parameter" in encoded else encoded["literal"]
            return str(got)  # v1 crashed on an int-default PipelineParameter here: it is text

        data = {**{n: p for n, p in inputs.items()}, **{n: o["path"] for n, o in outputs.items()}}
        if "notebook_path" in task:  # widgets: the user's params, then each input/output by its name
            args: Any = {k: value(v) for k, v in settings["notebook_params"].items()}
            args.update({n: dbfs_uri(p) for n, p in data.items()})
            args.update(run_values)
        else:  # a script or a jar: its params, then --<name> <location>, then the run's values
            given = settings["python_script_params" if "python_script_path" in task else "jar_params"]
            locate = fuse_path if "python_script_path" in task else dbfs_uri
            args = [value(v) for v in given]
            for n, p in data.items():
                args += [f"--{n}", locate(p)]
            for k, v in run_values.items():
                args += [f"--{k}", v]
        return {"task": task, "args": args, "outputs": outputs}

    def _run_spec(self, plan: dict[str, Any], token: str) -> dict[str, Any]:
        settings, task = self.step["settings"], plan["task"]
        spec: dict[str, Any] = {"task_key": _task_key(self.step["name"]), **settings["cluster"]}
        if "notebook_path" in task:
            spec["notebook_task"] = {"notebook_path": task["notebook_path"], "base_parameters": plan["args"]}
        elif "python_script_path" in task:
            spec["spark_python_task"] = {
                "python_file": task["python_script_path"],
                "parameters": plan["args"],
            }
        else:
            spec["spark_jar_task"] = {"main_class_name": task["main_class_name"], "parameters": plan["args"]}
        if settings.get("libraries"):
            spec["libraries"] = settings["libraries"]
        body: dict[str, Any] = {
            "run_name": settings.get("run_name") or self.step["name"],
            "idempotency_token": token,
            "tasks": [spec],
        }
        if settings.get("timeout_seconds"):
            body["timeout_seconds"] = spec["timeout_seconds"] = int(settings["timeout_seconds"])
        return body

    def _check_cluster(self, hook: DatabricksStepHook) -> None:
        """An existing cluster must be running; v1's permit_cluster_restart lets the step start it."""
        cluster = self.step["settings"]["cluster"].get("existing_cluster_id")
        if not cluster:
            return
        state = hook.get_cluster_state(cluster)
        if state.is_running:
            return
        if not self.step["settings"].get("permit_cluster_restart"):
            raise StepFailedError(
                f"step {self.task_id!r}: Databricks cluster {cluster} is {state.state}; start it, or set "
                "permit_cluster_restart=True to let the step start it"
            )
        if state.is_terminal:
            self.log.info("starting Databricks cluster %s (permit_cluster_restart=True)", cluster)
            hook.start_cluster({"cluster_id": cluster})
        while not (state := hook.get_cluster_state(cluster)).is_running:
            if state.state in ("ERROR", "UNKNOWN"):
                raise StepFailedError(
                    f"step {self.task_id!r}: Databricks cluster {cluster}: {state.state_message}"
                )
            time.sleep(2)

    # --- wait ------------------------------------------------------------------------------

    def wait(self, context: Any, plan: dict[str, Any]) -> dict[str, Any]:
        hook, run_id = self.hook, plan["run_id"]
        timeout = self.step["settings"].get("timeout_seconds")
        state = hook.get_run_state(run_id)
        if self.deferrable and not state.is_terminal:
            from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger

            self.defer(
                trigger=DatabricksExecutionTrigger(
                    run_id=run_id,
                    databricks_conn_id=self.target["conn_id"],
                    polling_period_seconds=self.polling_period_seconds,
                    run_page_url=plan["run_page_url"],
                    caller=CALLER,
                ),
                method_name="execute_complete",
                kwargs={"plan": plan},
                timeout=timedelta(seconds=int(timeout) + TIMEOUT_GRACE) if timeout else None,
            )
        deadline = time.monotonic() + int(timeout) + TIMEOUT_GRACE if timeout else None
        while not state.is_terminal:
            if deadline is not None and time.monotonic() > deadline:
                hook.cancel_run(run_id)
                raise StepFailedError(
                    f"step {self.task_id!r}: Databricks run {run_id} passed timeout_seconds={timeout}; cancelled"
                )
            time.sleep(self.polling_period_seconds)
            state = hook.get_run_state(run_id)
        return self.finish(context, {"run_id": run_id, "run_state": state.to_json()}, plan)

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, plan: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not event or "run_state" not in event or plan is None:
            raise StepFailedError(
                f"step {self.task_id!r}: the Databricks trigger sent no run state: {event!r}"
            )
        self._run_id = plan["run_id"]
        return self.finish(context, event, plan)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        from airflow.sdk.bases.operator import TriggerFailureReason

        timed_out = (next_kwargs or {}).get("error") == TriggerFailureReason.TRIGGER_TIMEOUT
        if next_method == "__fail__" and timed_out:  # the local deadline passed: stop the remote run too
            run_id = context["ti"].xcom_pull(task_ids=self.task_id, key="run_id")
            if run_id is not None:
                self.log.info("timeout_seconds passed: cancelling Databricks run %s", run_id)
                self.hook.cancel_run(run_id)
        # a trigger that failed otherwise (Databricks unreachable) leaves the run running: a retry adopts it
        return super().resume_execution(next_method, next_kwargs, context)

    # --- complete --------------------------------------------------------------------------

    def complete(
        self, context: Any, event: dict[str, Any], plan: dict[str, Any], run: StepRun
    ) -> dict[str, Any]:
        hook, run_id = self.hook, plan["run_id"]
        state = RunState.from_json(event["run_state"])
        try:
            output = hook.task_run_output(run_id)
        except Exception as exc:  # the run's state still says what happened
            self.log.warning("could not read the output of Databricks run %s: %s", run_id, exc)
            output = {}
        for line in (output.get("logs") or "").splitlines()[-OUTPUT_TAIL_LINES:]:
            self.log.info("[databricks] %s", line)
        if not state.is_successful:
            raise StepFailedError(_failure(self.task_id, run_id, state, output, plan["run_page_url"]))
        self.collect_run_files(hook, plan["attempt"], run)
        result = (output.get("notebook_output") or {}).get("result")
        if result is not None:
            run.metrics[NOTEBOOK_METRIC] = _number_or_text(result)
            self.log.info("notebook exit value: %s", result)
        stored = self.collect_outputs(context, hook, plan, run)
        return stored

    def finish(self, context: Any, event: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
        result = super().finish(context, event, plan)
        hook = self.hook
        self._clean(hook, plan["attempt"])
        hook.dbfs_put_bytes(f"{plan['attempt']}/{DONE_FILE}", b"")
        return result

    def _clean(self, hook: DatabricksStepHook, attempt: str) -> None:
        """Remove an attempt's staged data (inputs, source, outputs copied back, run files); its
        small markers stay, so that a later try knows what became of it."""
        for folder in ("inputs", "source", "outputs", "files", "parent_files"):
            try:
                hook.dbfs_delete(f"{attempt}/{folder}")
            except Exception as exc:  # cleaning up must not fail a step whose result is stored
                self.log.warning("could not remove %s: %s", dbfs_uri(f"{attempt}/{folder}"), exc)

    def on_kill(self) -> None:
        if self._run_id is not None:
            self.log.info("cancelling Databricks run %s", self._run_id)
            self.hook.cancel_run(self._run_id)


def _failure(task_id: str, run_id: int, state: RunState, output: dict[str, Any], url: str) -> str:
    lines = [
        f"step {task_id!r}: Databricks run {run_id} ended {state.result_state or state.life_cycle_state}: "
        f"{state.state_message}"
    ]
    if output.get("error"):
        lines.append(f"error: {output['error']}")
    trace = (output.get("error_trace") or "").strip().splitlines()[-OUTPUT_TAIL_LINES:]
    if trace:
        lines += ["last lines of the error trace:", *trace]
    lines.append(f"run page: {url}")
    return "\n".join(lines)


def _number_or_text(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _task_key(name: str) -> str:
    key = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return key[:100] or "step"


def _scratch(task_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mlpipe-{safe_segment(task_id)}-"))


def _read_small(hook: DatabricksStepHook, path: str) -> bytes:
    size = hook.dbfs_files(path).get("", 0)
    return b"".join(hook.dbfs_read_chunks(path, size))
