"""The reuse half of the step protocol: fingerprint a step, find a committed result it may reuse,
return that result instead of running, or commit a new one. Mixed into StepOperator (base.py)."""

from __future__ import annotations

import time
from typing import Any

from airflow_mlpipe.reuse.decide import RESULT_FORMAT, RUN_FILE_KINDS

__all__ = [
    "RESULT_FORMAT",
    "RUN_FILE_KINDS",
    "ReuseSteps",
    "pipeline_reuse_blocker",
    "reuse_in_triggerer_mode",
    "step_reuse_blocker",
]

FIRST_AIRFLOW_STARTING_IN_TRIGGERER = "3.3.0"  # start_from_trigger was switched off in 3.0-3.2
REUSE_IN_TRIGGERER_MODES = ("auto", "on", "off")
# [mlpipe] reuse_in_triggerer = auto: only for DAGs up to this many steps. Airflow 3.3's triggerer
# deserializes the whole DAG in its event loop for every trigger it starts (about 10 ms per 100
# steps, measured with the trigger kwargs as one string): at 500 steps, ~50 ms that every other
# trigger of the deployment waits, 500 times per run. Workers parse the DAG per task too, so this
# bounds the triggerer's share of the cost, not a point where workers become faster.
AUTO_MAX_STEPS = 500


def reuse_in_triggerer_mode(mode: str | None, dag_id: str) -> str:
    """The DAG's ``reuse_in_triggerer`` (auto, on, off): its own, else ``[mlpipe] reuse_in_triggerer``;
    a value that is none of them is an error naming where it came from."""
    from airflow.configuration import conf

    where = f"DAG {dag_id!r}: reuse_in_triggerer"
    if mode is None:
        where, mode = "[mlpipe] reuse_in_triggerer", conf.get("mlpipe", "reuse_in_triggerer", fallback="auto")
    if str(mode).strip().lower() not in REUSE_IN_TRIGGERER_MODES:
        raise ValueError(f"{where} is {mode!r}; use one of {', '.join(REUSE_IN_TRIGGERER_MODES)}")
    return str(mode).strip().lower()


def pipeline_reuse_blocker(mode: str, n_steps: int, widest: int) -> str | None:
    """Why no step of a pipeline of ``n_steps`` steps, at most ``widest`` of them in one stage of
    its graph, starts in the triggerer, or None. Read once per DAG: Airflow's version, the resolved
    ``mode``, ``[mlpipe] reuse_in_triggerer_max_steps`` and ``[core] parallelism``."""
    from airflow import __version__ as airflow_version
    from airflow.configuration import conf
    from packaging.version import Version

    if Version(airflow_version) < Version(FIRST_AIRFLOW_STARTING_IN_TRIGGERER):
        return f"Airflow {airflow_version} starts no task in the triggerer (3.3 does)"
    if mode == "off":
        return "reuse_in_triggerer is off"
    if mode == "on":
        return None
    max_steps = conf.getint("mlpipe", "reuse_in_triggerer_max_steps", fallback=AUTO_MAX_STEPS)
    if n_steps > max_steps:
        return (
            f"the pipeline has {n_steps} steps, more than [mlpipe] reuse_in_triggerer_max_steps ({max_steps})"
        )
    parallelism = conf.getint("core", "parallelism", fallback=32)
    if widest <= parallelism:
        # each stage through the triggerer waits for its two one-second loops: quicker only when
        # the stage's steps would otherwise queue for worker slots (docs/performance.md)
        return (
            f"auto: no stage of the pipeline has more steps ({widest}) than [core] parallelism "
            f"({parallelism}), so workers take them at once"
        )
    return None


def step_reuse_blocker(step: dict[str, Any], pipeline: dict[str, Any]) -> str | None:
    """Why this step cannot decide its reuse in the triggerer, or None: what it reads or writes
    (``[mlpipe] triggerer_shares_source`` for a local source folder)."""
    from airflow.configuration import conf

    if not (pipeline.get("reuse") or {}).get("datastore"):
        return "no cache datastore"
    if not step.get("allow_reuse", True):
        return "allow_reuse=False"
    settings = step.get("settings") or {}
    if (
        not settings.get("snapshot")
        and settings.get("source_directory")
        and not conf.getboolean("mlpipe", "triggerer_shares_source", fallback=False)
    ):
        # the triggerer would hash its own copy of the folder, which may not be the workers'
        return "its source is a local folder ([mlpipe] triggerer_shares_source is off)"
    if (settings.get("source") or {}).get("kind") == "sql":
        return "a SQL source is read in full to fingerprint it, which belongs on a worker"
    data = pipeline.get("data") or {}
    if any((data.get(out["name"]) or {}).get("register") for out in step["outputs"]):
        return "an output is registered as a dataset when the step ends (a write)"
    return None


class ReuseSteps:
    """Needs of the operator: ``step``, ``pipeline``, ``task_id``, ``log``, ``datastore_store`` and
    ``upstream_output``."""

    step: dict[str, Any]
    pipeline: dict[str, Any]
    task_id: str
    log: Any

    # why the step ran (the reuse decision's reasons, as ``plan`` words them): in its result as
    # ``reuse_reasons`` for the tracking pages; None until a decision is taken
    reuse_reasons: list[str] | None = None
    # False: the fingerprint needs what only a worker reads (Databricks: the remote code, through its hook)
    reuse_in_triggerer_ok: bool = True

    def enable_reuse_in_triggerer(self) -> str | None:
        """Start this step in the triggerer, which ends it there when it reuses a committed result
        and hands it to a worker otherwise (``execute_after_trigger``); returns why not, or None
        when enabled. Called once the task exists, for a pipeline ``pipeline_reuse_blocker``
        allows (translator.build_dag)."""
        if not self.reuse_in_triggerer_ok:
            return f"{type(self).__name__} fingerprints what only a worker reads"
        why = step_reuse_blocker(self.step, self.pipeline)
        if why is not None:
            return why
        from airflow.triggers.base import StartTriggerArgs

        from airflow_mlpipe.triggers.reuse import StepReuseTrigger, pipeline_slice

        classpath, kwargs = StepReuseTrigger(self.step, pipeline_slice(self.pipeline, self.step)).serialize()
        self.start_from_trigger = True
        # no timeout: an Airflow trigger timeout would fail the try; the trigger's own hands over
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=classpath, next_method="execute_after_trigger", trigger_kwargs=kwargs, timeout=None
        )
        return None

    def execute_after_trigger(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """The step protocol on a worker after the triggerer handed the step over: all of it again
        (the world may have changed since), under the reuse lease as ever."""
        self.log.info("reuse: the triggerer handed the step to a worker: %s", (event or {}).get("reason"))
        return self.execute(context)  # type: ignore[attr-defined]

    def reuse_decision(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        """Fingerprint the step and find a committed result it may reuse (decide.decide_reuse)."""
        from airflow_mlpipe.reuse import decide
        from airflow_mlpipe.reuse.fingerprint import default_hash_cache

        reuse = self.pipeline.get("reuse") or {}
        if not reuse.get("datastore"):
            self.log.info("reuse: no cache datastore; the step runs")
            self.reuse_reasons = ["no cache datastore"]
            return {"entry": None, "cache": None, "fingerprint": None, "forced": False}
        inputs = {i["name"]: self.input_fingerprint(context, i) for i in self.step["inputs"]}
        inputs.update(self.extra_input_fingerprints(context, parameters))
        cache = self.cache_store()
        decision = decide.decide_reuse(
            self.step,
            parameters,
            inputs,
            cache=cache,
            datastores=self.pipeline["datastores"],
            reuse=reuse,
            given=context.get("params") or {},
            dag_id=self.dag_id_for_cache(context),
            hash_cache=default_hash_cache(),
        )
        for msg, args in decision.log:
            self.log.info(msg, *args)
        self.reuse_reasons = list(decision.reasons)  # why the step runs, for its result
        return {
            "entry": decision.entry,
            "cache": cache,
            "fingerprint": decision.fingerprint,
            "components": decision.components,
            "forced": decision.forced,
        }

    def cache_store(self) -> Any:
        """The reuse cache on the pipeline's cache datastore."""
        from airflow_mlpipe.reuse.cache import CacheStore

        reuse = self.pipeline["reuse"]
        return CacheStore(
            self.datastore_store(reuse["datastore"], "the reuse cache"), self.pipeline["datastores"]
        )

    def usable_entry(self, cache: Any, fp: str) -> dict[str, Any] | None:
        from airflow_mlpipe.reuse import decide

        entry = cache.lookup(fp)
        if entry is None:
            return None
        problem = decide.entry_problem(cache, entry, self.step, self.pipeline.get("reuse") or {})
        if problem is not None:
            self.log.info(problem[1][0], *problem[1][1])
            return None
        return entry

    def extra_input_fingerprints(self, context: Any, parameters: dict[str, Any]) -> dict[str, str]:
        """Content the step reads besides its inputs (a transfer's SQL source), by name."""
        from airflow_mlpipe.reuse import decide

        return decide.extra_inputs(self.step, parameters, self.pipeline["datastores"])

    def dag_id_for_cache(self, context: Any) -> str:
        return self.pipeline.get("dag_id") or context["ti"].dag_id

    def input_fingerprint(self, context: Any, inp: dict[str, Any]) -> str:
        """An input's content: an upstream output's content hash, or what is at a datastore path now."""
        from airflow_mlpipe.reuse import decide

        if inp["kind"] == "pipeline_data":
            return decide.upstream_fingerprint(self.upstream_output(context, inp["data"]))
        pinned = getattr(self, "_pinned_fingerprints", {})  # a registered version's, just read
        return decide.path_input_fingerprint(inp, self.pipeline["datastores"], pinned)

    def reused_result(self, entry: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlpipe.reuse import decide

        for msg, args in decide.reuse_log_lines(entry):
            self.log.info(msg, *args)
        return decide.reused_result(self.step, entry, parameters)

    def commit(self, context: Any, decision: dict[str, Any], result: dict[str, Any], lease: Any) -> None:
        """Commit the verified result under its fingerprint, unless an input changed meanwhile."""
        from airflow_mlpipe.reuse import decide

        for inp in self.step["inputs"]:
            if inp["kind"] != "pipeline_data":
                now = decide.dataset_fingerprint(self.pipeline["datastores"], decide.input_paths(inp))
                if now != decision["components"]["inputs"][inp["name"]]:
                    self.log.warning(
                        "reuse: input %s changed while the step ran; its result is not committed", inp["name"]
                    )
                    return
        for name, now in self.extra_input_fingerprints(context, result["parameters"]).items():
            if now != decision["components"]["inputs"].get(name):
                self.log.warning("reuse: %s changed while the step ran; its result is not committed", name)
                return
        if lease is not None and lease.get("lost"):
            self.log.warning(
                "reuse: the lease expired while the step ran; committing anyway (results are immutable)"
            )
        ti = context["ti"]
        entry = {
            "fingerprint": decision["fingerprint"],
            "step": self.step["name"],
            "outputs": result["outputs"],
            "metrics": result["metrics"],
            "parent_metrics": result["parent_metrics"],
            **{k: result.get(k, {}) for k in (*RUN_FILE_KINDS, "tags", "parent_tags")},
            "committed_at": time.time(),
            "origin": {
                "dag_id": self.dag_id_for_cache(context),
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "try_number": ti.try_number,
            },
        }
        decision["cache"].commit(entry, decision["components"])
        self.log.info("reuse: committed the result under fingerprint %s", decision["fingerprint"][:12])
