"""Event-driven scheduling on a datastore path through real Airflow processes: a DAG scheduled on a
``datastore_asset`` runs once per polling window that saw changes, its run knows every changed path,
and killing the triggerer neither loses nor repeats a change.

Runs its own small deployment (no Docker, no Databricks): the shared one cannot restart just its
triggerer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest
from helpers import restart_triggerer, running, until

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

pytestmark = pytest.mark.integration

DAG_ID, BLOB_DAG_ID = "watch_local", "watch_blob"
INTERVAL, BLOB_INTERVAL = 0.05, 0.2  # minutes: a listing every 3 s, every 12 s
DAG_FILE = f'''
import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_mlpipe.triggers.datastore import changed_paths, datastore_asset

WATCHED = datastore_asset(
    "itest", "lake", "in", {INTERVAL},
    spec={{"type": "local", "name": "lake", "path": os.environ["MLPIPE_TEST_WATCHED"]}},
)

BLOBS = datastore_asset(
    "iblob", "blobs", "in", {BLOB_INTERVAL},
    spec={{"type": "azure_blob", "name": "blobs", "conn_id": "azurite", "container": "watched"}},
)

for dag_id, asset in (("{DAG_ID}", WATCHED), ("{BLOB_DAG_ID}", BLOBS)):
    with DAG(dag_id, schedule=[asset], start_date=datetime(2026, 1, 1), catchup=False):

        @task
        def seen(**context):
            return changed_paths(context)

        seen()
'''


@pytest.fixture(scope="module")
def azurite_conn(tmp_path_factory):
    from azurite_server import azurite

    with azurite(tmp_path_factory.mktemp("azurite")) as conn_string:
        yield json.dumps({"conn_type": "wasb", "extra": {"connection_string": conn_string}})


@pytest.fixture(scope="module")
def watched_deployment(tmp_path_factory, azurite_conn):
    home = tmp_path_factory.mktemp("watch-deployment")
    (home / "dags").mkdir()
    (home / "dags" / "watch_local.py").write_text(DAG_FILE)
    watched = home / "lake"
    watched.mkdir()
    dep = LocalDeployment(
        home=home / "mlpipe",
        dags_folder=home / "dags",
        extra_env={"MLPIPE_TEST_WATCHED": str(watched), "AIRFLOW_CONN_AZURITE": azurite_conn},
    )
    with running(dep, echo=lambda *_: None):
        yield dep, watched


def cursor(dep: LocalDeployment, asset: str = "mlpipe_schedule_itest") -> dict | None:
    """The watch's cursor as the asset state store holds it."""
    with sqlite3.connect(dep.airflow_home / "airflow.db") as db:
        row = db.execute(
            "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id "
            "WHERE a.name = ? AND s.key = ?",
            (asset, "mlpipe_datastore_cursor"),
        ).fetchone()
    if row is None:
        return None
    value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return json.loads(value) if isinstance(value, str) else value


def runs(client: AirflowClient, dag_id: str = DAG_ID) -> list[dict]:
    return sorted(
        client.collection(f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs"), key=lambda r: r["run_after"]
    )


def event_payloads(client: AirflowClient, run: dict, dag_id: str = DAG_ID) -> list[dict]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
    return [e["extra"]["payload"] for e in client.request("GET", path)["asset_events"]]


def finished(client: AirflowClient, count: int, dag_id: str = DAG_ID) -> list[dict]:
    """The DAG's runs once there are ``count`` and all have finished."""
    found = runs(client, dag_id)
    return found if len(found) >= count and all(r["state"] in ("success", "failed") for r in found) else []


def test_one_run_per_window_and_triggerer_restarts(watched_deployment):
    dep, watched = watched_deployment
    client = AirflowClient(dep.url, USERNAME, dep.password())
    client.wait_for_dag(DAG_ID, timeout=180)
    baseline = until(lambda: cursor(dep), "the baseline cursor in the asset state store")
    assert baseline["listing"] == {}

    # three files land in one window (staged, then renamed into place at once)
    stage = watched / ".mlpipe-tmp-stage"
    stage.mkdir()
    for name in ("c.csv", "a.csv", "b.csv"):
        (stage / name).write_text(name)
    os.rename(stage, watched / "in")

    first = until(lambda: finished(client, 1), "the first run")
    assert len(first) == 1 and first[0]["state"] == "success", first
    (payload,) = event_payloads(client, first[0])
    assert payload["paths"] == ["in/a.csv", "in/b.csv", "in/c.csv"]
    assert payload["common_folder"] == "in"
    assert client.xcom(DAG_ID, first[0]["dag_run_id"], "seen") == payload["paths"]
    until(lambda: (cursor(dep) or {}).get("last_event_id") == payload["event_id"], "the cursor commit")

    # the triggerer dies; a change lands while none runs; a new triggerer takes over
    restart_triggerer(dep)
    (watched / "in" / "d.csv").write_text("d")
    second = until(lambda: finished(client, 2), "the run of the change made while the triggerer was down")
    assert second[1]["state"] == "success", second
    (again,) = event_payloads(client, second[1])
    assert again["paths"] == ["in/d.csv"]
    until(lambda: (cursor(dep) or {}).get("last_event_id") == again["event_id"], "the second commit")

    # a restart with nothing changed repeats nothing
    restart_triggerer(dep)
    (watched / "in" / "e.csv").write_text("e")  # a later change still fires, once
    third = until(lambda: finished(client, 3), "the run after the second restart")
    assert [p["paths"] for p in event_payloads(client, third[2])] == [["in/e.csv"]]
    time.sleep(6 * INTERVAL * 60)  # several more listings
    assert len(runs(client)) == 3


def test_blob_batches_start_one_run_each(watched_deployment, azurite_conn, monkeypatch, tmp_path):
    from airflow_mlpipe.storage.blob import BlobStore

    dep, _ = watched_deployment
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", azurite_conn)
    blob, src = BlobStore("azurite", "watched"), tmp_path / "f.txt"
    client = AirflowClient(dep.url, USERNAME, dep.password())
    client.wait_for_dag(BLOB_DAG_ID, timeout=180)
    until(lambda: cursor(dep, "mlpipe_schedule_iblob"), "the blob watch's baseline", poll=0.2)

    def upload(names: list[str], content: str) -> None:
        """Blob has no atomic multi-file write: five uploads take ~0.1 s of the 12 s polling window."""
        for name in names:
            src.write_text(f"{name} {content}")
            blob.upload_file(src, f"in/{name}")

    upload(["e.txt", "a.txt", "c.txt", "b.txt", "d.txt"], "v1")
    first = until(lambda: finished(client, 1, BLOB_DAG_ID), "the blob run")
    (payload,) = event_payloads(client, first[0], BLOB_DAG_ID)
    assert payload["paths"] == [f"in/{n}.txt" for n in "abcde"] and payload["datastore"] == "blobs"
    assert client.xcom(BLOB_DAG_ID, first[0]["dag_run_id"], "seen") == payload["paths"]
    until(
        lambda: (cursor(dep, "mlpipe_schedule_iblob") or {}).get("last_event_id") == payload["event_id"],
        "the blob cursor commit",
        poll=0.2,
    )
    upload(["f.txt", "a.txt"], "v2")  # a second batch: one new blob, one overwritten
    second = until(lambda: finished(client, 2, BLOB_DAG_ID), "the second blob run")
    (again,) = event_payloads(client, second[1], BLOB_DAG_ID)
    assert (again["added"], again["modified"]) == (["in/f.txt"], ["in/a.txt"])
