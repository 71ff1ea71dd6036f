"""`mlpipe adla serve` spoken to by the real AdlaHook and AdlaJobTrigger on a loopback port: the job
API's routes, api-version and token checks, job states, a failed job's error with its U-SQL line,
cancelling mid-run, and how script paths map to files under the data root. Jobs run stand-in
runners passed to the service (the U-SQL engine is tested with the engine)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from airflow_mlpipe.emulators.adla import JobFailure
from airflow_mlpipe.emulators.adla.jobs import JobContext
from airflow_mlpipe.emulators.adla.paths import store_path
from airflow_mlpipe.emulators.adla.server import AdlaService
from airflow_mlpipe.hooks.adla import AdlaApiError, AdlaHook, JobState
from airflow_mlpipe.triggers.adla import AdlaJobTrigger, event_for

TOKEN = "adla-service-test-token"
RELEASE = threading.Event()


def copy_upper(script: str, ctx: JobContext) -> None:
    """A stand-in runner: ``COPY <in> <out>`` upper-cases a file; ``FAIL <line>`` fails at that
    line; ``BLOCK`` waits until cancelled."""
    verb, *args = script.split()
    if verb == "FAIL":
        raise JobFailure("E_CSC_USER_SYNTAXERROR", "syntax error near 'SELEC'", line=int(args[0]))
    if verb == "BOOM":
        raise RuntimeError("division by zero in a row")
    if verb == "BLOCK":
        ctx.running()
        ctx.cancelled.wait(60)
        ctx.check()
        return
    source, target = ctx.input_path(args[0]), ctx.output_path(args[1])
    ctx.running()
    target.write_text(source.read_text().upper())


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("adla-root")
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("x,y\n1,2\n")
    with AdlaService(root, TOKEN, runner=copy_upper) as svc:
        yield svc


@pytest.fixture
def hook(service, monkeypatch):
    conn = {"conn_type": "adla", "host": service.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_ADLA_UNIT", json.dumps(conn))
    return AdlaHook("adla_unit", retry_delay=0.01)


def wait_end(hook: AdlaHook, job_id: str) -> JobState:
    for _ in range(400):
        state = hook.get_job_state(job_id)
        if state.is_terminal:
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def test_a_job_runs_and_publishes_its_output_under_the_data_root(service, hook):
    job_id = str(uuid.uuid4())
    job = hook.submit_job(
        job_id, "copy", "COPY /in/a.csv adl://acct.azuredatalakestore.net/out/a.csv", 4, 10, "rt"
    )
    assert job["jobId"] == job_id and job["type"] == "USql" and job["priority"] == 10
    assert job["degreeOfParallelism"] == 4 and job["properties"]["runtimeVersion"] == "rt"
    state = wait_end(hook, job_id)
    assert state.is_successful and str(state) == "Ended/Succeeded"
    assert (service.root / "out" / "a.csv").read_text() == "X,Y\n1,2\n"
    audit = [r["newState"] for r in hook.get_job(job_id)["stateAuditRecords"]]
    assert audit[0] == "New" and audit[-1] == "Ended" and "Running" in audit


def test_a_resubmitted_put_finds_its_job_and_another_script_under_that_id_conflicts(hook):
    job_id = str(uuid.uuid4())
    hook.submit_job(job_id, "copy", "COPY /in/a.csv /out/b.csv")
    assert hook.submit_job(job_id, "copy", "COPY /in/a.csv /out/b.csv")["jobId"] == job_id
    with pytest.raises(AdlaApiError, match="409 JobAlreadyExists"):
        hook.submit_job(job_id, "copy", "COPY /in/a.csv /out/c.csv")


def test_a_failed_job_reports_its_error_and_u_sql_line(hook):
    job_id = str(uuid.uuid4())
    hook.submit_job(job_id, "bad", "FAIL 3")
    state = wait_end(hook, job_id)
    assert state.result == "Failed" and not state.is_successful
    (error,) = state.errors
    assert error["errorId"] == "E_CSC_USER_SYNTAXERROR" and error["lineNumber"] == 3
    assert "syntax error near 'SELEC' (script line 3)" in state.describe()
    assert JobState.from_json(state.to_json()) == state


def test_runtime_errors_and_missing_inputs_fail_the_job_with_adla_error_ids(service, hook):
    boom, missing = str(uuid.uuid4()), str(uuid.uuid4())
    hook.submit_job(boom, "boom", "BOOM")
    hook.submit_job(missing, "missing", "COPY /in/absent.csv /out/x.csv")
    assert wait_end(hook, boom).errors[0]["errorId"] == "E_RUNTIME_USER_ERROR"
    err = wait_end(hook, missing).errors[0]
    assert err["errorId"] == "E_STORE_USER_FILENOTFOUND" and "/in/absent.csv" in err["message"]
    assert not (service.root / "out" / "x.csv").exists()


def test_cancel_mid_run_ends_the_job_cancelled_and_an_ended_job_stays_as_it_is(hook):
    job_id = str(uuid.uuid4())
    hook.submit_job(job_id, "block", "BLOCK")
    for _ in range(200):
        if hook.get_job_state(job_id).state == "Running":
            break
        time.sleep(0.05)
    assert hook.get_job_state(job_id).state == "Running"
    hook.cancel_job(job_id)
    state = hook.get_job_state(job_id)
    assert state.is_terminal and state.result == "Cancelled"
    hook.cancel_job(job_id)  # already ended: nothing changes
    assert hook.get_job_state(job_id).result == "Cancelled"


def test_the_service_checks_token_api_version_ids_and_bodies(service):
    url = f"{service.url}/jobs/{uuid.uuid4()}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    got = requests.get(url, params={"api-version": "2016-11-01"}, timeout=10)
    assert got.status_code == 401 and got.json()["error"]["code"] == "AuthenticationFailed"
    got = requests.get(
        url, params={"api-version": "2016-11-01"}, headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert got.status_code == 401 and got.json()["error"]["code"] == "InvalidAuthenticationToken"
    got = requests.get(url, headers=auth, timeout=10)
    assert got.status_code == 400 and got.json()["error"]["code"] == "MissingApiVersionParameter"
    got = requests.get(url, params={"api-version": "2015-10-01-preview"}, headers=auth, timeout=10)
    assert got.json()["error"]["code"] == "InvalidApiVersionParameter"
    got = requests.get(url, params={"api-version": "2016-11-01"}, headers=auth, timeout=10)
    assert got.status_code == 404 and got.json()["error"]["code"] == "JobNotFound"
    got = requests.get(
        f"{service.url}/jobs/not-a-guid", params={"api-version": "2016-11-01"}, headers=auth, timeout=10
    )
    assert got.json()["error"]["code"] == "InvalidJobId"
    hive = {"name": "h", "type": "Hive", "properties": {"type": "Hive", "script": "x"}}
    got = requests.put(url, params={"api-version": "2016-11-01"}, headers=auth, json=hive, timeout=10)
    assert got.status_code == 400 and got.json()["error"]["code"] == "InvalidJobType"


def test_the_hook_names_a_refused_token_without_echoing_it(service, monkeypatch):
    secret = "wrong-token-never-shown"
    monkeypatch.setenv(
        "AIRFLOW_CONN_ADLA_BAD", json.dumps({"conn_type": "adla", "host": service.url, "password": secret})
    )
    with pytest.raises(AdlaApiError) as exc:
        AdlaHook("adla_bad").get_job(str(uuid.uuid4()))
    assert exc.value.status == 401 and secret not in str(exc.value)


def test_the_hook_retries_until_the_service_answers(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_ADLA_LATE",
        json.dumps({"conn_type": "adla", "host": f"http://127.0.0.1:{port}", "password": TOKEN}),
    )
    hook = AdlaHook("adla_late", retry_limit=3, retry_delay=0.01)
    with pytest.raises(requests.ConnectionError):
        hook.get_job(str(uuid.uuid4()))  # nothing listens: retried, then the connection error
    with AdlaService(tmp_path, TOKEN, port=port, runner=copy_upper):
        with pytest.raises(AdlaApiError, match="JobNotFound"):
            hook.get_job(str(uuid.uuid4()))


def test_the_trigger_waits_for_the_end_and_serializes_primitives(hook):
    job_id = str(uuid.uuid4())
    hook.submit_job(job_id, "copy", "COPY /in/a.csv /out/t.csv")
    trigger = AdlaJobTrigger(job_id, "adla_unit", polling_period_seconds=0.05)
    path, kwargs = trigger.serialize()
    assert path == "airflow_mlpipe.triggers.adla.AdlaJobTrigger"
    assert kwargs == {"job_id": job_id, "adla_conn_id": "adla_unit", "polling_period_seconds": 0.05}

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "success" and JobState.from_json(event["job_state"]).is_successful


def test_event_for_a_state():
    assert event_for("j", JobState("Running")) is None
    failed = event_for("j", JobState("Ended", "Failed", [{"message": "m", "lineNumber": 2}]))
    assert (
        failed["status"] == "error" and JobState.from_json(failed["job_state"]).errors[0]["lineNumber"] == 2
    )


@pytest.mark.parametrize(
    "given, rel",
    [
        ("/a/b.csv", "a/b.csv"),
        ("a/b.csv", "a/b.csv"),
        ("adl://x.azuredatalakestore.net/a/b.csv", "a/b.csv"),
        ("adl:///a/./b.csv", "a/b.csv"),
    ],
)
def test_script_paths_resolve_under_the_data_root(given, rel):
    assert store_path(given) == rel


@pytest.mark.parametrize(
    "given", ["wasb://c@acct.blob.core.windows.net/a.csv", "/../etc/passwd", "C:/data/a.csv", "/"]
)
def test_paths_outside_the_store_are_refused(given):
    with pytest.raises(JobFailure) as exc:
        store_path(given)
    assert exc.value.error_id == "E_STORE_USER_PATH_NOT_SUPPORTED" and repr(given) in exc.value.message


def test_python_m_serves_until_sigterm(tmp_path):
    ready = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_mlpipe.emulators.adla", "--root", str(tmp_path / "root"),
         "--ready-file", str(ready), "--runner", "test_adla_service:copy_upper"],
        env={**os.environ, "MLPIPE_ADLA_TOKEN": TOKEN, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a loaded machine takes a while to start Python
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), (
            proc.stdout.read().decode(errors="replace") if proc.poll() is not None else "not ready in 60 s"
        )
        port = int(ready.read_text())
        got = requests.get(f"http://127.0.0.1:{port}/jobs", params={"api-version": "2016-11-01"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)  # fmt: skip
        assert got.status_code == 200 and got.json() == {"value": []}
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
