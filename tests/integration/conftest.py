"""Real components for the integration tests: Azurite (Blob) and an Airflow 3 deployment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from azurite_server import wait_port
from helpers import running

from airflow_mlpipe import Workspace
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

REPO = Path(__file__).resolve().parents[2]
SECRET_PROBE = "probe-value-that-must-never-leak"


def stored_password(deployment, conn_id: str) -> str | None:
    """A connection's password as Airflow stored it (decrypted with the deployment's Fernet key)."""
    import sqlite3

    from cryptography.fernet import Fernet

    with sqlite3.connect(deployment.airflow_home / "airflow.db") as db:
        row = db.execute(
            "SELECT password, is_encrypted FROM connection WHERE conn_id = ?", (conn_id,)
        ).fetchone()
    if row is None or row[0] is None:
        return None
    password, encrypted = row
    key = deployment._secrets()["fernet_key"].encode()
    return Fernet(key).decrypt(password.encode()).decode() if encrypted else password


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's Blob service on a free loopback port; yields its connection string."""
    from azurite_server import azurite as run_azurite

    with run_azurite(tmp_path_factory.mktemp("azurite")) as conn_string:
        yield conn_string


@pytest.fixture(scope="session")
def blob_config(tmp_path_factory, azurite):
    """A workspace config whose default datastore is a container on Azurite."""
    folder = tmp_path_factory.mktemp("blob-workspace")
    config = folder / "mlpipe.json"
    config.write_text(
        json.dumps(
            {
                "workspace_name": "blob-test",
                "default_datastore": "lake",
                "datastores": {
                    "lake": {"type": "azure_blob", "conn_id": "azurite", "container": "mlpipe-test"}
                },
            }
        )
    )
    return config


@pytest.fixture(scope="session")
def docker_url(tmp_path_factory):
    """A private Docker engine (Debian's dockerd) with the base image mlpipe-python:3.11."""
    from docker_engine import docker_engine

    with docker_engine(tmp_path_factory.mktemp("dockerd")) as url:
        yield url


def wasb_connection(conn_string: str) -> str:
    return json.dumps({"conn_type": "wasb", "extra": {"connection_string": conn_string}})


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, azurite, blob_config, docker_url):
    """The embedded Airflow deployment with the repo's dags/ and the test DAGs."""
    home = tmp_path_factory.mktemp("deployment")
    dags = home / "dags"
    shutil.copytree(REPO / "dags", dags)
    for item in (Path(__file__).parent / "dags").iterdir():
        if item.is_dir():
            shutil.copytree(item, dags / item.name)
        else:
            shutil.copy(item, dags / item.name)
    (dags / ".airflowignore").write_text(
        "compare_models_src/\ndata/\nscripts/\nreuse_src/\nconcurrent_src/\nkill_src/\n"
    )
    flags = home / "flags"
    flags.mkdir()
    dep = LocalDeployment(
        home=home / "mlpipe",
        dags_folder=dags,
        extra_env={
            "AIRFLOW_CONN_AZURITE": wasb_connection(azurite),
            "AIRFLOW_CONN_SECRET_PROBE": json.dumps({"conn_type": "generic", "password": SECRET_PROBE}),
            "MLPIPE_TEST_BLOB_CONFIG": str(blob_config),
            "MLPIPE_TEST_FLAGS": str(flags),
            # steps with a container environment: the test engine, and its base image
            "DOCKER_HOST": docker_url,
            "MLPIPE_DEFAULT_BASE_IMAGE": "mlpipe-python:3.11",
            # a second user whose role may read but not trigger DAGs (403 tests)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin,viewer:viewer",
        },
    )
    with running(dep, databricks=True):  # with the local Databricks emulator
        yield dep


@pytest.fixture(scope="module")
def ws(deployment, client):
    """The embedded deployment's workspace, for a module's fixtures (a module may define its own)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MLPIPE_HOME", str(deployment.home))
    yield Workspace.from_config()
    mp.undo()


@pytest.fixture(scope="session")
def client(deployment):
    c = AirflowClient(deployment.url, USERNAME, deployment.password())
    for dag_id in (
        "compare_models",
        "features",
        "failing",
        "failing_continue",
        "handwritten",
        "blob_pipeline",
        "files",
        "timeout",
        "reuse_chain",
        "reuse_concurrent",
        "reuse_kill",
        "blob_reuse",
    ):
        c.wait_for_dag(dag_id, timeout=180)
    c.ensure_pool("cpu-cluster", 2)
    return c


def run_and_wait(client: AirflowClient, dag_id: str, conf: dict | None = None, timeout: float = 300) -> dict:
    run = client.trigger(dag_id, conf or {})
    return client.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)


def task_states(client: AirflowClient, dag_id: str, run: dict) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in client.task_instances(dag_id, run["dag_run_id"])}


def explain(client: AirflowClient, dag_id: str, run: dict) -> str:
    """Task states plus the end of each failed task's log, for assertion messages."""
    parts = [json.dumps(task_states(client, dag_id, run))]
    for ti in client.task_instances(dag_id, run["dag_run_id"]):
        if ti["state"] == "failed":
            log = client.task_log(dag_id, run["dag_run_id"], ti["task_id"], ti["try_number"])
            parts.append(f"--- {ti['task_id']} ---\n" + "\n".join(log[-30:]))
    return "\n".join(parts)


# --- Databricks: the local emulator (airflow_mlpipe.emulators.databricks) -------------------------

DATABRICKS_TOKEN = "dapi-emulator-test-token"
DATABRICKS_NOTEBOOKS = REPO / "tests" / "v1_samples" / "databricks" / "notebooks"
E2E_NOTEBOOKS = Path(__file__).parent / "databricks_notebooks"


class DeploymentEmulator:
    """The Databricks emulator `mlpipe up --databricks` started beside the test deployment."""

    def __init__(self, deployment):
        state = deployment.state()["databricks"]
        self.host, self.port = "127.0.0.1", state["port"]
        self.url = f"http://{self.host}:{self.port}"
        self.token = json.loads((deployment.home / "secrets.json").read_text())["databricks_token"]
        self.conn_id = state["conn_id"]


@pytest.fixture(scope="session")
def databricks_emulator(deployment):
    """The deployment's Databricks emulator (the embedded workspace's datastores mounted at
    /mnt/<name>), with the notebooks the tests' pipelines name already in its workspace."""
    from databricks_emulator import import_notebook

    emulator = DeploymentEmulator(deployment)
    wait_port(emulator.port)
    for notebook in (*DATABRICKS_NOTEBOOKS.glob("*.py"), *E2E_NOTEBOOKS.glob("*.py")):
        import_notebook(
            emulator.url, emulator.token, f"/Users/ml@contoso.com/{notebook.stem}", notebook.read_bytes()
        )
    return emulator


@pytest.fixture(scope="session")
def databricks_config(tmp_path_factory, deployment, databricks_emulator):
    """A workspace config: the embedded workspace plus the emulator as Databricks workspace 'emu'."""
    config = tmp_path_factory.mktemp("databricks-workspace") / "mlpipe.json"
    config.write_text(
        json.dumps(
            {
                "root": str(deployment.home / "workspace"),
                "databricks": {
                    "emu": {
                        "host": "127.0.0.1",
                        "port": databricks_emulator.port,
                        "schema": "http",
                        "mounts": {"workspaceblobstore": "/mnt/workspaceblobstore"},
                    }
                },
            }
        )
    )
    return config
