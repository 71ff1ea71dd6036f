"""What one run of a schedule's DAG submits: the pipeline run(s), with parameters evaluated now.

A schedule DAG (registry/schedule_dag.py) has two tasks: ``plan`` (SchedulePlanOperator, here)
and ``submit`` (Airflow's TriggerDagRunOperator, mapped over plan's list). ``plan`` reads the
schedule's target at run time (so an endpoint's schedule follows the endpoint's default version),
evaluates v1's trigger-time expressions in ``pipeline_parameters`` (``@trigger().scheduledTime``,
``@utcNow()``, ...) and checks the values as the REST submit route does (registry/submission.py).

On a datastore schedule it knows every path that changed in the polling window (the asset event
of triggers/datastore.py). Unlike v1, which started one run per blob, all of them go to **one**
run: ``data_path_parameter_name`` receives the changed file, or the folder that holds them all
(their common folder) when several changed. ``per_blob=True`` keeps v1's behaviour: one pipeline
run per changed file, as mapped ``submit`` tasks of the same schedule run.

This module sits in the registry layer (it reads registry records), not in operators/.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.schedules import ScheduleRegistry
from airflow_mlpipe.registry.submission import SUBMISSION_KEY, build_conf, split_assignments

RUN_SOURCE = "Schedule"


def data_path_of(paths: list[str]) -> str:
    """What ``data_path_parameter_name`` receives: the changed file, or the deepest folder that
    holds every changed path ("" for the datastore's root)."""
    from airflow_mlpipe.storage.watch import common_folder

    return paths[0] if len(paths) == 1 else common_folder(paths)


def plan_runs(
    record: dict[str, Any],
    registry: ScheduleRegistry,
    schedule_run_id: str,
    scheduled_time: datetime,
    start_time: datetime,
    changed: list[str] | None = None,
) -> list[dict[str, Any]]:
    """TriggerDagRunOperator's arguments for each pipeline run this schedule run starts."""
    from airflow_mlpipe.definitions.schedule_expr import TriggerContext, evaluate_parameters

    where = f"schedule {record['name']!r} ({record['id']})"
    target = registry.schedule_target(record)
    if record["datastore_name"] is not None and not changed:
        raise UserErrorException(
            f"{where}: this run was not started by a change on datastore {record['datastore_name']!r}"
        )
    batches: list[list[str]] = (
        [[p] for p in changed] if record["per_blob"] and changed else [list(changed or [])]
    )
    runs = []
    for index, batch in enumerate(batches):
        run_id = f"schedule_{record['id'][:8]}__{schedule_run_id}" + (
            f"__{index}" if len(batches) > 1 else ""
        )
        context = TriggerContext(scheduled_time=scheduled_time, start_time=start_time, run_id=run_id)
        values = evaluate_parameters(record["pipeline_parameters"] or {}, context)
        if record["data_path_parameter_name"] and batch:
            values[record["data_path_parameter_name"]] = {
                "datastore": record["datastore_name"],
                "path": data_path_of(batch),
            }
        params, data_paths, datasets = split_assignments(target, values)
        try:
            conf = build_conf(target, params, data_paths, False, None, datasets)
        except UserErrorException as exc:
            raise UserErrorException(f"{where}: {exc}") from None
        if record["continue_on_step_failure"] is not None:  # v1: overrides the pipeline's setting
            conf["continue_on_step_failure"] = record["continue_on_step_failure"]
        conf[SUBMISSION_KEY] = {
            "experiment_name": record["experiment_name"],
            "run_source": RUN_SOURCE,
            "description": record["description"],
            "tags": {"azureml.pipelineScheduleId": record["id"]},
            "pipeline_id": target["id"],
            "endpoint_id": record["pipeline_endpoint_id"],
            "pipeline_version": target["endpoint_version"],
            "schedule_id": record["id"],
            "changed_paths": batch,
        }
        runs.append(
            {
                "trigger_dag_id": target["dag_id"],
                "trigger_run_id": run_id,
                "conf": conf,
                "note": f"{record['experiment_name']}: schedule {record['name']}",
            }
        )
    return runs


class SchedulePlanOperator(BaseOperator):
    """The ``plan`` task of a schedule DAG: the list of pipeline runs to start (see module doc)."""

    ui_color = "#eef4e4"

    def __init__(self, *, schedule_id: str, registry_root: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.registry_root = registry_root

    def execute(self, context: Any) -> list[dict[str, Any]]:
        registry = ScheduleRegistry(self.registry_root)
        record = registry.get_schedule(self.schedule_id)  # settings as they are now
        dag_run = context["dag_run"]
        scheduled = dag_run.logical_date or dag_run.run_after
        changed: list[str] | None = None
        if record["datastore_name"] is not None:
            from airflow_mlpipe.triggers.datastore import changed_paths

            changed = changed_paths(context)
            self.log.info("changed on datastore %s: %s", record["datastore_name"], changed)
        runs = plan_runs(
            record,
            registry,
            dag_run.run_id,
            scheduled,
            dag_run.start_date or datetime.now(timezone.utc),
            changed,
        )
        for run in runs:
            self.log.info("starting %s run %s", run["trigger_dag_id"], run["trigger_run_id"])
        return runs
