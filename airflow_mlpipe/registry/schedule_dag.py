"""The DAG of one schedule record: ``schedule_<id>``.

- A recurrence becomes its timetable (timetables.py: Airflow's own cron timetables where they say it
  exactly, else this package's RecurrenceTimetable); no catch-up unless the schedule asks for it.
- A datastore schedule runs on an Asset whose watcher runs DatastoreChangeTrigger in the triggerer
  (triggers/datastore.py): one asset event per polling window, listing every changed path.

Its tasks: ``plan`` (registry/schedule_run.py) decides the pipeline run(s) and their parameters;
``submit`` (Airflow's TriggerDagRunOperator, mapped over plan's list) starts them. A disabled
schedule's DAG is paused.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

SCHEDULE_TAGS = ("mlpipe-registry", "mlpipe-schedule")


def schedule_tag(record: dict[str, Any]) -> str:
    """A DAG tag naming the record's version, so a client can wait until Airflow has it."""
    from airflow_mlpipe.reuse.fingerprint import digest

    keys = ("recurrence", "anchored", "datastore", "datastore_name", "path_on_datastore", "polling_interval", "recursive",
            "first_run", "catchup", "name")  # fmt: skip
    return f"mlpipe-schedule-{digest({k: record.get(k) for k in keys})[:16]}"


def anchor(record: dict[str, Any]) -> datetime:
    """When the schedule's recurrence was set (created or last changed): v1's recurrences count
    from it, the same at every parse."""
    return datetime.fromtimestamp(record.get("anchored") or record["created"], tz=timezone.utc).replace(
        microsecond=0
    )


def start_date(record: dict[str, Any]) -> datetime:
    if record["recurrence"] is not None:
        from airflow_mlpipe.timetables import dag_start_date

        return dag_start_date(record["recurrence"], first_run=record["first_run"], now=anchor(record))
    return anchor(record)


def when(record: dict[str, Any]) -> Any:
    """The DAG's ``schedule=``: a timetable, or the datastore's watched asset."""
    if record["recurrence"] is not None:
        from airflow_mlpipe.timetables import timetable_for

        return timetable_for(record["recurrence"], first_run=record["first_run"], now=anchor(record))
    from airflow_mlpipe.triggers.datastore import datastore_asset

    return [
        datastore_asset(
            record["id"],
            record["datastore_name"],
            record["path_on_datastore"] or "",
            float(record["polling_interval"]),
            bool(record["recursive"]),
            spec=record["datastore"],
            since=anchor(record).timestamp(),  # files written after the schedule was made fire
        )
    ]


def schedule_dag(record: dict[str, Any], registry_root: str | None = None) -> Any:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import DAG

    from airflow_mlpipe.registry.schedule_run import SchedulePlanOperator

    with DAG(
        record["dag_id"],
        schedule=when(record),
        start_date=start_date(record),
        catchup=bool(record["catchup"]),
        is_paused_upon_creation=record["status"] != "Active",
        dag_display_name=f"{record['name']} (schedule)",
        description=record["description"] or f"schedule {record['name']}",
        tags=[*SCHEDULE_TAGS, schedule_tag(record)],
        max_active_runs=16,
    ) as dag:
        plan = SchedulePlanOperator(
            task_id="plan", schedule_id=record["id"], registry_root=registry_root, retries=2
        )
        TriggerDagRunOperator.partial(
            task_id="submit",
            logical_date=None,
            skip_when_already_exists=True,  # a retried submit does not start a second run
            fail_when_dag_is_paused=True,  # a disabled published pipeline: the schedule run fails
            retries=2,
        ).expand_kwargs(plan.output)
    return dag
