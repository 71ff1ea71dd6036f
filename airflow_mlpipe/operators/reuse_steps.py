"""The reuse half of the step protocol: fingerprint a step, find a committed result it may reuse,
return that result instead of running, or commit a new one. Mixed into StepOperator (base.py)."""

from __future__ import annotations

import time
from typing import Any

from airflow_mlpipe.reuse.decide import RESULT_FORMAT, RUN_FILE_KINDS

__all__ = ["RESULT_FORMAT", "RUN_FILE_KINDS", "ReuseSteps"]


class ReuseSteps:
    """Needs of the operator: ``step``, ``pipeline``, ``task_id``, ``log``, ``datastore_store`` and
    ``upstream_output``."""

    step: dict[str, Any]
    pipeline: dict[str, Any]
    task_id: str
    log: Any

    def reuse_decision(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        """Fingerprint the step and find a committed result it may reuse (decide.decide_reuse)."""
        from airflow_mlpipe.reuse import decide
        from airflow_mlpipe.reuse.fingerprint import default_hash_cache

        reuse = self.pipeline.get("reuse") or {}
        if not reuse.get("datastore"):
            self.log.info("reuse: no cache datastore; the step runs")
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
