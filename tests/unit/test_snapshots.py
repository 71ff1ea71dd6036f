from __future__ import annotations

import pytest

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.snapshots import file_path, materialize_snapshot, upload_snapshot
from airflow_mlpipe.storage.local import LocalStore


def test_second_upload_sends_only_changed_files_and_workers_get_that_exact_snapshot(tmp_path):
    store = LocalStore(tmp_path / "datastore")
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for i in range(5):
        (src / "pkg" / f"m{i}.py").write_text(f"x = {i}\n")
    (src / ".amlignore").write_text("*.tmp\n")
    (src / "scratch.tmp").write_text("ignored")
    first = upload_snapshot(store, src)
    assert (first["files"], first["uploaded"]) == (6, 6)
    assert upload_snapshot(store, src)["uploaded"] == 0
    (src / "pkg" / "m3.py").write_text("x = 'changed'\n")
    second = upload_snapshot(store, src)
    assert second["uploaded"] == 1 and second["id"] != first["id"]

    cache = tmp_path / "worker-cache"
    old = materialize_snapshot(store, first["id"], cache)
    new = materialize_snapshot(store, second["id"], cache)
    assert (old / "pkg" / "m3.py").read_text() == "x = 3\n"  # what was submitted, not the disk
    assert (new / "pkg" / "m3.py").read_text() == "x = 'changed'\n"
    assert not (old / "scratch.tmp").exists()
    assert materialize_snapshot(store, first["id"], cache) == old  # cached


def test_a_corrupted_file_on_the_datastore_is_refused(tmp_path):
    store = LocalStore(tmp_path / "datastore")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("print(1)\n")
    snap = upload_snapshot(store, src)
    (only,) = store.list("mlpipe/snapshots/files")
    (store.root / only.path).write_text("print('tampered')\n")
    with pytest.raises(DatastoreError, match="does not match its hash"):
        materialize_snapshot(store, snap["id"], tmp_path / "cache")
    assert not (tmp_path / "cache" / snap["id"]).exists()
    with pytest.raises(DatastoreError, match="is not on the datastore"):
        materialize_snapshot(store, "0" * 64, tmp_path / "cache")
    assert file_path("abcdef").startswith("mlpipe/snapshots/files/ab/")
