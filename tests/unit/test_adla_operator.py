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
