"""Step reuse through real Airflow task execution (issue: reuse that is correct and visible)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import explain, run_and_wait

from airflow_mlpipe.client.rest import AirflowApiError
from airflow_mlpipe.deploy.local import pid_alive

pytestmark = pytest.mark.integration


def results(client, dag_id, run):
    tis = client.task_instances(dag_id, run["dag_run_id"])
    return {t["task_id"]: client.xcom(dag_id, run["dag_run_id"], t["task_id"]) for t in tis}


def ran(res):
    """step -> True when its script ran in this run, False when it reused a committed result."""
    return {step: r["reused_from"] is None for step, r in res.items()}


def log_of(client, dag_id, run, task):
    return "\n".join(client.task_log(dag_id, run["dag_run_id"], task, 1))


def test_unchanged_second_run_reuses_every_step(client):
    first = run_and_wait(client, "reuse_chain")
    assert first["state"] == "success", explain(client, "reuse_chain", first)
    assert ran(results(client, "reuse_chain", first)) == {"a": True, "b": True, "c": True, "d": True}
    second = run_and_wait(client, "reuse_chain")
    assert second["state"] == "success", explain(client, "reuse_chain", second)
    res = results(client, "reuse_chain", second)
    assert ran(res) == {"a": False, "b": False, "c": False, "d": False}
    assert res["c"]["reused_from"]["run_id"] == first["dag_run_id"]
    assert res["c"]["metrics"] == {"c_saw": "HELLO REUSE|b"}
    # Airflow >= 3.3: decided and ended in the triggerer, never queued for a worker (issue 17)
    tis = client.task_instances("reuse_chain", second["dag_run_id"])
    assert [t["queued_when"] for t in tis] == [None] * 4, tis
    assert all(t["try_number"] == 1 for t in tis)
    log = log_of(client, "reuse_chain", second, "c")
    assert f"reusing the result of task c in run {first['dag_run_id']}" in log
    assert "running c.py" not in log


def test_edited_script_reruns_that_step_and_only_what_its_changed_output_feeds(client, deployment):
    run_and_wait(client, "reuse_chain")
    b = Path(deployment.dags_folder) / "reuse_src" / "b" / "b.py"
    original = b.read_text()
    ignored = Path(deployment.dags_folder) / "reuse_src" / "b" / "notes"
    try:
        # a file .amlignore excludes changes nothing
        ignored.mkdir(exist_ok=True)
        (ignored / "todo.txt").write_text("not part of the snapshot")
        res = results(client, "reuse_chain", run_and_wait(client, "reuse_chain"))
        assert ran(res) == {"a": False, "b": False, "c": False, "d": False}
        # a comment: b reruns, its output is byte-identical, so c is reused (early cut-off)
        b.write_text(original + "\n# a comment that changes nothing\n")
        run = run_and_wait(client, "reuse_chain")
        assert run["state"] == "success", explain(client, "reuse_chain", run)
        assert ran(results(client, "reuse_chain", run)) == {"a": False, "b": True, "c": False, "d": False}
        assert "the step runs: source files changed: b.py" in log_of(client, "reuse_chain", run, "b")
        # a real change: b and what its output feeds (c) rerun; a and d are reused
        b.write_text(original.replace('"|b"', '"|b2"'))
        run = run_and_wait(client, "reuse_chain")
        res = results(client, "reuse_chain", run)
        assert ran(res) == {"a": False, "b": True, "c": True, "d": False}
        assert res["c"]["metrics"] == {"c_saw": "HELLO REUSE|b2"}
        assert "input 'out_b' has different content" in log_of(client, "reuse_chain", run, "c")
    finally:
        b.write_text(original)


def test_force_rerun_and_regenerate_outputs_from_rest_conf(client):
    run_and_wait(client, "reuse_chain")
    run = run_and_wait(client, "reuse_chain", {"force_rerun": ["b"]})
    assert ran(results(client, "reuse_chain", run)) == {"a": False, "b": True, "c": False, "d": False}
    assert "the step runs: force_rerun names this step" in log_of(client, "reuse_chain", run, "b")
    run = run_and_wait(client, "reuse_chain", {"regenerate_outputs": True})
    assert ran(results(client, "reuse_chain", run)) == {"a": True, "b": True, "c": True, "d": True}
    with pytest.raises(AirflowApiError, match="nope") as err:
        client.trigger("reuse_chain", {"force_rerun": ["nope"]})
    assert err.value.status == 400


def test_two_concurrent_runs_execute_each_step_once(client):
    first = client.trigger("reuse_concurrent")
    second = client.trigger("reuse_concurrent")
    runs = [client.wait_for_run("reuse_concurrent", r["dag_run_id"], timeout=300) for r in (first, second)]
    assert [r["state"] for r in runs] == ["success", "success"]
    a, b = (results(client, "reuse_concurrent", r) for r in runs)
    for step in ("x", "y"):
        assert sorted([a[step]["reused_from"] is None, b[step]["reused_from"] is None]) == [False, True], step
        assert a[step]["outputs"] == b[step]["outputs"]


def test_a_step_killed_with_sigkill_leaves_no_entry_and_runs_again(client, deployment):
    flags = Path(deployment.extra_env["MLPIPE_TEST_FLAGS"])
    (flags / "hang").write_text("")
    try:
        run = client.trigger("reuse_kill")
        deadline = time.monotonic() + 180
        while not (flags / "k.pids").exists():
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.5)
        script_pid, task_pid = (int(p) for p in (flags / "k.pids").read_text().split())
        os.kill(task_pid, signal.SIGKILL)
        done = client.wait_for_run("reuse_kill", run["dag_run_id"], timeout=300)
        assert done["state"] == "failed"
        deadline = time.monotonic() + 10
        while pid_alive(script_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_alive(script_pid), "the script outlived its killed task"
    finally:
        (flags / "hang").unlink()
    cache = Path(deployment.home) / "workspace" / "datastores" / "workspaceblobstore" / "mlpipe" / "cache"
    assert not (cache / "steps" / "reuse_kill").exists()  # nothing was committed for it
    again = run_and_wait(client, "reuse_kill")
    assert again["state"] == "success", explain(client, "reuse_kill", again)
    assert ran(results(client, "reuse_kill", again)) == {"k": True}
    assert (cache / "steps" / "reuse_kill" / "k.json").exists()


def test_new_data_at_the_same_blob_path_reruns_its_consumers(client, azurite):
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(azurite).get_container_client("mlpipe-test")
    container.upload_blob("feeds/latest.csv", b"a\nb\n", overwrite=True)
    first = run_and_wait(client, "blob_reuse")
    assert first["state"] == "success", explain(client, "blob_reuse", first)
    second = run_and_wait(client, "blob_reuse")
    assert ran(results(client, "blob_reuse", second)) == {"consume": False, "independent": False}
    container.upload_blob("feeds/latest.csv", b"a\nb\nc\n", overwrite=True)
    third = run_and_wait(client, "blob_reuse")
    res = results(client, "blob_reuse", third)
    assert ran(res) == {"consume": True, "independent": False}
    assert res["consume"]["metrics"] == {"rows": 3}
    assert "input 'feed' has different content" in log_of(client, "blob_reuse", third, "consume")


def test_plan_explains_each_decision_without_running_anything(client, deployment):
    import subprocess
    import sys

    run_and_wait(client, "reuse_chain")
    dag_file = Path(deployment.dags_folder) / "mlpipe_reuse.py"
    env = {**os.environ, **deployment.extra_env, "MLPIPE_HOME": str(deployment.home)}

    def plan(*extra):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "airflow_mlpipe.cli",
                "plan",
                str(dag_file),
                "--dag-id",
                "reuse_chain",
                *extra,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    runs_before = len(client.request("GET", "/api/v2/dags/reuse_chain/dagRuns")["dag_runs"])
    text = plan()
    assert "DAG reuse_chain: 4 step(s) reused, 0 to run" in text
    assert all(f"\n{s}  reuse     unchanged since run" in text for s in "abcd")
    b = Path(deployment.dags_folder) / "reuse_src" / "b" / "b.py"
    original = b.read_text()
    try:
        b.write_text(original.replace('"|b"', '"|changed"'))
        text = plan("--force-rerun", "d")
        lines = {line.split()[0]: line for line in text.splitlines() if line[:2] in ("a ", "b ", "c ", "d ")}
        assert "reuse" in lines["a"]
        assert "run       source files changed: b.py" in lines["b"]
        assert "run       input 'out_b' comes from step 'b', which runs" in lines["c"]
        assert "run       force_rerun names this step" in lines["d"]
    finally:
        b.write_text(original)
    # planning started no run
    assert len(client.request("GET", "/api/v2/dags/reuse_chain/dagRuns")["dag_runs"]) == runs_before
