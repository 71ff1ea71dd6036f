"""The Celery scale-out across hosts (issue 16, item 3), on one machine with network, mount and UTS
namespaces (tests/netns_topology.py): host "control" runs Azurite and `mlpipe up --executor
celery` (PostgreSQL, Redis, api-server, scheduler, dag-processor, triggerer, no worker); "worker1"
runs a Celery worker for the default queue, "worker2" one for the queue of AmlCompute cpu-cluster.
No folder is shared: outputs, the reuse cache and snapshots go over the network to Blob."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azurite_server import AZURITE, DEV_ACCOUNT, DEV_KEY
from conftest import explain, run_and_wait, wasb_connection
from netns_topology import HOST_HOME, HOST_TMP, Topology

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.celery import worker_command
from airflow_mlpipe.deploy.local import USERNAME

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network and mount namespaces need root"),
]

DAGS = Path(__file__).resolve().parent / "celery_dags"
DAG_ID = "celery_topology"
API_PORT, BLOB_PORT = 8080, 10000
CONTAINER = "mlpipe-celery"
MAX_NODES = 2
WORKERS = {"worker1": ["default"], "worker2": ["cpu-cluster"]}


def blob_conn_string(host: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{BLOB_PORT}/{DEV_ACCOUNT};"
    )


def start_control(topo: Topology) -> None:
    ctl = topo["control"]
    ctl.popen(
        [str(AZURITE), "--blobHost", ctl.ip, "--blobPort", str(BLOB_PORT), "--location", f"{HOST_TMP}/azurite",
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ctl.python(
        "from airflow_mlpipe import AmlCompute, ComputeTarget, Workspace\n"
        "ComputeTarget.create(Workspace.from_config(), 'cpu-cluster', "
        f"AmlCompute.provisioning_configuration(max_nodes={MAX_NODES}))"
    )
    # no worker on the control host (--queues ''): the workers run on their own hosts
    ctl.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "up", "--executor", "celery", "--host", ctl.ip,
         "--port", str(API_PORT), "--queues", "", "--dags-folder", str(DAGS), "--timeout", "300"],
        timeout=420,
    )  # fmt: skip


def start_workers(topo: Topology, logs: Path) -> None:
    ctl = topo["control"]
    env = json.loads(
        ctl.python(
            "import json; from airflow_mlpipe.deploy.celery import CeleryDeployment\n"
            f"print(json.dumps(CeleryDeployment(host={ctl.ip!r}, queues=[]).worker_environment()))"
        )
    )
    airflow = [sys.executable, "-m", "airflow"]
    for name, queues in WORKERS.items():
        with open(logs / f"{name}.log", "wb") as log:
            topo[name].popen(worker_command(airflow, queues), env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    logs = tmp_path_factory.mktemp("celery-netns-logs")
    topology = Topology(["control", *WORKERS, "client"], shared_ro=[DAGS])
    started = time.monotonic()
    try:
        topology.start()
        config = {
            "workspace_name": "celery-netns",
            "root": f"{HOST_HOME}/workspace",
            "default_datastore": "lake",
            "datastores": {"lake": {"type": "azure_blob", "conn_id": "azurite", "container": CONTAINER}},
        }
        for host in topology.hosts.values():  # each host its own config file, on its own tmpfs
            host.env.update(
                MLPIPE_CONFIG=f"{HOST_TMP}/mlpipe.json",
                AIRFLOW_CONN_AZURITE=wasb_connection(blob_conn_string("control")),
            )
            host.python(f"open({host.env['MLPIPE_CONFIG']!r}, 'w').write({json.dumps(config)!r})")
        start_control(topology)
        start_workers(topology, logs)
        print(f"topology up in {time.monotonic() - started:.0f}s")
        yield topology
    finally:
        topology.stop()
        for log in sorted(logs.iterdir()):  # the workers' own output, for a failure's report
            print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}")
        assert topology.leftovers() == [], "the topology left namespaces, links or processes behind"


@pytest.fixture(scope="module")
def client(topo):
    ctl = topo["control"]
    password = json.loads(ctl.run(["cat", f"{HOST_HOME}/airflow/simple_auth_manager_passwords.json"]).stdout)
    c = AirflowClient(f"http://{ctl.ip}:{API_PORT}", USERNAME, password[USERNAME])
    c.wait_for_dag(DAG_ID, timeout=240)
    return c


def results(client: AirflowClient, run: dict) -> dict[str, dict]:
    return {
        t["task_id"]: client.xcom(DAG_ID, run["dag_run_id"], t["task_id"])
        for t in client.task_instances(DAG_ID, run["dag_run_id"])
    }


def test_hosts_share_no_folder(topo):
    for name in ("worker1", "worker2", "client"):
        host = topo[name]
        assert host.run(["hostname"]).stdout.strip() == name
        # the control host's MLPIPE_HOME (PostgreSQL, Redis, secrets) is not on this host's /tmp
        assert host.run(["ls", HOST_HOME]).stdout.split() == [], name
        denied = host.run(["sh", "-c", f"touch {DAGS}/x 2>/dev/null && echo written || echo read-only"])
        assert denied.stdout.strip() == "read-only", name
    assert "postgres" in topo["control"].run(["ls", HOST_HOME]).stdout.split()


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
