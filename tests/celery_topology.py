"""The Celery deployment across namespace "hosts" (tests/netns_topology.py), shared by the modules
that start one: host "control" runs Azurite and `mlpipe up --executor celery` (PostgreSQL, Redis,
api-server, scheduler, dag-processor, triggerer, no worker); worker hosts run `airflow celery worker`
with the settings the control host hands over; every host has its own workspace config naming the
Blob default datastore on the control host's Azurite, so the registry, outputs, the reuse cache and
snapshots go over the network to Blob."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azurite_server import AZURITE, DEV_ACCOUNT, DEV_KEY
from conftest import wasb_connection
from netns_topology import HOST_HOME, HOST_TMP, Host, Topology

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.celery import worker_command
from airflow_mlpipe.deploy.local import USERNAME

API_PORT, BLOB_PORT = 8080, 10000
REGISTRY_DAGS = f"{HOST_HOME}/registry/dags"  # where `mlpipe up` writes the registry's DAG file


def blob_conn_string(host: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{BLOB_PORT}/{DEV_ACCOUNT};"
    )


def workspace_config(name: str, container: str, **more: object) -> dict:
    return {
        "workspace_name": name,
        "root": f"{HOST_HOME}/workspace",
        "default_datastore": "lake",
        "datastores": {"lake": {"type": "azure_blob", "conn_id": "azurite", "container": container}},
        **more,
    }


def configure_hosts(topo: Topology, config: dict, env: dict[str, str] | None = None) -> None:
    """Each host its own workspace config file, on its own tmpfs, and the Blob connection; ``env``:
    more environment every process of every host gets (e.g. what a test DAG file reads)."""
    for host in topo.hosts.values():
        host.env.update(
            MLPIPE_CONFIG=f"{HOST_TMP}/mlpipe.json",
            AIRFLOW_CONN_AZURITE=wasb_connection(blob_conn_string("control")),
            **(env or {}),
        )
        host.python(f"open({host.env['MLPIPE_CONFIG']!r}, 'w').write({json.dumps(config)!r})")


def start_control(
    topo: Topology, dags: Path, clusters: dict[str, int] | None = None, airflow_cfg: str = ""
) -> None:
    """Azurite and `mlpipe up --executor celery` without a worker on "control"; ``clusters``:
    AmlCompute targets (name -> max_nodes) to create first; ``airflow_cfg``: an airflow.cfg for
    settings the deployment does not set itself."""
    ctl = topo["control"]
    ctl.popen(
        [str(AZURITE), "--blobHost", ctl.ip, "--blobPort", str(BLOB_PORT), "--location", f"{HOST_TMP}/azurite",
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for name, max_nodes in (clusters or {}).items():
        ctl.python(
            "from airflow_mlpipe import AmlCompute, ComputeTarget, Workspace\n"
            f"ComputeTarget.create(Workspace.from_config(), {name!r}, "
            f"AmlCompute.provisioning_configuration(max_nodes={max_nodes}))"
        )
    if airflow_cfg:
        ctl.python(
            "import os; os.makedirs(os.environ['AIRFLOW_HOME'], exist_ok=True)\n"
            f"open(os.environ['AIRFLOW_HOME'] + '/airflow.cfg', 'w').write({airflow_cfg!r})"
        )
    # no worker on the control host (--queues ''): the workers run on their own hosts
    ctl.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "up", "--executor", "celery", "--host", ctl.ip,
         "--port", str(API_PORT), "--queues", "", "--dags-folder", str(dags), "--timeout", "300"],
        timeout=420,
    )  # fmt: skip


def worker_env(topo: Topology) -> dict[str, str]:
    """What a worker on another host needs to join the control host's deployment."""
    ctl = topo["control"]
    return json.loads(
        ctl.python(
            "import json; from airflow_mlpipe.deploy.celery import CeleryDeployment\n"
            f"print(json.dumps(CeleryDeployment(host={ctl.ip!r}, queues=[]).worker_environment()))"
        )
    )


def start_worker(
    topo: Topology, name: str, queues: list[str], env: dict[str, str], logs: Path
) -> subprocess.Popen:
    """A Celery worker on host ``name`` (its own process group), with the registry's DAG file where
    the deployment's bundle settings say (an Airflow 3 worker parses the DAG it runs a task of)."""
    host = topo[name]
    host.python(
        f"from airflow_mlpipe.registry.dagfile import write_dag_file; write_dag_file({REGISTRY_DAGS!r})"
    )
    with open(logs / f"{name}.log", "ab") as log:
        return host.popen(
            worker_command([sys.executable, "-m", "airflow"], queues),
            env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _holder_pids(host: Host) -> set[int]:
    """The processes that hold a host's namespaces (their command line names the shared folders)."""
    return {host.inner_pid, host.holder.pid if host.holder else 0}


def host_pids(topo: Topology, name: str, needle: str = "") -> list[int]:
    """The live pids (not zombies) on host ``name`` but its holder's, whose command line contains
    ``needle``."""
    from airflow_mlpipe.deploy.processes import pid_alive

    host = topo[name]
    out = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True).stdout
    found = []
    for pid in map(int, out.split()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmd and pid not in _holder_pids(host) and pid_alive(pid):
            found.append(pid)
    return found


def kill_host_processes(topo: Topology, name: str, timeout: float = 30) -> list[int]:
    """SIGKILL every process on host ``name`` but its holder's (a worker's process group, and the
    task processes it started in sessions of their own), again until none is left (a pool may fork
    a replacement meanwhile); returns the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while pids := host_pids(topo, name):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} on host {name} survived SIGKILL for {timeout:.0f}s")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed += pids
        time.sleep(0.2)
    return killed


def api_password(topo: Topology) -> str:
    passwords = topo["control"].run(["cat", f"{HOST_HOME}/airflow/simple_auth_manager_passwords.json"]).stdout
    return json.loads(passwords)[USERNAME]


def api_client(topo: Topology) -> AirflowClient:
    return AirflowClient(f"http://{topo['control'].ip}:{API_PORT}", USERNAME, api_password(topo))


def assert_no_shared_folder(topo: Topology, read_only: Path, others: list[str]) -> None:
    for name in others:
        host = topo[name]
        assert host.run(["hostname"]).stdout.strip() == name
        # the control host's MLPIPE_HOME (PostgreSQL, Redis, secrets) is not on this host's /tmp
        assert "postgres" not in host.run(["ls", HOST_HOME]).stdout.split(), name
        denied = host.run(["sh", "-c", f"touch {read_only}/x 2>/dev/null && echo written || echo read-only"])
        assert denied.stdout.strip() == "read-only", name
    assert "postgres" in topo["control"].run(["ls", HOST_HOME]).stdout.split()


@contextmanager
def celery_topology(
    names: list[str],
    dags: Path,
    config: dict,
    workers: dict[str, list[str]],
    logs: Path,
    clusters: dict[str, int] | None = None,
    airflow_cfg: str = "",
    env: dict[str, str] | None = None,
) -> Iterator[Topology]:
    """The whole topology, up; afterwards every process and namespace is gone (asserted). ``env``:
    more environment for every host (configure_hosts)."""
    topology = Topology(names, shared_ro=[dags])
    started = time.monotonic()
    try:
        topology.start()
        configure_hosts(topology, config, env)
        start_control(topology, dags, clusters, airflow_cfg)
        env = worker_env(topology)
        topology.worker_env = env  # for a test that restarts a worker
        topology.workers = {
            name: start_worker(topology, name, queues, env, logs) for name, queues in workers.items()
        }
        print(f"topology up in {time.monotonic() - started:.0f}s")
        yield topology
    finally:
        topology.stop()
        for log in sorted(logs.iterdir()):  # the workers' own output, for a failure's report
            print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}")
        assert topology.leftovers() == [], "the topology left namespaces, links or processes behind"
