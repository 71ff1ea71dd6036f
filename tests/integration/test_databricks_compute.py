"""DatabricksCompute against a live Airflow: attaching a Databricks workspace given by host writes the
access token into an Airflow connection over REST API v2 (created, then updated) and nowhere else."""

from __future__ import annotations

import json

import pytest
from conftest import stored_password

from airflow_mlpipe import ComputeTarget, DatabricksCompute, DatabricksStep, Pipeline, Workspace
from airflow_mlpipe.client.rest import AirflowApiError

pytestmark = pytest.mark.integration

NAME = "dbx_it"
CONN_ID = f"mlpipe_databricks_{NAME}"
TOKENS = ("dapi-first-token-never-in-files-0001", "dapi-second-token-never-in-files-0002")


@pytest.fixture
def project(deployment, client, monkeypatch, tmp_path):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the embedded deployment's Airflow
    try:
        client.request("DELETE", f"/api/v2/connections/{CONN_ID}")
    except AirflowApiError:
        pass
    yield tmp_path
    try:
        client.request("DELETE", f"/api/v2/connections/{CONN_ID}")
    except AirflowApiError:
        pass


def workspace(folder, host: str) -> Workspace:
    entry = {"host": host, "port": 8443, "schema": "http", "mounts": {"workspaceblobstore": "/mnt/blob"}}
    (folder / "mlpipe.json").write_text(json.dumps({"workspace_name": "team", "databricks": {"dbw": entry}}))
    return Workspace.from_config(folder / "mlpipe.json")


def test_attach_with_a_host_puts_the_token_only_into_an_airflow_connection(deployment, client, project):
    ws = workspace(project, "127.0.0.1")
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="dbw", access_token=TOKENS[0]
    )
    target = ComputeTarget.attach(ws, NAME, config)  # no connection yet: POST

    conn = client.request("GET", f"/api/v2/connections/{CONN_ID}")
    assert (conn["conn_type"], conn["host"], conn["port"], conn["schema"]) == (
        "databricks",
        "127.0.0.1",
        8443,
        "http",
    )
    assert stored_password(deployment, CONN_ID) == TOKENS[0]
    assert target.conn_id == CONN_ID and isinstance(ComputeTarget(ws, NAME), DatabricksCompute)

    ws = workspace(project, "127.0.0.2")  # the config moved the workspace: attach again updates (PATCH)
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="dbw", access_token=TOKENS[1]
    )
    target = ComputeTarget.attach(ws, NAME, config)
    conn = client.request("GET", f"/api/v2/connections/{CONN_ID}")
    assert conn["host"] == "127.0.0.2" and stored_password(deployment, CONN_ID) == TOKENS[1]

    step = DatabricksStep("nb", notebook_path="/Users/me/nb", compute_target=target, num_workers=1)
    spec = json.dumps(Pipeline(ws, [step]).to_spec())
    written = ws._compute_file.read_text() + (project / "mlpipe.json").read_text()
    for token in TOKENS:
        assert (
            token not in written
            and token not in spec
            and token not in repr(target)
            and token not in repr(config)
        )
    assert json.loads(spec)["compute_targets"][NAME] == {
        "name": NAME,
        "type": "Databricks",
        "conn_id": CONN_ID,
        "mounts": {"workspaceblobstore": "/mnt/blob"},
    }
