"""Azure ML's status names for Airflow's DAG run and task instance states.

A DAG run: queued -> NotStarted, running -> Running, success -> Finished, failed -> Failed, and
Canceled for a run stopped with ``PipelineRun.cancel()`` (a failed run carrying CANCEL_NOTE).
A task: none, scheduled or upstream_failed (a step it needs failed) -> NotStarted, queued ->
Queued, running (or deferred, up_for_retry) -> Running, success -> Finished, failed -> Failed,
skipped or removed -> Canceled; a running step that Airflow's fail_fast stopped because another
step failed is Canceled too (it carries a "fail task" event; see FAIL_FAST_EVENT).
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
    "upstream_failed": "NotStarted",
    "skipped": "Canceled",
    "removed": "Canceled",
}
CANCEL_NOTE = "Canceled by airflow-mlpipe"
# The teardown task that fails a pipeline run when a step failed (operators/pipeline_status.py);
# it is no step, so clients and pages leave it out.
STATUS_TASK_ID = "_mlpipe_run_status"
# Airflow's event log entry for a running task that fail_fast stopped
FAIL_FAST_EVENT = "fail task"


def run_status(state: str | None, note: str | None = None) -> str:
    if note == CANCEL_NOTE:
        return "Canceled"
    return RUN_STATUS.get(str(state), str(state))


def task_status(state: str | None) -> str:
    return TASK_STATUS.get(state, "NotStarted")
