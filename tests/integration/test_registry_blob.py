"""The pipeline registry on Azure Blob (Azurite): conditional writes, no lost update between
processes that each have their own Blob client, and the registry DAG file's cache."""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import wasb_connection
from registry_writers import check_nothing_lost, make_targets, open_registry, run_writers

from airflow_mlpipe.registry.location import REGISTRY_PREFIX, registry_store
from airflow_mlpipe.storage.blob import BlobStore
from airflow_mlpipe.storage.prefixed import PrefixedStore

pytestmark = pytest.mark.integration


@pytest.fixture
def where(azurite, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", wasb_connection(azurite))
    return {"kind": "blob", "conn": wasb_connection(azurite), "container": f"reg-{uuid.uuid4().hex[:12]}"}


def test_blob_write_if_is_a_compare_and_swap(where):
    store = BlobStore("azurite", where["container"])
    assert store.read_versioned("r/a.json") is None
    first = store.write_if("r/a.json", b"one", match=None)
    assert first is not None and store.read_versioned("r/a.json") == (b"one", first)
    assert store.write_if("r/a.json", b"again", match=None) is None  # If-None-Match: *
    second = store.write_if("r/a.json", b"two", match=first)
    assert second not in (None, first)
    assert store.write_if("r/a.json", b"stale", match=first) is None  # If-Match: 412
    assert store.read_bytes("r/a.json") == b"two"
    store.delete("r/a.json")
    assert store.write_if("r/a.json", b"gone", match=second) is None


def test_concurrent_writers_on_blob_lose_no_update(where, tmp_path):
    registry = open_registry(where)
    ids = make_targets(registry, tmp_path)
    run_writers(where, ids, writers=4, rounds=5)
    check_nothing_lost(registry, ids, writers=4, rounds=5)
    # the records are where every component looks: on the datastore, under the registry prefix
    names = [i.path for i in BlobStore("azurite", where["container"]).list(REGISTRY_PREFIX)]
    assert f"{REGISTRY_PREFIX}/endpoints/{ids['endpoint']}.json" in names


def test_a_workspace_on_blob_keeps_its_registry_there(where, tmp_path, monkeypatch):
    """Client and DAG file with the same config meet on the datastore; the parse lists once."""
    from airflow_mlpipe.registry.dagfile import registry_dags
    from airflow_mlpipe.registry.schedules import ScheduleRegistry

    config = tmp_path / "mlpipe.json"
    lake = {"type": "azure_blob", "conn_id": "azurite", "container": where["container"]}
    config.write_text(
        json.dumps({"workspace_name": "b", "default_datastore": "lake", "datastores": {"lake": lake}})
    )
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    store = registry_store()
    assert isinstance(store, PrefixedStore) and store.base.container == where["container"]
    monkeypatch.delenv("MLPIPE_CONFIG")
    ids = make_targets(ScheduleRegistry(store), tmp_path)  # the spec's workspace is the embedded one
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    first = registry_dags()
    assert sorted(first) == [
        f"mlpipe_registry_published_{ids['pipeline']}",
        f"mlpipe_registry_schedule_{ids['schedule']}",
    ]
    reads = []
    original = BlobStore.read_bytes
    monkeypatch.setattr(
        BlobStore, "read_bytes", lambda self, path: reads.append(path) or original(self, path)
    )
    assert sorted(registry_dags()) == sorted(first) and reads == []
