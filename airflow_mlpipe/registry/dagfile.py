"""Materialize one Airflow DAG per registry entry.

The registry DAG file that ``mlpipe up`` puts in its DAG bundle is two lines::

    from airflow_mlpipe.registry.dagfile import registry_dags
    globals().update(registry_dags())

A broken entry is logged, recorded in the registry's status folder, and skipped: the other
pipelines' DAGs still appear.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from airflow_mlpipe.registry import ENTRY_FORMAT, Registry

log = logging.getLogger(__name__)

DAG_FILE_TEXT = '''"""airflow-mlpipe registry: one DAG per submitted or published pipeline and per schedule (written by `mlpipe up`)."""

from airflow_mlpipe.registry.dagfile import registry_dags

globals().update(registry_dags())
'''


def registry_dags(root: str | Path | None = None) -> dict[str, Any]:
    from airflow_mlpipe.translator import build_dag

    registry = Registry(root)
    dags: dict[str, Any] = {}
    for path in registry.entry_files():
        dag_id = path.stem
        try:
            entry = json.loads(path.read_text())
            if entry.get("format") != ENTRY_FORMAT or entry.get("dag_id") != dag_id:
                raise ValueError(f"not a registry entry of format {ENTRY_FORMAT!r} for DAG {dag_id!r}")
            meta = entry.get("meta", {})
            continue_on_failure = bool(meta.get("continue_on_step_failure", False))
            tags = [
                "mlpipe-registry",
                f"mlpipe-{entry['kind']}",
                spec_tag(entry["spec"], continue_on_failure),
            ]
            extra: dict[str, Any] = {}
            if entry["kind"] == "published":
                version = f" v{meta['version']}" if meta.get("version") else ""
                extra["dag_display_name"] = f"{meta.get('name', dag_id)}{version} (published)"
                extra["is_paused_upon_creation"] = False
            dags[f"mlpipe_registry_{dag_id}"] = build_dag(
                entry["spec"],
                dag_id,
                tags=tags,
                **extra,
                auto_register=False,
                continue_on_step_failure=continue_on_failure,
            )
        except Exception as exc:  # one broken entry must not hide the other pipelines
            message = f"{type(exc).__name__}: {exc}"
            log.error("registry entry %s is broken and was skipped: %s", path, message)
            registry.record_status(dag_id, message)
        else:
            registry.record_status(dag_id, None)
    dags.update(schedule_dags(root))
    return dags


def schedule_dags(root: str | Path | None = None) -> dict[str, Any]:
    """One DAG per schedule record (registry/schedule_dag.py); a broken one is recorded and skipped."""
    from airflow_mlpipe.registry.schedule_dag import schedule_dag
    from airflow_mlpipe.registry.schedules import SCHEDULE_FORMAT, ScheduleRegistry

    schedules = ScheduleRegistry(root)
    if not schedules.schedules.is_dir():
        return {}
    dags: dict[str, Any] = {}
    for path in sorted(schedules.schedules.glob("*.json")):
        dag_id = f"schedule_{path.stem}"
        try:
            record = json.loads(path.read_text())
            if record.get("format") != SCHEDULE_FORMAT or record.get("dag_id") != dag_id:
                raise ValueError(f"not a schedule record of format {SCHEDULE_FORMAT!r} for DAG {dag_id!r}")
            dags[f"mlpipe_registry_{dag_id}"] = schedule_dag(record, None if root is None else str(root))
        except Exception as exc:  # one broken schedule must not hide the others
            message = f"{type(exc).__name__}: {exc}"
            log.error("schedule %s is broken and was skipped: %s", path, message)
            schedules.registry.record_status(dag_id, message)
        else:
            schedules.registry.record_status(dag_id, None)
    return dags


def spec_tag(spec: dict[str, Any], continue_on_step_failure: bool = False) -> str:
    """A DAG tag naming the spec version and the failure setting it was built with, so a client
    can wait until Airflow serialized exactly that DAG."""
    from airflow_mlpipe.reuse.fingerprint import digest

    built = {"spec": spec, "continue_on_step_failure": True} if continue_on_step_failure else spec
    return f"mlpipe-spec-{digest(built)[:16]}"


def write_dag_file(folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "mlpipe_registry.py"
    if not target.exists() or target.read_text() != DAG_FILE_TEXT:
        target.write_text(DAG_FILE_TEXT)
    return target
