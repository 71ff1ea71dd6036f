"""The pipeline registry on the Store interface: conditional writes, where the registry lives,
no lost update between processes, and the registry DAG file's per-host cache."""

from __future__ import annotations

import json

import pytest
from registry_writers import check_nothing_lost, make_targets, run_writers

from airflow_mlpipe.registry import Registry
from airflow_mlpipe.registry.location import REGISTRY_PREFIX, registry_store
from airflow_mlpipe.registry.published import PublishedRegistry
from airflow_mlpipe.registry.records import Records, RegistryBusyError
from airflow_mlpipe.storage.local import LocalStore
from airflow_mlpipe.storage.prefixed import PrefixedStore


def test_local_write_if_is_a_compare_and_swap(tmp_path):
    store = LocalStore(tmp_path)
    assert store.read_versioned("r/a.json") is None
    first = store.write_if("r/a.json", b"one", match=None)
    assert first is not None and store.read_versioned("r/a.json") == (b"one", first)
    assert store.write_if("r/a.json", b"again", match=None) is None  # If-None-Match: exists
    second = store.write_if("r/a.json", b"two", match=first)
    assert second not in (None, first)
    assert store.write_if("r/a.json", b"stale", match=first) is None  # If-Match: changed since
    assert store.read_bytes("r/a.json") == b"two"
    store.delete("r/a.json")
    assert store.write_if("r/a.json", b"gone", match=second) is None  # deleted since
    assert [i.path for i in store.list("r")] == []  # the per-folder lock file is not a file of the store


def test_a_prefixed_store_is_a_folder_of_its_own(tmp_path):
    base = LocalStore(tmp_path)
    base.write_bytes("other/x", b"not ours")
    view = PrefixedStore(base, REGISTRY_PREFIX)
    view.write_bytes("pipelines/a.json", b"{}")
    assert (tmp_path / REGISTRY_PREFIX / "pipelines" / "a.json").read_bytes() == b"{}"
    assert [i.path for i in view.list("")] == ["pipelines/a.json"]
    assert [i.path for i in view.list("pipelines/a.json")] == ["pipelines/a.json"]
    version = view.read_versioned("pipelines/a.json")[1]
    assert view.write_if("pipelines/a.json", b"[]", match=version) is not None
    lease = view.acquire_lease(".lock", "me", 5)
    assert lease is not None and view.acquire_lease(".lock", "you", 5) is None
    view.release_lease(lease)


def _config(tmp_path, **fields):
    path = tmp_path / "cfg" / "mlpipe.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"workspace_name": "w", **fields}))
    return path


def test_where_the_registry_lives(tmp_path, monkeypatch):
    home = tmp_path / "mlpipe-home"
    assert isinstance(registry_store(), LocalStore) and registry_store().root == home / "registry"
    # a config whose default datastore is a local folder: one machine, the embedded folder
    monkeypatch.setenv("MLPIPE_CONFIG", str(_config(tmp_path)))
    assert registry_store().root == home / "registry"
    # a remote default datastore: the registry is on it, beside the registered assets
    blob = {"type": "azure_blob", "conn_id": "lake_conn", "container": "c"}
    monkeypatch.setenv(
        "MLPIPE_CONFIG", str(_config(tmp_path, default_datastore="lake", datastores={"lake": blob}))
    )
    store = registry_store()
    assert isinstance(store, PrefixedStore) and store.prefix == REGISTRY_PREFIX
    assert store.base.kind == "azure_blob" and store.base.container == "c"
    assert registry_store() is store  # one client per config, not one per request
    # api.registry: an explicit folder wins
    folder = tmp_path / "shared-registry"
    cfg = _config(
        tmp_path, default_datastore="lake", datastores={"lake": blob}, api={"registry": str(folder)}
    )
    monkeypatch.setenv("MLPIPE_CONFIG", str(cfg))
    assert Registry().root == folder and PublishedRegistry().store.root == folder


def test_constructors_take_nothing_a_folder_or_a_store(tmp_path):
    assert Registry().root == tmp_path / "mlpipe-home" / "registry"
    assert Registry(str(tmp_path / "r")).root == tmp_path / "r" == Registry(tmp_path / "r").root
    store = PrefixedStore(LocalStore(tmp_path / "ds"), REGISTRY_PREFIX)
    published = PublishedRegistry(store)
    assert published.store is store and published.root is store
    assert Registry(published.root).store is store  # .root hands the same records on


def test_an_update_that_never_gets_through_says_so(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    records = Records(store)
    records.write("r.json", {"n": 0})
    monkeypatch.setattr("airflow_mlpipe.registry.records.UPDATE_ATTEMPTS", 3)
    monkeypatch.setattr(store, "write_if", lambda path, data, match: None)  # always someone else first
    with pytest.raises(RegistryBusyError, match=r"r\.json was changed by another writer at each of 3"):
        records.update("r.json", lambda r: r.update(n=1), lambda: LookupError("none"))
    monkeypatch.setattr("airflow_mlpipe.registry.records.LEASE_WAIT", 0.3)
    held = store.acquire_lease(".lock", "other", 30)
    with pytest.raises(RegistryBusyError, match="registry lock .* was held by another writer"):
        with records.locked():
            pass
    store.release_lease(held)


def test_concurrent_writers_on_a_folder_lose_no_update(tmp_path):
    where = {"kind": "folder", "folder": str(tmp_path / "registry")}
    from registry_writers import open_registry

    registry = open_registry(where)
    ids = make_targets(registry, tmp_path)
    run_writers(where, ids, writers=4, rounds=6)
    check_nothing_lost(registry, ids, writers=4, rounds=6)
