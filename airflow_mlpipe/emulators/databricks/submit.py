"""runs/submit payloads -> validated task settings, and the task.json each job process reads.

Both forms are accepted: ``tasks[]`` (Jobs API 2.1/2.2) and the legacy single-task top-level form that
DatabricksSubmitRunOperator sends. Numbers may be strings (the operator turns every number into one).
"""

from __future__ import annotations

import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid
from airflow_mlpipe.emulators.databricks.dbfs import Dbfs
from airflow_mlpipe.emulators.databricks.runs import TASK_TYPES
from airflow_mlpipe.emulators.databricks.workspace import load_object

OTHER_TASK_TYPES = (
    "python_wheel_task",
    "spark_submit_task",
    "sql_task",
    "pipeline_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "notebook_task_v2",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
CLUSTER_KEYS = ("new_cluster", "existing_cluster_id", "job_cluster_key", "environment_key")
TASK_KEY = re.compile(r"^[\w\-]{1,100}$")


class TaskSetupError(Exception):
    """A task that cannot start (missing notebook, file or library): it ends as INTERNAL_ERROR."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _not_implemented(what: str) -> ApiError:
    return ApiError(501, "NOT_IMPLEMENTED", f"{what} is not implemented by the mlpipe Databricks emulator")


def _int(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be an integer, got {value!r}") from None
    if number < 0:
        raise invalid(f"{what} must not be negative, got {number}")
    return number


def parse_submit(p: Params) -> tuple[list[dict[str, Any]], bool]:
    """The tasks of a runs/submit request (each validated, in dependency order) and whether it was legacy."""
    body = p.data
    if body.get("git_source"):
        raise _not_implemented("git_source (notebooks and files from a Git repository)")
    if body.get("job_clusters"):
        raise _not_implemented("job_clusters (use new_cluster or existing_cluster_id per task)")
    tasks = body.get("tasks")
    legacy = not tasks
    if legacy:
        task = {k: v for k, v in body.items() if k not in ("run_name", "idempotency_token", "tasks")}
        task["task_key"] = str(body.get("run_name") or "task")
        task.pop("timeout_seconds", None)  # the run-level timeout covers the one task
        tasks = [task]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise invalid("tasks must be a list of task objects")
    keys: set[str] = set()
    checked = []
    for task in tasks:
        checked.append(_check_task(task, legacy))
        if checked[-1]["task_key"] in keys:
            raise invalid(f"Duplicate task_key {checked[-1]['task_key']!r} in tasks")
        keys.add(checked[-1]["task_key"])
    graph: dict[str, list[str]] = {}
    for task in checked:
        for dep in task["depends_on_keys"]:
            if dep not in keys:
                raise invalid(f"Task {task['task_key']} depends on {dep!r}, which is not a task of this run")
        graph[task["task_key"]] = task["depends_on_keys"]
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise invalid(f"The tasks depend on each other in a cycle: {' -> '.join(exc.args[1])}") from exc
    by_key = {t["task_key"]: t for t in checked}
    return [by_key[k] for k in order], legacy


def _check_task(task: dict[str, Any], legacy: bool) -> dict[str, Any]:
    key = str(task.get("task_key") or "")
    where = "the submitted run" if legacy else f"task {key or '?'}"
    if not legacy and not TASK_KEY.match(key):
        raise invalid(f"task_key {key!r} must be 1-100 letters, digits, '_' or '-'")
    kinds = [k for k in (*TASK_TYPES, *OTHER_TASK_TYPES) if task.get(k)]
    if not kinds:
        raise invalid(f"{where}: one of notebook_task, spark_python_task or spark_jar_task is required")
    if len(kinds) > 1:
        raise invalid(f"{where}: only one task type may be given, got {', '.join(kinds)}")
    if kinds[0] not in TASK_TYPES:
        raise _not_implemented(
            f"{kinds[0]} ({where}); supported task types are notebook_task, spark_python_task, spark_jar_task"
        )
    task_type = kinds[0]
    spec = task[task_type]
    if task_type == "notebook_task":
        if not spec.get("notebook_path"):
            raise invalid(f"{where}: notebook_task.notebook_path is required")
        if str(spec.get("source", "WORKSPACE")).upper() != "WORKSPACE":
            raise _not_implemented(f"notebook_task.source {spec['source']} ({where})")
    elif task_type == "spark_python_task":
        if not spec.get("python_file"):
            raise invalid(f"{where}: spark_python_task.python_file is required")
        if str(spec.get("source", "WORKSPACE")).upper() != "WORKSPACE":
            raise _not_implemented(f"spark_python_task.source {spec['source']} ({where})")
    elif not spec.get("main_class_name"):
        raise invalid(f"{where}: spark_jar_task.main_class_name is required")
    for name in ("parameters",):
        if name in spec and not isinstance(spec[name], list):
            raise invalid(f"{where}: {task_type}.{name} must be a list of strings")
    if "base_parameters" in spec and not isinstance(spec["base_parameters"], dict):
        raise invalid(f"{where}: notebook_task.base_parameters must be an object of strings")
    clusters = [k for k in CLUSTER_KEYS if task.get(k)]
    if len(clusters) != 1:
        raise invalid(
            f"{where}: exactly one of new_cluster or existing_cluster_id is required, got "
            f"{', '.join(clusters) or 'none'} (serverless compute is not emulated)"
        )
    if clusters[0] in ("job_cluster_key", "environment_key"):
        raise _not_implemented(f"{clusters[0]} ({where})")
    if "new_cluster" in task and not isinstance(task["new_cluster"], dict):
        raise invalid(f"{where}: new_cluster must be an object")
    if "new_cluster" in task and not task["new_cluster"].get("spark_version"):
        raise invalid(f"{where}: new_cluster.spark_version is required (e.g. 15.4.x-scala2.12)")
    libraries = task.get("libraries") or []
    if not isinstance(libraries, list) or not all(isinstance(lib, dict) and lib for lib in libraries):
        raise invalid(
            f"{where}: libraries must be a list of library objects such as {{'jar': 'dbfs:/x.jar'}}"
        )
    deps = task.get("depends_on") or []
    if not isinstance(deps, list) or not all(isinstance(d, dict) and d.get("task_key") for d in deps):
        raise invalid(f"{where}: depends_on must be a list of {{'task_key': ...}}")
    return {
        **task,
        "task_key": key,
        "task_type": task_type,
        "timeout": _int(task.get("timeout_seconds"), f"{where}: timeout_seconds"),
        "depends_on_keys": [str(d["task_key"]) for d in deps],
    }


def run_timeout(p: Params) -> int:
    """The run-level timeout_seconds (0 = none)."""
    return _int(p.raw("timeout_seconds"), "timeout_seconds")


def _local_file(path: str, dbfs: Dbfs, workspace_dir: Path, what: str) -> Path:
    """A DBFS (dbfs:/...) or workspace (/...) file -> its local path, or TaskSetupError."""
    if path.startswith("dbfs:"):
        try:
            local = dbfs.local(path)
        except ApiError as exc:
            raise TaskSetupError(f"{what} {path}: {exc.message}", "INVALID_RUN_CONFIGURATION") from exc
        if not local.is_file():
            raise TaskSetupError(
                f"{what} {path} does not exist on DBFS; upload it first", "RESOURCE_NOT_FOUND"
            )
        return local
    if path.startswith("/"):
        obj = load_object(workspace_dir, path)
        if obj is None or obj.get("object_type") != "FILE":
            raise TaskSetupError(
                f"{what} {path} does not exist in the workspace; import it as a file (format RAW or AUTO) "
                "or give a dbfs:/ path",
                "RESOURCE_NOT_FOUND",
            )
        return obj["local"]
    raise TaskSetupError(
        f"{what} {path}: only dbfs:/ and absolute workspace paths are supported by the emulator",
        "INVALID_RUN_CONFIGURATION",
    )


def task_spec(
    settings: dict[str, Any],
    cluster: dict[str, Any],
    dbfs: Dbfs,
    workspace_dir: Path,
    run_id: int,
    libs_dir: Path,
) -> dict[str, Any]:
    """The task.json of one task run (see the job process contract), or TaskSetupError."""
    task_type = settings["task_type"]
    spec = settings[task_type]
    libraries = list(settings.get("libraries") or [])
    local_libraries: dict[str, str] = {}
    for lib in libraries:
        for kind in ("jar", "egg", "whl"):
            path = lib.get(kind)
            if isinstance(path, str) and (path.startswith("dbfs:") or path.startswith("/")):
                try:
                    local_libraries[path] = str(_local_file(path, dbfs, workspace_dir, f"Library {kind}"))
                except TaskSetupError as exc:
                    raise TaskSetupError(
                        f"Library installation failed for library due to user error. Error message: {exc.message}",
                        "LIBRARY_INSTALLATION_ERROR",
                    ) from exc
    out: dict[str, Any] = {
        "run_id": run_id,
        "libraries": libraries,
        "local_libraries": local_libraries,
        "spark_conf": dict(cluster.get("spark_conf") or {}),
        "spark_env_vars": {k: str(v) for k, v in (cluster.get("spark_env_vars") or {}).items()},
        "num_workers": _int(cluster.get("num_workers"), "new_cluster.num_workers"),
        "spark_version": str(cluster.get("spark_version") or ""),
        "libs_dir": str(libs_dir),
    }
    if task_type == "notebook_task":
        path = str(spec["notebook_path"])
        obj = load_object(workspace_dir, path)
        if obj is None or obj.get("object_type") != "NOTEBOOK":
            raise TaskSetupError(
                f'Unable to access the notebook "{path}": it does not exist in the workspace. '
                "Import it with workspace/import before submitting the run.",
                "RESOURCE_NOT_FOUND",
            )
        from airflow_mlpipe.emulators.databricks import notebooks

        cells = notebooks.parse_notebook(obj["local"].read_bytes(), obj["format"], obj["language"])
        out.update(
            kind="notebook",
            notebook={"language": obj["language"], "cells": cells},
            widgets={str(k): str(v) for k, v in (spec.get("base_parameters") or {}).items()},
        )
    elif task_type == "spark_python_task":
        script = _local_file(str(spec["python_file"]), dbfs, workspace_dir, "Python file")
        out.update(
            kind="python", script=str(script), parameters=[str(a) for a in spec.get("parameters") or []]
        )
    else:
        if not any("jar" in lib for lib in libraries):
            raise TaskSetupError(
                f"spark_jar_task {spec['main_class_name']} needs its jar in libraries, e.g. "
                "{'jar': 'dbfs:/FileStore/jars/app.jar'}",
                "INVALID_RUN_CONFIGURATION",
            )
        out.update(
            kind="jar",
            main_class_name=str(spec["main_class_name"]),
            parameters=[str(a) for a in spec.get("parameters") or []],
        )
    return out
