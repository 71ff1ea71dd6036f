"""Datastore.register_* against a live Airflow: the secrets go into the Airflow connection
``mlpipe_ds_<name>`` over REST API v2 (created, then updated) with the providers' fields, and nowhere
else; unregister() deletes the connection register created."""

from __future__ import annotations

import json

import pytest
from conftest import stored_password

from airflow_mlpipe import Datastore, Workspace
from airflow_mlpipe.client.rest import AirflowApiError
from airflow_mlpipe.definitions.datastore_registry import REGISTRY_FILE

pytestmark = pytest.mark.integration

KEYS = ("acct-key-never-in-files-0001", "acct-key-never-in-files-0002")
PASSWORD = "pg-password-never-in-files-0003"
CONNS = ("mlpipe_ds_regblob", "mlpipe_ds_regpg")


def _drop(client) -> None:
    for conn_id in CONNS:
        try:
            client.request("DELETE", f"/api/v2/connections/{conn_id}")
        except AirflowApiError:
            pass


@pytest.fixture
def ws(deployment, client, monkeypatch, tmp_path):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the embedded deployment's Airflow
    (tmp_path / "mlpipe.json").write_text(json.dumps({"workspace_name": "team", "root": "ws"}))
    _drop(client)
    yield Workspace.from_config(tmp_path / "mlpipe.json")
    _drop(client)


def test_register_writes_secrets_only_into_airflow_connections(deployment, client, ws, tmp_path):
    blob = Datastore.register_azure_blob_container(ws, "regblob", "raw", "acct", account_key=KEYS[0])
    conn = client.request("GET", f"/api/v2/connections/{CONNS[0]}")
    assert (conn["conn_type"], conn["login"], conn["host"]) == (
        "wasb",
        "acct",
        "https://acct.blob.core.windows.net",
    )
    assert stored_password(deployment, CONNS[0]) == KEYS[0]
    assert blob.spec == {"type": "azure_blob", "conn_id": CONNS[0], "container": "raw", "name": "regblob"}

    # a rotated key: overwrite=True updates the same connection (PATCH)
    Datastore.register_azure_blob_container(ws, "regblob", "raw", "acct", account_key=KEYS[1], overwrite=True)
    assert stored_password(deployment, CONNS[0]) == KEYS[1]

    pg = Datastore.register_azure_postgre_sql(
        ws, "regpg", "127.0.0.1", "sales", "etl", PASSWORD, port_number="6543", enforce_ssl=False
    )
    conn = client.request("GET", f"/api/v2/connections/{CONNS[1]}")
    assert (conn["conn_type"], conn["host"], conn["port"], conn["schema"], conn["login"]) == (
        "postgres",
        "127.0.0.1",
        6543,
        "sales",
        "etl",
    )
    assert stored_password(deployment, CONNS[1]) == PASSWORD

    spec = json.dumps({n: d.spec for n, d in ws.datastores.items()})
    written = (ws.root / REGISTRY_FILE).read_text() + (tmp_path / "mlpipe.json").read_text()
    for secret in (*KEYS, PASSWORD):
        assert secret not in written and secret not in spec and secret not in repr(blob) + repr(pg)

    blob.unregister()  # register created the connection: it goes too
    with pytest.raises(AirflowApiError) as excinfo:
        client.request("GET", f"/api/v2/connections/{CONNS[0]}")
    assert excinfo.value.status == 404
    assert "regblob" not in Workspace.from_config(tmp_path / "mlpipe.json").datastores
