"""``mlpipe schedules``: the workspace's schedules with their kind, recurrence in words, next run,
and last pipeline run with its status. cli.py registers it with ``add_schedules_parser(sub)``."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_schedules(args: argparse.Namespace) -> int:
    from airflow_mlpipe.cli import _table
    from airflow_mlpipe.client.registry_api import workspace_registry
    from airflow_mlpipe.definitions.workspace import Workspace

    ws = Workspace.from_config(args.config)
    records = workspace_registry(ws).list_schedules(active_only=not args.all)
    if not records:
        print("no schedules" + ("" if args.all else " are active (--all shows disabled ones)"))
        return 0
    airflow, note = _airflow_view(ws, records)
    rows = []
    for r in records:
        next_run, last_run = airflow.get(r["id"], ("?", "?")) if airflow is not None else ("?", "?")
        rows.append([r["name"], r["id"], r["status"], *_kind_and_when(r), _target(r), next_run, last_run])
    _table(
        rows, ["NAME", "ID (DAG schedule_<ID>)", "STATUS", "KIND", "WHEN", "SUBMITS", "NEXT RUN", "LAST RUN"]
    )
    if note:
        print(note)
    return 0


def _kind_and_when(record: dict[str, Any]) -> list[str]:
    if record["recurrence"] is not None:
        from airflow_mlpipe.definitions.schedule import ScheduleRecurrence

        return ["recurrence", ScheduleRecurrence.from_spec(record["recurrence"]).describe()]
    where = f"{record['datastore_name']}:{record['path_on_datastore'] or '/'}"
    scope = "changes below" if record["recursive"] else "changes in"
    return ["datastore", f"{scope} {where}, polled every {record['polling_interval']:g} min"]


def _target(record: dict[str, Any]) -> str:
    if record["pipeline_id"]:
        return f"pipeline {record['pipeline_id']}"
    return f"endpoint {record['pipeline_endpoint_id']} (its default version)"


def _airflow_view(
    ws: Any, records: list[dict[str, Any]]
) -> tuple[dict[str, tuple[str, str]] | None, str | None]:
    """Per schedule id: (next run, last pipeline run with its status), from Airflow's REST API; None
    and a note when Airflow cannot be asked."""
    from airflow_mlpipe.client.rest import AirflowApiError
    from airflow_mlpipe.client.run import workspace_client
    from airflow_mlpipe.client.schedules import schedule_runs
    from airflow_mlpipe.exceptions import MlpipeError
    from airflow_mlpipe.runstatus import run_status

    try:
        client = workspace_client(ws)
        out = {}
        for r in records:
            try:
                dag = client.get_dag(r["dag_id"])
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
                dag = None
            if dag is None:
                next_run = "not loaded yet"
            elif dag.get("is_paused"):
                next_run = "paused"
            elif r["recurrence"] is None:
                next_run = "on change"
            else:
                next_run = str(dag.get("next_dagrun_run_after") or "-")[:19]
            runs = schedule_runs(client, r["id"])
            last = (
                f"{run_status(runs[0]['state'], runs[0].get('note'))} {str(runs[0]['run_after'])[:19]}"
                if runs
                else "-"
            )
            out[r["id"]] = (next_run, last)
        return out, None
    except MlpipeError as exc:
        return None, f"(next and last runs unknown: {exc})"


def add_schedules_parser(sub: Any) -> None:
    schedules = sub.add_parser(
        "schedules", help="list schedules: kind, recurrence in words, next run, last run and its status"
    )
    schedules.add_argument("--all", action="store_true", help="include disabled ones")
    schedules.add_argument("--config", default=None, help="workspace config file (default: found as usual)")
    schedules.set_defaults(func=cmd_schedules)
