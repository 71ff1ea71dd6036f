"""The reuse half of the step protocol: fingerprint a step, find a committed result it may reuse,
return that result instead of running, or commit a new one. Mixed into StepOperator (base.py)."""

from __future__ import annotations

import time
from typing import Any

RESULT_FORMAT = "mlpipe.step-result/1"
RUN_FILE_KINDS = ("files", "parent_files")  # run files a result lists (StepOperator.store_run_files)


class ReuseSteps:
    """Needs of the operator: ``step``, ``pipeline``, ``task_id``, ``log``, ``datastore_store`` and
    ``upstream_output``."""

    step: dict[str, Any]
    pipeline: dict[str, Any]
    task_id: str
    log: Any

    def reuse_decision(self, context: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        """Fingerprint the step and find a committed result it may reuse."""
        from airflow_mlpipe.reuse import decide
        from airflow_mlpipe.reuse.fingerprint import default_hash_cache

        reuse = self.pipeline.get("reuse") or {}
        if not reuse.get("datastore"):
            self.log.info("reuse: no cache datastore; the step runs")
            return {"entry": None, "cache": None, "fingerprint": None, "forced": False}
        inputs = {i["name"]: self.input_fingerprint(context, i) for i in self.step["inputs"]}
        inputs.update(self.extra_input_fingerprints(context, parameters))
        comp = decide.components(
            self.step, parameters, inputs, default_hash_cache(), self.pipeline["datastores"]
        )
        fp = decide.fingerprint(comp)
        cache = self.cache_store()
        given = context.get("params") or {}
        forced = None
        if not self.step.get("allow_reuse", True):
            forced = "allow_reuse=False"
        elif given.get("regenerate_outputs"):
            forced = "regenerate_outputs is set for this run"
        elif self.step["name"] in (given.get("force_rerun") or []):
            forced = "force_rerun names this step"
        decision = {
            "entry": None,
            "cache": cache,
            "fingerprint": fp,
            "components": comp,
            "forced": bool(forced),
        }
        self.log.info("reuse: fingerprint %s", fp)
        if forced:
            self.log.info("reuse: the step runs: %s", forced)
            return decision
        entry = self.usable_entry(cache, fp)
        if entry is not None:
            decision["entry"] = entry
            return decision
        last = cache.last_committed(self.dag_id_for_cache(context), self.step["name"])
        for reason in decide.explain(comp, last):
            self.log.info("reuse: the step runs: %s", reason)
        return decision

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
        limit = decide.age_limit(self.step, self.pipeline.get("reuse") or {})
        if decide.expired(entry, limit):
            self.log.info("reuse: the committed result is older than %.0fs; the step runs", limit)
            return None
        missing = cache.missing_outputs(entry)
        if missing:
            self.log.info("reuse: the committed result cannot be used (%s); the step runs", missing)
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
            loc = self.upstream_output(context, inp["data"])
            return loc.get("content_hash") or decide.digest({k: loc[k] for k in ("datastore", "path")})
        checked = getattr(self, "_pinned_fingerprints", {}).get(
            inp["name"]
        )  # a registered version's, just read
        return checked or decide.dataset_fingerprint(self.pipeline["datastores"], decide.input_paths(inp))

    def reused_result(self, entry: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        origin = entry["origin"]
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry["committed_at"]))
        self.log.info(
            "reuse: reusing the result of task %s in run %s of DAG %s (try %s), committed %s; "
            "the script does not run",
            origin["task_id"],
            origin["run_id"],
            origin["dag_id"],
            origin["try_number"],
            when,
        )
        for name, value in entry["metrics"].items():
            self.log.info("metric %s = %s (reused)", name, value)
        return {
            "format": RESULT_FORMAT,
            "step": self.step["name"],
            "kind": self.step["kind"],
            "outputs": entry["outputs"],
            "parameters": parameters,
            "metrics": entry["metrics"],
            "parent_metrics": entry.get("parent_metrics", {}),
            **{k: entry.get(k, {}) for k in (*RUN_FILE_KINDS, "tags", "parent_tags")},
            "reused_from": {
                **origin,
                "committed_at": entry["committed_at"],
                "fingerprint": entry["fingerprint"],
            },
        }

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
