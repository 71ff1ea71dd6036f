"""storage/transfer_copy.py between local datastores: every file staged, then placed; progress lines;
a failed copy leaves no destination name; what a killed try staged is cleared by the next."""

from __future__ import annotations

import pytest

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.local import LocalStore
from airflow_mlpipe.storage.transfer_copy import STAGING, Progress, clear_staging, copy_files, staging_root


@pytest.fixture
def stores(tmp_path):
    src, dst = LocalStore(tmp_path / "src"), LocalStore(tmp_path / "dst")
    for i in range(7):
        src.write_bytes(f"set/part-{i}.csv", b"x" * (1000 * i))
    src.write_bytes("set/deep/er/notes.txt", b"kept relative")
    return src, dst


def test_files_are_staged_then_placed_with_progress(stores):
    src, dst = stores
    pairs = [(f.path, "copy/" + f.path[len("set/") :]) for f in src.list("set")]
    said: list[str] = []
    placed, report = copy_files(src, pairs, dst, key="dag/run/task", say=lambda fmt, *a: said.append(fmt % a))
    assert sorted(p.path for p in placed) == sorted(d for _, d in pairs)
    for s, d in pairs:
        assert dst.read_bytes(d) == src.read_bytes(s)
    assert (report.files, report.bytes, report.streamed, report.server_side) == (8, 21013, 8, 0)
    assert said and said[-1].startswith("copy: 8/8 files, 20.5 KiB/20.5 KiB, ")
    assert dst.list(STAGING) == []  # the staging folder is gone


def test_a_failed_copy_writes_no_destination_name(stores, tmp_path):
    src, dst = stores
    pairs = [(f.path, "copy/" + f.path[len("set/") :]) for f in src.list("set")]
    pairs.append(("set/missing.csv", "copy/missing.csv"))
    with pytest.raises(DatastoreError, match=r"transfer 'x': nothing at .*set/missing\.csv"):
        copy_files(src, pairs, dst, key="k", what="transfer 'x'")
    assert dst.list("") == []

    # a destination that cannot take a file: the error names it; nothing was placed
    dst.write_bytes("blocked", b"a file where a folder must go")
    with pytest.raises(Exception, match="blocked"):
        copy_files(src, [("set/part-1.csv", "blocked/part-1.csv")], dst, key="k")
    assert [f.path for f in dst.list("")] == ["blocked"]


def test_what_a_killed_try_staged_is_cleared(stores):
    src, dst = stores
    dst.write_bytes(f"{staging_root('dag/run/task')}/0123/copy/part-1.csv", b"half")
    dst.write_bytes(f"{staging_root('dag/run/other')}/4567/copy/x", b"another task's")
    assert clear_staging(dst, "dag/run/task") == 1
    assert [f.path for f in dst.list(STAGING)] == [f"{staging_root('dag/run/other')}/4567/copy/x"]
    assert clear_staging(dst, "dag/run/task") == 0


def test_progress_lines_are_spaced_in_time():
    lines: list[str] = []
    progress = Progress("t", 3, 3 << 20, lambda fmt, *a: lines.append(fmt % a), every=3600)
    for _ in range(3):
        progress.add(1 << 20, server_side=True)
    assert lines == []  # none before the interval
    progress.line()
    assert lines[0].startswith("t: 3/3 files, 3.0 MiB/3.0 MiB, ")
    assert progress.finish().server_side == 3
