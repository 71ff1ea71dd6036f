"""Fixtures of the reuse tests (imported by the test modules that use them): a small two-step pipeline spec (a -> b over PipelineData d) on the
embedded workspace's local datastore, the reuse decision for b, and a result of b committed as a
worker commits it."""

from __future__ import annotations

import time

import pytest

from airflow_mlpipe.reuse import decide
from airflow_mlpipe.reuse.cache import CacheStore
from airflow_mlpipe.storage import open_store


def cache_of(spec):
    """The reuse cache of a pipeline spec."""
    ds = spec["datastores"][spec["reuse"]["datastore"]]
    return CacheStore(open_store(ds), spec["datastores"])


@pytest.fixture
def spec(tmp_path):
    """a -> b: a writes PipelineData d (and takes parameter n), b reads it."""
    from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("print(1)\n")
    data = PipelineData("d")
    a = PythonScriptStep(
        "a.py", name="a", arguments=[PipelineParameter("n", 1), data], outputs=[data], source_directory="src"
    )
    b = PythonScriptStep("a.py", name="b", arguments=[data], inputs=[data], source_directory="src")
    return Pipeline(Workspace.from_config(), [a, b]).to_spec()


@pytest.fixture
def cache(spec):
    """The pipeline's reuse cache (a CacheStore on its local datastore)."""
    return cache_of(spec)


@pytest.fixture
def commit_b(spec):
    """A function committing a result of step b under a decision's fingerprint, with one stored
    output file (returns the datastore and the entry)."""

    def commit_b(spec, decision, committed_at=None):
        store = open_store(spec["datastores"]["workspaceblobstore"])
        store.write_bytes("mlpipe/runs/p/r1/b/try1-x/out/f.txt", b"42")
        entry = {
            "fingerprint": decision.fingerprint,
            "step": "b",
            "outputs": {
                "out": {
                    "datastore": "workspaceblobstore",
                    "path": "mlpipe/runs/p/r1/b/try1-x/out",
                    "files": 1,
                    "bytes": 2,
                    "content_hash": "h",
                }
            },
            "metrics": {"acc": 0.5},
            "parent_metrics": {},
            "committed_at": committed_at or time.time(),
            "origin": {"dag_id": "p", "run_id": "r1", "task_id": "b", "try_number": 1},
        }
        cache_of(spec).commit(entry, decision.components)
        return store, entry

    return commit_b


@pytest.fixture
def decide_b(spec, cache):
    """The decision for step b, its input d holding "content-of-d"."""

    def decide_b(spec, given=None, step=None, **kw):
        step = step or spec["steps"][1]
        return decide.decide_reuse(
            step,
            {"n": 1},
            {"d": "content-of-d"},
            cache=cache,
            datastores=spec["datastores"],
            reuse=spec["reuse"],
            given=given or {},
            dag_id="p",
            hash_cache=None,
            **kw,
        )

    return decide_b
