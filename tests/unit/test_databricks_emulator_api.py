"""The Databricks emulator's REST API against the provider's real DatabricksHook and plain HTTP.

Job runs use the emulator's command seam with a small real program (written per test) that follows
the job process contract: it reads task.json, prints, sleeps or fails, and writes result.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests
from airflow.providers.databricks.exceptions import DatabricksApiError
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.utils.databricks import normalise_json_content
from databricks_emulator import start_emulator

from airflow_mlpipe.emulators.databricks.server import DatabricksEmulator

TOKEN = "emulator-test-token"
CLUSTER = "0101-000000-emulator"

JOB_PROGRAM = """
import json, os, sys, time
from pathlib import Path

run_dir = Path(sys.argv[1])
task = json.loads((run_dir / "task.json").read_text())
(run_dir / "pid").write_text(str(os.getpid()))
args = task.get("parameters") or list(task.get("widgets", {}).values()) or ["ok"]
print("kind", task["kind"], "args", args, "env", os.environ.get("EMU_TEST_VAR"),
      os.environ.get("DATABRICKS_RUNTIME_VERSION"), flush=True)


def result(state, **kw):
    tmp = run_dir / "result.json.tmp"
    tmp.write_text(json.dumps({"state": state, "notebook_result": kw.get("value"),
                               "error": kw.get("error"), "error_trace": kw.get("trace")}))
    os.replace(tmp, run_dir / "result.json")


if args[0] == "sleep":
    time.sleep(float(args[1]))
    result("SUCCESS")
elif args[0] == "fail":
    result("FAILED", error="ValueError: bad input", trace="Traceback (most recent call last):\\nValueError: bad input")
    sys.exit(1)
elif args[0] == "stubborn":  # ignores SIGTERM and leaves a child behind in its process group
    import signal, subprocess
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (run_dir / "child").write_text(str(child.pid))
    time.sleep(60)
elif args[0] == "crash":
    sys.exit(3)
else:
    result("SUCCESS", value="done")
"""

BUILDER_MODULE = """
import sys

def command(run_dir, dbfs_root):
    return [sys.executable, {program!r}, str(run_dir)]
"""


@pytest.fixture
def job_program(tmp_path: Path) -> Path:
    program = tmp_path / "job_program.py"
    program.write_text(JOB_PROGRAM)
    return program


@pytest.fixture
def emu(tmp_path: Path, job_program: Path):
    local = tmp_path / "datastore"
    local.mkdir()
    (local / "input.csv").write_text("a,b\n1,2\n")
    emulator = DatabricksEmulator(
        tmp_path / "dbx",
        TOKEN,
        mounts={"/mnt/data": str(local)},
        clusters={CLUSTER: "RUNNING", "0202-000000-stopped": "TERMINATED"},
        command=lambda run_dir, dbfs_root: [sys.executable, str(job_program), str(run_dir)],
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def hook(emu: DatabricksEmulator, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    conn = {
        "conn_type": "databricks",
        "host": emu.host,
        "port": emu.port,
        "schema": "http",
        "password": TOKEN,
    }
    monkeypatch.setenv("AIRFLOW_CONN_DBX_EMU", json.dumps(conn))
    return DatabricksHook("dbx_emu", retry_limit=1, retry_delay=0.1)


def call(emu, method: str, path: str, body: dict | None = None, token: str | None = TOKEN, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, emu.url + path, json=body, headers=headers, timeout=10, **kw)
    return response.status_code, response.json() if response.content else None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wait_done(hook: DatabricksHook, run_id: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        state = hook.get_run_state(run_id)
        if state.is_terminal or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def upload_program(hook: DatabricksHook, path: str = "dbfs:/jobs/main.py") -> str:
    hook._do_api_call(
        ("POST", "2.0/dbfs/put"), {"path": path, "contents": b64(b"print('hi')\n"), "overwrite": True}
    )
    return path


def python_run(path: str, *args: str, **extra) -> dict:
    return {
        "run_name": "py",
        "spark_python_task": {"python_file": path, "parameters": list(args)},
        "existing_cluster_id": CLUSTER,
        **extra,
    }


def run_async(hook: DatabricksHook, method: str, *args):
    """Call one of the hook's async methods the way a trigger does (inside ``async with hook``)."""

    async def _call():
        async with hook:
            return await getattr(hook, method)(*args)

    return asyncio.run(_call())


def gone(pid: int, within: float = 3.0) -> bool:
    """True once no process of the group ``pid`` exists (orphans take a moment to be reaped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- DBFS ------------------------------------------------------------------------------------


def test_dbfs_put_read_list_status_and_delete(hook: DatabricksHook, emu) -> None:
    api = hook._do_api_call
    api(("POST", "2.0/dbfs/put"), {"path": "dbfs:/data/a.txt", "contents": b64(b"hello world")})
    assert (emu.root / "dbfs/data/a.txt").read_bytes() == b"hello world"
    read = api(("GET", "2.0/dbfs/read"), {"path": "/data/a.txt", "offset": "6", "length": 5})
    assert read == {"bytes_read": 5, "data": b64(b"world")}
    status = api(("GET", "2.0/dbfs/get-status"), {"path": "/data/a.txt"})
    assert status["is_dir"] is False and status["file_size"] == 11 and status["path"] == "/data/a.txt"
    api(("POST", "2.0/dbfs/mkdirs"), {"path": "/data/sub/deeper"})
    listing = api(("GET", "2.0/dbfs/list"), {"path": "/data"})["files"]
    assert [(f["path"], f["is_dir"]) for f in listing] == [("/data/a.txt", False), ("/data/sub", True)]
    with pytest.raises(DatabricksApiError) as err:
        api(("POST", "2.0/dbfs/put"), {"path": "/data/a.txt", "contents": b64(b"x")})
    assert err.value.http_status_code == 400 and "RESOURCE_ALREADY_EXISTS" in str(err.value)
    api(("POST", "2.0/dbfs/put"), {"path": "/data/a.txt", "contents": b64(b"x"), "overwrite": True})
    assert (emu.root / "dbfs/data/a.txt").read_bytes() == b"x"
    status, body = call(emu, "POST", "/api/2.0/dbfs/delete", {"path": "/data"})
    assert (status, body["error_code"]) == (400, "IO_ERROR")
    api(("POST", "2.0/dbfs/delete"), {"path": "/data", "recursive": True})
    status, body = call(emu, "GET", "/api/2.0/dbfs/get-status", {"path": "/data"})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_dbfs_stream_is_invisible_until_close(hook: DatabricksHook, emu) -> None:
    api = hook._do_api_call
    handle = api(("POST", "2.0/dbfs/create"), {"path": "/big/file.bin"})["handle"]
    block = os.urandom(1024 * 1024)
    api(("POST", "2.0/dbfs/add-block"), {"handle": handle, "data": b64(block)})
    api(("POST", "2.0/dbfs/add-block"), {"handle": str(handle), "data": b64(b"tail")})
    status, body = call(emu, "GET", "/api/2.0/dbfs/get-status", {"path": "/big/file.bin"})
    assert status == 404 and not (emu.root / "dbfs/big/file.bin").exists()
    api(("POST", "2.0/dbfs/close"), {"handle": handle})
    assert (emu.root / "dbfs/big/file.bin").read_bytes() == block + b"tail"
    assert api(("GET", "2.0/dbfs/get-status"), {"path": "/big/file.bin"})["file_size"] == len(block) + 4
    status, body = call(emu, "POST", "/api/2.0/dbfs/add-block", {"handle": handle, "data": b64(b"late")})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_dbfs_one_megabyte_limits(emu) -> None:
    too_big = b64(b"x" * (1024 * 1024 + 1))
    status, body = call(emu, "POST", "/api/2.0/dbfs/put", {"path": "/x.bin", "contents": too_big})
    assert (status, body["error_code"]) == (400, "MAX_BLOCK_SIZE_EXCEEDED")
    _, created = call(emu, "POST", "/api/2.0/dbfs/create", {"path": "/y.bin"})
    status, body = call(
        emu, "POST", "/api/2.0/dbfs/add-block", {"handle": created["handle"], "data": too_big}
    )
    assert (status, body["error_code"]) == (400, "MAX_BLOCK_SIZE_EXCEEDED")
    call(emu, "POST", "/api/2.0/dbfs/put", {"path": "/z.bin", "contents": b64(b"z")})
    status, body = call(emu, "GET", "/api/2.0/dbfs/read", {"path": "/z.bin", "length": 1024 * 1024 + 1})
    assert (status, body["error_code"]) == (400, "MAX_READ_SIZE_EXCEEDED")


def test_dbfs_paths_mounts_multipart_and_move(emu, tmp_path: Path) -> None:
    status, body = call(emu, "GET", "/api/2.0/dbfs/list", {"path": "/a/../../etc"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE") and "escapes" in body["message"]
    status, body = call(emu, "GET", "/api/2.0/dbfs/list", params={"path": "/mnt/data"})
    assert status == 200 and [f["path"] for f in body["files"]] == ["/mnt/data/input.csv"]
    response = requests.post(
        emu.url + "/api/2.0/dbfs/put",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"path": "dbfs:/mnt/data/out/result.csv", "overwrite": "true"},
        files={"contents": ("result.csv", b"x,y\n3,4\n")},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert (tmp_path / "datastore/out/result.csv").read_bytes() == b"x,y\n3,4\n"
    status, _ = call(
        emu, "POST", "/api/2.0/dbfs/move", {"source_path": "/mnt/data/out", "destination_path": "/moved"}
    )
    assert status == 200 and (emu.root / "dbfs/moved/result.csv").exists()
    status, body = call(emu, "POST", "/api/2.0/dbfs/delete", {"path": "/mnt/data", "recursive": True})
    assert status == 400 and "mount point" in body["message"]
    assert (tmp_path / "datastore/input.csv").exists()


# --- errors ----------------------------------------------------------------------------------


def test_auth_and_unknown_routes(emu, hook: DatabricksHook, monkeypatch: pytest.MonkeyPatch) -> None:
    status, body = call(emu, "GET", "/api/2.0/dbfs/list", {"path": "/"}, token=None)
    assert status == 401 and body["error_code"] == "UNAUTHENTICATED"
    status, body = call(emu, "GET", "/api/2.0/dbfs/list", {"path": "/"}, token="wrong")
    assert (status, body) == (401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
    status, body = call(emu, "POST", "/api/2.2/jobs/run-now", {"job_id": 1})
    assert status == 501 and body == {
        "error_code": "NOT_IMPLEMENTED",
        "message": "POST /api/2.2/jobs/run-now is not implemented by the mlpipe Databricks emulator",
    }
    bad = {
        "conn_type": "databricks",
        "host": emu.host,
        "port": emu.port,
        "schema": "http",
        "password": "nope",
    }
    monkeypatch.setenv("AIRFLOW_CONN_DBX_BAD", json.dumps(bad))
    with pytest.raises(DatabricksApiError) as err:
        DatabricksHook("dbx_bad", retry_limit=1).get_cluster_state(CLUSTER)
    assert err.value.http_status_code == 401
    with pytest.raises(DatabricksApiError) as err:
        hook.get_run_state(424242)
    assert err.value.http_status_code == 404 and "Run 424242 does not exist" in str(err.value)


# --- workspace -------------------------------------------------------------------------------


def test_workspace_import_export_status_list_delete(hook: DatabricksHook, emu) -> None:
    api = hook._do_api_call
    source = b"# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\nprint(2)\n"
    nb = {"path": "/Users/me/etl/prep", "format": "SOURCE", "language": "PYTHON", "content": b64(source)}
    status, body = call(emu, "POST", "/api/2.0/workspace/import", nb)
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST") and "parent folder" in body[
        "message"
    ]
    api(("POST", "2.0/workspace/mkdirs"), {"path": "/Users/me/etl"})
    api(("POST", "2.0/workspace/import"), nb)
    status, body = call(emu, "POST", "/api/2.0/workspace/import", nb)
    assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    exported = api(("GET", "2.0/workspace/export"), {"path": "/Users/me/etl/prep", "format": "SOURCE"})
    assert base64.b64decode(exported["content"]) == source and exported["file_type"] == "py"
    ipynb = json.dumps({"cells": [], "metadata": {"language_info": {"name": "sql"}}, "nbformat": 4}).encode()
    api(
        ("POST", "2.0/workspace/import"),
        {"path": "/Users/me/etl/q", "format": "JUPYTER", "content": b64(ipynb)},
    )
    exported = api(("GET", "2.0/workspace/export"), {"path": "/Users/me/etl/q", "format": "JUPYTER"})
    assert base64.b64decode(exported["content"]) == ipynb and exported["file_type"] == "ipynb"
    status_ = api(("GET", "2.0/workspace/get-status"), {"path": "/Workspace/Users/me/etl/q"})
    assert (status_["object_type"], status_["language"], status_["path"]) == (
        "NOTEBOOK",
        "SQL",
        "/Users/me/etl/q",
    )
    listing = api(("GET", "2.0/workspace/list"), {"path": "/Users/me/etl"})["objects"]
    assert [(o["path"], o["object_type"]) for o in listing] == [
        ("/Users/me/etl/prep", "NOTEBOOK"),
        ("/Users/me/etl/q", "NOTEBOOK"),
    ]
    status, body = call(emu, "POST", "/api/2.0/workspace/delete", {"path": "/Users/me/etl"})
    assert (status, body["error_code"]) == (400, "DIRECTORY_NOT_EMPTY")
    api(("POST", "2.0/workspace/delete"), {"path": "/Users/me/etl", "recursive": True})
    status, body = call(emu, "GET", "/api/2.0/workspace/get-status", {"path": "/Users/me/etl"})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


# --- clusters --------------------------------------------------------------------------------


def test_clusters_get_start_list(hook: DatabricksHook, emu) -> None:
    assert hook.get_cluster_state(CLUSTER).is_running
    stopped = "0202-000000-stopped"
    assert hook.get_cluster_state(stopped).state == "TERMINATED"
    hook.start_cluster({"cluster_id": stopped})
    assert hook.get_cluster_state(stopped).state == "PENDING"
    assert run_async(hook, "a_get_cluster_state", stopped).state == "PENDING"
    deadline = time.monotonic() + 5
    while hook.get_cluster_state(stopped).state != "RUNNING":
        assert time.monotonic() < deadline, "the cluster never reached RUNNING"
        time.sleep(0.1)
    status, body = call(emu, "POST", "/api/2.1/clusters/start", {"cluster_id": stopped})
    assert (status, body["error_code"]) == (400, "INVALID_STATE")
    _, listed = call(emu, "GET", "/api/2.0/clusters/list")
    assert sorted(c["cluster_id"] for c in listed["clusters"]) == [CLUSTER, stopped]


# --- jobs runs -------------------------------------------------------------------------------


def test_legacy_submit_runs_to_success_through_the_hook(hook: DatabricksHook, emu) -> None:
    path = upload_program(hook)
    # DatabricksSubmitRunOperator turns every number into a string; the emulator accepts that
    payload = normalise_json_content(python_run(path, "sleep", "1", timeout_seconds=60))
    assert payload["timeout_seconds"] == "60"
    run_id = hook.submit_run(payload)
    first = hook.get_run_state(run_id)
    assert first.life_cycle_state in ("PENDING", "RUNNING") and not first.is_terminal
    state = wait_done(hook, run_id)
    assert state.is_successful, state
    assert run_async(hook, "a_get_run_state", run_id) == state
    run = hook.get_run(run_id)
    assert run["run_type"] == "SUBMIT_RUN" and run["run_name"] == "py" and run["number_in_job"] == run_id
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""},
    }
    assert run["end_time"] >= run["start_time"] > 0 and run["execution_duration"] > 0
    [task] = run["tasks"]
    assert task["run_id"] != run_id and task["cluster_instance"]["cluster_id"] == CLUSTER
    assert hook.get_run_page_url(run_id) == f"{emu.url}/?o=0#job/{run['job_id']}/run/{run_id}"
    output = hook.get_run_output(run_id)  # the legacy form answers for its parent run id
    assert "kind python args ['sleep', '1']" in output["logs"] and "error" not in output
    assert output["metadata"]["run_id"] == task["run_id"]
    spec = json.loads((emu.root / "runs" / str(task["run_id"]) / "task.json").read_text())
    assert spec["script"] == str(emu.root / "dbfs/jobs/main.py") and spec["parameters"] == ["sleep", "1"]


def test_failed_task_output_and_multi_task_rules(hook: DatabricksHook, emu) -> None:
    path = upload_program(hook)
    run_id = hook.submit_run(
        {
            "run_name": "two",
            "tasks": [
                {"task_key": "first", "spark_python_task": {"python_file": path, "parameters": ["fail"]},
                 "existing_cluster_id": CLUSTER},
                {"task_key": "second", "depends_on": [{"task_key": "first"}],
                 "spark_python_task": {"python_file": path}, "existing_cluster_id": CLUSTER},
            ],
        }
    )  # fmt: skip
    state = wait_done(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "FAILED")
    assert state.state_message.startswith("Task first failed with message: Workload failed")
    tasks = {t["task_key"]: t for t in hook.get_run_tasks(run_id)}
    assert tasks["first"]["state"]["result_state"] == "FAILED"
    assert tasks["second"]["state"]["result_state"] == "UPSTREAM_FAILED"
    output = hook.get_run_output(tasks["first"]["run_id"])
    assert output["error"] == "ValueError: bad input" and "Traceback" in output["error_trace"]
    with pytest.raises(DatabricksApiError) as err:
        hook.get_run_output(run_id)
    assert err.value.http_status_code == 400
    assert "Retrieving the output of runs with multiple tasks is not supported" in str(err.value)


def test_process_without_result_is_internal_error(hook: DatabricksHook) -> None:
    run_id = hook.submit_run(python_run(upload_program(hook), "crash"))
    state = wait_done(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("INTERNAL_ERROR", "FAILED")
    assert "exited with code 3 without writing its result" in state.state_message


def test_missing_notebook_python_file_and_library_fail_the_run(hook: DatabricksHook) -> None:
    runs = {
        "notebook": {"run_name": "nb", "notebook_task": {"notebook_path": "/Users/me/missing"},
                     "existing_cluster_id": CLUSTER},
        "python": python_run("dbfs:/nowhere/main.py"),
        "library": {**python_run(upload_program(hook)), "libraries": [{"jar": "dbfs:/jars/missing.jar"}]},
    }  # fmt: skip
    ids = {name: hook.submit_run(body) for name, body in runs.items()}
    messages = {}
    for name, run_id in ids.items():
        state = wait_done(hook, run_id)
        assert (state.life_cycle_state, state.result_state) == ("INTERNAL_ERROR", "FAILED"), name
        messages[name] = state.state_message
    assert 'Unable to access the notebook "/Users/me/missing"' in messages["notebook"]
    assert "dbfs:/nowhere/main.py does not exist on DBFS" in messages["python"]
    assert messages["library"].startswith("Library installation failed")
    assert (
        hook.get_run(ids["library"])["status"]["termination_details"]["code"] == "LIBRARY_INSTALLATION_ERROR"
    )


def test_libraries_new_cluster_and_env_reach_the_job(hook: DatabricksHook, emu) -> None:
    path = upload_program(hook)
    hook._do_api_call(("POST", "2.0/dbfs/put"), {"path": "/jars/app.jar", "contents": b64(b"PK")})
    cluster = {
        "spark_version": "15.4.x-scala2.12",
        "num_workers": "2",
        "spark_env_vars": {"EMU_TEST_VAR": "42"},
    }
    run_id = hook.submit_run({**python_run(path), "existing_cluster_id": None, "new_cluster": cluster,
                              "libraries": [{"jar": "dbfs:/jars/app.jar"}, {"pypi": {"package": "six==1.16.0"}}]})  # fmt: skip
    assert hook.get_run_state(run_id).state_message == "Launching cluster"
    assert wait_done(hook, run_id).is_successful
    [task] = hook.get_run_tasks(run_id)
    spec = json.loads((emu.root / "runs" / str(task["run_id"]) / "task.json").read_text())
    assert spec["local_libraries"] == {"dbfs:/jars/app.jar": str(emu.root / "dbfs/jars/app.jar")}
    assert spec["num_workers"] == 2 and spec["spark_env_vars"] == {"EMU_TEST_VAR": "42"}
    assert "env 42 15.4" in hook.get_run_output(run_id)["logs"]


def test_cancel_kills_the_process_group(hook: DatabricksHook, emu) -> None:
    run_id = hook.submit_run(python_run(upload_program(hook), "sleep", "60"))
    [task] = hook.get_run_tasks(run_id)
    pid_file = emu.root / "runs" / str(task["run_id"]) / "pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the job process never started"
        time.sleep(0.05)
    hook.cancel_run(run_id)
    state = wait_done(hook, run_id, timeout=15)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "CANCELED")
    assert hook.get_run(run_id)["state"]["user_cancelled_or_timedout"] is True
    assert gone(int(pid_file.read_text()))


def test_run_timeout(hook: DatabricksHook) -> None:
    run_id = hook.submit_run(python_run(upload_program(hook), "sleep", "60", timeout_seconds=1))
    state = wait_done(hook, run_id, timeout=15)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "TIMEDOUT")
    assert "timed out" in state.state_message
    assert hook.get_run(run_id)["state"]["user_cancelled_or_timedout"] is True


def test_task_timeout(hook: DatabricksHook) -> None:
    task = {"task_key": "slow", "timeout_seconds": "1", "existing_cluster_id": CLUSTER,
            "spark_python_task": {"python_file": upload_program(hook), "parameters": ["sleep", "60"]}}  # fmt: skip
    run_id = hook.submit_run({"run_name": "t", "tasks": [task]})
    state = wait_done(hook, run_id, timeout=15)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "TIMEDOUT")
    assert state.state_message == "Task slow timed out after 1 seconds"


def test_idempotency_list_and_delete(hook: DatabricksHook, emu) -> None:
    path = upload_program(hook)
    first = hook.submit_run(python_run(path, idempotency_token="same-token"))
    assert hook.submit_run(python_run(path, idempotency_token="same-token")) == first
    slow = hook.submit_run(python_run(path, "sleep", "60"))
    wait_done(hook, first)
    _, listed = call(emu, "GET", "/api/2.2/jobs/runs/list", {"limit": "1"})
    assert [r["run_id"] for r in listed["runs"]] == [slow] and listed["has_more"] is True
    _, active = call(emu, "GET", "/api/2.1/jobs/runs/list", params={"active_only": "true"})
    assert [r["run_id"] for r in active["runs"]] == [slow]
    _, done = call(emu, "GET", "/api/2.2/jobs/runs/list", {"completed_only": True, "offset": 0})
    assert [r["run_id"] for r in done["runs"]] == [first] and done["has_more"] is False
    status, body = call(emu, "POST", "/api/2.2/jobs/runs/delete", {"run_id": slow})
    assert (status, body["error_code"]) == (400, "INVALID_STATE")
    hook.cancel_run(slow)
    hook.delete_run(first)
    status, _ = call(emu, "GET", "/api/2.2/jobs/runs/get", {"run_id": str(first)})
    assert status == 404


def test_cluster_states_before_a_run(hook: DatabricksHook) -> None:
    path = upload_program(hook)
    skipped = hook.submit_run({**python_run(path), "existing_cluster_id": "0303-000000-nowhere"})
    state = wait_done(hook, skipped)
    assert state.life_cycle_state == "SKIPPED" and "0303-000000-nowhere does not exist" in state.state_message
    started = hook.submit_run({**python_run(path), "existing_cluster_id": "0202-000000-stopped"})
    assert "Waiting for cluster 0202-000000-stopped" in hook.get_run_state(started).state_message
    assert wait_done(hook, started).is_successful
    assert hook.get_cluster_state("0202-000000-stopped").is_running


def test_submit_validation(emu) -> None:
    status, body = call(emu, "POST", "/api/2.2/jobs/runs/submit",
                        {"tasks": [{"task_key": "w", "python_wheel_task": {"package_name": "p"},
                                    "existing_cluster_id": CLUSTER}]})  # fmt: skip
    assert status == 501 and "python_wheel_task (task w)" in body["message"]
    status, body = call(
        emu, "POST", "/api/2.2/jobs/runs/submit", {"spark_python_task": {"python_file": "dbfs:/a.py"}}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE") and "exactly one of" in body[
        "message"
    ]
    status, body = call(emu, "POST", "/api/2.1/jobs/runs/submit",
                        {"tasks": [{"task_key": "a", "depends_on": [{"task_key": "b"}],
                                    "spark_python_task": {"python_file": "dbfs:/a.py"}, "existing_cluster_id": CLUSTER},
                                   {"task_key": "b", "depends_on": [{"task_key": "a"}],
                                    "spark_python_task": {"python_file": "dbfs:/a.py"}, "existing_cluster_id": CLUSTER}]})  # fmt: skip
    assert status == 400 and "cycle" in body["message"]


# --- the command-line server ------------------------------------------------------------------


def test_cli_serves_the_hook_and_stops_its_jobs(tmp_path: Path, job_program: Path, monkeypatch) -> None:
    builders = tmp_path / "builders"
    builders.mkdir()
    (builders / "emu_job_builder.py").write_text(BUILDER_MODULE.format(program=str(job_program)))
    with start_emulator(
        tmp_path / "cli", TOKEN, clusters={CLUSTER: "RUNNING"}, job_command="emu_job_builder:command",
        pythonpath=[str(builders)],
    ) as emu:  # fmt: skip
        assert f"Databricks emulator on http://127.0.0.1:{emu.port}" in emu.log_text()
        monkeypatch.setenv("AIRFLOW_CONN_DBX_CLI", emu.conn_uri)
        hook = DatabricksHook("dbx_cli", retry_limit=1)
        path = upload_program(hook)
        assert wait_done(hook, hook.submit_run(python_run(path))).is_successful
        slow = hook.submit_run(python_run(path, "sleep", "60"))
        [task] = hook.get_run_tasks(slow)
        pid_file = emu.root / "runs" / str(task["run_id"]) / "pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the job process never started"
            time.sleep(0.05)
        emu.stop()
        assert emu.proc.returncode == 0, emu.log_text()
        assert gone(int(pid_file.read_text()))


def test_cancel_sigkills_a_job_ignoring_sigterm_and_its_children(
    tmp_path: Path, job_program: Path, monkeypatch
) -> None:
    with DatabricksEmulator(
        tmp_path / "grace",
        TOKEN,
        command=lambda run_dir, dbfs_root: [sys.executable, str(job_program), str(run_dir)],
        kill_grace=0.5,
    ) as emu:
        conn = {
            "conn_type": "databricks",
            "host": emu.host,
            "port": emu.port,
            "schema": "http",
            "password": TOKEN,
        }
        monkeypatch.setenv("AIRFLOW_CONN_DBX_GRACE", json.dumps(conn))
        hook = DatabricksHook("dbx_grace", retry_limit=1)
        run_id = hook.submit_run(python_run(upload_program(hook), "stubborn"))
        [task] = hook.get_run_tasks(run_id)
        run_dir = emu.root / "runs" / str(task["run_id"])
        deadline = time.monotonic() + 10
        while not (run_dir / "child").exists():
            assert time.monotonic() < deadline, "the job process never started its child"
            time.sleep(0.05)
        hook.cancel_run(run_id)
        assert hook.get_run_state(run_id).life_cycle_state in ("TERMINATING", "TERMINATED")
        state = wait_done(hook, run_id, timeout=10)
        assert state.result_state == "CANCELED"
        pid, child = int((run_dir / "pid").read_text()), int((run_dir / "child").read_text())
        assert gone(pid)
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # the child was in the job's process group


def test_injected_faults_answer_matching_requests_then_stop(hook: DatabricksHook, emu) -> None:
    path = upload_program(hook)
    run_id = hook.submit_run(python_run(path, "sleep", "0.2"))
    other = hook.submit_run(python_run(path, "sleep", "0.2"))
    status, _ = call(
        emu,
        "POST",
        "/api/2.0/mlpipe-emulator/faults",
        {"path": "jobs/runs/get", "run_id": run_id, "status": 503, "times": 2},
    )
    assert status == 200
    hook.get_run_state(other)  # another run's requests are not affected
    for _ in range(2):  # a 5xx is retried by the hook (retry_limit=1 here), then it gives up
        with pytest.raises(Exception, match="503 Server Error"):
            hook.get_run_state(run_id)
    assert wait_done(hook, run_id).is_successful  # used up: answered normally again
    status, body = call(
        emu, "POST", "/api/2.0/mlpipe-emulator/faults", {"path": "jobs/runs/get", "status": 200}
    )
    assert status == 400 and "error status" in body["message"]
