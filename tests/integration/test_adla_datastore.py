"""`mlpipe adla serve --datastore` on a Blob datastore (Azurite): the service reads a script's inputs
and writes its outputs through the datastore's storage backend, not a local folder, so existing ADLA
callers can run U-SQL over data that stays in Blob Storage. Started as a user would (the CLI, in its
own process group), spoken to by the real AdlaHook; jobs run the package's U-SQL engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import wasb_connection

from airflow_mlpipe import Workspace
from airflow_mlpipe.hooks.adla import AdlaHook, JobState

pytestmark = pytest.mark.integration
TOKEN = "adla-datastore-test-token"
SCRIPT = """@sales =
    EXTRACT region string, amount int
    FROM "/adla-in/sales.csv"
    USING Extractors.Csv(skipFirstNRows: 1);
@totals =
    SELECT region, SUM(amount) AS total
    FROM @sales
    GROUP BY region;
OUTPUT @totals TO "adl://acct.azuredatalakestore.net/adla-out/totals.csv"
    ORDER BY region
    USING Outputters.Csv(outputHeader: true);
"""


@pytest.fixture(scope="module")
def lake_env(azurite, blob_config):
    return {"AIRFLOW_CONN_AZURITE": wasb_connection(azurite), "MLPIPE_CONFIG": str(blob_config)}


@pytest.fixture(scope="module")
def store(lake_env):
    old = {k: os.environ.get(k) for k in lake_env}
    os.environ.update(lake_env)
    try:
        yield Workspace.from_config().get_default_datastore().store
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def service(lake_env, store, tmp_path_factory):
    """``mlpipe adla serve --datastore lake`` until the module ends."""
    ready = tmp_path_factory.mktemp("adla-ds") / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_mlpipe.cli", "adla", "serve", "--datastore", "lake", "--ready-file", str(ready)],
        env={**os.environ, **lake_env, "MLPIPE_ADLA_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), proc.communicate(timeout=10)[0].decode()
        yield f"http://127.0.0.1:{int(ready.read_text())}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0


@pytest.fixture
def hook(service, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ADLA_DS", json.dumps({"conn_type": "adla", "host": service, "password": TOKEN})
    )
    return AdlaHook("adla_ds", retry_delay=0.01)


def run(hook: AdlaHook, script: str) -> JobState:
    job_id = str(uuid.uuid4())
    hook.submit_job(job_id, "ds-test", script)
    for _ in range(600):
        state = hook.get_job_state(job_id)
        if state.is_terminal:
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def test_a_job_reads_and_writes_the_blob_datastore(hook, store, tmp_path):
    src = tmp_path / "sales.csv"
    src.write_text("region,amount\neu,3\nus,5\neu,4\n")
    store.upload_file(src, "adla-in/sales.csv")
    state = run(hook, SCRIPT)
    assert state.is_successful, state.describe()
    assert (
        store.read_bytes("adla-out/totals.csv") == b'"region","total"\r\n"eu",7\r\n"us",5\r\n'
    )  # U-SQL's row delimiter
    assert store.list(".mlpipe-adla") == []  # the staged upload was moved into place


def test_a_failed_job_writes_nothing_and_a_missing_blob_is_named(hook, store, tmp_path):
    store.delete("adla-out/totals.csv")
    broken = SCRIPT.replace("SUM(amount)", "SUM(amount) / 0 + Nope(region)")
    state = run(hook, broken)
    assert state.result == "Failed" and state.errors
    missing = run(hook, SCRIPT.replace("/adla-in/sales.csv", "/adla-in/absent.csv"))
    (error,) = missing.errors
    assert error["errorId"] == "E_STORE_USER_FILENOTFOUND" and "/adla-in/absent.csv" in error["message"]
    assert store.stat("adla-out/totals.csv") is None and store.list(".mlpipe-adla") == []


def test_an_unknown_datastore_stops_the_service_at_start(lake_env):
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "adla", "serve", "--datastore", "nope"],
        env={**os.environ, **lake_env, "MLPIPE_ADLA_TOKEN": TOKEN}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "no datastore 'nope'" in proc.stderr, proc.stderr
