"""What a step run records beside its outputs: the experiment it belongs to and the metrics and
tags its script logged. Light on imports: both the local and the Databricks step operators use it
in every execution."""

from __future__ import annotations

import json
from typing import Any


def step_run_id(ti: Any) -> str:
    """A step run's id, as scripts, registered datasets and v1's AZUREML_RUN_ID give it."""
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}"


def experiment_name(context: Any) -> str:
    """The experiment a run was submitted under (its conf), else the DAG id."""
    from airflow_mlpipe.registry.submission import SUBMISSION_KEY

    conf = getattr(context.get("dag_run"), "conf", None) or {}
    return (conf.get(SUBMISSION_KEY) or {}).get("experiment_name") or context["ti"].dag_id


def read_metrics(path: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Fold the script's records into metrics (a name logged once is a value, more often a list)
    and tags (the last value of each), for the step and for its pipeline run."""
    scopes: dict[str, dict[str, list[Any]]] = {"step": {}, "parent": {}}
    tags: dict[str, dict[str, str]] = {"step": {}, "parent": {}}
    try:
        with open(path) as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        records = []
    for rec in records:
        if rec["kind"] == "tag":
            tags[rec["scope"]][rec["name"]] = rec["value"]
            continue
        values = scopes[rec["scope"]].setdefault(rec["name"], [])
        if rec["kind"] == "list":
            values.extend(rec["value"])
        else:
            values.append(rec["value"])
    step, parent = ({k: v[0] if len(v) == 1 else v for k, v in scopes[s].items()} for s in ("step", "parent"))
    return step, parent, tags["step"], tags["parent"]


def stored_files(result: dict[str, Any] | None, key: str = "files") -> dict[str, dict[str, str]]:
    """The run files a step stored, as listed in its XCom result under ``key`` (``files`` or
    ``parent_files``): name -> {"datastore", "path"}. Read by the client and the tracking routes."""
    files = (result or {}).get(key) or {}
    if not files:
        return {}
    return {
        name: {"datastore": files["datastore"], "path": f"{files['path']}/{name}"}
        for name in files.get("names", {})
    }
