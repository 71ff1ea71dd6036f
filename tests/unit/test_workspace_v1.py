"""Workspace's v1 surface: constructor, get, identity, write_config; and the credential classes'
choices that need no server (where credentials come from, and what is refused)."""

from __future__ import annotations

import json

import pytest

from airflow_mlpipe import (
    AzureCliAuthentication,
    InteractiveLoginAuthentication,
    MsiAuthentication,
    ServicePrincipalAuthentication,
    Workspace,
)
from airflow_mlpipe.exceptions import AuthenticationException, WorkspaceConfigError


def write_config(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlpipe.json").write_text(json.dumps(fields))
    return folder / "mlpipe.json"


def test_embedded_workspace_has_documented_identity():
    ws = Workspace.from_config()
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == (
        "local",
        "00000000-0000-0000-0000-000000000000",
        "mlpipe-local",
        "local",
    )
    details = ws.get_details()
    assert details["resourceGroup"] == "mlpipe-local" and details["defaultDatastore"] == "workspaceblobstore"
    assert details["id"].endswith("/resourceGroups/mlpipe-local/providers/airflow-mlpipe/workspaces/local")
    assert ws.datasets == {} and "AzureML-Minimal" in ws.environments  # curated environments are always there


def test_constructor_reads_the_config_file_and_checks_the_identity(tmp_path, monkeypatch):
    config = write_config(
        tmp_path / "proj",
        workspace_name="team",
        subscription_id="sub-1",
        resource_group="rg-ml",
        location="westeu",
    )
    monkeypatch.chdir(config.parent)
    ws = Workspace(subscription_id="sub-1", resource_group="rg-ml", workspace_name="team")
    assert (ws.name, ws.location, ws.config_path) == ("team", "westeu", config)
    assert Workspace.get("team", subscription_id="sub-1").resource_group == "rg-ml"
    with pytest.raises(WorkspaceConfigError, match=r"resource_group='other'.*says 'rg-ml'"):
        Workspace("sub-1", "other", "team")
    with pytest.raises(WorkspaceConfigError, match=r"workspace_name='nope'"):
        Workspace.get("nope")


def test_constructor_without_a_config_file_labels_the_embedded_workspace():
    ws = Workspace("my-sub", "my-rg", "my-ws", _location="eastus")
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == (
        "my-ws",
        "my-sub",
        "my-rg",
        "eastus",
    )
    assert ws.get_default_datastore().name == "workspaceblobstore"


def test_write_config_round_trips_through_azureml_folder(tmp_path, monkeypatch):
    config = write_config(
        tmp_path / "src",
        workspace_name="team",
        subscription_id="sub-1",
        resource_group="rg-ml",
        datastores={"scratch": {"type": "local", "path": "scratch"}},
        default_datastore="scratch",
        reuse={"max_age": "12h"},
    )
    ws = Workspace.from_config(config)
    target = ws.write_config(tmp_path / "elsewhere")
    assert target == tmp_path / "elsewhere" / ".azureml" / "mlpipe.json"
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = Workspace.from_config()  # found in ./.azureml/, as v1 found its config.json
    assert again.config_path == target
    assert (again.name, again.subscription_id, again.resource_group) == ("team", "sub-1", "rg-ml")
    assert again.datastore_spec("scratch")["path"] == str(tmp_path / "src" / "scratch")
    assert again.get_default_datastore().name == "scratch" and again.reuse["max_age"] == 12 * 3600
    assert "secret" not in target.read_text().lower()


def test_msi_takes_credentials_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("MLPIPE_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("MLPIPE_API_TOKEN", raising=False)
    monkeypatch.delenv("MLPIPE_API_USERNAME", raising=False)
    monkeypatch.delenv("MLPIPE_API_PASSWORD", raising=False)
    with pytest.raises(AuthenticationException, match="the environment has no MLPIPE_API_TOKEN"):
        MsiAuthentication().client_for(Workspace.from_config())
    monkeypatch.setenv("MLPIPE_API_PASSWORD", "pw")
    client = MsiAuthentication(identity_config={"client_id": "robot"}).client_for(Workspace.from_config())
    assert (client.url, client.username) == ("http://127.0.0.1:9", "robot")
    monkeypatch.setenv("MLPIPE_API_TOKEN", "a.b.c")
    assert MsiAuthentication().client_for(Workspace.from_config()).token() == "a.b.c"


def test_interactive_without_credentials_or_terminal_says_what_to_set(monkeypatch):
    monkeypatch.setenv("MLPIPE_API_URL", "http://127.0.0.1:9")
    for var in ("MLPIPE_API_TOKEN", "MLPIPE_API_USERNAME", "MLPIPE_API_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AuthenticationException, match="no terminal to ask on"):
        InteractiveLoginAuthentication().client_for(Workspace.from_config())
    with pytest.raises(AuthenticationException, match="set MLPIPE_API_TOKEN"):
        AzureCliAuthentication().client_for(Workspace.from_config())


def test_service_principal_is_an_airflow_user_and_hides_its_password(monkeypatch):
    monkeypatch.setenv("MLPIPE_API_URL", "http://127.0.0.1:9")
    auth = ServicePrincipalAuthentication("tenant", "ci-bot", "s3cret-value")
    assert "s3cret-value" not in repr(auth)
    client = auth.client_for(Workspace("sub", "rg", "ws"))
    assert client.username == "ci-bot"
    with pytest.raises(AuthenticationException, match="service_principal_password"):
        ServicePrincipalAuthentication("tenant", "ci-bot", "")


def test_workspace_auth_must_be_a_credential_class():
    from airflow_mlpipe.client.auth import workspace_client

    ws = Workspace.from_config(auth="admin:password")
    with pytest.raises(AuthenticationException, match="one of the authentication classes"):
        workspace_client(ws)


def test_interactive_asks_once_on_a_terminal(monkeypatch):
    import builtins
    import io

    monkeypatch.setenv("MLPIPE_API_URL", "http://127.0.0.1:9")
    for var in ("MLPIPE_API_TOKEN", "MLPIPE_API_USERNAME", "MLPIPE_API_PASSWORD"):
        monkeypatch.delenv(var, raising=False)

    class Terminal(io.StringIO):  # the process boundary: a person at a terminal
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or "alice")
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "pw")
    auth = InteractiveLoginAuthentication()
    ws = Workspace.from_config()
    first, second = auth.client_for(ws), auth.client_for(ws)
    assert first is second and first.username == "alice"
    assert asked == ["Airflow user at http://127.0.0.1:9: ", "Password of alice: "]
