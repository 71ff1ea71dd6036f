"""``plan``: what a run would do, per step, and why, without running anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_mlpipe.reuse import decide
from airflow_mlpipe.reuse.cache import CacheStore
from airflow_mlpipe.reuse.fingerprint import default_hash_cache
from airflow_mlpipe.storage import open_store


@dataclass
class StepPlan:
    step: str
    decision: str  # "reuse" or "run"
    reasons: list[str] = field(default_factory=list)
    reused_from: dict[str, Any] | None = None
    fingerprint: str | None = None

    def __str__(self) -> str:
        return f"{self.step}: {self.decision} ({'; '.join(self.reasons)})"


def plan_spec(
    spec: dict[str, Any],
    dag_id: str,
    pipeline_parameters: dict[str, Any] | None = None,
    regenerate_outputs: bool = False,
    force_rerun: list[str] | tuple[str, ...] = (),
) -> list[StepPlan]:
    given = dict(pipeline_parameters or {})
    unknown = set(given) - set(spec["parameters"])
    if unknown:
        raise ValueError(
            f"unknown pipeline parameters {sorted(unknown)}; known: {sorted(spec['parameters'])}"
        )
    names = {s["name"] for s in spec["steps"]}
    if set(force_rerun) - names:
        raise ValueError(f"force_rerun names unknown steps {sorted(set(force_rerun) - names)}")
    parameters = decide.run_parameters(spec["parameters"], given, where="plan")
    reuse = spec.get("reuse") or {}
    if not reuse.get("datastore"):
        return [StepPlan(s["name"], "run", ["no cache datastore"]) for s in spec["steps"]]
    cache = CacheStore(open_store(spec["datastores"][reuse["datastore"]]), spec["datastores"])
    hash_cache = default_hash_cache()
    outputs: dict[str, str | None] = {}  # PipelineData name -> content hash, None when regenerated
    producers = {name: d.get("producer") for name, d in spec["data"].items()}
    plans = []
    for step in spec["steps"]:  # in dependency order
        step = decide.bind_inputs(step, parameters, spec)
        inputs: dict[str, str] = {}
        pending = []
        for inp in step["inputs"]:
            if inp["kind"] == "pipeline_data":
                h = outputs.get(inp["data"])
                if h is None:
                    pending.append(
                        f"input {inp['name']!r} comes from step {producers.get(inp['data'])!r}, which runs"
                    )
                else:
                    inputs[inp["name"]] = h
            else:
                inputs[inp["name"]] = decide.dataset_fingerprint(spec["datastores"], decide.input_paths(inp))
        inputs.update(decide.extra_inputs(step, parameters, spec["datastores"]))
        plan = _decide(
            step,
            spec,
            dag_id,
            cache,
            parameters,
            inputs,
            pending,
            hash_cache,
            regenerate_outputs,
            force_rerun,
        )
        plans.append(plan)
        for out in step["outputs"]:
            entry_outputs = (plan.reused_from or {}).get("outputs", {})
            outputs[out["name"]] = (
                entry_outputs.get(out["name"], {}).get("content_hash") if plan.decision == "reuse" else None
            )
        if plan.reused_from is not None:
            plan.reused_from = {k: v for k, v in plan.reused_from.items() if k != "outputs"}
    return plans


def _decide(
    step, spec, dag_id, cache, parameters, inputs, pending, hash_cache, regenerate, force
) -> StepPlan:
    decision = decide.decide_reuse(
        step,
        parameters,
        inputs,
        cache=cache,
        datastores=spec["datastores"],
        reuse=spec.get("reuse") or {},
        given={"regenerate_outputs": regenerate, "force_rerun": list(force)},
        dag_id=dag_id,
        hash_cache=hash_cache,
        pending=pending,
    )
    entry = decision.entry
    reused_from = None if entry is None else {**entry["origin"], "outputs": entry["outputs"]}
    return StepPlan(step["name"], decision.verdict, decision.reasons, reused_from, decision.fingerprint)


def format_plan(plans: list[StepPlan]) -> str:
    width = max((len(p.step) for p in plans), default=4)
    lines = [f"{'step'.ljust(width)}  decision  why", "-" * (width + 40)]
    for p in plans:
        first, *rest = p.reasons or [""]
        lines.append(f"{p.step.ljust(width)}  {p.decision.ljust(8)}  {first}")
        lines += [f"{''.ljust(width)}  {''.ljust(8)}  {r}" for r in rest]
    return "\n".join(lines)
