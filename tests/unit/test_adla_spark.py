"""An AdlaStep on a Databricks target, against the real Databricks emulator (which runs the job on
local PySpark): the spec records the Spark engine, AdlaStepOperator becomes AdlaSparkStepOperator,
a script the engine refuses fails before anything is staged, and a run stages the inputs, runs the
statements as one Databricks run and leaves one verified file per output. The task instance is a
stand-in with the fields the operator reads (no Airflow here); the whole protocol through Airflow is
tests/integration/test_adla_e2e.py's."""

from __future__ import annotations

import json
import time

import pytest
from databricks_emulator import start_emulator

from airflow_mlpipe import DataReference, PipelineData, Workspace
from airflow_mlpipe.definitions.adla import AdlaStep
from airflow_mlpipe.definitions.compute import ComputeTarget
from airflow_mlpipe.definitions.databricks_compute import DatabricksCompute
from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.databricks import RunState
from airflow_mlpipe.operators.adla import AdlaStepOperator
from airflow_mlpipe.operators.adla_spark import AdlaSparkStepOperator, spark_locations, with_script_lines
from airflow_mlpipe.operators.base import StepRun, spec_from_step
from airflow_mlpipe.storage import open_store

TOKEN = "adla-spark-test-token"
RUN_DEADLINE = 600  # seconds: a guard against a hung run, not an assertion on speed

SCRIPT = """// totals per region
@orders =
    EXTRACT region string, amount int
    FROM "@@raw@@"
    USING Extractors.Csv(skipFirstNRows: 1);
@totals =
    SELECT region, SUM(amount) AS total
    FROM @orders
    GROUP BY region
    HAVING SUM(amount) >= @@minimum@@;
OUTPUT @totals TO "@@totals@@" ORDER BY region USING Outputters.Csv(outputHeader: true);
"""
ORDERS = "region,amount\nnorth,5\nsouth,2\nnorth,7\neast,1\nsouth,9\n"


class TaskInstance:
    """The fields of Airflow's task instance the operator reads, and its XCom pushes."""

    def __init__(self, task_id: str):
        self.dag_id, self.run_id, self.task_id = "adla_spark", "manual__1", task_id
        self.try_number, self.map_index = 1, -1
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value

    def xcom_pull(self, **kwargs: object) -> None:
        return None


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with start_emulator(tmp_path_factory.mktemp("dbx"), TOKEN) as emu:
        yield emu


@pytest.fixture
def ws(tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DBX_ADLA", emulator.conn_uri)
    config = tmp_path / "project" / "mlpipe.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"workspace_name": "team", "databricks": {"shop": {"conn_id": "dbx_adla"}}}))
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    return Workspace.from_config(config)


@pytest.fixture
def dbx(ws):
    return ComputeTarget.attach(
        ws, "dbx", DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="shop")
    )


def source(tmp_path, text: str = SCRIPT):
    folder = tmp_path / "usql"
    folder.mkdir(exist_ok=True)
    (folder / "totals.usql").write_text(text)
    return folder


def operator(task_id: str, **step_kwargs) -> AdlaStepOperator:
    """The operator the translator builds for an AdlaStep (a hand-written one cannot take
    ``params=``: Airflow's BaseOperator takes that argument first)."""
    step, pipeline, _ = spec_from_step(AdlaStep, task_id, **step_kwargs)
    return AdlaStepOperator(task_id=task_id, step=step, pipeline=pipeline)


def step_args(ws, dbx, folder) -> dict:
    store = ws.get_default_datastore()
    open_store(ws.datastore_spec(store.name)).write_bytes("in/orders.csv", ORDERS.encode())
    raw = DataReference(datastore=store, data_reference_name="raw", path_on_datastore="in/orders.csv")
    return {
        "script_name": "totals.usql",
        "inputs": [raw],
        "outputs": [PipelineData("totals", datastore=store)],
        "params": {"minimum": 3},
        "compute_target": dbx,
        "source_directory": str(folder),
    }


def test_the_spec_of_an_adla_step_on_databricks_records_the_spark_engine(ws, dbx, tmp_path):
    op = operator("totals", degree_of_parallelism=2, **step_args(ws, dbx, source(tmp_path)))
    assert isinstance(op, AdlaSparkStepOperator), "a Databricks target runs the script as Spark SQL"
    assert op.step["kind"] == "adla" and op.step["settings"]["engine"] == "spark"
    assert op.pipeline["compute_targets"]["dbx"]["type"] == "Databricks"
    again = AdlaStepOperator(
        task_id="totals", step=op.step, pipeline=op.pipeline
    )  # as the translator builds it
    assert isinstance(again, AdlaSparkStepOperator) and again.step == op.step
    assert (
        op._run_spec({"task": {"python_script_path": "dbfs:/j.py"}, "args": []}, "t")["tasks"][0][
            "new_cluster"
        ]["num_workers"]
        == 2
    )  # degree_of_parallelism workers on a job cluster


def test_an_adla_target_keeps_the_adla_operator(tmp_path):
    step = {"name": "agg", "kind": "adla", "inputs": [], "outputs": [], "arguments": [],
            "compute_target": "adla", "settings": {}}  # fmt: skip
    pipeline = {"compute_targets": {"adla": {"name": "adla", "type": "DataLakeAnalytics", "conn_id": "c"}}}
    assert type(AdlaStepOperator(task_id="agg", step=step, pipeline=pipeline)) is AdlaStepOperator


def test_a_script_the_engine_refuses_fails_before_anything_is_staged(ws, dbx, tmp_path):
    bad = SCRIPT.replace("SELECT region,", "PROCESS @orders USING MyProcessor;\n@x = SELECT region,")
    op = operator("totals", **step_args(ws, dbx, source(tmp_path, bad)))
    ti = TaskInstance("totals")
    with pytest.raises(StepFailedError, match=r"step 'totals': totals\.usql line 7: PROCESS"):
        op.submit({"ti": ti}, {})
    assert ti.pushed == {} and op.hook.dbfs_list("/mlpipe") == []  # nothing staged, no run submitted


def test_the_script_runs_as_one_databricks_run_and_leaves_one_file_per_output(ws, dbx, tmp_path):
    op = operator("totals", **step_args(ws, dbx, source(tmp_path)))
    ti = TaskInstance("totals")
    context = {"ti": ti}
    plan = op.submit(context, {})
    assert ti.pushed["run_id"] == plan["run_id"]
    run = op.hook.get_run(plan["run_id"])
    (task,) = run["tasks"]
    assert task["spark_python_task"]["python_file"].endswith("/source/spark_job.py")
    state = wait_for(op, plan["run_id"])
    assert state.is_successful, op.hook.task_run_output(plan["run_id"])
    stored = op.complete(context, {"run_state": state.to_json()}, plan, StepRun(tmp_path / "w", {}))
    out = stored["totals"]
    assert out["files"] == 1 and out["content_hash"]
    store = open_store(ws.datastore_spec(out["datastore"]))
    (written,) = store.list(out["path"])
    assert written.path.endswith("/totals")  # "@@totals@@" is one file named after the output
    text = store.read_bytes(written.path).decode()
    assert text.splitlines() == ['"region","total"', '"north",12', '"south",11']


def test_a_statement_that_fails_on_spark_fails_the_step_with_its_u_sql_line(ws, dbx, tmp_path):
    store = ws.get_default_datastore()
    op = operator("bad_rows", **step_args(ws, dbx, source(tmp_path)))
    open_store(ws.datastore_spec(store.name)).write_bytes("in/orders.csv", b"region,amount\nnorth,many\n")
    context = {"ti": TaskInstance("bad_rows")}
    plan = op.submit(context, {})
    state = wait_for(op, plan["run_id"])
    assert not state.is_successful
    with pytest.raises(StepFailedError) as failed:
        op.complete(context, {"run_state": state.to_json()}, plan, StepRun(tmp_path / "w", {}))
    message = str(failed.value)
    assert (
        "UsqlRunError: totals.usql line 3: EXTRACT column amount (int) cannot hold the value 'many'"
        in message
    )
    assert ">    3 |     EXTRACT region string, amount int" in message  # the script around its line


def test_script_paths_on_dbfs_and_through_the_fuse_mount():
    assert spark_locations("/mlpipe/runs/x.csv") == {
        "dbfs": "dbfs:/mlpipe/runs/x.csv",
        "fuse": "file:///dbfs/mlpipe/runs/x.csv",
    }
    assert (
        spark_locations("abfss://c@a.dfs.core.windows.net/x")["fuse"] == "abfss://c@a.dfs.core.windows.net/x"
    )
    shown = with_script_lines("boom: t.usql line 2: bad", "a\nb\nc\n", "t.usql")
    assert shown.endswith(">    2 | b\n     3 | c")


def wait_for(op: AdlaSparkStepOperator, run_id: int) -> RunState:
    deadline = time.monotonic() + RUN_DEADLINE
    while not (state := op.hook.get_run_state(run_id)).is_terminal:
        if time.monotonic() > deadline:
            op.hook.cancel_run(run_id)
            raise RuntimeError(f"Databricks run {run_id} did not end within {RUN_DEADLINE} s")
        time.sleep(1)
    return state
