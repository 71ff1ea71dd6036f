"""The protocol every step operator follows.

resolve parameters and inputs -> (reuse check: the reuse cache) -> run -> store outputs under a
path no other run writes -> verify -> push the step result to XCom. A subclass implements only
``run_step``; remote steps (Databricks, ADLA) split it into submit / defer / complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_mlpipe.exceptions import StepFailedError, UserErrorException
from airflow_mlpipe.operators.reuse_steps import RESULT_FORMAT, RUN_FILE_KINDS, ReuseSteps
from airflow_mlpipe.operators.step_data import StepData, StepRun, compute_path, upload_verified
from airflow_mlpipe.storage.base import safe_segment

__all__ = ["StepOperator", "StepRun", "compute_path", "upload_verified"]


class StepOperator(StepData, ReuseSteps, BaseOperator):
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
        try:
            self.step = bind_inputs(self.step, parameters, self.pipeline)
        except UserErrorException as exc:
            raise StepFailedError(str(exc)) from None
        self.check_registered_inputs()
        result = self.reuse_or_compute(context, parameters)
        self.register_outputs(context, result)
        return result

    def reuse_or_compute(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
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
        from airflow_mlpipe.runstatus import failed_steps, stops_on_failure

        if not stops_on_failure(
            self.pipeline.get("stop_on_failure"), context.get("params"), len(self.dag.task_dict)
        ):
            return []
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        return failed_steps(states, ti.task_id)

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

    def source_folder(self, settings: dict[str, Any]) -> str:
        """The step's source folder: the submitted snapshot (fetched by hash), else its directory."""
        if not settings.get("snapshot"):
            return settings["source_directory"]
        # a submitted pipeline runs exactly the code that was submitted
        from airflow_mlpipe.definitions.workspace import mlpipe_home
        from airflow_mlpipe.snapshots import materialize_snapshot

        snap = settings["snapshot"]
        store = self.datastore_store(snap["datastore"], "the source snapshot")
        source = str(materialize_snapshot(store, snap["id"], mlpipe_home() / "cache" / "snapshots"))
        self.log.info(
            "source: snapshot %s (submitted from %s)", snap["id"][:12], settings["source_directory"]
        )
        return source

    # --- parameters ------------------------------------------------------------------------

    def resolve_parameters(self, context: Any) -> dict[str, Any]:
        """The run's value of every parameter the pipeline declares (Airflow validated them)."""
        from airflow_mlpipe.reuse.decide import run_parameters

        given = context.get("params") or {}
        return run_parameters(self.pipeline["parameters"], given, where=f"step {self.task_id!r}")

    def value_of(self, encoded: dict[str, Any], run: StepRun) -> Any:
        if "parameter" in encoded:
            return run.parameters[encoded["parameter"]]
        return encoded["literal"]

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
            "reuse_reasons": self.reuse_reasons,  # why it ran (None: not known)
        }
        json.dumps(result)
        return result


class RemoteStepOperator(StepOperator):
    """A step whose work runs on a remote system (Databricks, ADLA): ``submit`` binds the inputs as
    locations that system reads, starts the remote run and returns a JSON plan; the operator then
    waits (deferred to a trigger, or polling) and ``complete`` verifies and stores the outputs. The
    reuse decision was taken before ``submit``; the result is committed after ``complete``."""

    hook_class: type  # the system's hook, made from the target's ``conn_id``
    target_keys: tuple[str, ...] = ("conn_id",)  # what the compute target must give
    target_error = "a remote step needs an attached compute target with a connection"

    @property
    def target(self) -> dict[str, Any]:
        """The step's compute target spec; one missing or without ``target_keys`` fails the step."""
        name = self.step.get("compute_target")
        target = (self.pipeline.get("compute_targets") or {}).get(name or "")
        if not target or not all(target.get(key) for key in self.target_keys):
            raise StepFailedError(f"step {self.task_id!r}: {self.target_error}; got {name!r}")
        return target

    @cached_property
    def hook(self) -> Any:
        """One hook per execution: its connection is looked up once."""
        return self.hook_class(self.target["conn_id"])

    def compute(
        self, context: Any, parameters: dict[str, Any], decision: dict[str, Any] | None, lease: Any = None
    ) -> dict[str, Any]:
        plan = self.submit(context, parameters)
        plan["parameters"] = parameters
        plan["inputs"] = self.step["inputs"]  # as bound to this run's DataPath/dataset parameters
        if decision is not None:
            plan["reuse"] = {"fingerprint": decision["fingerprint"], "components": decision["components"]}
        plan["reuse_reasons"] = self.reuse_reasons  # the result is built after the deferral
        # the reuse lease ends here: a deferred task holds no process to renew it
        return self.wait(context, plan)

    def submit(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def wait(self, context: Any, plan: dict[str, Any]) -> dict[str, Any]:
        """Defer to a trigger (``execute_complete`` resumes) or poll, then ``finish``."""
        raise NotImplementedError

    def complete(
        self, context: Any, event: dict[str, Any], plan: dict[str, Any], run: StepRun
    ) -> dict[str, Any]:
        """Check the remote run's end, fill ``run`` (metrics) and return the stored outputs."""
        raise NotImplementedError

    def finish(self, context: Any, event: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
        self.step = {**self.step, "inputs": plan["inputs"]}
        self.reuse_reasons = plan.get("reuse_reasons")
        self._upstream_results = {}
        workdir = Path(tempfile.mkdtemp(prefix=f"mlpipe-{safe_segment(self.task_id)}-"))
        try:
            run = StepRun(workdir=workdir, parameters=plan["parameters"])
            stored = self.complete(context, event, plan, run)
            result = self.step_result(context, run, stored)
            result.update(self.store_run_files(context, run))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if plan.get("reuse"):
            self.commit(context, {**plan["reuse"], "cache": self.cache_store()}, result, None)
        self.register_outputs(context, result)
        return result


def operator_spec(
    operator: str, step_class: type, step: dict | None, pipeline: dict | None, kwargs: dict[str, Any]
) -> tuple[dict, dict]:
    """The step and pipeline spec of a step operator: the translator's, or, written by hand, built
    from the arguments of ``step_class`` found in ``kwargs`` (taken out of it; the step is named
    after ``task_id``). The task arguments the translator would give (pool, queue, Params) are added
    to ``kwargs`` unless given."""
    if step is None:
        import inspect

        names = set(inspect.signature(step_class.__init__).parameters) - {"self", "name"}
        step_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in names and k != "params"}
        if "params" in names and "params" in kwargs:  # the step's params, not Airflow's (see below)
            step_kwargs["params"], kwargs["params"] = split_task_params(kwargs["params"])
        step, pipeline, extra = spec_from_step(step_class, kwargs["task_id"], **step_kwargs)
        for key, value in extra.items():
            if kwargs.get(key) is None:
                kwargs[key] = value
            elif key == "params":  # the DAG's Params and the step's PipelineParameters
                from airflow.sdk.definitions.param import ParamsDict

                merged = ParamsDict(value)
                merged.update(kwargs[key])
                kwargs[key] = merged
    elif pipeline is None:
        raise ValueError(f"{operator}: a step spec needs its pipeline context")
    return step, pipeline


def split_task_params(params: Any) -> tuple[dict[str, Any] | None, Any]:
    """A step class's own ``params=`` (AdlaStep's script values) given to its hand-written operator:
    Airflow's BaseOperator has already merged it with the DAG's Params into one ParamsDict before the
    operator's ``__init__`` runs. Split it back: the entries given to the task (source "task") are the
    step's; the DAG's stay Airflow's Params."""
    from airflow.sdk.definitions.param import ParamsDict

    if not isinstance(params, ParamsDict):
        return (dict(params) if params is not None else None), None
    mine = ParamsDict.filter_params_by_source(params, "task")
    step_params = {key: mine.get_param(key).value for key in mine}
    return step_params or None, ParamsDict.filter_params_by_source(params, "dag") or None


def spec_from_step(step_class: type, task_id: str, **step_kwargs: Any) -> tuple[dict, dict, dict]:
    """The step and pipeline spec of a hand-written step operator, built from its step class's
    arguments (``PythonScriptStep``, ``DatabricksStep``) with the workspace of this machine's
    config; also the task arguments the translator would give it (pool, queue, Params)."""
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.exceptions import PipelineValidationError
    from airflow_mlpipe.spec import SpecBuilder

    step = step_class(name=task_id, **step_kwargs)
    builder = SpecBuilder(Workspace.from_config())
    spec = builder.step(step)
    if builder.problems:
        raise PipelineValidationError(builder.problems)
    spec["upstream"] = []
    pipeline = {
        "datastores": builder.datastores,
        "parameters": builder.parameters,
        "data": builder.data,
        "compute_targets": builder.compute_targets,
        "reuse": builder.reuse_settings(),
        "dag_id": None,  # a hand-written DAG: the operator reads its dag_id at run time
    }
    extra: dict[str, Any] = {}
    target = spec["compute_target"]
    from airflow_mlpipe.definitions.compute import is_pool

    if target and is_pool(builder.compute_targets[target]):
        extra = {"pool": target, "queue": target}
    if builder.parameters:
        from airflow_mlpipe.translator import dag_params

        extra["params"] = dag_params({"parameters": builder.parameters})
    return spec, pipeline, extra
