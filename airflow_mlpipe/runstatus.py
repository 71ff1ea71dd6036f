"""Azure ML's status names for Airflow's DAG run and task instance states.

A DAG run: queued -> NotStarted, running -> Running, success -> Finished, failed -> Failed, and
Canceled for a run stopped with ``PipelineRun.cancel()`` (a failed run carrying CANCEL_NOTE).
A task: none, scheduled or upstream_failed (a step it needs failed) -> NotStarted, queued ->
Queued, running (or deferred, up_for_retry) -> Running, success -> Finished, failed -> Failed,
skipped or removed -> Canceled; a step the pipeline stopped because another step failed
(continue_on_step_failure=False) ends failed in Airflow and is Canceled (it carries STOPPED_KEY).
Used by the client and by the API server plugin alike.
"""

from __future__ import annotations

from typing import Any

RUN_STATUS = {"queued": "NotStarted", "running": "Running", "success": "Finished", "failed": "Failed"}
TASK_STATUS = {
    None: "NotStarted",
    "none": "NotStarted",
    "scheduled": "NotStarted",
    "queued": "Queued",
    "running": "Running",
    "deferred": "Running",
    "up_for_retry": "Running",
    "success": "Finished",
    "failed": "Failed",
    "upstream_failed": "NotStarted",
    "skipped": "Canceled",
    "removed": "Canceled",
}
CANCEL_NOTE = "Canceled by airflow-mlpipe"
# The XCom a step pushes when it stops because another step of its run failed (operators/base.py)
STOPPED_KEY = "mlpipe_stopped"


def run_status(state: str | None, note: str | None = None) -> str:
    if note == CANCEL_NOTE:
        return "Canceled"
    return RUN_STATUS.get(str(state), str(state))


def task_status(state: str | None) -> str:
    return TASK_STATUS.get(state, "NotStarted")


def stops_on_failure(pipeline_stops: bool | None, params: dict[str, Any] | None, n_tasks: int) -> bool:
    """Whether a step stops when another step of its run failed: the run's own
    ``continue_on_step_failure`` param, else the pipeline's setting; a pipeline of one step has no
    other step to fail."""
    override = (params or {}).get("continue_on_step_failure")
    stop = pipeline_stops if override is None else not override
    return bool(stop) and n_tasks >= 2


def failed_steps(states: dict[str, Any], task_id: str) -> list[str]:
    """The tasks of a run (task id -> state) that failed, other than ``task_id``."""
    return sorted(task for task, state in states.items() if state == "failed" and task != task_id)
