"""Datastore.register_* with v1's arguments, naming existing Airflow connections (conn_id=): the spec
lands in the workspace root, never a secret; get, ws.datastores, set_as_default and unregister."""

from __future__ import annotations

import json
import warnings

import pytest

from airflow_mlpipe import DataReference, Datastore, UserErrorException, Workspace
from airflow_mlpipe.definitions.datastore_registry import REGISTRY_FILE
from airflow_mlpipe.definitions.workspace import DatastoreNotFoundError
from airflow_mlpipe.exceptions import DatastoreError, WorkspaceConfigError


def registry(ws: Workspace) -> dict:
    return json.loads((ws.root / REGISTRY_FILE).read_text())


def test_each_kind_gets_its_spec_and_v1_type():
    ws = Workspace.from_config()
    made = {
        "blob": Datastore.register_azure_blob_container(ws, "blob", "raw", "acct", conn_id="c_blob"),
        "lake": Datastore.register_azure_data_lake_gen2(ws, "lake", "fs", "acct", conn_id="c_lake"),
        "share": Datastore.register_azure_file_share(ws, "share", "files", "acct", conn_id="c_share"),
        "pg": Datastore.register_azure_postgre_sql(ws, "pg", "127.0.0.1", "sales", conn_id="c_pg"),
        "my": Datastore.register_azure_my_sql(ws, "my", "db.example.org", "sales", conn_id="c_my"),
        "sql": Datastore.register_azure_sql_database(ws, "sql", "srv", "sales", conn_id="c_sql"),
    }
    expected = {
        "blob": ({"type": "azure_blob", "conn_id": "c_blob", "container": "raw"}, "AzureBlob"),
        "lake": (
            {"type": "azure_data_lake_gen2", "conn_id": "c_lake", "filesystem": "fs"},
            "AzureDataLakeGen2",
        ),
        "share": ({"type": "azure_file_share", "conn_id": "c_share", "share": "files"}, "AzureFile"),
        "pg": ({"type": "postgres", "conn_id": "c_pg", "database": "sales"}, "AzurePostgreSql"),
        "my": ({"type": "mysql", "conn_id": "c_my", "database": "sales"}, "AzureMySql"),
        "sql": ({"type": "azure_sql", "conn_id": "c_sql", "database": "sales"}, "AzureSqlDatabase"),
    }
    for name, (spec, v1_type) in expected.items():
        assert made[name].spec == {**spec, "name": name}
        assert made[name].datastore_type == v1_type
        assert registry(ws)["datastores"][name]["spec"] == spec
        assert registry(ws)["datastores"][name]["owns_connection"] is False
    # a fresh workspace object reads them back; the config's and built-in ones are still there
    again = Workspace.from_config()
    assert set(again.datastores) == {"workspaceblobstore", "workspacefilestore", *expected}
    assert (
        Datastore.get(again, "lake").container_name == "fs"
        and Datastore(again, "share").container_name == "files"
    )
    assert Datastore.get(again, "pg").database_name == "sales" and Datastore.get(again, "pg").is_sql
    assert (
        Datastore.get(again, "blob").account_name == "acct"
        and Datastore.get(again, "blob").conn_id == "c_blob"
    )
    assert Datastore.get(again, "my").server_name == "db.example.org"
    assert Datastore.get(again, "blob").credential_type == "AirflowConnection"


def test_no_secret_is_written_and_credentials_with_conn_id_are_refused():
    ws = Workspace.from_config()
    with pytest.raises(UserErrorException, match="either conn_id .* or the credentials"):
        Datastore.register_azure_blob_container(ws, "b", "raw", "acct", account_key="KEY-123", conn_id="c")
    with pytest.raises(UserErrorException, match="either conn_id"):
        Datastore.register_azure_postgre_sql(ws, "p", "h.example", "db", "u", "PW-456", conn_id="c")
    assert not (ws.root / REGISTRY_FILE).exists()  # nothing was registered


def test_v1_argument_checks():
    ws = Workspace.from_config()
    with pytest.raises(UserErrorException, match="User password is required for PostreSQL."):
        Datastore.register_azure_postgre_sql(ws, "p", "h", "db", user_id="u")
    with pytest.raises(UserErrorException, match="Server name is required for My SQL."):
        Datastore.register_azure_my_sql(ws, "m", None, "db", conn_id="c")
    with pytest.raises(
        UserErrorException, match="Tenant id, client id and client secret have to be defined together."
    ):
        Datastore.register_azure_data_lake_gen2(ws, "l", "fs", "acct", tenant_id="t", client_id="c")
    with pytest.raises(UserErrorException, match="retired on 2024-02-29.*register_azure_data_lake_gen2"):
        Datastore.register_azure_data_lake(ws, "gen1", "store", tenant_id="t")
    with pytest.raises(UserErrorException, match="service principal"):
        Datastore.register_azure_sql_database(
            ws, "s", "srv", "db", tenant_id="t", client_id="c", client_secret="x"
        )
    with pytest.raises(UserErrorException, match="letters, digits and '_'"):
        Datastore.register_azure_blob_container(ws, "bad-name", "raw", "acct", conn_id="c")
    with pytest.raises(UserErrorException, match="protocol must be 'https' or 'http'"):
        Datastore.register_azure_blob_container(ws, "b", "raw", "acct", protocol="ftp", conn_id="c")
    with pytest.raises(UserErrorException, match="container_name must be a non-empty string"):
        Datastore.register_azure_blob_container(ws, "b", "", "acct", conn_id="c")


def test_capital_letters_become_lowercase_with_v1s_warning():
    ws = Workspace.from_config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = Datastore.register_azure_blob_container(ws, "MyBlob", "raw", "acct", conn_id="c")
    assert ds.name == "myblob"
    assert any("contains capital letters" in str(w.message) for w in caught)


def test_register_again_is_idempotent_and_a_change_needs_overwrite():
    ws = Workspace.from_config()
    Datastore.register_azure_blob_container(ws, "b", "raw", "acct", conn_id="c")
    stamp = (ws.root / REGISTRY_FILE).stat().st_mtime_ns
    Datastore.register_azure_blob_container(ws, "b", "raw", "acct", conn_id="c")  # a DAG file parsed again
    assert (ws.root / REGISTRY_FILE).stat().st_mtime_ns == stamp
    with pytest.raises(UserErrorException, match="already registered .* container 'raw'.*overwrite=True"):
        Datastore.register_azure_blob_container(ws, "b", "curated", "acct", conn_id="c")
    ds = Datastore.register_azure_blob_container(ws, "b", "curated", "acct", conn_id="c", overwrite=True)
    assert (
        ds.container_name == "curated"
        and Workspace.from_config().datastore_spec("b")["container"] == "curated"
    )


def test_config_datastores_stay_read_only(tmp_path):
    (tmp_path / "mlpipe.json").write_text(
        json.dumps({"datastores": {"scratch": {"type": "local", "path": "scratch"}}})
    )
    ws = Workspace.from_config(tmp_path / "mlpipe.json")
    for name in ("scratch", "workspaceblobstore"):
        with pytest.raises(UserErrorException, match="does not change; edit it there"):
            Datastore.register_azure_blob_container(ws, name, "raw", "acct", conn_id="c")
        with pytest.raises(UserErrorException, match="not registered with register_"):
            Datastore.get(ws, name).unregister()


def test_set_as_default_persists_and_unregister_falls_back(tmp_path):
    (tmp_path / "mlpipe.json").write_text(
        json.dumps(
            {"default_datastore": "scratch", "datastores": {"scratch": {"type": "local", "path": "s"}}}
        )
    )
    ws = Workspace.from_config(tmp_path / "mlpipe.json")
    ds = Datastore.register_azure_blob_container(ws, "lake", "raw", "acct", conn_id="c")
    ds.set_as_default()
    assert ws.get_default_datastore().name == "lake"
    assert Workspace.from_config(tmp_path / "mlpipe.json").get_default_datastore().name == "lake"
    assert Datastore(Workspace.from_config(tmp_path / "mlpipe.json")).name == "lake"  # v1: Datastore(ws)
    ds.unregister()  # a connection named with conn_id= is not ours to delete: no REST call
    assert ws.get_default_datastore().name == "scratch" and "lake" not in ws.datastores
    again = Workspace.from_config(tmp_path / "mlpipe.json")
    assert again.get_default_datastore().name == "scratch" and "lake" not in again.datastores
    assert registry(ws) == {"datastores": {}, "default": None}


def test_unknown_datastore_is_a_user_error_v1_code_catches():
    ws = Workspace.from_config()
    try:  # v1's documented pattern
        ds = Datastore.get(ws, "mystore")
    except UserErrorException as exc:
        assert isinstance(exc, DatastoreNotFoundError) and isinstance(exc, DatastoreError)
        assert "register it with Datastore.register_azure_blob_container" in str(exc)
        ds = Datastore.register_azure_blob_container(ws, "mystore", "raw", "acct", conn_id="c")
    assert Datastore.get(ws, "mystore").spec == ds.spec


def test_a_sql_datastore_is_no_file_path():
    ws = Workspace.from_config()
    pg = Datastore.register_azure_postgre_sql(ws, "pg", "localhost", "db", conn_id="c")
    with pytest.raises(UserErrorException, match="SqlDataReference"):
        DataReference(pg, path_on_datastore="x")
    with pytest.raises(UserErrorException, match="SqlDataReference"):
        pg.path("x")


def test_a_broken_registry_entry_names_the_file():
    ws = Workspace.from_config()
    ws.root.mkdir(parents=True, exist_ok=True)
    (ws.root / REGISTRY_FILE).write_text(
        json.dumps(
            {"datastores": {"x": {"spec": {"type": "azure_blob", "conn_id": "c", "account_key": "k"}}}}
        )
    )
    with pytest.raises(WorkspaceConfigError, match="registered in .*must not be in the config file"):
        Workspace.from_config()
    (ws.root / REGISTRY_FILE).write_text("{not json")
    with pytest.raises(DatastoreError, match="datastores.json: not valid JSON"):
        Workspace.from_config()


def test_secrets_with_no_airflow_to_hold_them_register_nothing_and_stay_out_of_the_error():
    ws = Workspace.from_config()  # the embedded workspace, whose deployment is not running
    with pytest.raises(DatastoreError) as excinfo:
        Datastore.register_azure_blob_container(ws, "b", "raw", "acct", account_key="KEY-never-shown-1")
    assert "mlpipe_ds_b" in str(excinfo.value) and "conn_id=" in str(excinfo.value)
    assert "KEY-never-shown-1" not in str(excinfo.value)
    assert "b" not in ws.datastores and not (ws.root / REGISTRY_FILE).exists()
