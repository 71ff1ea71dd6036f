"""Cancel a remote step's run when a user ends its deferred task, also before a triggerer ran its wait.

A Databricks or ADLA step submits its run, then defers: the wait is a trigger, and Airflow calls the
trigger's ``on_kill`` (which cancels the remote run) when a user marks the task failed or successful
while a triggerer is running that trigger. Between the deferral and a triggerer starting the
trigger (a second or two on a quiet triggerer, longer on a busy one, forever while no triggerer is
up) there is nothing to call: the task ends, and the run it submitted goes on, billed, writing
outputs nobody will read. Airflow's own Databricks operators have that gap.

This listener closes it. Airflow's API server calls it when a user sets a task instance's state, or
a DAG run's (the UI and the REST API both go through ``PATCH .../taskInstances/...`` and
``PATCH .../dagRuns/...``; v1's ``PipelineRun.cancel()`` fails the DAG run). When the task instance
was waiting on one of the step triggers below, the listener rebuilds the trigger from its row and,
once the change is committed, runs its ``on_kill`` in a background thread, so that the user's
request does not wait for the remote service. When a triggerer was running the trigger too, the
remote run is cancelled twice; that is harmless: Databricks documents a cancel of an ended run as a
no-op, and the ADLA hook ignores the service's refusal to cancel an ended job.

Clearing a deferred task is left to Airflow: a triggerer that runs the trigger cancels the run, and
otherwise the next try adopts it (operators/databricks.py, operators/adla.py).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

DATABRICKS_TRIGGER = "airflow.providers.databricks.triggers.databricks.DatabricksExecutionTrigger"
ADLA_TRIGGER = "airflow_mlpipe.triggers.adla.AdlaJobTrigger"


def is_step_wait(classpath: str, kwargs: dict[str, Any]) -> bool:
    """Whether a trigger is the wait of one of this package's remote steps (and not, say, the
    Databricks trigger of another operator, whose on_kill is that operator's business)."""
    if classpath == DATABRICKS_TRIGGER:
        from airflow_mlpipe.hooks.databricks import CALLER

        return kwargs.get("caller") == CALLER
    return classpath == ADLA_TRIGGER


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    cancel_remote_run(task_instance)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    cancel_remote_run(task_instance)


def cancel_remote_run(task_instance: Any) -> threading.Thread | None:
    """Cancel the remote run a task instance was waiting on, in a background thread started once the
    user's state change is committed (a change rolled back cancels nothing, and the thread's own
    database reads never wait on the request's transaction). Returns the thread, not yet started
    while the change is uncommitted; None when the task instance was not waiting on a step trigger."""
    models = sys.modules.get("airflow.models.taskinstance")  # only server processes load the ORM
    if models is None or not isinstance(task_instance, models.TaskInstance):
        return None  # the task SDK's task instance, in a worker: nothing waits in a trigger there
    if task_instance.trigger_id is None:
        return None
    from sqlalchemy.orm import object_session

    session = object_session(task_instance)
    trigger = step_wait(session, task_instance.trigger_id)
    if trigger is None:
        return None
    name = f"{task_instance.dag_id}/{task_instance.run_id}/{task_instance.task_id}"

    def cancel() -> None:
        log.info("%s was ended by a user while waiting on its remote run: cancelling the run", name)
        try:
            asyncio.run(trigger.on_kill())
        except Exception:  # the user's action stands; the run is left to its own timeout
            log.exception("%s: could not cancel the remote run", name)

    thread = threading.Thread(target=cancel, name=f"mlpipe-cancel-{task_instance.task_id}", daemon=True)
    after_commit(session, thread, name)
    return thread


def after_commit(session: Any, thread: threading.Thread, name: str) -> None:
    """Start ``thread`` when ``session`` commits (at once without a session); drop it if the
    session rolls back first."""
    if session is None:
        thread.start()
        return
    from sqlalchemy import event

    def committed(_session: Any) -> None:
        if event.contains(session, "after_rollback", rolled_back):
            event.remove(session, "after_rollback", rolled_back)
        thread.start()

    def rolled_back(_session: Any) -> None:
        if event.contains(session, "after_commit", committed):
            event.remove(session, "after_commit", committed)
        log.info("%s: the state change was rolled back; its remote run is left running", name)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


def step_wait(session: Any, trigger_id: int) -> Any:
    """The step trigger with id ``trigger_id``, rebuilt from its row (read in ``session``, or in a
    session of its own without one); None when it is gone or is not a step's wait."""
    from airflow.models.trigger import Trigger

    if session is None:
        from airflow.utils.session import create_session

        with create_session() as own:
            return _rebuilt(own.get(Trigger, trigger_id))
    return _rebuilt(session.get(Trigger, trigger_id))


def _rebuilt(row: Any) -> Any:
    if row is None:
        return None
    classpath, kwargs = row.classpath, row.kwargs
    if not is_step_wait(classpath, kwargs):
        return None
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)
