"""v1's authentication classes against a live Airflow: each gives a bearer header Airflow accepts,
the workspace's client uses the credentials it was given, and Airflow's auth manager decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from airflow_mlpipe import (
    AzureCliAuthentication,
    Experiment,
    InteractiveLoginAuthentication,
    MsiAuthentication,
    ServicePrincipalAuthentication,
    Workspace,
)
from airflow_mlpipe.client.rest import AirflowApiError

pytestmark = pytest.mark.integration


@pytest.fixture
def home(deployment, client, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the embedded deployment's workspace
    for var in ("MLPIPE_API_URL", "MLPIPE_API_TOKEN", "MLPIPE_API_USERNAME", "MLPIPE_API_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return deployment


def dags_status(deployment, header: dict[str, str]) -> int:
    return requests.get(
        f"{deployment.url}/api/v2/dags", headers=header, params={"limit": 1}, timeout=30
    ).status_code


def test_each_class_gives_a_header_airflow_accepts(home, monkeypatch):
    passwords = json.loads(Path(home.passwords_file).read_text())
    # the embedded deployment's own credentials, found without configuration
    for auth in (InteractiveLoginAuthentication(), AzureCliAuthentication()):
        header = auth.get_authentication_header()
        assert list(header) == ["Authorization"] and header["Authorization"].startswith("Bearer ")
        assert dags_status(home, header) == 200
    # a service principal is an Airflow user, here the read-only one
    viewer = ServicePrincipalAuthentication("any-tenant", "viewer", passwords["viewer"])
    assert dags_status(home, viewer.get_authentication_header()) == 200
    # a managed identity: the environment gives the user, or a token Airflow issued
    monkeypatch.setenv("MLPIPE_API_USERNAME", "viewer")
    monkeypatch.setenv("MLPIPE_API_PASSWORD", passwords["viewer"])
    token = MsiAuthentication().get_authentication_header()["Authorization"].split(" ", 1)[1]
    monkeypatch.delenv("MLPIPE_API_USERNAME")
    monkeypatch.delenv("MLPIPE_API_PASSWORD")
    monkeypatch.setenv("MLPIPE_API_TOKEN", token)
    assert MsiAuthentication().get_authentication_header() == {"Authorization": f"Bearer {token}"}
    assert dags_status(home, {"Authorization": f"Bearer {token}"}) == 200


def test_a_workspace_uses_its_auth_and_airflow_decides_what_it_may_do(home):
    passwords = json.loads(Path(home.passwords_file).read_text())
    viewer_ws = Workspace.from_config(auth=ServicePrincipalAuthentication("t", "viewer", passwords["viewer"]))
    runs = Experiment(viewer_ws, "Hello_auth").get_runs()  # reading is allowed
    assert runs == []
    with pytest.raises(AirflowApiError) as refused:  # a viewer may not create pools or runs
        viewer_ws.auth.client_for(viewer_ws).ensure_pool("viewer-pool", 1)
    assert refused.value.status == 403
    wrong = Workspace.from_config(auth=ServicePrincipalAuthentication("t", "viewer", "not-the-password"))
    with pytest.raises(AirflowApiError, match="refused user 'viewer': wrong username or password"):
        Experiment(wrong, "Hello_auth").get_runs()
