"""The Blob datastore against a real Azurite, through the Azure provider's WasbHook."""

from __future__ import annotations

import pytest
from conftest import wasb_connection

from airflow_mlpipe import Dataset, Datastore, Workspace
from airflow_mlpipe.exceptions import DatastoreError

pytestmark = pytest.mark.integration


@pytest.fixture
def lake(azurite, blob_config, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", wasb_connection(azurite))
    return Workspace.from_config(path=blob_config).get_default_datastore()


def test_upload_list_download_and_globs(lake, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("x,y\n1,2\n")
    (src / "sub" / "b.csv").write_text("x,y\n3,4\n")
    ref = lake.upload(str(src), target_path="unit/set1", overwrite=True, show_progress=False)
    assert ref.path_on_datastore == "unit/set1"
    assert [f.path for f in lake.store.list("unit/set1")] == ["unit/set1/a.csv", "unit/set1/sub/b.csv"]
    assert [rel for _, rel in lake.store.resolve("unit/set1/*.csv")] == ["a.csv"]
    assert [rel for _, rel in lake.store.resolve("unit/set1/**/*.csv")] == ["a.csv", "sub/b.csv"]
    out = tmp_path / "out"
    lake.store.download("unit/set1", out)
    assert (out / "sub" / "b.csv").read_text() == "x,y\n3,4\n"
    table = Dataset.Tabular.from_delimited_files([(lake, "unit/set1/**/*.csv")])
    assert table.to_pandas_dataframe()["y"].tolist() == [2, 4]


def test_overwrite_false_keeps_the_blob(lake, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("one")
    lake.upload_files([str(f)], target_path="unit/keep", overwrite=True, show_progress=False)
    f.write_text("two")
    lake.upload_files([str(f)], target_path="unit/keep", overwrite=False, show_progress=False)
    lake.store.download("unit/keep/v.txt", tmp_path / "got")
    assert (tmp_path / "got" / "v.txt").read_text() == "one"


def test_missing_connection_names_the_connection(blob_config, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AZURITE", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE_OTHER", "wasb://")
    store = Datastore(Workspace.from_config(path=blob_config), "lake")
    with pytest.raises(DatastoreError, match="connection 'azurite'"):
        store.store.list("x")


def test_snapshots_on_blob_upload_only_what_changed(lake, tmp_path):
    from airflow_mlpipe.snapshots import materialize_snapshot, upload_snapshot

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"s{i}.py").write_text(f"print({i})\n")
    first = upload_snapshot(lake.store, src)
    assert upload_snapshot(lake.store, src)["uploaded"] == 0
    (src / "s1.py").write_text("print('new')\n")
    second = upload_snapshot(lake.store, src)
    assert second["uploaded"] == 1
    got = materialize_snapshot(lake.store, first["id"], tmp_path / "cache")
    assert (got / "s1.py").read_text() == "print(1)\n"
