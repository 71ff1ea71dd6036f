"""Schedules, as records in the pipeline registry (``schedules/<id>.json``).

A schedule submits a published pipeline (``pipeline_id``), or a pipeline endpoint's default version
at each run (``pipeline_endpoint_id``), on a recurrence or when files change on a datastore. The
registry DAG file builds one DAG per schedule, ``schedule_<id>`` (registry/schedule_dag.py), whose
timetable or asset decides when it runs; each of its runs starts the pipeline's run(s).

Every read-modify-write is a conditional write of the record (registry/records.py), as for
endpoints, so concurrent writers on any machines never lose a change. No Airflow import: the client, the CLI and the DAG file all use this module.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import NotFoundError, PublishedRegistry, check_id, check_text

SCHEDULE_FORMAT = "mlpipe.schedule/1"
DAG_PREFIX = "schedule_"
STATUSES = ("Active", "Disabled")
FIRST_RUNS = ("next_slot", "immediately")
ANCHORS = {"recurrence", "datastore", "path_on_datastore", "recursive"}
# what a record holds besides its identity; update() may change these
SETTINGS = (
    "name",
    "description",
    "recurrence",
    "pipeline_parameters",
    "datastore",
    "datastore_name",
    "polling_interval",
    "data_path_parameter_name",
    "continue_on_step_failure",
    "path_on_datastore",
    "recursive",
    "per_blob",
    "first_run",
    "catchup",
)


def schedule_dag_id(schedule_id: str) -> str:
    return f"{DAG_PREFIX}{schedule_id}"


class ScheduleRegistry(PublishedRegistry):
    """Schedule records under one registry root, next to the published pipelines and endpoints."""

    schedules = "schedules"

    def _path(self, schedule_id: str) -> str:
        return f"{self.schedules}/{check_id('schedule', schedule_id)}.json"

    def create_schedule(
        self, target: dict[str, str | None], experiment_name: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a new Active schedule of ``target`` ({"pipeline_id"} or {"pipeline_endpoint_id"})."""
        check_text("experiment_name", experiment_name)
        if target.get("pipeline_id"):
            self.get_pipeline(target["pipeline_id"])
        else:
            self.get_endpoint(target["pipeline_endpoint_id"])
        now = time.time()
        schedule_id = str(uuid.uuid4())
        record = {
            "format": SCHEDULE_FORMAT,
            "id": schedule_id,
            "dag_id": schedule_dag_id(schedule_id),
            "pipeline_id": target.get("pipeline_id"),
            "pipeline_endpoint_id": target.get("pipeline_endpoint_id"),
            "experiment_name": experiment_name,
            "status": "Active",
            "created": now,
            "updated": now,
            "anchored": now,  # when the recurrence was set: its slots count from here
            **{key: settings.get(key) for key in SETTINGS},
        }
        check_record(record)
        self.records.create(self._path(schedule_id), record)
        return record

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        record = self.records.read(self._path(schedule_id))
        if record is None:
            raise NotFoundError(f"no schedule with id {schedule_id!r}")
        return record

    def list_schedules(
        self,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Schedules oldest first; as v1, ``active_only`` applies only when no pipeline or endpoint is given."""
        records = self.records.read_all(self.schedules)
        if pipeline_id is not None:
            records = [r for r in records if r["pipeline_id"] == pipeline_id]
        elif pipeline_endpoint_id is not None:
            records = [r for r in records if r["pipeline_endpoint_id"] == pipeline_endpoint_id]
        elif active_only:
            records = [r for r in records if r["status"] == "Active"]
        return sorted(records, key=lambda r: r["created"])

    def update_schedule(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """One atomic change of a schedule's settings and/or ``status``; the record as stored."""
        unknown = set(changes) - set(SETTINGS) - {"status"}
        if unknown:
            raise UserErrorException(f"schedule settings {sorted(unknown)} cannot be updated")

        def change(record: dict[str, Any]) -> None:
            record.update(changes)
            record["updated"] = time.time()
            if set(changes) & ANCHORS:  # a new recurrence, or a new place to watch: counted from now
                record["anchored"] = record["updated"]
            check_record(record)

        return self.records.update(
            self._path(schedule_id), change, lambda: NotFoundError(f"no schedule with id {schedule_id!r}")
        )

    def schedule_target(self, record: dict[str, Any]) -> dict[str, Any]:
        """The published pipeline a run of ``record`` (or a new schedule's target: its
        ``pipeline_id`` or ``pipeline_endpoint_id``) submits now (an endpoint's current default),
        with the endpoint and version it came from (None for a pipeline schedule)."""
        if record.get("pipeline_id"):
            return {**self.get_pipeline(record["pipeline_id"]), "endpoint": None, "endpoint_version": None}
        endpoint = self.get_endpoint(record["pipeline_endpoint_id"])
        entry = self.endpoint_version(endpoint)
        return {
            **self.get_pipeline(entry["pipeline_id"]),
            "endpoint": endpoint,
            "endpoint_version": entry["version"],
        }


def check_record(record: dict[str, Any]) -> None:
    """A stored schedule's own consistency (the v1 argument checks are made by the client before)."""
    where = f"schedule {record.get('name')!r}"
    check_text("schedule name", record["name"])
    check_text("description", record.get("description"), required=False, limit=4096)
    if record["status"] not in STATUSES:
        raise UserErrorException(f"{where}: status must be one of {STATUSES}, got {record['status']!r}")
    if (record["recurrence"] is None) == (record["datastore_name"] is None):
        raise UserErrorException(f"{where}: give a recurrence or a datastore (exactly one)")
    if record["first_run"] not in FIRST_RUNS:
        raise UserErrorException(
            f"{where}: first_run must be one of {FIRST_RUNS}, got {record['first_run']!r}"
        )
    interval = record["polling_interval"]
    if record["datastore_name"] is not None and (
        isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0
    ):
        raise UserErrorException(
            f"{where}: polling_interval must be a number of minutes above 0, got {interval!r}"
        )
    if not isinstance(record["pipeline_parameters"] or {}, dict):
        raise UserErrorException(f"{where}: pipeline_parameters must be a dict")
