"""Azure ML's status names for Airflow's DAG run and task instance states.

A DAG run: queued -> NotStarted, running -> Running, success -> Finished, failed -> Failed, and
Canceled for a run stopped with ``PipelineRun.cancel()`` (a failed run carrying CANCEL_NOTE).
A task: none, scheduled -> NotStarted, queued -> Queued, running (or deferred, up_for_retry) ->
Running, success -> Finished, failed or upstream_failed -> Failed, skipped or removed -> Canceled.
Used by the client and by the API server plugin alike.
"""

from __future__ import annotations

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
    "upstream_failed": "Failed",
    "skipped": "Canceled",
    "removed": "Canceled",
}
CANCEL_NOTE = "Canceled by airflow-mlpipe"


def run_status(state: str | None, note: str | None = None) -> str:
    if note == CANCEL_NOTE:
        return "Canceled"
    return RUN_STATUS.get(str(state), str(state))


def task_status(state: str | None) -> str:
    return TASK_STATUS.get(state, "NotStarted")
