"""Pipeline spec -> Airflow DAG: one task per step, edges from data and run_after, Params, pools.

Translation goes definitions -> spec (plain JSON, no Airflow) -> the Airflow objects built here.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.compute import is_pool
from airflow_mlpipe.definitions.parameter import json_schema
from airflow_mlpipe.spec import task_id_for

DEFAULT_POOL = "default_pool"


def operator_class(kind: str) -> type:
    if kind == "python_script":
        from airflow_mlpipe.operators.python_script import PythonScriptStepOperator

        return PythonScriptStepOperator
    if kind == "databricks":
        from airflow_mlpipe.operators.databricks import DatabricksStepOperator

        return DatabricksStepOperator
    if kind == "adla":
        from airflow_mlpipe.operators.adla import AdlaStepOperator

        return AdlaStepOperator
    if kind == "data_transfer":
        from airflow_mlpipe.operators.transfer import DataTransferStepOperator

        return DataTransferStepOperator
    raise ValueError(f"no operator for step kind {kind!r}")


def dag_params(spec: dict[str, Any], step_names: list[str] | None = None) -> dict[str, Any]:
    """One Param per PipelineParameter, plus the reuse controls a trigger's conf may set."""
    from airflow.sdk import Param

    params = {
        name: Param(p["default"], description=f"PipelineParameter {name}", **json_schema(p["type"]))
        for name, p in spec["parameters"].items()
    }
    if step_names is not None:
        params["regenerate_outputs"] = Param(
            False, type="boolean", description="Run every step, reusing no committed result"
        )
        params["force_rerun"] = Param(
            [],
            type="array",
            items={"type": "string", "enum": sorted(step_names)},
            description="Steps to run even if a committed result matches; their consumers rerun "
            "only if the output changes",
        )
        params["continue_on_step_failure"] = Param(
            None,
            type=["null", "boolean"],
            description="For this run: let steps that do not need a failed step's outputs run (true) or "
            "stop them (false); unset: the pipeline's own setting",
        )
    return params


def widest_stage(steps: list[dict[str, Any]]) -> int:
    """The most steps that can run at once: steps grouped by their depth in the graph (the longest
    chain of upstream steps before them), the largest group. ``steps`` in the spec's order, which
    puts every step after its upstream steps."""
    depth: dict[str, int] = {}
    counts: dict[int, int] = {}
    for s in steps:
        d = depth[s["name"]] = 1 + max((depth[up] for up in s["upstream"]), default=-1)
        counts[d] = counts.get(d, 0) + 1
    return max(counts.values(), default=0)


def build_dag(
    spec: dict[str, Any],
    dag_id: str,
    schedule: Any = None,
    continue_on_step_failure: bool = False,
    reuse_in_triggerer: str | None = None,
    **dag_kwargs: Any,
) -> Any:
    """The DAG of a pipeline spec. As in Azure ML v1, one failed step stops the run and fails it
    (``continue_on_step_failure=False``: the step operators stop, see operators/base.py); with
    True, steps that do not need the failed step's outputs still run, and the run still fails.
    ``reuse_in_triggerer`` (auto, on, off) overrides ``[mlpipe] reuse_in_triggerer`` for this DAG."""
    from airflow.sdk import DAG

    from airflow_mlpipe.operators.reuse_steps import pipeline_reuse_blocker, reuse_in_triggerer_mode

    reuse_mode = reuse_in_triggerer_mode(reuse_in_triggerer, dag_id)  # an error before the DAG exists
    params = dag_params(spec, [s["name"] for s in spec["steps"]])
    params.update(dag_kwargs.pop("params", {}) or {})
    tags = set(dag_kwargs.pop("tags", []) or []) | {"mlpipe"}
    dag_kwargs.setdefault("description", spec.get("description"))
    dag_kwargs.setdefault("catchup", False)
    context = {k: spec[k] for k in ("datastores", "parameters", "data", "compute_targets", "reuse")}
    context["dag_id"] = dag_id
    context["stop_on_failure"] = not continue_on_step_failure
    # resolve everything that can fail before the DAG exists: Airflow registers a DAG as soon as
    # its `with` block opens, so a failure inside would leave a half-built DAG behind
    classes = {step["kind"]: operator_class(step["kind"]) for step in spec["steps"]}
    tasks: dict[str, Any] = {}
    # The Params go onto the DAG after its tasks exist: Airflow deep-copies a DAG's params into
    # every operator created inside it, yet merges dag.params into each task's params again when
    # the task runs (process_params), so the copies only cost parse time (2x on 1,000 steps).
    with DAG(dag_id, schedule=schedule, tags=tags, **dag_kwargs) as dag:
        for step in spec["steps"]:
            target = step["compute_target"]
            extra: dict[str, Any] = {}
            if target is not None and is_pool(spec["compute_targets"][target]):
                extra = {"pool": target, "queue": target}
            task_id = task_id_for(step["name"])
            if task_id != step["name"]:  # v1 names may hold spaces and more: shown as they are
                extra["task_display_name"] = step["name"]
            task = classes[step["kind"]](task_id=task_id, step=step, pipeline=context, **extra)
            for up in step["upstream"]:
                tasks[up] >> task
            tasks[step["name"]] = task
    # Airflow >= 3.3: a reused step ends in the triggerer, without a worker
    if pipeline_reuse_blocker(reuse_mode, len(spec["steps"]), widest_stage(spec["steps"])) is None:
        for task in tasks.values():
            task.enable_reuse_in_triggerer()
    dag.params.update(params)
    dag.mlpipe_spec = spec
    return dag
