from __future__ import annotations

import json
import os
import time

import pytest

from airflow_mlpipe.reuse import decide
from airflow_mlpipe.reuse.cache import CacheStore
from airflow_mlpipe.reuse.fingerprint import HashCache, content_hash, hash_folder, source_snapshot
from airflow_mlpipe.storage.local import LocalStore


def make_tree(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    old = time.time() - 60  # older than the racy window, so the index may keep them
    for p in root.rglob("*"):
        os.utime(p, (old, old))


def test_snapshot_follows_amlignore_then_gitignore_and_skips_pycache(tmp_path):
    make_tree(
        tmp_path,
        {"a.py": "1", "data/x.csv": "2", "keep.log": "3", "__pycache__/a.pyc": "4", ".gitignore": "*.log\n"},
    )
    assert set(source_snapshot(tmp_path)) == {"a.py", "data/x.csv", ".gitignore"}
    (tmp_path / ".amlignore").write_text("data/\n*.log\n!keep.log\n")
    assert set(source_snapshot(tmp_path)) == {"a.py", "keep.log", ".gitignore", ".amlignore"}


def test_stat_index_gives_the_same_hashes_and_sees_edits(tmp_path):
    src = tmp_path / "src"
    make_tree(src, {f"m{i}.py": f"x = {i}\n" for i in range(50)})
    cache = HashCache(tmp_path / "idx")
    cold = source_snapshot(src, cache)
    assert source_snapshot(src, cache) == cold == source_snapshot(src)
    (src / "m7.py").write_text("x = 8\n")  # same size, new content: mtime and inode data change
    warm = source_snapshot(src, cache)
    assert warm["m7.py"] != cold["m7.py"]
    assert {k for k in warm if warm[k] != cold[k]} == {"m7.py"}


def test_content_hash_is_independent_of_location(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_tree(a, {"x/y.txt": "same"})
    make_tree(b, {"x/y.txt": "same"})
    assert content_hash(hash_folder(a)) == content_hash(hash_folder(b))
    (b / "x" / "y.txt").write_text("other")
    assert content_hash(hash_folder(a)) != content_hash(hash_folder(b))


def test_local_lease_is_exclusive_expires_and_cannot_be_renewed_once_taken(tmp_path):
    store = LocalStore(tmp_path)
    first = store.acquire_lease("leases/fp", "one", ttl=0.5)
    assert first is not None
    assert store.acquire_lease("leases/fp", "two", ttl=0.5) is None
    assert store.renew_lease(first) is True
    time.sleep(0.7)  # the holder stopped renewing, as a crashed one does
    second = store.acquire_lease("leases/fp", "two", ttl=5)
    assert second is not None
    assert store.renew_lease(first) is False
    store.release_lease(first)  # a stale holder's release does not free someone else's lease
    assert store.acquire_lease("leases/fp", "three", ttl=5) is None
    store.release_lease(second)
    assert store.acquire_lease("leases/fp", "three", ttl=5) is not None


def test_cache_lease_waits_for_the_holder(tmp_path):
    import threading

    cache = CacheStore(LocalStore(tmp_path))
    order = []
    with cache.lease("fp", ttl=5) as first:
        assert first["waited"] is False

        def other():
            with cache.lease("fp", ttl=5, poll=0.05) as second:
                order.append(("second", second["waited"]))

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append(("first", None))
    t.join(5)
    assert order == [("first", None), ("second", True)]


def entry(fp, path, committed_at):
    return {
        "fingerprint": fp,
        "step": "s",
        "outputs": {"o": {"datastore": "ds", "path": path, "files": 1, "bytes": 1, "content_hash": "h"}},
        "metrics": {},
        "parent_metrics": {},
        "committed_at": committed_at,
        "origin": {"dag_id": "d", "run_id": "r", "task_id": "s", "try_number": 1},
    }


def test_entries_round_trip_and_a_damaged_one_is_a_miss(tmp_path):
    store = LocalStore(tmp_path)
    cache = CacheStore(store, {"ds": {"type": "local", "path": str(tmp_path)}})
    store.write_bytes("mlpipe/runs/d/r/s/try1-x/o/f.txt", b"1")
    cache.commit(entry("ab" * 32, "mlpipe/runs/d/r/s/try1-x/o", time.time()), {"version": None})
    got = cache.lookup("ab" * 32)
    assert got["outputs"]["o"]["path"] == "mlpipe/runs/d/r/s/try1-x/o"
    assert cache.missing_outputs(got) is None
    assert cache.last_committed("d", "s")["fingerprint"] == "ab" * 32
    store.delete("mlpipe/runs/d/r/s/try1-x/o/f.txt")
    assert "no longer complete" in cache.missing_outputs(got)
    store.write_bytes(CacheStore.entry_path("cd" * 32), b"{not json")
    assert cache.lookup("cd" * 32) is None


def test_gc_removes_expired_entries_and_unreferenced_old_outputs(tmp_path):
    store = LocalStore(tmp_path)
    cache = CacheStore(store)
    now = time.time()
    for name in ("old", "kept", "orphan", "fresh"):
        store.write_bytes(f"mlpipe/runs/d/r/{name}/try1-x/o/f.txt", b"1")
    for name in ("old", "kept", "orphan"):
        f = tmp_path / f"mlpipe/runs/d/r/{name}/try1-x/o/f.txt"
        os.utime(f, (now - 10 * 86400, now - 10 * 86400))
    cache.commit(entry("aa" * 32, "mlpipe/runs/d/r/old/try1-x/o", now - 9 * 86400), {})
    cache.commit(entry("bb" * 32, "mlpipe/runs/d/r/kept/try1-x/o", now - 3600), {})
    assert cache.gc(7 * 86400, now=now, dry_run=True) == {"entries_removed": 1, "outputs_removed": 2}
    assert cache.gc(7 * 86400, now=now) == {"entries_removed": 1, "outputs_removed": 2}
    runs = tmp_path / "mlpipe/runs/d/r"
    assert sorted(p.name for p in runs.iterdir() if any(p.rglob("f.txt"))) == ["fresh", "kept"]
    assert cache.lookup("aa" * 32) is None and cache.lookup("bb" * 32) is not None


def test_explain_names_each_difference():
    last = {
        "version": "1",
        "settings": "s1",
        "source": {"a.py": "1", "gone.py": "2"},
        "parameters": {"n": 1},
        "inputs": {"data": "x"},
    }
    now = {
        "version": "2",
        "settings": "s2",
        "source": {"a.py": "9", "new.py": "3"},
        "parameters": {"n": 2},
        "inputs": {"data": "y"},
    }
    reasons = decide.explain(now, last)
    assert reasons == [
        "version changed: '1' -> '2'",
        "step settings changed (script name, arguments, inputs or outputs)",
        "source files changed: a.py",
        "source files added: new.py",
        "source files removed: gone.py",
        "parameter n: 1 -> 2",
        "input 'data' has different content",
    ]
    assert decide.explain(now, None) == ["no committed result for this step yet"]


def test_fingerprint_ignores_paths_names_and_unreferenced_parameters(tmp_path):
    make_tree(tmp_path / "one", {"s.py": "print(1)"})
    make_tree(tmp_path / "two", {"s.py": "print(1)"})
    base = {
        "kind": "python_script",
        "inputs": [],
        "outputs": [],
        "arguments": [{"parameter": "n"}],
        "version": None,
        "allow_reuse": True,
        "max_reuse_age": None,
        "compute_target": None,
        "upstream": [],
    }
    s1 = {
        **base,
        "name": "x",
        "settings": {"script_name": "s.py", "source_directory": str(tmp_path / "one"), "params": {}},
    }
    s2 = {
        **base,
        "name": "y",
        "compute_target": "gpu",
        "settings": {**s1["settings"], "source_directory": str(tmp_path / "two")},
    }
    fp = lambda step, params: decide.fingerprint(decide.components(step, params, {}, None))  # noqa: E731
    assert fp(s1, {"n": 1, "other": 5}) == fp(s2, {"n": 1, "other": 6})
    assert fp(s1, {"n": 1}) != fp(s1, {"n": 2})
    assert fp(s1, {"n": 1}) != fp({**s1, "version": "2"}, {"n": 1})


def test_workspace_reuse_config(tmp_path):
    from airflow_mlpipe import Workspace
    from airflow_mlpipe.exceptions import WorkspaceConfigError

    (tmp_path / "mlpipe.json").write_text(json.dumps({"reuse": {"max_age": "12h"}}))
    assert Workspace.from_config().reuse == {"datastore": None, "max_age": 43200.0}
    (tmp_path / "mlpipe.json").write_text(json.dumps({"reuse": {"max_age": "soon"}}))
    with pytest.raises(WorkspaceConfigError, match="not a duration"):
        Workspace.from_config()


def test_plan_and_gc_from_the_command_line(tmp_path, capsys):
    from airflow_mlpipe.cli import main

    src = tmp_path / "src"
    make_tree(src, {"a.py": "print(1)"})
    (tmp_path / "pipe.py").write_text(
        "from airflow_mlpipe import Pipeline, PipelineParameter, PythonScriptStep, Workspace\n"
        f"step = PythonScriptStep('a.py', name='a', arguments=[PipelineParameter('n', 1)], source_directory={str(src)!r})\n"
        "pipeline = Pipeline(Workspace.from_config(), [step])\n"
    )
    assert main(["plan", str(tmp_path / "pipe.py"), "--dag-id", "p", "--param", "n=3"]) == 0
    out = capsys.readouterr().out
    assert "DAG p: 0 step(s) reused, 1 to run" in out and "no committed result for this step yet" in out
    assert main(["plan", str(tmp_path / "pipe.py"), "--dag-id", "p", "--param", "m=3"]) == 2
    assert "unknown pipeline parameters ['m']" in capsys.readouterr().err
    assert main(["cache", "gc", "--older-than", "7d", "--dry-run"]) == 0
    assert "would remove 0 entr(ies)" in capsys.readouterr().out
    assert main(["cache", "gc", "--older-than", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_age_limit_takes_the_stricter_of_step_and_workspace():
    assert decide.age_limit({"max_reuse_age": 60}, {"max_age": 3600}) == 60
    assert decide.age_limit({"max_reuse_age": None}, {"max_age": 3600}) == 3600
    assert decide.age_limit({}, {}) is None
    assert decide.expired({"committed_at": 0}, 60, now=61) and not decide.expired(
        {"committed_at": 0}, 60, now=59
    )
