"""docker-compose.yaml, checked with Debian's docker-compose (no daemon, no registry here) and
against what the native tests run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib.metadata import version

import pytest
import yaml
from conftest import REPO

AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
]
SECRETS = {
    "AIRFLOW_FERNET_KEY": "fernet-x",
    "AIRFLOW_JWT_SECRET": "jwt-y",
    "AIRFLOW_API_SECRET_KEY": "api-k",
    "AIRFLOW_ADMIN_PASSWORD": "pw-z",
}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: run scripts/setup.sh"
    return subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yaml"), "config"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config():
    out = compose_config(SECRETS)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_the_stack_has_every_component(config):
    assert set(config["services"]) == {"postgres", "redis", "azurite", *AIRFLOW_SERVICES}
    commands = {s: config["services"][s].get("command") for s in AIRFLOW_SERVICES[:4]}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }


def test_airflow_components_share_one_configuration(config):
    envs = [config["services"][s]["environment"] for s in AIRFLOW_SERVICES]
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",  # a worker's log server checks the api-server's requests with it
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "MLPIPE_CONFIG",
        "AIRFLOW_CONN_AZURE_BLOB",
    ):
        assert len({e[key] for e in envs}) == 1, key
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt-y"  # from the environment, never from the file
    assert env["AIRFLOW__API__SECRET_KEY"] == "api-k"


def test_secrets_must_come_from_the_environment():
    out = compose_config({})
    assert out.returncode != 0
    assert "set AIRFLOW_FERNET_KEY" in out.stderr
    text = (REPO / "docker-compose.yaml").read_text()
    assert "jwt-y" not in text and "api-k" not in text and "FERNET_KEY: ${" in text


def test_the_image_runs_the_airflow_version_the_tests_run(config):
    args = config["services"]["airflow-scheduler"]["build"]["args"]
    assert args["AIRFLOW_VERSION"] == version("apache-airflow")
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={version('apache-airflow')}" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile


def test_workspace_config_and_blob_connection_agree(config):
    from airflow_mlpipe import Workspace

    ws = Workspace.from_config(REPO / "docker" / "mlpipe.json")
    store = ws.get_default_datastore()
    assert store.datastore_type == "AzureBlob"
    env = config["services"]["airflow-worker"]["environment"]
    conn = json.loads(env[f"AIRFLOW_CONN_{store.spec['conn_id'].upper()}"])
    assert conn["conn_type"] == "wasb"
    assert "BlobEndpoint=http://azurite:10000/" in conn["extra"]["connection_string"]
    assert config["services"]["azurite"]["image"].endswith(":3.35.0")  # the Azurite the tests run
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert 'AZURITE_VERSION="3.35.0"' in setup


def test_workers_serve_every_compute_target_queue_of_the_example(config, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_models", REPO / "dags" / "compare_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    queues = {t.queue for t in module.dag.tasks}
    command = config["services"]["airflow-worker"]["command"]
    served = set(command.split("--queues", 1)[1].split()[0].split(","))
    assert queues <= served, f"no worker serves {sorted(queues - served)}"


def test_compose_runs_the_settings_and_worker_of_mlpipe_up_celery(config):
    """docker-compose.yaml and `mlpipe up --executor celery` (deploy/celery.py) run Celery alike:
    the same settings (URLs aside: other hosts, other passwords) and the same worker command."""
    from airflow_mlpipe.deploy.celery import celery_settings, worker_command

    native = celery_settings("db", 1, 2, {"db_password": "p", "broker_password": "q"})
    env = config["services"]["airflow-worker"]["environment"]
    urls = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
    }
    assert {k: v for k, v in native.items() if k not in urls} == {
        k: env.get(k) for k in native if k not in urls
    }
    assert urls <= set(env)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert native["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    queues = ["default", "cpu-cluster"]
    assert config["services"]["airflow-worker"]["command"] == " ".join(worker_command([], queues))
