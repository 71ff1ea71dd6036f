"""Issue 16 end to end and its faults, on ONE namespace topology (tests/celery_topology.py):
"control" runs Azurite and `mlpipe up --executor celery`; "worker1" and "worker2" each run a Celery
worker for the default queue; "client" runs a client program with only the API URL, credentials and
the Blob datastore. Then a worker is SIGKILLed mid-step, Redis and PostgreSQL are restarted during
runs; each time the run ends clearly and no result is half-committed (docs/deployment.md, "Faults")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery_topology import (
    API_PORT,
    api_client,
    api_password,
    assert_no_shared_folder,
    blob_conn_string,
    celery_topology,
    host_pids,
    kill_host_processes,
    start_worker,
    workspace_config,
)
from conftest import explain
from netns_topology import HOST_HOME, HOST_TMP, NETNS_TEST_MARKS

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME
from airflow_mlpipe.reuse.cache import CacheStore

pytestmark = NETNS_TEST_MARKS

DAGS = Path(__file__).resolve().parent / "celery_fault_dags"
DAG_ID = "celery_faults"
CONTAINER = "mlpipe-faults"
WORKERS = {"worker1": ["default"], "worker2": ["default"]}
# a killed worker's task is failed (then retried) once its heartbeats stop for this long
# (Airflow's default is 300 s); the deployment sets no such value, airflow.cfg does
AIRFLOW_CFG = "[scheduler]\ntask_instance_heartbeat_timeout = 30\ntask_instance_heartbeat_timeout_detection_interval = 5\n"

CLIENT = r"""
import json, os, sys, requests
from airflow_mlpipe import (AzureCliAuthentication, Experiment, Pipeline, PipelineData, PipelineEndpoint,
                            PipelineRun, PythonScriptStep, Workspace)

tag = sys.argv[1]
src = os.path.join(os.environ["TMPDIR"], "client_src")  # the client's own folder: uploaded as snapshots
os.makedirs(src, exist_ok=True)
scripts = {
    "prepare.py": "import argparse, os\np = argparse.ArgumentParser(); p.add_argument('--out'); a = p.parse_args()\n"
                  "os.makedirs(a.out, exist_ok=True)\nopen(os.path.join(a.out, 'n.txt'), 'w').write('1 2 3 4')\n",
    "train.py": "import argparse, os\nfrom airflow_mlpipe import Run\np = argparse.ArgumentParser()\n"
                "p.add_argument('--data'); p.add_argument('--out'); a = p.parse_args()\n"
                "total = sum(int(x) for x in open(os.path.join(a.data, 'n.txt')).read().split())\n"
                "os.makedirs(a.out, exist_ok=True)\nopen(os.path.join(a.out, 'model.txt'), 'w').write(str(total))\n",
    "report.py": "import argparse, os, socket\nfrom airflow_mlpipe import Run\np = argparse.ArgumentParser()\n"
                 "p.add_argument('--model'); a = p.parse_args()\n"
                 "Run.get_context().log('model', open(os.path.join(a.model, 'model.txt')).read())\n",
}
for name, text in scripts.items():
    open(os.path.join(src, name), "w").write(text)

ws = Workspace.from_config()  # MLPIPE_CONFIG: API URL, user, the Blob datastore; password in the environment
data, model = PipelineData("data"), PipelineData("model")
prepare = PythonScriptStep("prepare.py", name="prepare", arguments=["--out", data], outputs=[data], source_directory=src)
train = PythonScriptStep("train.py", name="train", arguments=["--data", data, "--out", model], inputs=[data],
                         outputs=[model], source_directory=src)
report = PythonScriptStep("report.py", name="report", arguments=["--model", model], inputs=[model], source_directory=src)
pipeline = Pipeline(ws, [prepare, train, report])

experiment = Experiment(ws, f"seed_{tag}")
run = experiment.submit(pipeline)
submitted = run.wait_for_completion(show_output=False, timeout_seconds=600)
published = run.publish_pipeline(name=f"seed-{tag}", version="1")
endpoint = PipelineEndpoint.publish(ws, f"seed-{tag}", "the seed pipeline", published)
# as v1 code does: POST to the endpoint with the workspace's authentication header
r = requests.post(endpoint.endpoint, headers=AzureCliAuthentication().get_authentication_header(),
                  json={"ExperimentName": f"seed_{tag}_rest"}, timeout=60)
r.raise_for_status()
body = r.json()
tracked = PipelineRun(Experiment(ws, f"seed_{tag}_rest"), body["Id"])
status = tracked.wait_for_completion(show_output=False, timeout_seconds=600)
print(json.dumps({
    "submitted": submitted,
    "run": [run.dag_id, run.run_id],
    "published_dag": published.dag_id,
    "rest": [body["DagId"], body["Id"]],
    "status": status,
    "steps": {s.name: s.get_status() for s in tracked.get_steps()},
    "model": tracked.find_step_run("report")[0].get_metrics()["model"],
}))
"""


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    logs = tmp_path_factory.mktemp("celery-faults-logs")
    config = workspace_config("celery-faults", CONTAINER)
    started = time.monotonic()
    names = ["control", *WORKERS, "client"]
    with celery_topology(names, DAGS, config, WORKERS, logs, airflow_cfg=AIRFLOW_CFG) as topology:
        topology.logs = logs
        yield topology
    print(f"module with its topology: {time.monotonic() - started:.0f}s")


@pytest.fixture(scope="module")
def client(topo) -> AirflowClient:
    c = api_client(topo)
    c.wait_for_dag(DAG_ID, timeout=240)
    return c


@pytest.fixture(scope="module")
def blob(topo):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        blob_conn_string(topo["control"].ip)
    ).get_container_client(CONTAINER)


def blob_store(topo):
    from azure.storage.blob import BlobServiceClient

    from airflow_mlpipe.storage.blob import BlobStore

    service = BlobServiceClient.from_connection_string(blob_conn_string(topo["control"].ip))
    return BlobStore("azurite", CONTAINER, service_client=service)


# --- the "Done when" scenario, across hosts ---------------------------------------------------------


def test_seed_pipeline_submitted_published_and_run_through_its_endpoint_from_the_client_host(
    topo, client, blob
):
    assert_no_shared_folder(topo, DAGS, ["worker1", "worker2", "client"])
    host = topo["client"]
    config = {
        "workspace_name": "laptop",
        "default_datastore": "lake",
        "datastores": {"lake": {"type": "azure_blob", "conn_id": "azurite", "container": CONTAINER}},
        "api": {"url": f"http://control:{API_PORT}", "username": USERNAME},
    }
    client_config = f"{HOST_TMP}/client.json"
    host.python(f"open({client_config!r}, 'w').write({json.dumps(config)!r})")
    assert host.run(["ls", "-A", HOST_HOME]).stdout.split() == []  # an empty MLPIPE_HOME
    tag = uuid.uuid4().hex[:8]
    done = host.run(
        [sys.executable, "-c", CLIENT, tag],
        {
            "MLPIPE_CONFIG": client_config,
            "MLPIPE_API_PASSWORD": api_password(topo),
        },  # never on a command line
        timeout=900,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["submitted"] == "Finished" and out["status"] == "Finished", out
    assert out["steps"] == {"prepare": "Finished", "train": "Finished", "report": "Finished"}, out
    assert out["model"] == "10"

    # the steps ran on the worker hosts (Airflow's own record, over REST)
    for dag_id, run_id in (out["run"], out["rest"]):
        hosts = {t["task_id"]: t["hostname"] for t in client.task_instances(dag_id, run_id)}
        assert set(hosts) == {"prepare", "train", "report"} and set(hosts.values()) <= set(WORKERS), hosts
    assert out["rest"][0] == out["published_dag"]

    # the DAGs came from the registry on Blob; no host holds registry records
    names = [b.name for b in blob.list_blobs(name_starts_with="mlpipe/registry/_pipelines/")]
    for dag_id in (out["run"][0], out["published_dag"]):
        assert any(n.endswith(f"/{dag_id}.json") for n in names), (dag_id, names)
    for name in topo.hosts:
        files = (
            topo[name]
            .run(["sh", "-c", f"find {HOST_HOME}/registry -type f 2>/dev/null || true"])
            .stdout.split()
        )
        assert set(files) <= {f"{HOST_HOME}/registry/dags/mlpipe_registry.py"}, (name, files)
    assert topo["client"].run(["find", HOST_HOME, "-path", "*registry*"]).stdout.split() == []


# --- faults ---------------------------------------------------------------------------------------


def wait_for(what: str, probe, timeout: float = 240, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def start_slow_run(client: AirflowClient, topo) -> tuple[dict, str]:
    """A run of the fault DAG whose step ``slow`` is running its script on a worker host; returns
    the run and that host."""
    run = client.trigger(DAG_ID, {"tag": uuid.uuid4().hex[:8]})

    def running_on() -> str | None:
        for name in WORKERS:
            if host_pids(topo, name, "slow.py"):
                return name
        return None

    return run, wait_for("the slow step's script to start", running_on)


def run_outputs(blob, run_id: str) -> set[str]:
    """The output folders (mlpipe/runs/<dag>/<run>/<task>/<try>/<output>) of ``run_id`` on Blob."""
    from airflow_mlpipe.storage.base import safe_segment

    prefix = f"mlpipe/runs/{safe_segment(DAG_ID)}/{safe_segment(run_id)}/"
    return {"/".join(b.name.split("/")[:7]) for b in blob.list_blobs(name_starts_with=prefix)}


def committed(topo, run_id: str) -> list[dict]:
    cache = CacheStore(blob_store(topo))
    return [e for _, e in cache.entries() if e and e["origin"]["run_id"] == run_id]


def assert_nothing_half_committed(topo, blob, run: dict, succeeded: bool) -> None:
    """Every cache entry of the run points at complete outputs; every stored output of a step
    that succeeded is its committed entry's."""
    entries = committed(topo, run["dag_run_id"])
    for entry in entries:
        for out in entry["outputs"].values():
            listed = list(blob.list_blobs(name_starts_with=out["path"] + "/"))
            assert (len(listed), sum(b.size for b in listed)) == (out["files"], out["bytes"]), entry
    referenced = {out["path"] for e in entries for out in e["outputs"].values()}
    stored = {p for p in run_outputs(blob, run["dag_run_id"]) if p.endswith(("/partial",))}
    assert referenced <= stored
    if succeeded:
        assert stored == referenced, (stored, referenced)


def test_a_worker_killed_mid_step_is_retried_on_the_other_worker(topo, client, blob):
    run, victim = start_slow_run(client, topo)
    other = next(name for name in WORKERS if name != victim)
    time.sleep(2)  # mid-step: the script has written half its output locally
    killed = kill_host_processes(topo, victim)
    assert killed
    topo.workers[victim].wait(timeout=30)  # the worker's main process is ours to reap

    assert not host_pids(topo, victim, "celery")
    started = time.monotonic()
    end = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=420)
    print(f"run ended {time.monotonic() - started:.0f}s after the kill")
    assert end["state"] == "success", explain(client, DAG_ID, end)
    slow = next(t for t in client.task_instances(DAG_ID, run["dag_run_id"]) if t["task_id"] == "slow")
    assert (slow["try_number"], slow["hostname"]) == (2, other), slow
    res = client.xcom(DAG_ID, run["dag_run_id"], "after")
    assert f"host={other}" in res["metrics"]["data"]

    # the killed attempt left no output and no cache entry: only try 2's output, committed
    outputs = run_outputs(blob, run["dag_run_id"])
    slow_outputs = {p for p in outputs if "/slow/" in p}
    assert len(slow_outputs) == 1 and "/try2-" in next(iter(slow_outputs)), outputs
    entries = {e["step"]: e for e in committed(topo, run["dag_run_id"])}
    assert entries["slow"]["origin"]["try_number"] == 2
    assert entries["slow"]["outputs"]["partial"]["path"] in slow_outputs
    assert_nothing_half_committed(topo, blob, run, succeeded=True)

    topo.workers[victim] = start_worker(
        topo, victim, WORKERS[victim], topo.worker_env, topo.logs
    )  # for the tests that follow


# --- the broker and the database restarted during a run ----------------------------------------------

DOWN_SECONDS = 5


def deployment_state(topo) -> dict:
    return json.loads(topo["control"].run(["cat", f"{HOST_HOME}/deployment.json"]).stdout)


def components_alive(topo) -> dict[str, bool]:
    """Airflow's components as `mlpipe up` started them, and the servers (a test restarts those)."""
    from airflow_mlpipe.deploy.processes import pid_alive

    pids = deployment_state(topo)["pids"]
    alive = {name: pid_alive(pid) for name, pid in pids.items() if name not in ("postgres", "redis")}
    for name, program in (("postgres", "postgres -D"), ("redis", "redis-server")):
        alive[name] = bool(host_pids(topo, "control", program))
    return alive


def restart_redis(topo) -> None:
    """SIGKILL the broker, leave it down a while, start it again with the same config."""
    from airflow_mlpipe.deploy.servers import server_binary

    ctl = topo["control"]
    for pid in host_pids(topo, "control", "redis-server"):
        os.kill(pid, signal.SIGKILL)
    wait_for("redis-server to go", lambda: not host_pids(topo, "control", "redis-server"), 30)
    time.sleep(DOWN_SECONDS)
    conf = f"{HOST_HOME}/redis/redis.conf"  # as deploy/servers.py wrote it: address, port, password
    ctl.popen([server_binary("redis-server", "redis-server"), conf], stdout=subprocess.DEVNULL)


def restart_postgres(topo) -> None:
    """`pg_ctl stop -m fast` (every connection is cut), down a while, `pg_ctl start` with the
    deployment's options."""
    from airflow_mlpipe.deploy.servers import server_binary

    ctl, port = topo["control"], deployment_state(topo)["ports"]["postgres"]
    pg_ctl = [
        "runuser", "-u", "postgres", "--", server_binary("pg_ctl", "postgresql"),
        "-D", f"{HOST_HOME}/postgres/data", "-w", "-t", "60",
    ]  # fmt: skip
    ctl.run([*pg_ctl, "stop", "-m", "fast"])
    time.sleep(DOWN_SECONDS)
    opts = f"-h {ctl.ip} -p {port} -c unix_socket_directories='' -c max_connections=200"
    ctl.run([*pg_ctl, "start", "-l", f"{HOST_HOME}/postgres/restart.log", "-o", opts])


def restarted_by_supervisor(topo) -> list[str]:
    """The Airflow components that exited and that `mlpipe up`'s supervisor (deploy/supervise.py)
    started again, from their logs on the control host."""
    restarted = []
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        log = topo["control"].run(["cat", f"{HOST_HOME}/logs/{name}.log"]).stdout
        if f"[mlpipe supervise] {name} exited with" in log:
            restarted.append(name)
    return restarted


@pytest.mark.parametrize("restart", [restart_redis, restart_postgres], ids=["redis", "postgres"])
def test_b_a_server_restarted_during_a_run(topo, client, blob, restart):
    run, _ = start_slow_run(client, topo)
    assert all(components_alive(topo).values())
    before = restarted_by_supervisor(topo)
    restart(topo)
    started = time.monotonic()
    end = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=420)
    exited = sorted(set(restarted_by_supervisor(topo)) - set(before))
    # Airflow's scheduler, dag-processor and triggerer exit on a lost database connection, and the
    # supervisor `mlpipe up` runs each under starts them again (the api-server and the workers
    # reconnect); none exits on a lost broker (docs/deployment.md)
    assert (
        exited == []
        if restart is restart_redis
        else set(exited) <= {"scheduler", "dag-processor", "triggerer"}
    )
    alive = components_alive(topo)
    print(
        f"{restart.__name__}: the supervisor restarted {exited}; run {end['state']} {time.monotonic() - started:.0f}s after; "
        f"components {alive}"
    )
    assert end["state"] in ("success", "failed")
    if end["state"] == "failed":  # clearly: a failed task whose log says why
        tis = client.task_instances(DAG_ID, run["dag_run_id"])
        assert any(t["state"] == "failed" for t in tis), explain(client, DAG_ID, end)
    else:
        res = client.xcom(DAG_ID, run["dag_run_id"], "after")
        assert res["metrics"]["data"].startswith("tag=")
    assert_nothing_half_committed(topo, blob, run, succeeded=end["state"] == "success")
    print(explain(client, DAG_ID, end))
