"""Pipelines as plain JSON: what the registry stores and what the translator builds DAGs from.

The format is versioned (``SPEC_FORMAT``) and round-trips exactly through ``json``. It holds no
secret: datastores are named by their Airflow connection id, never by a credential.
"""

from __future__ import annotations

import graphlib
import json
import os
import re
from typing import Any

from airflow_mlpipe.definitions.datastore import Datastore
from airflow_mlpipe.definitions.steps import Step
from airflow_mlpipe.definitions.workspace import Workspace
from airflow_mlpipe.exceptions import PipelineValidationError, UserErrorException
from airflow_mlpipe.spec_builder import RESERVED_PARAMETERS, SpecBuilder, outputs_of

__all__ = [
    "RESERVED_PARAMETERS",
    "SPEC_FORMAT",
    "SpecBuilder",
    "build_spec",
    "closure",
    "outputs_of",
    "task_id_for",
]

SPEC_FORMAT = "mlpipe.pipeline/1"
_NOT_IN_TASK_IDS = re.compile(r"[^\w.-]")


def task_id_for(step_name: str) -> str:
    """The Airflow task id of a step: its name, with each character Airflow does not allow in ids
    (v1 allowed spaces and more) replaced by '_'; the name itself stays the task's display name."""
    return _NOT_IN_TASK_IDS.sub("_", step_name)[:250]


def closure(steps: list[Step]) -> list[Step]:
    """The given steps plus every step they depend on: producers of their inputs and run_after
    steps, transitively (Azure ML v1's ``resolve_closure=True``)."""
    seen: dict[int, Step] = {}
    pending = list(reversed(steps))
    while pending:
        s = pending.pop()
        if id(s) in seen:
            continue
        seen[id(s)] = s
        deps = list(s._run_after)
        for item in [*s.inputs, *s.arguments]:
            producer = getattr(getattr(item, "_origin", None), "_producer", None)
            if producer is not None:
                deps.append(producer)
        pending.extend(reversed(deps))
    return list(seen.values())


def build_spec(
    steps: list[Step],
    workspace: Workspace | None,
    description: str | None = None,
    default_datastore: Datastore | None = None,
    default_source_directory: str | None = None,
    check_files: bool = True,
) -> dict[str, Any]:
    """Encode and validate a pipeline; raises PipelineValidationError listing every problem."""
    b = SpecBuilder(workspace, default_datastore, default_source_directory)
    step_specs: list[dict[str, Any]] = []
    names: dict[str, Step] = {}
    task_ids: dict[str, str] = {}
    for s in steps:
        if not isinstance(s, Step):
            b.problems.append(f"{s!r} is not a step")
            continue
        if s.name in names and names[s.name] is not s:
            b.problems.append(
                f"two steps are named {s.name!r}; step names must be unique (they are task ids)"
            )
            continue
        if s.name in names:
            continue
        clash = task_ids.setdefault(task_id_for(s.name), s.name)
        if clash != s.name:
            b.problems.append(
                f"steps {clash!r} and {s.name!r} would both be Airflow task {task_id_for(s.name)!r}; rename one"
            )
            continue
        names[s.name] = s
        try:
            step_specs.append(b.step(s))
        except UserErrorException as exc:
            b.problems.append(str(exc))
    by_name = {s["name"]: s for s in step_specs}
    scripts_seen: dict[str, bool] = {}
    for s in step_specs:
        upstream = set()
        for inp in s["inputs"]:
            if inp["kind"] == "pipeline_data":
                producer = b.data.get(inp["data"], {}).get("producer")
                if producer is None:
                    b.problems.append(
                        f"step {s['name']!r}: input {inp['name']!r} (PipelineData {inp['data']!r}) is not "
                        "an output of any step in this pipeline; add the step that produces it to outputs"
                    )
                elif producer == s["name"]:
                    b.problems.append(f"step {s['name']!r}: consumes its own output {inp['data']!r}")
                else:
                    upstream.add(producer)
        for dep in names[s["name"]]._run_after:
            if dep.name not in by_name:
                b.problems.append(f"step {s['name']!r}: run_after step {dep.name!r} is not in this pipeline")
            else:
                upstream.add(dep.name)
        s["upstream"] = sorted(upstream)
        script_name = s["settings"].get("script_name") or s["settings"].get("task", {}).get(
            "python_script_name"
        )
        if check_files and s["kind"] in ("python_script", "databricks") and script_name:
            script = os.path.join(s["settings"]["source_directory"], script_name)
            if script not in scripts_seen:
                scripts_seen[script] = os.path.isfile(script)
            if not scripts_seen[script]:
                b.problems.append(f"step {s['name']!r}: script file {script} does not exist")
    order: list[str] = []
    try:
        order = list(
            graphlib.TopologicalSorter({s["name"]: s["upstream"] for s in step_specs}).static_order()
        )
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        b.problems.append(f"the steps form a cycle: {cycle}")
    if workspace is not None and any(p["type"] in ("datapath", "dataset") for p in b.parameters.values()):
        # a run may point a DataPath or dataset parameter at any datastore of the workspace
        for ds in workspace.datastores.values():
            b.datastore(ds)
    reuse = b.reuse_settings()
    default_ds = b.default_datastore or (workspace.get_default_datastore() if workspace is not None else None)
    if b.problems:
        raise PipelineValidationError(b.problems)
    spec = {
        "format": SPEC_FORMAT,
        "description": description,
        "datastores": b.datastores,
        "parameters": b.parameters,
        "compute_targets": b.compute_targets,
        "data": b.data,
        "reuse": reuse,
        # where registered datasets and models live (the workspace's default datastore)
        "default_datastore": b.datastore(default_ds) if default_ds is not None else None,
        "steps": [by_name[n] for n in order],
        # how steps with a container environment reach Docker (the workspace's 'docker' settings)
        "docker": dict(workspace.docker) if workspace is not None else {},
    }
    return spec


def load_spec(text: str) -> dict[str, Any]:
    spec = json.loads(text)
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise UserErrorException(
            f"not a pipeline spec of format {SPEC_FORMAT!r} (got {spec.get('format') if isinstance(spec, dict) else spec!r})"
        )
    return spec


def dump_spec(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
