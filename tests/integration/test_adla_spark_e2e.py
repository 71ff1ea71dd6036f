"""AdlaStep on a Databricks target end to end through real Airflow 3: the pipeline of
test_adla_e2e.py (a PythonScriptStep writes a CSV, the AdlaStep aggregates it with U-SQL, a second
PythonScriptStep reads the result) with the AdlaStep on the deployment's Databricks emulator
(workspace 'local', the embedded datastores mounted), so the script runs as Spark SQL in one
Databricks run; a second run reuses the step; a construct the engine refuses fails naming its line
before any run is submitted. Run it alone: it starts Spark."""

from __future__ import annotations

import pytest
from test_adla_e2e import AGGREGATE, WANT_ROWS, finished, log_of, pipeline, submit

pytestmark = pytest.mark.integration


@pytest.fixture
def dbx_ws(deployment, monkeypatch):
    """The embedded workspace (no config: the emulator is Databricks workspace 'local') and a
    DatabricksCompute attached to it."""
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    monkeypatch.delenv("MLPIPE_CONFIG", raising=False)
    from airflow_mlpipe.v1.core import Workspace
    from airflow_mlpipe.v1.core.compute import ComputeTarget, DatabricksCompute

    ws = Workspace.from_config()
    target = ComputeTarget.attach(
        ws, "dbx-usql", DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="local")
    )
    return ws, target


def test_usql_runs_as_spark_sql_on_databricks_between_two_python_steps_and_is_reused(
    dbx_ws, client, tmp_path
):
    ws, target = dbx_ws
    first = submit(ws, pipeline(ws, tmp_path, target), "adla_spark")
    finished(first)
    assert first.find_step_run("use.py")[0].get_metrics() == {"header": "region,total,n", "rows": WANT_ROWS}
    assert client.xcom(first.dag_id, first.run_id, "aggregate", key="run_id") is not None

    again = submit(ws, pipeline(ws, tmp_path, target), "adla_spark")
    finished(again)
    assert client.xcom(again.dag_id, again.run_id, "aggregate")["reused_from"] is not None


def test_a_refused_construct_fails_before_a_databricks_run(dbx_ws, client, tmp_path):
    ws, target = dbx_ws
    script = AGGREGATE.replace("DECLARE @minimum", "REFERENCE ASSEMBLY MyLib;\nDECLARE @minimum")
    run = submit(ws, pipeline(ws, tmp_path, target, script), "adla_spark_bad")
    finished(run, "Failed")
    assert "aggregate.usql line 2: REFERENCE ASSEMBLY" in log_of(client, run, "aggregate")
