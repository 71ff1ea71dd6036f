"""AdlaStepOperator's parts that need no Airflow task instance: how a finished job's outputs are
verified by listing the account's store, and what a failed job's message shows (its error and the
U-SQL line). The whole protocol through Airflow belongs to the integration suite."""

from __future__ import annotations

import pytest

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.adla import JobState
from airflow_mlpipe.operators.adla import AdlaStepOperator, failure_message
from airflow_mlpipe.operators.base import StepRun
from airflow_mlpipe.storage import open_store

SCRIPT = '@a =\n    EXTRACT x int\n    FROM "/in/a.csv"\n    USING Extractors.Csv();\nOUTPUT @a TO "/out/a" USING Outputters.Csv();\n'


def operator(tmp_path) -> AdlaStepOperator:
    lake = {"type": "local", "path": str(tmp_path / "lake"), "name": "lake"}
    step = {"name": "agg", "kind": "adla", "inputs": [], "outputs": [{"name": "result"}], "arguments": [],
            "compute_target": "adla", "settings": {}}  # fmt: skip
    pipeline = {
        "datastores": {"lake": lake},
        "data": {"result": {"datastore": "lake", "is_directory": True}},
        "compute_targets": {
            "adla": {"name": "adla", "type": "DataLakeAnalytics", "conn_id": "c", "datastore": "lake"}
        },
    }
    return AdlaStepOperator(task_id="agg", step=step, pipeline=pipeline)


def test_outputs_written_in_place_are_listed_hashed_and_returned(tmp_path):
    op = operator(tmp_path)
    open_store(op.pipeline["datastores"]["lake"]).write_bytes("runs/p/result/result", b"a,b\n")
    plan = {
        "job_id": "j",
        "outputs": {"result": {"prefix": "runs/p/result", "path": "/runs/p/result/result"}},
    }
    event = {"job_state": JobState("Ended", "Succeeded").to_json()}
    stored = op.complete(None, event, plan, StepRun(workdir=tmp_path / "w", parameters={}))
    assert stored["result"]["datastore"] == "lake" and stored["result"]["path"] == "runs/p/result"
    assert (
        stored["result"]["files"] == 1 and stored["result"]["bytes"] == 4 and stored["result"]["content_hash"]
    )


def test_an_output_the_job_did_not_write_fails_the_step(tmp_path):
    op = operator(tmp_path)
    plan = {
        "job_id": "j",
        "outputs": {"result": {"prefix": "runs/q/result", "path": "/runs/q/result/result"}},
    }
    event = {"job_state": JobState("Ended", "Succeeded").to_json()}
    with pytest.raises(StepFailedError, match=r"output 'result': the job wrote nothing .*@@result@@"):
        op.complete(None, event, plan, StepRun(workdir=tmp_path / "w", parameters={}))


def test_a_failed_job_shows_its_error_and_the_u_sql_line(tmp_path):
    state = JobState(
        "Ended",
        "Failed",
        [{"errorId": "E_CSC_USER_SYNTAXERROR", "message": "bad type 'itn'", "lineNumber": 2}],
    )
    text = failure_message("agg", "j-1", state, SCRIPT)
    assert "step 'agg': ADLA job j-1 ended Failed" in text
    assert "E_CSC_USER_SYNTAXERROR: bad type 'itn' (script line 2)" in text
    assert ">    2 |     EXTRACT x int" in text and "     1 | @a =" in text
    op = operator(tmp_path)
    plan = {"job_id": "j-1", "outputs": {}, "script": SCRIPT}
    with pytest.raises(StepFailedError, match="script line 2"):
        op.complete(
            None, {"job_state": state.to_json()}, plan, StepRun(workdir=tmp_path / "w", parameters={})
        )


def test_a_trigger_event_without_a_state_fails_naming_the_job(tmp_path):
    op = operator(tmp_path)
    with pytest.raises(StepFailedError, match="could not follow ADLA job j-2: refused"):
        op.execute_complete({}, {"status": "error", "job_id": "j-2", "message": "refused"}, {"job_id": "j-2"})


def hand_written_dag(tmp_path, **step_args):
    """A hand-written AdlaStepOperator in a DAG with its own Params, on an in-process account."""
    import pendulum
    from airflow.sdk import DAG, Param

    from airflow_mlpipe import AdlaCompute, ComputeTarget, PipelineData, Workspace

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "agg.usql").write_text(
        '@r = EXTRACT a int FROM "@@data@@" USING Extractors.Csv(skipFirstNRows: @@skip@@);\n'
        'OUTPUT @r TO "@@out@@" USING Outputters.Csv();\n'
    )
    ws = Workspace.from_config()
    ComputeTarget.attach(
        ws, "adla1", AdlaCompute.attach_configuration(resource_group="rg", account_name="acct")
    )
    out = PipelineData("out", datastore=ws.get_default_datastore())
    data = PipelineData("data", datastore=ws.get_default_datastore())
    with DAG("hand", start_date=pendulum.datetime(2024, 1, 1), schedule=None, params={"region": Param("eu")}):
        return AdlaStepOperator(task_id="agg", script_name="agg.usql", source_directory=str(tmp_path / "src"),
                                inputs=[data], outputs=[out], compute_target="adla1", **step_args)  # fmt: skip


def test_a_hand_written_operator_keeps_its_params_apart_from_the_dags(tmp_path):
    op = hand_written_dag(tmp_path, params={"skip": 1})
    assert op.step["settings"]["params"] == {"skip": {"literal": 1}}  # AdlaStep's, in the script
    assert dict(op.params.items()).keys() == {"region"}  # the DAG's Params stay Airflow's
    script = op.script({}, {"data": "/in/d.csv", "out": "/o/out"})
    assert "skipFirstNRows: 1)" in script and '"/in/d.csv"' in script


def test_a_hand_written_operator_refuses_a_pipeline_parameter_in_params(tmp_path):
    from airflow_mlpipe import PipelineParameter
    from airflow_mlpipe.exceptions import UserErrorException

    with pytest.raises(UserErrorException, match=r"step 'agg': params\['skip'\] is a PipelineParameter"):
        hand_written_dag(tmp_path, params={"skip": PipelineParameter("skip", default_value=1)})
