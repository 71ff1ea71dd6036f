"""What a step's output depends on (its components), its fingerprint, why it differs, and the
reuse decision itself (``decide_reuse``, ``reused_result``, ``reuse_log_lines``).

Used by the step operators on a worker, by ``StepReuseTrigger`` in the triggerer and by ``plan``
without running anything, so all three decide alike.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.reuse.fingerprint import HashCache, digest, source_snapshot
from airflow_mlpipe.storage import open_store

RESULT_FORMAT = "mlpipe.step-result/1"
RUN_FILE_KINDS = ("files", "parent_files")  # run files a result lists (StepOperator.store_run_files)
# a log line: a %-format and its arguments (the worker's and the trigger's logger format it)
LogLine = tuple[str, tuple[Any, ...]]

# step spec keys that cannot change a step's output, so they stay out of its fingerprint
NOT_IN_FINGERPRINT = {"name", "compute_target", "allow_reuse", "max_reuse_age", "upstream"}


def referenced_parameters(step: dict[str, Any]) -> list[str]:
    names = {a["parameter"] for a in step["arguments"] if "parameter" in a}
    for group in ("params", "runconfig_params"):
        names |= {v["parameter"] for v in step["settings"].get(group, {}).values() if "parameter" in v}
    return sorted(names)


def settings_of(step: dict[str, Any]) -> dict[str, Any]:
    """Everything in a step's spec that can change its output, minus machine-specific paths."""
    settings = {k: v for k, v in step.items() if k not in NOT_IN_FINGERPRINT}
    inner = dict(settings.get("settings", {}))
    inner.pop("source_directory", None)  # its content is the snapshot; its path differs per checkout
    inner.pop("snapshot", None)  # likewise: the snapshot's files are the source component
    if inner.get("environment") is not None:
        # what defines the environment, not its name: an identical one under another name is the same
        from airflow_mlpipe.definitions.environment import environment_hash

        inner["environment"] = environment_hash(inner["environment"])
    settings["settings"] = inner
    # where an input's data is stays out (its content is the inputs component); how it is read stays in
    settings["inputs"] = [
        {k: v for k, v in i.items() if k not in ("dataset", "path", "datastore")}
        | ({"read_as": {k: i["dataset"].get(k) for k in ("type", "options")}} if "dataset" in i else {})
        for i in step["inputs"]
    ]
    settings["environment"] = {"python": ".".join(platform.python_version_tuple()[:2])}
    return settings


def dataset_fingerprint(datastores: dict[str, Any], entries: list[dict[str, str]]) -> str:
    """What is at some datastore paths and URLs now: names, sizes and content tags (MD5 or etag;
    a URL's ETag and size, or its content's hash when the server gives no ETag)."""
    listing: list[Any] = []
    for entry in entries:
        if "url" in entry:
            from airflow_mlpipe.storage import web

            listing.append(("url", entry["url"], digest(web.fingerprint(entry["url"]))))
            continue
        ds, path = entry["datastore"], entry["path"]
        if ds not in datastores:
            raise UserErrorException(
                f"data path {path!r} is on datastore {ds!r}, which this workspace does not define "
                f"(known: {sorted(datastores)})"
            )
        for info, rel in open_store(datastores[ds]).resolve(path):
            listing.append((ds, path, rel, info.size, info.etag))
    return digest(sorted(listing, key=str))


def registry_datastore(pipeline: dict[str, Any]) -> str | None:
    """The datastore holding the workspace's registered datasets and models (its default one)."""
    return pipeline.get("default_datastore") or (pipeline.get("reuse") or {}).get("datastore")


def bind_dataset(
    step_name: str, inp: dict[str, Any], value: dict[str, Any], pipeline: dict[str, Any]
) -> dict[str, Any]:
    """The dataset spec a dataset parameter's run value (coerce_dataset's forms) means."""
    from airflow_mlpipe.definitions.registered import bound_spec, registry_on

    param = inp["parameter"]
    where = f"step {step_name!r}: dataset parameter {param!r}"
    if "dataset" in value:
        return value["dataset"]
    if "datastore" in value:
        if value["datastore"] not in pipeline["datastores"]:
            raise UserErrorException(
                f"{where} names datastore {value['datastore']!r}, which the workspace does not define "
                f"(known: {sorted(pipeline['datastores'])})"
            )
        default = pipeline["parameters"][param]["default"]["dataset"]
        return {
            "type": default["type"],
            "paths": [{"datastore": value["datastore"], "path": value["path"]}],
            "options": default.get("options", {}),
        }
    ds_name = registry_datastore(pipeline)
    if ds_name is None:
        raise UserErrorException(f"{where}: a registered dataset needs the workspace's default datastore")
    registry = registry_on(open_store(pipeline["datastores"][ds_name]))
    try:
        record = (
            registry.get_by_id(value["id"])
            if "id" in value
            else registry.get(value["name"], value["version"])
        )
    except UserErrorException as exc:
        raise UserErrorException(f"{where}: {exc}") from None
    return bound_spec(record)


def bind_inputs(step: dict[str, Any], parameters: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """The step with each DataPath- and dataset-parameter input bound to this run's value."""
    if not any(i["kind"] in ("datapath_param", "dataset_param") for i in step["inputs"]):
        return step
    datastores = pipeline["datastores"]
    bound = []
    for inp in step["inputs"]:
        if inp["kind"] == "datapath_param":
            value = parameters[inp["parameter"]]
            if value["datastore"] not in datastores:
                raise UserErrorException(
                    f"step {step['name']!r}: DataPath parameter {inp['parameter']!r} names datastore "
                    f"{value['datastore']!r}, which the workspace does not define (known: {sorted(datastores)})"
                )
            inp = {**inp, "kind": "datastore_path", "datastore": value["datastore"], "path": value["path"]}
        elif inp["kind"] == "dataset_param":
            spec = bind_dataset(step["name"], inp, parameters[inp["parameter"]], pipeline)
            inp = {**inp, "kind": "dataset", "dataset": spec}
        bound.append(inp)
    return {**step, "inputs": bound}


def input_paths(inp: dict[str, Any]) -> list[dict[str, str]]:
    """The datastore paths and URLs an input reads (not for PipelineData)."""
    if inp["kind"] == "dataset":
        return inp["dataset"]["paths"]
    return [{"datastore": inp["datastore"], "path": inp["path"]}]


def components(
    step: dict[str, Any],
    parameters: dict[str, Any],
    input_fps: dict[str, str],
    hash_cache: HashCache | None,
    datastores: dict[str, Any] | None = None,
) -> dict[str, Any]:
    source: dict[str, str] = {}
    settings = step.get("settings", {})
    if settings.get("snapshot"):
        source = snapshot_manifest(settings["snapshot"], datastores)
    elif "source_directory" in settings:
        source = source_snapshot(settings["source_directory"], hash_cache)
    return {
        "kind": step["kind"],
        "version": step.get("version"),
        "settings": digest(settings_of(step)),
        "source": source,
        "parameters": {n: parameters[n] for n in referenced_parameters(step)},
        "inputs": dict(sorted(input_fps.items())),
    }


def sql_source_args(ref: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """A SqlDataReference spec (``{"table"|"query"|"procedure", "params"}``) as SqlStore's keyword
    arguments, with this run's parameter values."""
    args: dict[str, Any] = {k: ref[k] for k in ("table", "query", "procedure") if ref.get(k)}
    if ref.get("params"):
        args["params"] = {
            p["name"]: parameters[p["value"]["parameter"]]
            if "parameter" in p["value"]
            else p["value"]["literal"]
            for p in ref["params"]
        }
    return args


def extra_inputs(
    step: dict[str, Any], parameters: dict[str, Any], datastores: dict[str, Any]
) -> dict[str, str]:
    """Content a step reads besides its inputs, by name: a transfer's SQL source, as the hash of
    its rows (read in full: the only way to know a table or query is unchanged)."""
    source = (step.get("settings") or {}).get("source")
    if step["kind"] != "data_transfer" or not source or source["kind"] != "sql":
        return {}
    store = open_store(datastores[source["datastore"]])
    return {"_sql_source": store.fingerprint(**sql_source_args(source, parameters))}


def snapshot_manifest(snapshot: dict[str, Any], datastores: dict[str, Any] | None) -> dict[str, str]:
    """The files of a submitted snapshot, from its manifest on the datastore."""
    from airflow_mlpipe.snapshots import read_manifest

    return read_manifest(open_store((datastores or {})[snapshot["datastore"]]), snapshot["id"])


def fingerprint(comp: dict[str, Any]) -> str:
    return digest({**comp, "source": digest(sorted(comp["source"].items()))})


def explain(current: dict[str, Any], last: dict[str, Any] | None, limit: int = 5) -> list[str]:
    """Why ``current`` is not the last committed result of the step: each difference, named."""
    if last is None:
        return ["no committed result for this step yet"]
    reasons = []
    if current["version"] != last.get("version"):
        reasons.append(f"version changed: {last.get('version')!r} -> {current['version']!r}")
    if current["settings"] != last.get("settings"):
        reasons.append("step settings changed (script name, arguments, inputs or outputs)")
    old_src, new_src = last.get("source", {}), current["source"]
    changed = sorted(f for f in new_src if f in old_src and new_src[f] != old_src[f])
    added = sorted(set(new_src) - set(old_src))
    removed = sorted(set(old_src) - set(new_src))
    for label, files in (("changed", changed), ("added", added), ("removed", removed)):
        if files:
            more = f" and {len(files) - limit} more" if len(files) > limit else ""
            reasons.append(f"source files {label}: {', '.join(files[:limit])}{more}")
    for name, value in current["parameters"].items():
        old = last.get("parameters", {}).get(name, "<unset>")
        if old != value:
            reasons.append(f"parameter {name}: {old!r} -> {value!r}")
    for name, fp in current["inputs"].items():
        if last.get("inputs", {}).get(name) != fp:
            reasons.append(f"input {name!r} has different content")
    return reasons or ["its committed result is missing or no longer valid"]


def age_limit(step: dict[str, Any], reuse: dict[str, Any]) -> float | None:
    limits = [x for x in (step.get("max_reuse_age"), reuse.get("max_age")) if x is not None]
    return min(limits) if limits else None


def expired(entry: dict[str, Any], limit: float | None, now: float | None = None) -> bool:
    return limit is not None and (now or time.time()) - entry["committed_at"] > limit


# --- the reuse decision: worker, triggerer and plan ------------------------------------------


@dataclass
class Decision:
    """Whether a step reuses a committed result, and why."""

    verdict: Literal["reuse", "run"]
    reasons: list[str]  # why, as ``plan`` shows it
    fingerprint: str | None = None
    components: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None  # the committed entry, for "reuse"
    forced: bool = False  # allow_reuse=False, regenerate_outputs or force_rerun
    log: list[LogLine] = field(default_factory=list)  # what the step logs, in order


def run_parameters(declared: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """The run's value of every parameter a pipeline declares: given (Airflow validated it) or its
    default, coerced to the parameter's type."""
    from airflow_mlpipe.definitions.parameter import coerce_param

    return {
        name: coerce_param(name, p["type"], given[name] if name in given else p["default"], where=where)
        for name, p in declared.items()
    }


def forced_reason(step: dict[str, Any], given: dict[str, Any]) -> str | None:
    """Why a step runs whatever the cache holds (``given``: the run's params), or None."""
    if not step.get("allow_reuse", True):
        return "allow_reuse=False"
    if given.get("regenerate_outputs"):
        return "regenerate_outputs is set for this run"
    if step["name"] in (given.get("force_rerun") or []):
        return "force_rerun names this step"
    return None


def upstream_fingerprint(loc: dict[str, Any]) -> str:
    """A PipelineData input's content, from its producer's step result."""
    return loc.get("content_hash") or digest({k: loc[k] for k in ("datastore", "path")})


def path_input_fingerprint(inp: dict[str, Any], datastores: dict[str, Any], pinned: dict[str, str]) -> str:
    """A datastore-path or dataset input's content: a registered version's (``pinned``, just
    checked) or what is at its paths now."""
    return pinned.get(inp["name"]) or dataset_fingerprint(datastores, input_paths(inp))


def entry_problem(
    cache: Any, entry: dict[str, Any], step: dict[str, Any], reuse: dict[str, Any]
) -> tuple[str, LogLine] | None:
    """Why a committed entry cannot be reused (the reason and the step's log line), or None."""
    limit = age_limit(step, reuse)
    if expired(entry, limit):
        assert limit is not None
        return (
            f"the committed result is older than {limit:.0f}s",
            ("reuse: the committed result is older than %.0fs; the step runs", (limit,)),
        )
    missing = cache.missing_outputs(entry)
    if missing:
        return missing, ("reuse: the committed result cannot be used (%s); the step runs", (missing,))
    return None


def decide_reuse(
    step: dict[str, Any],
    parameters: dict[str, Any],
    input_fps: dict[str, str],
    *,
    cache: Any,
    datastores: dict[str, Any],
    reuse: dict[str, Any],
    given: dict[str, Any],
    dag_id: str,
    hash_cache: HashCache | None,
    pending: list[str] | None = None,
) -> Decision:
    """Fingerprint a step and find a committed result it may reuse. ``input_fps``: its inputs'
    content by name (from upstream results, datastores, a SQL source); ``given``: the run's params
    (regenerate_outputs, force_rerun); ``pending``: inputs whose content is not known yet (``plan``:
    their producer runs), so no fingerprint can be made."""
    forced = forced_reason(step, given)
    if pending:
        reasons = (
            [forced] if forced else [*pending, "reused after all if that output comes out byte-identical"]
        )
        return Decision("run", reasons, forced=bool(forced))
    comp = components(step, parameters, input_fps, hash_cache, datastores)
    fp = fingerprint(comp)
    decision = Decision("run", [], fp, comp, forced=bool(forced), log=[("reuse: fingerprint %s", (fp,))])
    if forced:
        decision.reasons = [forced]
        decision.log.append(("reuse: the step runs: %s", (forced,)))
        return decision
    entry = cache.lookup(fp)
    if entry is not None:
        problem = entry_problem(cache, entry, step, reuse)
        if problem is None:
            decision.verdict, decision.entry = "reuse", entry
            decision.reasons = [reuse_reason(entry["origin"])]
            return decision
        decision.reasons = [problem[0]]
        decision.log.append(problem[1])
    reasons = explain(comp, cache.last_committed(dag_id, step["name"]))
    decision.reasons = decision.reasons or reasons
    decision.log += [("reuse: the step runs: %s", (reason,)) for reason in reasons]
    return decision


def reuse_reason(origin: dict[str, Any]) -> str:
    """Why a step reuses a committed result: the run it comes from (as ``plan`` words it)."""
    return f"unchanged since run {origin['run_id']} (task {origin['task_id']}, try {origin['try_number']})"


def reuse_log_lines(entry: dict[str, Any]) -> list[LogLine]:
    """What a reused step logs: the run whose result it reuses (the origin line), and its metrics."""
    origin = entry["origin"]
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry["committed_at"]))
    lines: list[LogLine] = [
        (
            "reuse: reusing the result of task %s in run %s of DAG %s (try %s), committed %s; "
            "the script does not run",
            (origin["task_id"], origin["run_id"], origin["dag_id"], origin["try_number"], when),
        )
    ]
    lines += [("metric %s = %s (reused)", (name, value)) for name, value in entry["metrics"].items()]
    return lines


def reused_result(step: dict[str, Any], entry: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The step result (its XCom) of a step that reuses ``entry``."""
    return {
        "format": RESULT_FORMAT,
        "step": step["name"],
        "kind": step["kind"],
        "outputs": entry["outputs"],
        "parameters": parameters,
        "metrics": entry["metrics"],
        "parent_metrics": entry.get("parent_metrics", {}),
        **{k: entry.get(k, {}) for k in (*RUN_FILE_KINDS, "tags", "parent_tags")},
        "reused_from": {
            **entry["origin"],
            "committed_at": entry["committed_at"],
            "fingerprint": entry["fingerprint"],
        },
        "reuse_reasons": [reuse_reason(entry["origin"])],  # why the step did not run (tracking pages)
    }
