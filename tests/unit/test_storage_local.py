from __future__ import annotations

import pytest

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.local import LocalStore


def test_local_store_resolves_files_folders_and_globs(tmp_path):
    store = LocalStore(tmp_path / "root")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("1")
    (src / "b.txt").write_text("22")
    (src / "sub" / "c.csv").write_text("333")
    listed = store.upload_dir(src, "data")
    assert [(f.path, f.size) for f in listed] == [("data/a.csv", 1), ("data/b.txt", 2), ("data/sub/c.csv", 3)]
    assert [rel for _, rel in store.resolve("data/a.csv")] == ["a.csv"]
    assert [rel for _, rel in store.resolve("data")] == ["a.csv", "b.txt", "sub/c.csv"]
    assert [rel for _, rel in store.resolve("data/*.csv")] == ["a.csv"]
    out = tmp_path / "out"
    files = store.download("data", out)
    assert sorted(p.relative_to(out).as_posix() for p in files) == ["a.csv", "b.txt", "sub/c.csv"]
    with pytest.raises(DatastoreError, match="nothing found"):
        store.download("nothing/here", out)


def test_upload_is_atomic_and_hides_temporary_files(tmp_path):
    store = LocalStore(tmp_path / "root")
    (tmp_path / "root" / "d").mkdir(parents=True)
    (tmp_path / "root" / "d" / ".mlpipe-tmp-abc").write_text("partial")
    assert store.list("d") == []
    f = tmp_path / "f"
    f.write_text("x")
    assert store.upload_file(f, "d/f") is True
    assert store.upload_file(f, "d/f", overwrite=False) is False
    assert [i.path for i in store.list("d")] == ["d/f"]


def test_glob_semantics():
    from airflow_mlpipe.storage.base import glob_match

    assert glob_match("a.csv", "*.csv")
    assert not glob_match("sub/c.csv", "*.csv")
    assert glob_match("sub/c.csv", "**/*.csv")
    assert glob_match("c.csv", "**/*.csv")
    assert glob_match("x/y/z.txt", "x/**")


def test_local_move_replaces_the_destination_and_removes_the_source(tmp_path):
    store = LocalStore(tmp_path / "root")
    assert store.readable_url("x") is None  # a local folder has no URL another service can read
    store.write_bytes(".mlpipe-transfer/k/out/f.txt", b"new")
    store.write_bytes("out/f.txt", b"old")
    moved = store.move(".mlpipe-transfer/k/out/f.txt", "out/f.txt")
    assert moved == store.stat("out/f.txt") and store.read_bytes("out/f.txt") == b"new"
    assert store.stat(".mlpipe-transfer/k/out/f.txt") is None
    store.write_bytes(".mlpipe-transfer/k/g.txt", b"g")
    assert store.move(".mlpipe-transfer/k/g.txt", "a/b/g.txt").size == 1
    with pytest.raises(DatastoreError, match="no such file"):
        store.move(".mlpipe-transfer/k/none", "out/none")
