"""End to end through real Airflow 3 processes: api-server, scheduler (LocalExecutor), dag-processor,
triggerer. Runs are triggered over the REST API v2, as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SECRET_PROBE, explain, run_and_wait, task_states

from airflow_mlpipe.client.rest import AirflowApiError
from airflow_mlpipe.deploy.local import DeploymentError, LocalDeployment
from airflow_mlpipe.runstatus import STOPPED_KEY

pytestmark = pytest.mark.integration


def result(client, dag_id, run, task_id):
    return client.xcom(dag_id, run["dag_run_id"], task_id)


def test_example_pipeline_runs_and_its_parameter_changes_the_result(client, deployment):
    default = run_and_wait(client, "compare_models")
    changed = run_and_wait(client, "compare_models", {"pipeline_arg": 20})
    for run in (default, changed):
        assert run["state"] == "success"
        assert set(task_states(client, "compare_models", run).values()) == {"success"}
    train = result(client, "compare_models", default, "train.py")
    assert train["metrics"]["train_rows"] == 105
    assert train["reused_from"] is None
    models = train["outputs"]["output_data1"]
    assert models["files"] == 3 and models["datastore"] == "workspaceblobstore"
    # the output is on the datastore, under a path that names this run and task
    root = Path(deployment.home) / "workspace" / "datastores" / "workspaceblobstore"
    assert sorted(p.name for p in (root / models["path"]).iterdir()) == [
        "decision_tree.pkl",
        "logistic_regression.pkl",
        "train_scores.json",
    ]
    a = result(client, "compare_models", default, "compare.py")
    b = result(client, "compare_models", changed, "compare.py")
    assert a["parameters"] == {"pipeline_arg": 10} and b["parameters"] == {"pipeline_arg": 20}
    assert a["metrics"]["evaluation_rows"] == 60
    assert a["metrics"]["accuracy_logistic_regression"] != b["metrics"]["accuracy_logistic_regression"]
    assert a["parent_metrics"]["best_model"] in ("decision_tree", "logistic_regression")


def test_parameters_inputs_outputs_and_metrics_reach_the_script(client):
    run = run_and_wait(client, "features", {"flag": False, "ratio": 0.75, "mode": "thorough"})
    assert run["state"] == "success", explain(client, "features", run)
    produce = result(client, "features", run, "produce")
    m = produce["metrics"]
    assert (m["flag"], m["ratio"], m["mode_env"], m["fixed_env"]) == ("False", 0.75, "thorough", "literal")
    assert m["ref_text"] == "reference data v1"
    assert m["series"] == [1, 2, 3] and m["row"] == {"a": 1, "b": "x"}
    assert m["leaked_env"] == 0  # no AIRFLOW_CONN_* and no secret value in the script's environment
    assert produce["parent_metrics"] == {"from_produce": "yes"}
    assert produce["outputs"]["produced"]["files"] == 2
    consume = result(client, "features", run, "consume")
    assert consume["metrics"]["files_seen"] == "nested/ref.txt,values.txt"
    assert consume["metrics"]["values"] == "False 0.75"
    assert consume["metrics"]["input_path_matches"] is True
    assert result(client, "features", run, "after")["metrics"] == {"after_ran": True}
    log = "\n".join(client.task_log("features", run["dag_run_id"], "produce", 1))
    assert "hello from produce" in log
    assert "[stderr] warn line" in log
    assert SECRET_PROBE not in json.dumps(produce) and SECRET_PROBE not in log


def test_failing_step_fails_the_task_with_stderr_and_stores_nothing(client, deployment):
    run = run_and_wait(client, "failing")
    assert run["state"] == "failed"  # v1's continue_on_step_failure=False: the run fails and stops
    states = task_states(client, "failing", run)
    assert states == {"boom": "failed", "never": "upstream_failed", "bystander": "failed"}, states
    # the independent step was running when boom failed: it stopped, marked so (Azure ML: Canceled)
    assert client.xcom("failing", run["dag_run_id"], "bystander", key=STOPPED_KEY) == {
        "failed_steps": ["boom"]
    }
    assert client.stopped_steps("failing", run["dag_run_id"]) == {"bystander"}
    assert result(client, "failing", run, "bystander") is None
    by_log = "\n".join(client.task_log("failing", run["dag_run_id"], "bystander", 1))
    assert "boom is failing: True" in by_log and "step(s) boom failed: stopping the script" in by_log
    assert "bystander done" not in by_log
    log = "\n".join(client.task_log("failing", run["dag_run_id"], "boom", 1))
    assert "boom.py exited with code 3" in log
    assert "something broke: code 42" in log
    assert result(client, "failing", run, "boom") is None
    runs = Path(deployment.home) / "workspace" / "datastores" / "workspaceblobstore" / "mlpipe" / "runs"
    assert not (runs / "failing").exists()  # the half-written output never reached the datastore


def test_continue_on_step_failure_runs_independent_steps_and_still_fails_the_run(client):
    run = run_and_wait(client, "failing_continue")
    assert run["state"] == "failed"
    states = task_states(client, "failing_continue", run)
    assert states == {
        "boom": "failed",
        "never": "upstream_failed",  # it needs boom's output
        "bystander": "success",  # it does not: with continue_on_step_failure=True it runs
    }
    assert result(client, "failing_continue", run, "bystander")["metrics"] == {"bystander_ran": True}


def test_hand_written_dag_with_step_operators(client):
    run = run_and_wait(client, "handwritten", {"count": 5})
    assert run["state"] == "success", explain(client, "handwritten", run)
    assert result(client, "handwritten", run, "sum")["metrics"] == {"total": 10}


def test_pipeline_on_an_azure_blob_datastore(client, azurite):
    from azure.storage.blob import BlobServiceClient

    run = run_and_wait(client, "blob_pipeline")
    assert run["state"] == "success", explain(client, "blob_pipeline", run)
    count = result(client, "blob_pipeline", run, "count")
    assert count["metrics"] == {"rows": 150}
    assert result(client, "blob_pipeline", run, "check")["metrics"] == {"table_rows": 150, "agree": True}
    out = count["outputs"]["counts"]
    assert out["datastore"] == "lake"
    container = BlobServiceClient.from_connection_string(azurite).get_container_client("mlpipe-test")
    assert [b.name for b in container.list_blobs(name_starts_with=out["path"])] == [f"{out['path']}/rows.txt"]


def test_invalid_pipeline_is_an_import_error_naming_the_problem(client):
    errors = {Path(e["filename"]).name: e["stack_trace"] for e in client.import_errors()}
    assert "two steps are named 'twin'" in errors["mlpipe_invalid.py"]
    # an invalid DatabricksStep: v1's message, naming the step, when Airflow parses the file
    assert (
        "step 'both_tasks': Exactly one of notebook_path, python_script_path, python_script_name or "
        "main_class_name is required" in errors["mlpipe_invalid_databricks.py"]
    )


def test_a_bad_parameter_is_refused_over_rest_naming_it(client):
    with pytest.raises(AirflowApiError, match="pipeline_arg") as err:
        client.trigger("compare_models", {"pipeline_arg": "twenty"})
    assert err.value.status == 400


def test_cli_run_prints_each_step_state_and_metrics(deployment, client):
    env = {**os.environ, "MLPIPE_HOME": str(deployment.home)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_mlpipe.cli",
            "run",
            "compare_models",
            "--wait",
            "--param",
            "pipeline_arg=3",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("compare.py") and "success" in line and "accuracy_" in line for line in lines)
    assert any(line.startswith("pipeline metrics: best_accuracy=") for line in lines)


def test_up_is_idempotent_and_a_taken_port_is_a_clear_error(deployment, tmp_path):
    before = deployment.state()
    deployment.up()
    assert deployment.state() == before
    other = LocalDeployment(home=tmp_path / "other")
    with pytest.raises(DeploymentError, match=f"port {before['port']} .* already in use"):
        other.up(port=before["port"])
    assert other.state() is None


def test_single_file_outputs_and_path_on_compute(client):
    run = run_and_wait(client, "files")
    assert run["state"] == "success", explain(client, "files", run)
    write = result(client, "files", run, "write")
    assert write["outputs"]["model_file"]["files"] == 1
    m = result(client, "files", run, "read")["metrics"]
    assert m["model_is_file"] is True and m["model"] == "weights-v1"
    assert m["model_path_tail"] == "model_file/here/in/model_file"
    assert m["deep_files"] == ["x.txt"]  # stored without the compute subpath


def test_execution_timeout_stops_the_script_and_its_children(client, tmp_path):
    from airflow_mlpipe.deploy.local import pid_alive

    pid_file = tmp_path / "pids"
    run = run_and_wait(client, "timeout", {"pid_file": str(pid_file)})
    assert run["state"] == "failed"
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    assert not any(pid_alive(p) for p in pids), "the step script or its child outlived the task"
    log = "\n".join(client.task_log("timeout", run["dag_run_id"], "sleeper", 1))
    assert "sleeping" in log and "Timeout" in log


def test_registry_entries_become_dags_and_a_broken_one_is_reported(client, deployment):
    import importlib.util

    from airflow_mlpipe.registry import Registry

    spec_mod = importlib.util.spec_from_file_location(
        "cm", Path(deployment.dags_folder) / "compare_models.py"
    )
    module = importlib.util.module_from_spec(spec_mod)
    old = os.environ.get("MLPIPE_HOME")
    os.environ["MLPIPE_HOME"] = str(deployment.home)  # the same workspace the deployment uses
    try:
        spec_mod.loader.exec_module(module)
    finally:
        os.environ.pop("MLPIPE_HOME") if old is None else os.environ.__setitem__("MLPIPE_HOME", old)
    spec = module.pipeline1.to_spec()
    registry = Registry(Path(deployment.home) / "registry")
    registry.put("registered_example", spec)
    registry.put("registered_broken", dict(spec, steps=[dict(spec["steps"][0], kind="nope")]))
    dag = client.wait_for_dag("registered_example", timeout=120)
    assert "mlpipe-registry" in {t["name"] for t in dag["tags"]}
    run = run_and_wait(client, "registered_example", {"pipeline_arg": 7})
    assert run["state"] == "success", explain(client, "registered_example", run)
    assert result(client, "registered_example", run, "compare.py")["parameters"] == {"pipeline_arg": 7}
    assert "no operator for step kind 'nope'" in registry.broken()["registered_broken"]
    with pytest.raises(AirflowApiError) as err:
        client.get_dag("registered_broken")
    assert err.value.status == 404
