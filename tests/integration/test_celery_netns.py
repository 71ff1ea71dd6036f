"""The Celery scale-out across hosts (issue 16, item 3), on one machine with network, mount and UTS
namespaces (tests/netns_topology.py): host "control" runs Azurite and `mlpipe up --executor
celery` (PostgreSQL, Redis, api-server, scheduler, dag-processor, triggerer, no worker); "worker1"
runs a Celery worker for the default queue, "worker2" one for the queue of AmlCompute cpu-cluster.
No folder is shared: outputs, the reuse cache and snapshots go over the network to Blob."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from celery_topology import (
    api_client,
    assert_no_shared_folder,
    blob_conn_string,
    celery_topology,
    workspace_config,
)
from conftest import explain, run_and_wait
from netns_topology import HOST_TMP, NETNS_TEST_MARKS

from airflow_mlpipe.client.rest import AirflowClient

pytestmark = NETNS_TEST_MARKS

DAGS = Path(__file__).resolve().parent / "celery_dags"
DAG_ID = "celery_topology"
CONTAINER = "mlpipe-celery"
MAX_NODES = 2
WORKERS = {"worker1": ["default"], "worker2": ["cpu-cluster"]}


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    logs = tmp_path_factory.mktemp("celery-netns-logs")
    config = workspace_config("celery-netns", CONTAINER)
    with celery_topology(
        ["control", *WORKERS, "client"], DAGS, config, WORKERS, logs, clusters={"cpu-cluster": MAX_NODES}
    ) as topology:
        yield topology


@pytest.fixture(scope="module")
def client(topo):
    c = api_client(topo)
    c.wait_for_dag(DAG_ID, timeout=240)
    return c


def results(client: AirflowClient, run: dict) -> dict[str, dict]:
    return {
        t["task_id"]: client.xcom(DAG_ID, run["dag_run_id"], t["task_id"])
        for t in client.task_instances(DAG_ID, run["dag_run_id"])
    }


def test_hosts_share_no_folder(topo):
    assert_no_shared_folder(topo, DAGS, ["worker1", "worker2", "client"])
    assert topo["client"].run(["ls", "-A", f"{HOST_TMP}/mlpipe"]).stdout.split() == []


def test_cluster_step_runs_only_on_the_worker_of_its_queue_and_outputs_go_to_blob(topo, client):
    from azure.storage.blob import BlobServiceClient

    pool = client.request("GET", "/api/v2/pools/cpu-cluster")
    assert pool["slots"] == MAX_NODES
    first = run_and_wait(client, DAG_ID, timeout=480)
    assert first["state"] == "success", explain(client, DAG_ID, first)
    tis = {t["task_id"]: t for t in client.task_instances(DAG_ID, first["dag_run_id"])}
    assert {t: (ti["hostname"], ti["queue"], ti["pool"]) for t, ti in tis.items()} == {
        "prepare": ("worker1", "default", "default_pool"),
        "train": ("worker2", "cpu-cluster", "cpu-cluster"),
        "report": ("worker1", "default", "default_pool"),
    }
    res = results(client, first)
    assert res["report"]["metrics"]["model"] == "sum=55 trained-on=worker2"
    assert {step: r["metrics"]["host"] for step, r in res.items()} == {
        "prepare": "worker1",
        "train": "worker2",
        "report": "worker1",
    }
    # the api-server reads each task's log from the worker host that ran it (its log server, on
    # the port the deployment hands the workers)
    for task_id, host in (("train", "worker2"), ("report", "worker1")):
        log = "\n".join(client.task_log(DAG_ID, first["dag_run_id"], task_id, tis[task_id]["try_number"]))
        assert "Could not read served logs" not in log and "reuse:" in log, (host, log[-2000:])
    # worker1 read what worker2 wrote: through Blob, the only storage both reach
    container = BlobServiceClient.from_connection_string(
        blob_conn_string(topo["control"].ip)
    ).get_container_client(CONTAINER)
    names = [b.name for b in container.list_blobs()]
    model = [n for n in names if n.endswith("/model.txt")]
    assert model, names
    assert container.download_blob(model[0]).readall() == b"sum=55 trained-on=worker2"
    assert any(n.startswith("mlpipe/cache/") for n in names), names  # the reuse cache is on Blob
    for name in WORKERS:  # and nothing of the run stayed on a worker's own disk
        left = topo[name].run(["find", HOST_TMP, "-name", "model.txt"]).stdout.split()
        assert left == [], (name, left)

    # a second run reuses every step: the cache entries written by both workers are read over Blob
    second = run_and_wait(client, DAG_ID, timeout=300)
    assert second["state"] == "success", explain(client, DAG_ID, second)
    reused = results(client, second)
    assert {step: (r["reused_from"] or {}).get("run_id") for step, r in reused.items()} == {
        step: first["dag_run_id"] for step in ("prepare", "train", "report")
    }
    assert reused["report"]["metrics"]["model"] == "sum=55 trained-on=worker2"


def test_zz_mlpipe_down_stops_the_whole_control_host(topo, client):
    ctl = topo["control"]
    before = topo.commands("control")
    assert any("postgres" in c for c in before) and any("redis-server" in c for c in before), before
    ctl.run([sys.executable, "-m", "airflow_mlpipe.cli", "down"], timeout=120)
    left = [c for c in topo.commands("control") if any(k in c for k in ("airflow", "postgres", "redis"))]
    assert left == []
