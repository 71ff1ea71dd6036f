"""The task that gives a pipeline run Azure ML v1's outcome: Failed when any step failed.

Airflow derives a DAG run's state from its leaf tasks, and its ``fail_fast`` (v1's
``continue_on_step_failure=False``) marks the steps it stops as skipped, so a run whose first step
failed would end ``success``. This teardown task runs after every leaf whatever their states
(teardowns are never skipped by fail_fast), reads the states of all steps in its run, and fails
when any step failed; ``on_failure_fail_dagrun`` makes that the run's state.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from airflow_mlpipe.runstatus import STATUS_TASK_ID


class PipelineStatusOperator(BaseOperator):
    """Fails, naming the failed and stopped steps, when any step of its pipeline run failed."""

    ui_color = "#eeeeee"

    def __init__(self, *, steps: list[str], **kwargs: Any):
        kwargs.setdefault("task_id", STATUS_TASK_ID)
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.steps = list(steps)

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        ti = context["ti"]
        found = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=self.steps)
        states = dict(found.get(ti.run_id, {}))
        summary = outcome(self.steps, states)
        self.log.info("pipeline run: %s", summary["text"])
        if summary["failed"]:
            raise AirflowFailException(f"the pipeline run failed: {summary['text']}")
        return summary


def outcome(steps: list[str], states: dict[str, Any]) -> dict[str, Any]:
    """Which steps failed, did not run, or finished; a plain function so tests can call it."""
    groups: dict[str, list[str]] = {"failed": [], "not_run": [], "finished": []}
    for name in steps:
        state = states.get(name)
        if state == "failed":
            groups["failed"].append(name)
        elif state == "success":
            groups["finished"].append(name)
        else:  # upstream_failed, skipped (stopped by fail_fast), removed, none
            groups["not_run"].append(name)
    parts = [f"{len(groups['finished'])} of {len(steps)} step(s) finished"]
    if groups["failed"]:
        parts.append(f"failed: {', '.join(groups['failed'])}")
    if groups["not_run"]:
        parts.append(f"did not run: {', '.join(groups['not_run'])}")
    return {**groups, "text": "; ".join(parts)}
