"""The registry DAG file's parse: one listing per parse, entry bodies from a per-host cache keyed by
etag, status records written only when they change."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from helpers import fan_pipeline, write_scripts

from airflow_mlpipe import Workspace
from airflow_mlpipe.registry import Registry
from airflow_mlpipe.registry.dagfile import registry_dags
from airflow_mlpipe.storage.local import LocalStore


class CountingStore(LocalStore):
    """A folder store that counts the calls a parse makes."""

    def __init__(self, root):
        super().__init__(root)
        self.calls: Counter[str] = Counter()

    def list(self, prefix):
        self.calls["list"] += 1
        return super().list(prefix)

    def read_bytes(self, path):
        self.calls["read"] += 1
        return super().read_bytes(path)

    def write_bytes(self, path, data):
        self.calls["write"] += 1
        super().write_bytes(path, data)

    def delete(self, path):
        self.calls["delete"] += 1
        super().delete(path)


def shape(dags):
    return {name: (sorted(d.task_dict), sorted(d.tags)) for name, d in dags.items()}


@pytest.fixture
def setup(tmp_path):
    src = write_scripts(tmp_path / "src", ["prep.py", "work.py", "merge.py"])
    spec = fan_pipeline(Workspace.from_config(), src).to_spec()
    store = CountingStore(tmp_path / "registry")
    registry = Registry(store)
    for i in range(6):
        registry.put(f"exp_{i}", spec, meta={"i": i})
    return store, registry, spec


def test_an_unchanged_registry_costs_one_listing_and_no_body_read(setup):
    store, registry, spec = setup
    first = registry_dags(store)
    assert len(first) == 6 and store.calls["read"] == 6
    store.calls.clear()
    second = registry_dags(store)
    assert shape(second) == shape(first)
    assert dict(store.calls) == {"list": 1}  # no entry read, no status written

    # a changed entry is read again (and only it); a deleted entry's DAG is gone
    changed = dict(spec, description="changed")
    registry.put("exp_2", changed, meta={"i": 2})
    registry.store.delete("pipelines/exp_5.json")
    store.calls.clear()
    third = registry_dags(store)
    assert store.calls["read"] == 1 and store.calls["write"] == 0
    assert sorted(third) == [f"mlpipe_registry_exp_{i}" for i in range(5)]
    assert third["mlpipe_registry_exp_2"].tags != first["mlpipe_registry_exp_2"].tags  # the new spec


def test_a_corrupt_or_partial_cache_file_is_read_again(setup, tmp_path):
    store, _, _ = setup
    first = registry_dags(store)
    cached = sorted((tmp_path / "mlpipe-home" / "cache" / "registry").rglob("*.json"))
    assert len(cached) == 6  # per host, under $MLPIPE_HOME/cache
    cached[0].write_text('{"path": "pipelines/exp_0.json", "etag": ')  # cut short
    cached[1].write_text("[]")
    store.calls.clear()
    assert shape(registry_dags(store)) == shape(first)
    assert store.calls["read"] == 2
    store.calls.clear()
    registry_dags(store)
    assert store.calls["read"] == 0  # rewritten whole
    assert not [p for p in cached[0].parent.iterdir() if p.name.startswith(".tmp-")]


def test_a_broken_entry_is_recorded_once_and_cleared_when_fixed(setup):
    store, registry, spec = setup
    broken = dict(spec, steps=[dict(spec["steps"][0], kind="no_such_kind")])
    registry.put("exp_1", broken)
    dags = registry_dags(store)
    assert "mlpipe_registry_exp_1" not in dags and len(dags) == 5
    assert "no operator for step kind 'no_such_kind'" in registry.broken()["exp_1"]
    registry_dags(store)  # reads the new status record once
    store.calls.clear()
    registry_dags(store)
    assert dict(store.calls) == {"list": 1}  # the same error: not written again
    registry.put("exp_1", spec)
    assert "mlpipe_registry_exp_1" in registry_dags(store)
    assert registry.broken() == {}
    registry.store.write_bytes("pipelines/exp_3.json", b"{not json")
    assert "JSONDecodeError" in (registry_dags(store), registry.broken())[1]["exp_3"]
    registry.store.delete("pipelines/exp_3.json")
    registry_dags(store)
    assert registry.broken() == {}  # an entry that is gone has no status either
    assert os.path.isdir(store.root / "pipelines")
