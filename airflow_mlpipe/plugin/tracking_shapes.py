"""Pure pieces of the tracking routes: links, durations, a run's experiment and parameters, a step
result's metrics split into scalars, tables and images, why a step ran, and compare rows.

No Airflow and no I/O here (unit-tested as is); tracking_data.py reads the metadata database and
the datastores and builds the responses with these.
"""

from __future__ import annotations

import datetime
import math
import posixpath
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.registry.published import ROUTES_MOUNT
from airflow_mlpipe.registry.submission import SUBMISSION_KEY

API = ROUTES_MOUNT.lstrip("/") + "/tracking/v1"  # relative to Airflow's base href, as every url
EXPERIMENT_PREFIX = "experiment_"  # client/run.py names an experiment's DAG so
# this package's step operators (TaskInstance.operator); a DAG running one is a pipeline
STEP_OPERATORS = {
    "PythonScriptStepOperator",
    "DatabricksStepOperator",
    "AdlaStepOperator",
    "AdlaSparkStepOperator",
    "DataTransferStepOperator",
}
# conf keys a submission adds beside the pipeline parameters
RESERVED_CONF = {SUBMISSION_KEY, "regenerate_outputs", "force_rerun", "continue_on_step_failure"}


def q(text: str) -> str:
    return quote(str(text), safe="")


def run_url(dag_id: str, run_id: str) -> str:
    return f"dags/{q(dag_id)}/runs/{q(run_id)}/plugin/mlpipe-run"


def airflow_run_url(dag_id: str, run_id: str) -> str:
    return f"dags/{q(dag_id)}/runs/{q(run_id)}"


def log_url(dag_id: str, run_id: str, task_id: str) -> str:
    return f"dags/{q(dag_id)}/runs/{q(run_id)}/tasks/{q(task_id)}"


def step_url(dag_id: str, run_id: str, task_id: str) -> str:
    return log_url(dag_id, run_id, task_id) + "/plugin/mlpipe-step"


def api_step_url(dag_id: str, run_id: str, task_id: str) -> str:
    return f"{API}/runs/{q(dag_id)}/{q(run_id)}/steps/{q(task_id)}"


def file_url(dag_id: str, run_id: str, task_id: str, name: str) -> str:
    return f"{api_step_url(dag_id, run_id, task_id)}/files/{quote(name, safe='/')}"


def output_url(dag_id: str, run_id: str, task_id: str, output: str) -> str:
    return f"{api_step_url(dag_id, run_id, task_id)}/outputs/{q(output)}"


def iso(value: Any) -> str | None:
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc).isoformat()


def duration_s(start: Any, end: Any, now: datetime.datetime | None = None) -> float | None:
    """Seconds from start to end; a running one (no end) counts to ``now``; None before it starts."""
    if not isinstance(start, datetime.datetime):
        return None
    if not isinstance(end, datetime.datetime):
        if now is None:
            return None
        end = now
    if start.tzinfo is None:
        start = start.replace(tzinfo=datetime.timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=datetime.timezone.utc)
    return round(max((end - start).total_seconds(), 0.0), 3)


def submission(conf: dict[str, Any] | None) -> dict[str, Any]:
    return (conf or {}).get(SUBMISSION_KEY) or {}


def experiment_of(dag_id: str, conf: dict[str, Any] | None) -> str | None:
    """A run's experiment: the one it was submitted under (published runs), else its DAG's."""
    name = submission(conf).get("experiment_name")
    if name:
        return str(name)
    return dag_id[len(EXPERIMENT_PREFIX) :] if dag_id.startswith(EXPERIMENT_PREFIX) else None


def run_parameters(conf: dict[str, Any] | None, declared: dict[str, Any] | None) -> dict[str, Any]:
    """A run's pipeline parameters: each declared one's given value or default; with nothing
    declared (a DAG without a registry entry), the conf minus what a submission adds."""
    conf = conf or {}
    if declared:
        return {name: conf.get(name, p.get("default")) for name, p in declared.items()}
    return {k: v for k, v in conf.items() if k not in RESERVED_CONF}


def step_kind(operator: str | None) -> str | None:
    """v1's class name of a step (``PythonScriptStep``) from its operator's, else the operator's."""
    if operator in STEP_OPERATORS:
        return operator[: -len("Operator")]
    return operator


def step_reason(result: dict[str, Any] | None) -> str | None:
    """Why a step ran, or that it was reused; None when its result does not say (older results)."""
    if not result:
        return None
    origin = result.get("reused_from")
    if origin:
        return f"reused from {origin.get('run_id')}"
    reasons = result.get("reuse_reasons")
    if not reasons:
        return None
    return "ran: " + "; ".join(str(r) for r in reasons)


def reused_link(origin: dict[str, Any] | None) -> dict[str, Any] | None:
    if not origin or not origin.get("dag_id") or not origin.get("run_id"):
        return None
    return {
        "dag_id": origin["dag_id"],
        "run_id": origin["run_id"],
        "task_id": origin.get("task_id"),
        "url": run_url(origin["dag_id"], origin["run_id"]),
    }


def _is_image(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("image"), str)
        and set(value) <= {"image", "description"}
    )


def _table_of_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return {"columns": columns, "rows": [[row.get(c) for c in columns] for row in rows]}


def as_table(value: Any) -> dict[str, Any] | None:
    """A ``log_table`` ({col: [..]}), one or more ``log_row`` ({col: v}) as {"columns", "rows"};
    None for anything else."""
    if isinstance(value, dict) and value and not _is_image(value):
        if all(isinstance(v, list) for v in value.values()):
            columns = list(value)
            height = max(len(v) for v in value.values())
            rows = [[value[c][i] if i < len(value[c]) else None for c in columns] for i in range(height)]
            return {"columns": columns, "rows": rows}
        return _table_of_rows([value])
    if isinstance(value, list) and value and all(isinstance(v, dict) and not _is_image(v) for v in value):
        return _table_of_rows(value)
    return None


def split_metrics(
    metrics: dict[str, Any], image_url: Any
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A result's folded metrics (operators/run_records.read_metrics) as (scalars and lists,
    tables, images); ``image_url(file_name)`` gives an image's url (the files route)."""
    scalars: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    images: list[dict[str, Any]] = []
    for name, value in (metrics or {}).items():
        logged = value if isinstance(value, list) else [value]
        if logged and all(_is_image(v) for v in logged):
            images += [
                {"name": name, "description": v.get("description") or "", "url": image_url(v["image"])}
                for v in logged
            ]
            continue
        table = as_table(value)
        if table is not None:
            tables[name] = table
        else:
            scalars[name] = value
    return scalars, tables, images


def last_number(value: Any) -> float | int | None:
    """A metric's value to compare: its last value when logged several times, if a number."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


def compare_metrics(results: dict[str, dict[str, Any]]) -> dict[str, float | int]:
    """The numeric metrics of one run (task id -> step result): ``<step>/<name>`` for a step's,
    the name alone for a pipeline (parent) metric."""
    out: dict[str, float | int] = {}
    for task_id, result in sorted(results.items()):
        for name, value in (result.get("metrics") or {}).items():
            number = last_number(value)
            if number is not None:
                out[f"{result.get('step') or task_id}/{name}"] = number
        for name, value in (result.get("parent_metrics") or {}).items():
            number = last_number(value)
            if number is not None:
                out[name] = number
    return out


def pipeline_metrics(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The metrics the steps logged on their pipeline run (``Run.parent.log``), merged."""
    merged: dict[str, Any] = {}
    for _, result in sorted(results.items()):
        merged.update(result.get("parent_metrics") or {})
    return merged


def run_file_path(name: str) -> str | None:
    """``name`` as a clean relative run file name, or None when it is absolute or climbs out."""
    raw = name.replace("\\", "/")
    if not raw or raw.startswith("/") or any(part == ".." for part in raw.split("/")):
        return None
    norm = posixpath.normpath(raw)
    return None if norm in (".", "") or norm.startswith("../") else norm
