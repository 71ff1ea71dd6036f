"""AdlaStep end to end through real Airflow 3, against `mlpipe adla serve` (the ADLA job API, with
the real AdlaHook and AdlaJobTrigger) and in-process: a PythonScriptStep writes a CSV, the AdlaStep
aggregates it with U-SQL, a second PythonScriptStep reads the result; a second run reuses the step
and submits no job; an unsupported construct fails naming its line; killing the task cancels the job."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import REPO

pytestmark = pytest.mark.integration

TIMEOUT = 300
API = {"api-version": "2016-11-01"}

MAKE = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
out = pathlib.Path(a.out); out.mkdir(parents=True, exist_ok=True)
(out / "orders.csv").write_text("region,amount\\nnorth,10.5\\nsouth,4\\nnorth,1.5\\neast,\\n")
"""

USE = """
import argparse, csv, pathlib
from airflow_mlpipe.v1.core import Run
p = argparse.ArgumentParser(); p.add_argument("--totals"); a = p.parse_args()
path = pathlib.Path(a.totals)
files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
rows = list(csv.reader(open(files[0], newline="")))
run = Run.get_context()
run.log("header", ",".join(rows[0]))
run.log("rows", ";".join(",".join(r) for r in rows[1:]))
"""

AGGREGATE = """// totals per region, as the U-SQL samples write them
DECLARE @minimum int = @@minimum@@;
@orders =
    EXTRACT region string, amount double?
    FROM "@@raw@@/orders.csv"
    USING Extractors.Csv(skipFirstNRows: 1);
@totals =
    SELECT region, SUM(amount) AS total, COUNT(*) AS n
    FROM @orders
    GROUP BY region
    HAVING COUNT(*) >= @minimum;
OUTPUT @totals TO "@@totals@@" ORDER BY region USING Outputters.Csv(outputHeader: true);
"""

# what U-SQL writes: strings quoted, a null as nothing, the header too
WANT_ROWS = "east,,1;north,12,2;south,4,1"


@pytest.fixture(scope="module")
def adla_service(deployment, tmp_path_factory):
    """`mlpipe adla serve` on the embedded workspace's default datastore, in its own process group."""
    folder = tmp_path_factory.mktemp("adla")
    token = secrets.token_urlsafe(24)
    ready, release = folder / "port", folder / "release"
    root = deployment.home / "workspace" / "datastores" / "workspaceblobstore"
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLPIPE_ADLA_TOKEN": token, "MLPIPE_TEST_ADLA_RELEASE": str(release)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO)])
    cmd = [sys.executable, "-m", "airflow_mlpipe.cli", "adla", "serve", "--root", str(root)]
    cmd += ["--ready-file", str(ready), "--runner", "adla_runners:held"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "mlpipe adla serve did not start"
            time.sleep(0.2)
        yield {"port": int(ready.read_text()), "token": token, "release": release}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def adla_connection(client, adla_service):
    from airflow_mlpipe.client.rest import AirflowApiError

    try:
        client.request("DELETE", "/api/v2/connections/adla_svc")
    except AirflowApiError:
        pass
    body = {"connection_id": "adla_svc", "conn_type": "adla", "host": "127.0.0.1", "schema": "http"}
    body |= {"port": adla_service["port"], "password": adla_service["token"]}
    client.request("POST", "/api/v2/connections", json=body)
    yield
    client.request("DELETE", "/api/v2/connections/adla_svc")


@pytest.fixture
def ws(deployment, adla_connection, adla_service, tmp_path, monkeypatch):
    """The embedded workspace with ADLA account 'svcacct' served by `mlpipe adla serve` (target
    adla-svc) and an account the config does not place (target adla-local: in-process)."""
    from airflow_mlpipe.v1.core import Workspace
    from airflow_mlpipe.v1.core.compute import AdlaCompute, ComputeTarget

    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    config = tmp_path / "mlpipe.json"
    account = {"conn_id": "adla_svc", "datastore": "workspaceblobstore"}
    config.write_text(json.dumps({"root": str(deployment.home / "workspace"), "adla": {"svcacct": account}}))
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    w = Workspace.from_config()
    for name, acct in (("adla-svc", "svcacct"), ("adla-local", "nowhere")):
        ComputeTarget.attach(
            w, name, AdlaCompute.attach_configuration(resource_group="rg", account_name=acct)
        )
    return w


def jobs(service) -> list[dict]:
    got = requests.get(
        f"http://127.0.0.1:{service['port']}/jobs",
        params=API,
        headers={"Authorization": f"Bearer {service['token']}"},
        timeout=30,
    )
    assert got.status_code == 200, got.text
    return got.json()["value"]


def pipeline(w, tmp_path: Path, target: str, script: str = AGGREGATE):
    from airflow_mlpipe.v1.pipeline.core import PipelineData
    from airflow_mlpipe.v1.pipeline.steps import AdlaStep, PythonScriptStep

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "make.py").write_text(MAKE)
    (src / "use.py").write_text(USE)
    (src / "aggregate.usql").write_text(script)
    store = w.get_default_datastore()
    raw, totals = PipelineData("raw", datastore=store), PipelineData("totals", datastore=store)
    make = PythonScriptStep("make.py", source_directory=str(src), arguments=["--out", raw], outputs=[raw])
    agg = AdlaStep(
        script_name="aggregate.usql",
        name="aggregate",
        inputs=[raw],
        outputs=[totals],
        params={"minimum": 1},
        compute_target=target,
        source_directory=str(src),
    )
    use = PythonScriptStep(
        "use.py", source_directory=str(src), arguments=["--totals", totals], inputs=[totals]
    )
    return [make, agg, use]


def submit(w, steps, experiment: str):
    from airflow_mlpipe.v1.core import Experiment
    from airflow_mlpipe.v1.pipeline.core import Pipeline

    return Experiment(w, experiment).submit(Pipeline(workspace=w, steps=steps))


def log_of(client, run, task_id: str) -> str:
    ti = next(t for t in client.task_instances(run.dag_id, run.run_id) if t["task_id"] == task_id)
    return "\n".join(client.task_log(run.dag_id, run.run_id, task_id, max(1, ti["try_number"])))


def finished(run, want: str = "Finished") -> None:
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=TIMEOUT) == want


@pytest.mark.parametrize("target", ["adla-svc", "adla-local"])
def test_usql_aggregates_a_csv_between_two_python_steps_and_is_reused(
    ws, client, adla_service, tmp_path, target
):
    before = len(jobs(adla_service))
    first = submit(ws, pipeline(ws, tmp_path, target), f"adla_{target.replace('-', '_')}")
    finished(first)
    metrics = first.find_step_run("use.py")[0].get_metrics()
    assert metrics == {"header": "region,total,n", "rows": WANT_ROWS}
    submitted = len(jobs(adla_service)) - before
    assert submitted == (1 if target == "adla-svc" else 0)  # in-process runs submit no job

    again = submit(ws, pipeline(ws, tmp_path, target), f"adla_{target.replace('-', '_')}")
    finished(again)
    result = client.xcom(again.dag_id, again.run_id, "aggregate")
    assert result["reused_from"] is not None
    assert len(jobs(adla_service)) - before == submitted  # the reused step submitted nothing


@pytest.mark.parametrize("target", ["adla-svc", "adla-local"])
def test_an_unsupported_construct_fails_naming_its_line(ws, client, tmp_path, target):
    script = AGGREGATE.replace("DECLARE @minimum", "REFERENCE ASSEMBLY MyLib;\nDECLARE @minimum")
    run = submit(ws, pipeline(ws, tmp_path, target, script), f"adla_bad_{target.replace('-', '_')}")
    finished(run, "Failed")
    text = log_of(client, run, "aggregate")
    assert "REFERENCE ASSEMBLY" in text and "line 2" in text, text[-3000:]


def test_killing_the_task_cancels_the_job(ws, client, adla_service, tmp_path):
    script = "// HOLD " + uuid.uuid4().hex + "\n" + AGGREGATE
    run = submit(ws, pipeline(ws, tmp_path, "adla-svc", script), "adla_kill")

    def running() -> list[dict]:
        return [j for j in jobs(adla_service) if j["state"] == "Running"]

    deadline = time.monotonic() + TIMEOUT
    while not running():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(1)
    job_id = running()[0]["jobId"]
    # wait until a triggerer runs the trigger: its on_kill is what this test checks (a task marked
    # failed before that is cancelled by the plugin's listener: test_databricks_e2e)
    deadline = time.monotonic() + 120
    while True:
        ti = next(t for t in client.task_instances(run.dag_id, run.run_id) if t["task_id"] == "aggregate")
        if ti["state"] == "deferred" and (ti.get("trigger") or {}).get("triggerer_id") is not None:
            break
        assert time.monotonic() < deadline, f"no triggerer took the task's trigger: {ti}"
        time.sleep(1)
    time.sleep(3)  # the triggerer starts what it took within a loop
    client.request(
        "PATCH",
        f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/aggregate",
        json={"new_state": "failed"},
    )
    deadline = time.monotonic() + 90
    while True:
        job = next(j for j in jobs(adla_service) if j["jobId"] == job_id)
        if job["state"] == "Ended":
            assert job["result"] == "Cancelled", job
            break
        assert time.monotonic() < deadline, f"the job was not cancelled: {job}"
        time.sleep(1)
