"""StepReuseTrigger (triggers/reuse.py): its run() driven with asyncio against a real local cache.

The triggerer's task instance (Airflow's RuntimeTaskInstance, which talks to the triggerer's
supervisor) is the process boundary: ``RuntimeTI`` below stands in for it with the calls the trigger
makes, and the real step operator as its task. Airflow has no helper that builds a start-from-trigger task instance without a
metadata database (dag.test does not start tasks in the triggerer), so the real comms are left to
the integration test.
"""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_mlpipe.reuse import decide
from airflow_mlpipe.translator import build_dag
from airflow_mlpipe.triggers.reuse import StepReuseTrigger, pipeline_slice

OUTPUT_OF_A = {
    "datastore": "workspaceblobstore",
    "path": "mlpipe/runs/p/r2/a/try1-x/d",
    "files": 1,
    "bytes": 1,
    "content_hash": "content-of-d",
}


class RuntimeTI:
    """Stands in for Airflow's RuntimeTaskInstance in the triggerer: the run's params, the XComs
    of this run (task id -> return_value) and its task states."""

    def __init__(self, params=None, xcoms=None, states=None, delay=0.0):
        self.dag_id, self.run_id, self.task_id, self.map_index = "p", "r2", "b", -1
        self.task = None  # the step operator of the DAG the translator builds (run_trigger)
        self.params = params or {}
        self.xcoms = {"a": {"outputs": {"d": OUTPUT_OF_A}}} if xcoms is None else xcoms
        self.states = states or {}
        self.delay = delay
        self.pulls = []
        self.pushed = {}

    def get_template_context(self):
        return {"params": self.params}

    async def axcom_pull(self, task_ids, key="return_value", *, map_indexes=None):
        # without map_indexes=-1 the pull asks for a sequence slice, which the triggerer does not serve
        assert map_indexes == -1 and key == "return_value"
        self.pulls.append(task_ids)
        await asyncio.sleep(self.delay)
        return self.xcoms.get(task_ids)

    def get_task_states(self, dag_id, run_ids):
        return {self.run_id: self.states}


def run_trigger(spec, ti, push_error=None, **kw):
    step = spec["steps"][1]
    pipeline = pipeline_slice({**spec, "dag_id": "p", "stop_on_failure": True}, step)
    trigger = StepReuseTrigger(step=step, pipeline=pipeline, **kw)
    ti.task = build_dag(spec, "p").get_task("b")
    trigger.task_instance = ti

    async def aset(key, value, *, dag_id, task_id, run_id, map_index=-1, **_):
        # the XCom backend's push, which in the triggerer goes to the supervisor (no comms here)
        assert (dag_id, task_id, run_id, map_index) == (ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        if push_error is not None:
            raise push_error
        ti.pushed[key] = value

    async def first_event():
        events = [event async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(XCom, "aset", aset)
        return asyncio.run(first_event())


def test_a_reused_step_ends_in_the_trigger_with_the_workers_result(spec, decide_b, commit_b, capsys):
    _, entry = commit_b(spec, decide_b(spec))
    ti = RuntimeTI(params={"n": "1"})
    event = run_trigger(spec, ti)
    logged = capsys.readouterr().out  # the trigger's log (Airflow's structlog writes it to stdout here)
    assert isinstance(event, TaskSuccessEvent) and ti.pulls == ["a"]
    # pushed through the Task SDK like a worker's result: Airflow 3.3 stores TaskSuccessEvent's
    # xcoms as a JSON string that downstream tasks would pull as a str
    assert not event.xcoms and list(ti.pushed) == ["return_value"]
    result = ti.pushed["return_value"]
    # the very dict a worker that reuses this entry pushes (ReuseSteps.reused_result)
    assert result == decide.reused_result(spec["steps"][1], entry, {"n": 1})
    assert result["outputs"] == entry["outputs"] and result["parameters"] == {"n": 1}
    assert "reuse: reusing the result of task b in run r1 of DAG p (try 1)" in logged
    assert "metric acc = 0.5 (reused)" in logged


@pytest.mark.parametrize(
    ("ti", "reason"),
    [
        (RuntimeTI(), "no committed result for this step yet"),
        (RuntimeTI(params={"force_rerun": ["b"]}), "force_rerun names this step"),
        (RuntimeTI(params={"regenerate_outputs": True}), "regenerate_outputs is set for this run"),
        (RuntimeTI(states={"a": "success", "c": "failed"}), "step(s) ['c'] of this run failed"),
        (RuntimeTI(xcoms={}), "no result of step 'a' for input 'd' in this run"),
    ],
)
def test_every_other_outcome_hands_the_step_to_a_worker(spec, ti, reason):
    event = run_trigger(spec, ti)
    assert type(event) is TriggerEvent and event.payload["reason"] == reason
    assert ti.pushed == {}  # a hand-over writes nothing: the worker pushes the step's result


def test_a_failed_sibling_is_ignored_when_the_run_continues_on_failure(spec):
    ti = RuntimeTI(params={"continue_on_step_failure": True}, states={"c": "failed"})
    assert run_trigger(spec, ti).payload["reason"] == "no committed result for this step yet"


def test_an_error_or_a_timeout_hands_over_instead_of_failing_the_task(spec):
    event = run_trigger(spec, RuntimeTI(delay=5), decide_timeout=0.05)
    assert type(event) is TriggerEvent and "TimeoutError" in event.payload["reason"]
    spec["datastores"]["workspaceblobstore"] = {"type": "no-such-store"}
    event = run_trigger(spec, RuntimeTI())
    assert event.payload["reason"].startswith("could not decide in the triggerer")


def test_a_result_the_triggerer_cannot_store_goes_to_a_worker(spec, decide_b, commit_b):
    commit_b(spec, decide_b(spec))
    ti = RuntimeTI(params={"n": "1"})
    event = run_trigger(spec, ti, push_error=RuntimeError("API server said 500"))
    assert type(event) is TriggerEvent and ti.pushed == {}
    assert event.payload["reason"].startswith("could not store the reused result from the triggerer")
    assert "API server said 500" in event.payload["reason"]


def test_serialize_round_trips_through_airflows_encoding(spec):
    from airflow.serialization.serialized_objects import BaseSerialization

    step = spec["steps"][1]
    trigger = StepReuseTrigger(step=step, pipeline=pipeline_slice(spec, step), decide_timeout=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlpipe.triggers.reuse.StepReuseTrigger"
    again = StepReuseTrigger(**BaseSerialization.deserialize(BaseSerialization.serialize(kwargs)))
    assert again.serialize() == (classpath, kwargs)
    assert again.step == step and set(again.pipeline["data"]) == {"d"}  # only the step's own PipelineData
    # one string, not nested dicts: the triggerer deserializes the whole DAG per trigger it starts
    assert set(kwargs) == {"spec", "decide_timeout"} and isinstance(kwargs["spec"], str)


# --- wiring: which steps start in the triggerer (translator.build_dag) -------------------------


def started_in_triggerer(spec):
    dag = build_dag(spec, "p")
    return {t.task_id: t.start_from_trigger for t in dag.tasks}


def test_steps_start_in_the_triggerer_only_when_it_sees_their_source(spec, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "0")  # auto: every stage is wider than that
    assert started_in_triggerer(spec) == {"a": False, "b": False}  # local folders: off by default
    monkeypatch.setenv("AIRFLOW__MLPIPE__TRIGGERER_SHARES_SOURCE", "True")
    assert started_in_triggerer(spec) == {"a": True, "b": True}
    spec["steps"][1]["allow_reuse"] = False
    assert started_in_triggerer(spec) == {"a": True, "b": False}
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER_MAX_STEPS", "1")
    assert started_in_triggerer(spec) == {"a": False, "b": False}  # auto: a bigger DAG keeps workers
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER", "on")
    assert started_in_triggerer(spec) == {"a": True, "b": False}
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER", "off")
    assert started_in_triggerer(spec) == {"a": False, "b": False}
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER", "sometimes")
    with pytest.raises(ValueError, match="reuse_in_triggerer is 'sometimes'; use one of auto, on, off"):
        build_dag(spec, "p")


def test_auto_starts_steps_in_the_triggerer_only_for_stages_wider_than_the_worker_slots(
    spec, tmp_path, monkeypatch
):
    from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace
    from airflow_mlpipe.translator import widest_stage

    monkeypatch.setenv("AIRFLOW__MLPIPE__TRIGGERER_SHARES_SOURCE", "True")
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "2")
    assert widest_stage(spec["steps"]) == 1 and started_in_triggerer(spec) == {"a": False, "b": False}
    # first -> 3 at once -> last: a stage of 3 steps, more than 2 worker slots
    first_out, outs = PipelineData("f"), [PipelineData(f"o{i}") for i in range(3)]
    first = PythonScriptStep(
        "a.py", name="first", arguments=[first_out], outputs=[first_out], source_directory="src"
    )
    mid = [
        PythonScriptStep(
            "a.py",
            name=f"m{i}",
            arguments=[first_out, o],
            inputs=[first_out],
            outputs=[o],
            source_directory="src",
        )
        for i, o in enumerate(outs)
    ]
    last = PythonScriptStep("a.py", name="last", arguments=outs, inputs=outs, source_directory="src")
    wide = Pipeline(Workspace.from_config(), [first, *mid, last]).to_spec()
    assert widest_stage(wide["steps"]) == 3
    assert set(started_in_triggerer(wide).values()) == {True}
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "3")
    assert set(started_in_triggerer(wide).values()) == {False}
    # per DAG, over the option
    on = build_dag(spec, "p", reuse_in_triggerer="on")
    assert {t.task_id: t.start_from_trigger for t in on.tasks} == {"a": True, "b": True}
    with pytest.raises(ValueError, match="DAG 'p': reuse_in_triggerer is 'always'; use one of auto, on, off"):
        build_dag(spec, "p", reuse_in_triggerer="always")
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER", "on")  # on: whatever the width
    assert set(started_in_triggerer(wide).values()) == {True}
    off = build_dag(wide, "p", reuse_in_triggerer="off")
    assert {t.start_from_trigger for t in off.tasks} == {False}


def test_older_airflow_keeps_every_step_on_workers(spec, monkeypatch):
    import airflow

    monkeypatch.setenv("AIRFLOW__MLPIPE__TRIGGERER_SHARES_SOURCE", "True")
    monkeypatch.setattr(airflow, "__version__", "3.2.1")  # start_from_trigger is switched off there
    assert started_in_triggerer(spec) == {"a": False, "b": False}


def test_the_serialized_dag_recreates_the_trigger_as_the_triggerer_does(spec, monkeypatch):
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("AIRFLOW__MLPIPE__TRIGGERER_SHARES_SOURCE", "True")
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER", "on")
    task = DagSerialization.from_dict(DagSerialization.to_dict(build_dag(spec, "p"))).get_task("b")
    args = task.start_trigger_args
    assert task.start_from_trigger and args.next_method == "execute_after_trigger" and args.timeout is None
    assert args.trigger_cls == "airflow_mlpipe.triggers.reuse.StepReuseTrigger"
    kwargs = {
        k: smart_decode_trigger_kwargs(v) for k, v in smart_decode_trigger_kwargs(args.trigger_kwargs).items()
    }
    trigger = StepReuseTrigger(**kwargs)
    assert trigger.step == spec["steps"][1] and set(trigger.pipeline["data"]) == {"d"}
