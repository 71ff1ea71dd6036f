"""DatabricksStep end to end: real Airflow 3 (scheduler, workers, triggerer), the Databricks
provider's hook and trigger, and the local Databricks emulator running the notebooks.

The pipeline of the issue (PythonScriptStep -> notebook -> python_script_name -> PythonScriptStep,
and its reuse) runs as the v1 program tests/v1_samples/databricks; here are the ways a Databricks
step ends badly: a killed task, a failed notebook, a retried task.
"""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import quote

import pytest
import requests

pytestmark = pytest.mark.integration

NOTEBOOKS = "/Users/ml@contoso.com"


@pytest.fixture
def workspace(deployment, databricks_config, databricks_emulator, monkeypatch):
    """The test's v1 workspace (embedded deployment + the emulator as Databricks workspace 'emu')
    and a Databricks compute target attached to it with an access token."""
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    monkeypatch.setenv("MLPIPE_CONFIG", str(databricks_config))
    from airflow_mlpipe.v1.core import Workspace
    from airflow_mlpipe.v1.core.compute import ComputeTarget, DatabricksCompute

    ws = Workspace.from_config()
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="emu", access_token=databricks_emulator.token
    )
    target = ComputeTarget.attach(ws, "dbx-e2e", config)
    return ws, target


def emulator_api(emulator, method: str, path: str, **kwargs):
    got = requests.request(
        method,
        f"{emulator.url}/api/{path}",
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=30,
        **kwargs,
    )
    assert got.status_code == 200, got.text
    return got.json()


def runs_named(emulator, run_name: str) -> list[dict]:
    runs = emulator_api(emulator, "GET", "2.2/jobs/runs/list", params={"limit": 25}).get("runs") or []
    return [r for r in runs if r.get("run_name") == run_name]


def wait_for(what: str, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_task(client, run, what: str, state: str, min_try: int = 1, timeout: float = 180.0):
    """Wait until one of the run's task instances is in ``state`` at try ``min_try`` or later; on a
    timeout, say which (try, state) pairs the task and its DAG run went through."""
    seen: list[tuple] = []

    def check():
        tis = client.task_instances(run.dag_id, run.run_id)
        dag_run = client.request("GET", f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id, safe='')}")[
            "state"
        ]
        now = (dag_run, *((t["task_id"], t["try_number"], t["state"]) for t in tis))
        if not seen or seen[-1][1] != now:
            seen.append((round(time.monotonic() - start, 1), now))
        return [t for t in tis if t["state"] == state and t["try_number"] >= min_try]

    start = time.monotonic()
    try:
        return wait_for(what, check, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; seen (seconds, (dag run, (task, try, state)...)): {seen}") from None


def mark_failed(client, run, task_id: str) -> None:
    """A user marks the task failed (the UI's "Mark as failed" sends the same request)."""
    client.request(
        "PATCH",
        f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}",
        json={"new_state": "failed"},
    )


def wait_for_cancel(emulator, run_id: int) -> None:
    def cancelled():
        got = emulator_api(emulator, "GET", "2.2/jobs/runs/get", params={"run_id": run_id})
        return got["state"].get("result_state") == "CANCELED"

    wait_for(f"Databricks run {run_id} to be cancelled", cancelled, timeout=90)


def clear_task(client, run, task_id: str, only_failed: bool) -> None:
    client.request(
        "POST",
        f"/api/v2/dags/{run.dag_id}/clearTaskInstances",
        json={"dag_run_id": run.run_id, "task_ids": [task_id], "only_failed": only_failed, "dry_run": False},
    )


def release(emulator, path: str, text: str) -> None:
    import base64

    emulator_api(
        emulator,
        "POST",
        "2.0/dbfs/put",
        json={"path": path, "contents": base64.b64encode(text.encode()).decode(), "overwrite": True},
    )


def submit_notebook(ws, target, name: str, notebook: str, params: dict, experiment: str):
    from airflow_mlpipe.v1.core import Experiment
    from airflow_mlpipe.v1.pipeline.core import Pipeline
    from airflow_mlpipe.v1.pipeline.steps import DatabricksStep

    step = DatabricksStep(
        name=name,
        num_workers=1,
        notebook_path=f"{NOTEBOOKS}/{notebook}",
        notebook_params=params,
        run_name=f"{experiment}-{name}",
        compute_target=target,
        allow_reuse=False,
    )
    return Experiment(ws, experiment).submit(Pipeline(workspace=ws, steps=[step]))


def test_killing_the_task_cancels_the_databricks_run(workspace, databricks_emulator, client):
    ws, target = workspace
    run = submit_notebook(ws, target, "waits", "wait_for_release", {"release": "/tmp/never"}, "db_kill")
    remote = wait_for(
        "the Databricks run to start",
        lambda: [
            r
            for r in runs_named(databricks_emulator, "db_kill-waits")
            if r["state"]["life_cycle_state"] == "RUNNING"
        ],
    )[0]
    wait_for_task(client, run, "the task to defer", "deferred")
    mark_failed(client, run, "waits")
    wait_for_cancel(databricks_emulator, remote["run_id"])


@pytest.mark.parametrize("how", ["task marked failed", "PipelineRun.cancel"])
def test_a_task_ended_before_a_triggerer_ran_its_wait_cancels_the_run(
    workspace, databricks_emulator, client, deployment, how
):
    """With the triggerer stopped, the task defers and no trigger runs; ending it (the task marked
    failed, or v1's PipelineRun.cancel(), which fails the DAG run) then has no trigger on_kill to
    call: the plugin's listener cancels the run from the API server."""
    ws, target = workspace
    experiment = "db_early_task" if how == "task marked failed" else "db_early_run"
    triggerer = deployment.state()["pids"]["triggerer"]
    os.killpg(triggerer, signal.SIGSTOP)
    try:
        run = submit_notebook(ws, target, "waits", "wait_for_release", {"release": "/tmp/never"}, experiment)
        wait_for_task(client, run, "the task to defer", "deferred")
        remote = runs_named(databricks_emulator, f"{experiment}-waits")[0]
        if how == "task marked failed":
            mark_failed(client, run, "waits")
        else:
            run.cancel()
        wait_for_cancel(databricks_emulator, remote["run_id"])
    finally:
        os.killpg(triggerer, signal.SIGCONT)
    # the API server's log is written as it goes: the lines may follow the cancel by a moment
    wanted = [
        f"{run.dag_id}/{run.run_id}/waits was ended by a user while waiting on its remote run",
        f"Cancelling Databricks run {remote['run_id']}.",
    ]
    api_log = deployment.home / "logs" / "api-server.log"

    def logged():
        text = api_log.read_text(errors="replace")
        return all(line in text for line in wanted)

    try:
        wait_for("the API server to log the listener's cancel", logged, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {wanted}; end of the log:\n{api_log.read_text()[-3000:]}") from None


def test_a_failed_notebook_fails_the_step_with_its_message(workspace, databricks_emulator, client):
    ws, target = workspace
    run = submit_notebook(ws, target, "fails", "fails", {"threshold": -1}, "db_fail")
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300) == "Failed"
    ti = next(t for t in client.task_instances(run.dag_id, run.run_id) if t["task_id"] == "fails")
    log = "\n".join(client.task_log(run.dag_id, run.run_id, "fails", ti["try_number"]))
    assert "ended FAILED" in log, log[-3000:]
    assert "ValueError: threshold must be positive, got -1" in log
    assert "run page: http://127.0.0.1:" in log
    # the run page is the task's extra link, from the run_page_url XCom pushed at submit
    links = client.request("GET", f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/fails/links")
    assert links["extra_links"]["See Databricks Job Run"].startswith(
        f"{databricks_emulator.url}/?o=0#job/"
    ), links


def test_a_retried_task_adopts_the_run_of_its_first_try(workspace, databricks_emulator, client):
    """The first try's wait fails (the Databricks API answers 503 to its polls); the task is tried
    again while the remote run still runs: the second try finds that run and starts none."""
    ws, target = workspace
    flag = "/tmp/release-retry"
    run = submit_notebook(ws, target, "retried", "wait_for_release", {"release": flag}, "db_retry")
    remote = wait_for(
        "the Databricks run to start", lambda: runs_named(databricks_emulator, "db_retry-retried")
    )[0]
    emulator_api(
        databricks_emulator,
        "POST",
        "2.0/mlpipe-emulator/faults",
        json={"path": "jobs/runs/get", "run_id": remote["run_id"], "status": 503, "times": 3},
    )
    wait_for_task(client, run, "the first try to fail", "failed", timeout=240)
    clear_task(client, run, "retried", only_failed=True)
    wait_for_task(client, run, "the second try to defer", "deferred", min_try=2, timeout=300)
    release(databricks_emulator, flag, "released")
    assert run.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    assert [r["run_id"] for r in runs_named(databricks_emulator, "db_retry-retried")] == [remote["run_id"]]
    step = run.find_step_run("retried")[0]
    assert step.get_metrics() == {"notebook_exit_value": "released"}
    log = "\n".join(client.task_log(run.dag_id, run.run_id, "retried", 2))
    assert f"adopting Databricks run {remote['run_id']}" in log, log[-3000:]

    # clearing the task after it succeeded asks for a new run: its attempt is done, none is adopted
    clear_task(client, run, "retried", only_failed=False)
    wait_for_task(client, run, "the cleared task to succeed again", "success", min_try=3)
    again = [r["run_id"] for r in runs_named(databricks_emulator, "db_retry-retried")]
    assert len(again) == 2 and remote["run_id"] in again


def test_timeout_seconds_ends_the_run_and_fails_the_step(workspace, databricks_emulator, client):
    from airflow_mlpipe.v1.core import Experiment
    from airflow_mlpipe.v1.pipeline.core import Pipeline
    from airflow_mlpipe.v1.pipeline.steps import DatabricksStep

    ws, target = workspace
    step = DatabricksStep(
        name="slow",
        existing_cluster_id="0101-000000-emulator",
        notebook_path=f"{NOTEBOOKS}/wait_for_release",
        notebook_params={"release": "/tmp/never-released"},
        run_name="db_timeout-slow",
        timeout_seconds=3,
        compute_target=target,
        allow_reuse=False,
    )
    run = Experiment(ws, "db_timeout").submit(Pipeline(workspace=ws, steps=[step]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300) == "Failed"
    remote = runs_named(databricks_emulator, "db_timeout-slow")[0]
    assert remote["state"]["result_state"] == "TIMEDOUT"
    log = "\n".join(client.task_log(run.dag_id, run.run_id, "slow", 1))
    assert "ended TIMEDOUT" in log, log[-3000:]


def test_output_file_dataset_config_from_a_databricks_script(workspace, databricks_emulator, client):
    """v1 refused OutputFileDatasetConfig on a DatabricksStep; here the script writes it with plain
    open(), as_upload keeps what its globs match, it is published to its destination, registered as
    a dataset, and read by the next step."""
    from pathlib import Path

    from airflow_mlpipe.v1.core import Dataset, Experiment
    from airflow_mlpipe.v1.data import OutputFileDatasetConfig
    from airflow_mlpipe.v1.pipeline.core import Pipeline
    from airflow_mlpipe.v1.pipeline.steps import DatabricksStep, PythonScriptStep

    ws, target = workspace
    src = str(Path(__file__).parent / "databricks_src")
    store = ws.datastores["workspacefilestore"]  # not mounted in Databricks workspace 'emu': via DBFS
    report = (
        OutputFileDatasetConfig(name="report", destination=(store, "db-exports/{run-id}"))
        .as_upload(overwrite=True, source_globs=["*.csv"])
        .register_on_complete(name="db_export")
    )
    export = DatabricksStep(
        name="export",
        outputs=[report],
        python_script_name="export.py",
        source_directory=src,
        num_workers=1,
        compute_target=target,
        allow_reuse=False,
    )
    read = PythonScriptStep(
        name="read_export",
        script_name="read_export.py",
        arguments=["--report", report.as_input("report")],
        source_directory=src,
        allow_reuse=False,
    )
    run = Experiment(ws, "db_output_dataset").submit(Pipeline(workspace=ws, steps=[export, read]))
    status = run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300)
    assert status == "Finished", "\n".join(client.task_log(run.dag_id, run.run_id, "export", 1)[-40:])
    assert run.find_step_run("read_export")[0].get_metrics() == {"files": 1, "rows": "rows,42"}
    registered = Dataset.get_by_name(ws, "db_export")
    assert sorted(Path(p).name for p in registered.to_path()) == ["summary.csv"]


def test_the_embedded_workspace_runs_databricks_steps_on_mlpipe_up_databricks(
    deployment, monkeypatch, client
):
    """`mlpipe up --databricks`: with no config, the embedded workspace has the emulator as
    Databricks workspace 'local' and its connection; v1's attach names it, with any token."""
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    from airflow_mlpipe.v1.core import Experiment, Workspace
    from airflow_mlpipe.v1.core.compute import ComputeTarget, DatabricksCompute
    from airflow_mlpipe.v1.pipeline.core import Pipeline
    from airflow_mlpipe.v1.pipeline.steps import DatabricksStep

    ws = Workspace.from_config()
    assert ws.databricks["local"]["conn_id"] == "mlpipe_databricks_local"
    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="local")
    target = ComputeTarget.attach(ws, "dbx-local", config)
    step = DatabricksStep(
        name="hello",
        num_workers=1,
        notebook_path=f"{NOTEBOOKS}/hello",
        notebook_params={"myparam": "from the embedded workspace"},
        compute_target=target,
        allow_reuse=False,
    )
    run = Experiment(ws, "db_local").submit(Pipeline(workspace=ws, steps=[step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    assert run.find_step_run("hello")[0].get_metrics() == {
        "notebook_exit_value": "from the embedded workspace"
    }
