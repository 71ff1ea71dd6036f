"""StepReuseTrigger: decides in the triggerer whether a step reuses a committed result, so a reused
step ends without a worker (Airflow >= 3.3, ``start_from_trigger``).

Reused: the task ends here (``TaskSuccessEvent``) with the same step result a worker pushes and
the same log lines, the origin run's among them. Any other outcome (a miss, a forced
run, a failed sibling, an error, a timeout) hands the task to a worker with a plain
``TriggerEvent``; the worker resumes in ``StepOperator.execute_after_trigger`` and runs the whole
step protocol as before. The trigger only reads (no lease, no write), so running it again after a
triggerer died neither loses the run nor runs a step twice. See docs/design-reuse-in-triggerer.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from airflow_mlpipe.reuse import decide

DECIDE_TIMEOUT = 120.0  # seconds; then the step goes to a worker
MAX_CONCURRENT_DECISIONS = 8  # datastore reads at once per triggerer, across all reuse triggers
# the pipeline keys a decision reads (the step's slice of the DAG's pipeline context)
PIPELINE_KEYS = ("datastores", "parameters", "reuse", "default_datastore", "stop_on_failure", "dag_id")

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def pipeline_slice(pipeline: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """What the trigger needs of a step's pipeline context: not the whole ``data`` map (it lists
    every PipelineData, so copying it into every task would make the DAG O(steps^2)), only the
    entries of this step's inputs."""
    part = {key: pipeline.get(key) for key in PIPELINE_KEYS}
    data = pipeline.get("data") or {}
    part["data"] = {i["data"]: data[i["data"]] for i in step["inputs"] if i["kind"] == "pipeline_data"}
    return part


def _semaphore() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _semaphores:
        _semaphores[loop] = asyncio.Semaphore(MAX_CONCURRENT_DECISIONS)
    return _semaphores[loop]


async def _test_pause(ti: Any) -> None:
    """Test hook (tests/integration/test_reuse_triggerer_e2e.py): with ``MLPIPE_TEST_REUSE_PAUSE``
    naming a file, a decided trigger marks ``<file>.<task_id>`` and waits while the file exists,
    so a test can kill the triggerer between the decision and its outcome."""
    flag = os.environ.get("MLPIPE_TEST_REUSE_PAUSE")
    if not flag or not os.path.exists(flag):
        return
    with open(f"{flag}.{ti.task_id}", "a") as mark:
        mark.write(f"{ti.run_id}\n")
    while os.path.exists(flag):
        await asyncio.sleep(0.2)


async def push_result(ti: Any, result: dict[str, Any]) -> None:
    """The step's result as this try's ``return_value``, through the configured XCom backend as a
    worker pushes it. Not ``ti.axcom_push``: in the triggerer ``ti.task`` is the serialized operator,
    which lacks the ``returns_dag_result`` that method reads (Airflow 3.3); a step's result is never
    the DAG's result."""
    from airflow.sdk.execution_time.xcom import XCom

    await XCom.aset(
        key="return_value",
        value=result,
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=ti.map_index,
    )


class HandOver(Exception):
    """The triggerer does not decide this step: a worker runs the step protocol (the reason)."""


def decide_step(
    step: dict[str, Any],
    pipeline: dict[str, Any],
    given: dict[str, Any],
    upstream: dict[str, dict[str, Any]],
    dag_id: str,
    where: str,
) -> tuple[decide.Decision, dict[str, Any]]:
    """The reuse decision and the run's parameters, as a worker takes it (blocking datastore reads;
    run it in a thread). ``upstream``: PipelineData name -> the producer's output in this run."""
    from airflow_mlpipe.definitions.registered import check_pinned
    from airflow_mlpipe.reuse.cache import CacheStore
    from airflow_mlpipe.reuse.fingerprint import default_hash_cache
    from airflow_mlpipe.storage import open_store

    datastores = pipeline["datastores"]
    parameters = decide.run_parameters(pipeline["parameters"], given, where=where)
    step = decide.bind_inputs(step, parameters, pipeline)
    pinned: dict[str, str] = {}
    for inp in step["inputs"]:
        if inp["kind"] == "dataset":
            now = check_pinned(inp["dataset"], datastores)
            if now is not None:
                pinned[inp["name"]] = now
    inputs = {
        i["name"]: decide.upstream_fingerprint(upstream[i["data"]])
        if i["kind"] == "pipeline_data"
        else decide.path_input_fingerprint(i, datastores, pinned)
        for i in step["inputs"]
    }
    reuse = pipeline["reuse"]
    decision = decide.decide_reuse(
        step,
        parameters,
        inputs,
        cache=CacheStore(open_store(datastores[reuse["datastore"]]), datastores),
        datastores=datastores,
        reuse=reuse,
        given=given,
        dag_id=dag_id,
        hash_cache=default_hash_cache(),
    )
    return decision, parameters


class StepReuseTrigger(BaseTrigger):
    """Decides whether step ``step`` (a spec, as bound by the translator) of a pipeline
    (``pipeline``: ``pipeline_slice``) reuses a committed result, within ``decide_timeout`` seconds,
    and ends the task with that result or hands it to a worker."""

    def __init__(
        self,
        step: dict[str, Any] | None = None,
        pipeline: dict[str, Any] | None = None,
        decide_timeout: float = DECIDE_TIMEOUT,
        spec: str | None = None,
    ):
        super().__init__()
        if spec is not None:  # as serialized: one JSON string holding both
            step, pipeline = (lambda d: (d["step"], d["pipeline"]))(json.loads(spec))
        if step is None or pipeline is None:
            raise ValueError("StepReuseTrigger needs a step and its pipeline slice (or spec)")
        self.step = step
        self.pipeline = pipeline
        self.decide_timeout = decide_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # The step and its pipeline slice travel as ONE JSON string: these kwargs are part of the
        # serialized DAG (start_trigger_args), which Airflow 3.3's triggerer deserializes whole for
        # every trigger it starts. Nested dicts cost BaseSerialization a wrapper per level: on a
        # 100-step pipeline DagSerialization.from_dict took 0.22 s with them, 0.01 s with a string.
        spec = json.dumps(
            {"step": self.step, "pipeline": self.pipeline}, separators=(",", ":"), sort_keys=True
        )
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"spec": spec, "decide_timeout": self.decide_timeout},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            decision, parameters = await asyncio.wait_for(self._decide(), timeout=self.decide_timeout)
        except asyncio.CancelledError:
            raise  # the triggerer stops or a user acted: Airflow runs this trigger again or ends it
        except HandOver as why:
            yield self._hand_over(str(why))
            return
        except Exception as exc:  # an error or the timeout: never fail the task here, a worker retries
            yield self._hand_over(f"could not decide in the triggerer ({exc!r})")
            return
        for msg, args in decision.log:
            self.log.info(msg, *args)
        await _test_pause(self.task_instance)
        if decision.verdict != "reuse" or decision.entry is None:
            yield self._hand_over("; ".join(decision.reasons), decision.fingerprint)
            return
        for msg, args in decide.reuse_log_lines(decision.entry):
            self.log.info(msg, *args)
        # The result goes through the Task SDK, as a worker's does (the XCom backend applies), not
        # in TaskSuccessEvent(xcoms=...): Airflow 3.3 stores those with XComModel.set(serialize=True),
        # a JSON string inside the JSON column, so a downstream task's xcom_pull gets a str. Pushing
        # again after a triggerer restart overwrites the same value.
        try:
            await push_result(self.task_instance, decide.reused_result(self.step, decision.entry, parameters))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the API server or XCom backend refused: a worker pushes it instead
            yield self._hand_over(f"could not store the reused result from the triggerer ({exc!r})")
            return
        yield TaskSuccessEvent()

    def _hand_over(self, reason: str, fingerprint: str | None = None) -> TriggerEvent:
        self.log.info("reuse: the step runs on a worker: %s", reason)
        return TriggerEvent({"reason": reason, "fingerprint": fingerprint})

    async def _decide(self) -> tuple[decide.Decision, dict[str, Any]]:
        from airflow_mlpipe.runstatus import failed_steps, stops_on_failure

        ti = self.task_instance
        if ti is None:
            raise HandOver("the triggerer gave no task instance")
        given = dict(ti.get_template_context().get("params") or {})
        forced = decide.forced_reason(self.step, given)
        if forced:  # the worker fingerprints and runs it; nothing to read here
            raise HandOver(forced)
        n_tasks = len(getattr(getattr(ti.task, "dag", None), "task_dict", None) or {}) or 2
        if stops_on_failure(self.pipeline.get("stop_on_failure"), given, n_tasks):
            states = await asyncio.to_thread(ti.get_task_states, dag_id=ti.dag_id, run_ids=[ti.run_id])
            failed = failed_steps(states.get(ti.run_id, {}), ti.task_id)
            if failed:  # the worker stops the step as it does today (STOPPED_KEY, no retries)
                raise HandOver(f"step(s) {failed} of this run failed")
        upstream = dict(
            await asyncio.gather(
                *(self._upstream(ti, i) for i in self.step["inputs"] if i["kind"] == "pipeline_data")
            )
        )
        dag_id = self.pipeline.get("dag_id") or ti.dag_id
        async with _semaphore():
            return await asyncio.to_thread(
                decide_step, self.step, self.pipeline, given, upstream, dag_id, f"step {ti.task_id!r}"
            )

    async def _upstream(self, ti: Any, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The producer's output ``inp`` reads, from its step result in this run. ``map_indexes=-1``:
        without it the pull asks for a sequence slice, which the triggerer does not serve."""
        from airflow_mlpipe.spec import task_id_for

        producer = (self.pipeline["data"].get(inp["data"]) or {}).get("producer")
        if not producer:
            raise HandOver(f"no producer known for input {inp['name']!r}")
        task_id = task_id_for(producer)
        result = await ti.axcom_pull(task_ids=task_id, key="return_value", map_indexes=-1)
        if not isinstance(result, dict) or inp["data"] not in (result.get("outputs") or {}):
            raise HandOver(f"no result of step {producer!r} for input {inp['name']!r} in this run")
        return inp["data"], {**result["outputs"][inp["data"]], "producer": task_id}
