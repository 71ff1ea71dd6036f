"""The reuse decision (reuse/decide.py) that a worker, the triggerer and ``plan`` share, on a real
local cache datastore."""

from __future__ import annotations

import time

from airflow_mlpipe.reuse import decide


def test_a_miss_names_why_and_logs_the_fingerprint_first(spec, decide_b):
    d = decide_b(spec)
    assert (d.verdict, d.entry, d.forced) == ("run", None, False)
    assert d.reasons == ["no committed result for this step yet"]
    assert d.log == [
        ("reuse: fingerprint %s", (d.fingerprint,)),
        ("reuse: the step runs: %s", ("no committed result for this step yet",)),
    ]


def test_a_committed_result_is_reused_with_its_origin_and_metrics(spec, decide_b, commit_b):
    _, entry = commit_b(spec, decide_b(spec))
    d = decide_b(spec)
    assert d.verdict == "reuse" and d.entry["origin"]["run_id"] == "r1"
    assert d.reasons == ["unchanged since run r1 (task b, try 1)"]
    result = decide.reused_result(spec["steps"][1], d.entry, {"n": 1})
    assert result["reused_from"]["run_id"] == "r1" and result["reused_from"]["fingerprint"] == d.fingerprint
    assert result["outputs"] == entry["outputs"] and result["metrics"] == {"acc": 0.5}
    assert result["format"] == decide.RESULT_FORMAT and result["step"] == "b"
    assert result["reuse_reasons"] == d.reasons  # the tracking pages' "why" (reused from r1)
    (origin_msg, origin_args), metric = decide.reuse_log_lines(d.entry)
    assert (origin_msg % origin_args).startswith(
        "reuse: reusing the result of task b in run r1 of DAG p (try 1)"
    )
    assert metric == ("metric %s = %s (reused)", ("acc", 0.5))


def test_forced_runs_still_fingerprint(spec, decide_b, commit_b):
    commit_b(spec, decide_b(spec))
    for given, why in (
        ({"regenerate_outputs": True}, "regenerate_outputs is set for this run"),
        ({"force_rerun": ["b"]}, "force_rerun names this step"),
    ):
        d = decide_b(spec, given)
        assert (d.verdict, d.forced, d.reasons) == ("run", True, [why]) and d.fingerprint
        assert d.log[-1] == ("reuse: the step runs: %s", (why,))
    d = decide_b(spec, step={**spec["steps"][1], "allow_reuse": False})
    assert d.reasons == ["allow_reuse=False"] and d.forced


def test_an_expired_or_incomplete_result_is_not_reused(spec, decide_b, commit_b):
    store, _ = commit_b(spec, decide_b(spec), committed_at=time.time() - 120)
    d = decide_b(spec, step={**spec["steps"][1], "max_reuse_age": 60})
    assert d.verdict == "run" and d.reasons == ["the committed result is older than 60s"]
    assert d.log[1] == ("reuse: the committed result is older than %.0fs; the step runs", (60,))
    store.delete("mlpipe/runs/p/r1/b/try1-x/out/f.txt")
    d = decide_b(spec)
    assert d.verdict == "run" and "no longer complete" in d.reasons[0]


def test_pending_inputs_give_no_fingerprint(spec, decide_b):
    d = decide_b(spec, pending=["input 'd' comes from step 'a', which runs"])
    assert d.fingerprint is None and d.reasons[0].startswith("input 'd'")
    assert decide_b(spec, {"regenerate_outputs": True}, pending=["x"]).reasons == [
        "regenerate_outputs is set for this run"
    ]


def test_run_parameters_coerce_given_values_and_fill_defaults(spec):
    assert decide.run_parameters(spec["parameters"], {"n": "3"}, where="t") == {"n": 3}
    assert decide.run_parameters(spec["parameters"], {}, where="t") == {"n": 1}
