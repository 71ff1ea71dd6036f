"""Experiment.submit / PipelineRun / StepRun against real Airflow processes, over REST API v2."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from airflow_mlpipe import Experiment, Pipeline, PipelineRun, PythonScriptStep, Workspace
from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.exceptions import UserErrorException

pytestmark = pytest.mark.integration


@pytest.fixture
def ws(deployment, client, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the embedded deployment's workspace
    return Workspace.from_config()


@pytest.fixture
def example(deployment, ws):
    spec = importlib.util.spec_from_file_location(
        "cm_example", Path(deployment.dags_folder) / "compare_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pipeline1


def run_count(client, dag_id):
    try:
        return len(client.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"])
    except AirflowApiError:
        return 0


def test_submit_wait_read_statuses_metrics_and_outputs_then_resubmit_and_reuse(ws, example, tmp_path, capsys):
    exp = Experiment(ws, "compare")
    run = exp.submit(example, pipeline_parameters={"pipeline_arg": 12})
    assert run.wait_for_completion(show_output=True, timeout_seconds=600) == "Finished"
    out = capsys.readouterr().out
    assert "StepRun(compare.py) Status: Finished" in out and "PipelineRun Status: Finished" in out
    steps = {s.name: s for s in run.get_steps()}
    assert set(steps) == {"train.py", "extract.py", "compare.py"}
    assert {s.get_status() for s in steps.values()} == {"Finished"}
    assert steps["compare.py"].get_metrics()["evaluation_rows"] == 60
    assert run.get_metrics()["best_model"] in ("decision_tree", "logistic_regression")
    ref = steps["train.py"].get_output_data("output_data1")
    assert ref.download(tmp_path, show_progress=False) == 3  # v1: the number of files
    folder = tmp_path / ref.path_on_datastore  # v1: under local_path, at the path on the datastore
    assert sorted(p.name for p in Path(folder).iterdir()) == [
        "decision_tree.pkl",
        "logistic_regression.pkl",
        "train_scores.json",
    ]
    # every step of the registered pipeline runs from its submitted snapshot (whether a step then
    # runs or reuses a result committed by an earlier run of the same code is up to the cache)
    from airflow_mlpipe.registry import Registry

    registered = Registry().get(run.dag_id)["spec"]["steps"]
    assert all(len(s["settings"]["snapshot"]["id"]) == 64 for s in registered)
    assert steps["train.py"].get_log()  # the step's log text is readable
    again = PipelineRun.get(ws, run.id)
    assert again.get_status() == "Finished"

    rerun = exp.submit(example, pipeline_parameters={"pipeline_arg": 12})
    assert rerun.dag_id == run.dag_id and rerun.run_id != run.run_id  # the same DAG, a new run
    assert rerun.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
    details = [s.get_details() for s in rerun.get_steps()]
    assert all(d["reused_from"] is not None for d in details), details
    assert all(d["status"] == "Finished" for d in details)


def test_clear_errors_with_nothing_started(ws, example, client, deployment):
    before = run_count(client, "experiment_compare")
    with pytest.raises(UserErrorException, match=r"unknown pipeline parameter\(s\) \['pipeline_argh'\]"):
        Experiment(ws, "compare").submit(example, pipeline_parameters={"pipeline_argh": 1})
    with pytest.raises(UserErrorException, match="parameter 'pipeline_arg'.*'ten' is not a valid int"):
        Experiment(ws, "compare").submit(example, pipeline_parameters={"pipeline_arg": "ten"})
    assert run_count(client, "experiment_compare") == before
    with pytest.raises(UserErrorException, match="no run 'nope' of pipeline DAG 'experiment_compare'"):
        PipelineRun.get(ws, "experiment_compare/nope")
    with pytest.raises(AirflowApiError, match="wrong username or password"):
        AirflowClient(deployment.url, "admin", "not-the-password").token()


def test_cancel_a_running_pipeline(ws, tmp_path):
    src = tmp_path / "slow"
    src.mkdir()
    (src / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    step = PythonScriptStep("slow.py", name="slow", source_directory=str(src), allow_reuse=False)
    run = Experiment(ws, "cancel-me").submit(Pipeline(ws, [step]))
    deadline = time.monotonic() + 120
    while run.find_step_run("slow")[0].get_status() != "Running" if run.find_step_run("slow") else True:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.5)
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False) == "Canceled"
    deadline = time.monotonic() + 60
    while run.find_step_run("slow")[0].get_status() == "Running":
        assert time.monotonic() < deadline, "the canceled step kept running"
        time.sleep(1)
    assert run.find_step_run("slow")[0].get_status() != "Finished"


def test_workers_run_the_submitted_snapshot_not_the_files_on_disk(ws, client, tmp_path):
    from airflow_mlpipe.client.run import PipelineRun as Run

    src = tmp_path / "code"
    src.mkdir()
    script = src / "version.py"
    script.write_text("from airflow_mlpipe import Run\nRun.get_context().log('version', 'submitted')\n")
    step = PythonScriptStep("version.py", name="version", source_directory=str(src), allow_reuse=False)
    exp = Experiment(ws, "snapshot-check")
    first = exp.submit(Pipeline(ws, [step]))
    assert first.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    # the file on disk changes after the submit; the registered pipeline keeps the submitted code
    script.write_text("from airflow_mlpipe import Run\nRun.get_context().log('version', 'edited later')\n")
    again = client.trigger(exp.dag_id)
    run = Run(ws, exp.dag_id, again["dag_run_id"], client)
    assert run.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    assert run.find_step_run("version")[0].get_metrics() == {"version": "submitted"}


def test_trigger_with_a_parameter_using_curl(deployment, client):
    """As the README's main command does: a token from /auth/token, then POST dagRuns with conf."""
    import json
    import shutil
    import subprocess

    curl = shutil.which("curl")
    assert curl, "curl is not installed"
    body = json.dumps({"username": "admin", "password": deployment.password()})
    token = subprocess.run(
        [
            curl,
            "-sf",
            "-X",
            "POST",
            f"{deployment.url}/auth/token",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ],
        input=body,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    access = json.loads(token.stdout)["access_token"]

    def trigger(conf: dict) -> tuple[str, str]:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                f"{deployment.url}/api/v2/dags/compare_models/dagRuns",
                "-H",
                f"Authorization: Bearer {access}",
                "-H",
                "Content-Type: application/json",
                "-d",
                json.dumps({"logical_date": None, "conf": conf}),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        body, status = out.stdout.rsplit("\n", 1)
        return body, status

    text, status = trigger({"pipeline_arg": 21})
    assert status == "200", text
    run = client.wait_for_run("compare_models", json.loads(text)["dag_run_id"], timeout=300)
    assert run["state"] == "success"
    assert client.xcom("compare_models", run["dag_run_id"], "compare.py")["parameters"] == {
        "pipeline_arg": 21
    }
    body_bad, status_bad = trigger({"pipeline_arg": "x"})
    assert status_bad == "400" and "pipeline_arg" in body_bad
