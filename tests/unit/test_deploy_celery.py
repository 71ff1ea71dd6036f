"""deploy/servers.py and deploy/celery.py: the private PostgreSQL and Redis of `mlpipe up
--executor celery` (real servers), and what its workers serve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from azurite_server import wait_port

from airflow_mlpipe.deploy.celery import DEFAULT_QUEUE, CeleryDeployment, compute_queues, worker_command
from airflow_mlpipe.deploy.processes import free_port, pid_alive
from airflow_mlpipe.deploy.servers import ServerError, start_postgres, start_redis


@pytest.fixture
def spawned():
    """A spawn function like LocalDeployment._spawn; every process group it started is killed after."""
    pids: list[int] = []
    logs = Path(tempfile.mkdtemp(prefix="mlpipe-spawn-"))

    def spawn(name, cmd, env, user=None):
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                cmd, env=env, cwd="/", stdout=log, stderr=subprocess.STDOUT, start_new_session=True, user=user
            )
        pids.append(proc.pid)
        return proc.pid

    spawn.pids = pids
    yield spawn
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture
def open_home():
    """A home the `postgres` user can reach (pytest's tmp_path is closed to other users)."""
    home = Path(tempfile.mkdtemp(prefix="mlpipe-celery-"))
    home.chmod(0o711)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_postgres_and_redis_start_with_passwords(spawned, open_home):
    import psycopg2
    import redis

    env = {"PATH": os.environ["PATH"]}
    pg_port, redis_port = free_port(), free_port()
    start_postgres(open_home / "postgres", "127.0.0.1", pg_port, "pg-secret", spawned, env)
    start_redis(open_home / "redis", "127.0.0.1", redis_port, "broker-secret", spawned, env)
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg_port, user="airflow", password="pg-secret", dbname="airflow"
    )
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host="127.0.0.1", port=pg_port, user="airflow", password="wrong", dbname="airflow")
    assert redis.Redis(port=redis_port, password="broker-secret").ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_port, password="wrong").ping()
    assert (open_home / "redis" / "redis.conf").stat().st_mode & 0o077 == 0  # the password is in it
    assert not (open_home / "postgres" / "initdb.pw").exists()
    for pid in spawned.pids:  # nothing secret on a command line
        assert b"secret" not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_postgres_as_root_names_a_folder_it_cannot_reach(spawned, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(ServerError, match=f"cannot reach {closed}/postgres.*set MLPIPE_HOME"):
        start_postgres(closed / "postgres", "127.0.0.1", free_port(), "pw", spawned, {})
    assert spawned.pids == []


def test_a_dead_server_is_reported_with_where_its_log_is(spawned, open_home):
    port = free_port()
    spawned("blocker", ["python3", "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(60)"], {})  # fmt: skip
    wait_port(port)  # the port is taken before Redis tries it
    with pytest.raises(ServerError, match=f"Redis on 127.0.0.1:{port} exited while starting"):
        start_redis(open_home / "redis", "127.0.0.1", port, "pw", spawned, {"PATH": os.environ["PATH"]})
    assert not pid_alive(spawned.pids[-1])


def test_the_worker_serves_default_and_every_cluster_of_the_workspace(tmp_path, monkeypatch):
    from airflow_mlpipe import AmlCompute, ComputeTarget, Workspace

    config = tmp_path / "mlpipe.json"
    config.write_text(json.dumps({"workspace_name": "w", "root": str(tmp_path / "ws")}))
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "home"))
    ws = Workspace.from_config()
    for name in ("gpu-cluster", "cpu-cluster"):
        ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(max_nodes=3))
    assert compute_queues() == ["cpu-cluster", "gpu-cluster"]
    dep = CeleryDeployment(home=tmp_path / "home")
    assert dep.queues == [DEFAULT_QUEUE, "cpu-cluster", "gpu-cluster"]
    commands = dep.component_commands(["airflow"])
    assert commands["celery-worker"] == worker_command(["airflow"], dep.queues)
    assert "--queues" in commands["celery-worker"]
    assert "celery-worker" not in CeleryDeployment(home=tmp_path / "home", queues=[]).component_commands(
        ["airflow"]
    )


def test_remote_workers_get_the_deployments_settings_and_log_port(tmp_path):
    """What `worker_environment()` hands a worker on another machine: the deployment's database,
    broker and parallelism, and the port its task logs must be served on (the api-server asks
    every worker host at that port); not the triggerer's log port, which is this machine's."""
    dep = CeleryDeployment(home=tmp_path, host="10.0.0.1", queues=[])
    dep.state_file.write_text(
        json.dumps(
            {
                "url": "http://10.0.0.1:8080",
                "port": 8080,
                "deployment_id": "d1",
                "dags_folder": str(tmp_path / "dags"),
                "ports": {"postgres": 5432, "redis": 6379},
                "log_ports": [41001, 41002],
                "pids": {},
            }
        )
    )
    env = dep.worker_environment()
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "41001"
    assert "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT" not in env
    assert (
        env["AIRFLOW__API__SECRET_KEY"]
        == json.loads((tmp_path / "secrets.json").read_text())["api_secret_key"]
    )
    assert env["AIRFLOW__CORE__PARALLELISM"] == "32" and env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@10.0.0.1:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@10.0.0.1:6379/0")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert not any(k.startswith("MLPIPE_") for k in env)  # Airflow's settings only


def test_workers_preload_what_steps_import_and_other_processes_do_not():
    """celery_config_options names deploy/celery_preload.py: building the Celery app (as the
    scheduler does) registers the preload and imports no Azure SDK; a worker's start (Celery's
    celeryd_init signal) imports it once, for every forked task process to inherit."""
    from airflow_mlpipe.deploy import celery_preload
    from airflow_mlpipe.deploy.celery import celery_settings

    settings = celery_settings("h", 1, 2, {"db_password": "a", "broker_password": "b"})
    assert settings["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == celery_preload.PATH
    code = (
        "import sys\n"
        "from airflow.providers.celery.executors.celery_executor_utils import create_celery_app\n"
        "from airflow.configuration import conf\n"
        "app = create_celery_app(conf)\n"
        "before = 'azure.storage.blob' in sys.modules\n"
        "from celery.signals import celeryd_init\n"
        "celeryd_init.send(sender='worker@host', instance=None, conf=app.conf, options={})\n"
        f"print(before, all(m in sys.modules for m in {celery_preload.PRELOAD!r}))\n"
    )
    env = {**os.environ, "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": celery_preload.PATH}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "True"], out.stdout
