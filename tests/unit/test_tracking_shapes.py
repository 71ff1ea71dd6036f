"""The tracking routes' pure pieces (plugin/tracking_shapes.py, plugin/tracking_stream.py)."""

from __future__ import annotations

import datetime
import io
import zipfile

from airflow_mlpipe.plugin import tracking_shapes as shapes
from airflow_mlpipe.plugin.tracking_stream import zip_stream
from airflow_mlpipe.registry.submission import SUBMISSION_KEY
from airflow_mlpipe.storage.local import LocalStore

UTC = datetime.timezone.utc


def test_metrics_split_into_scalars_tables_and_images_as_read_metrics_folds_them():
    metrics = {
        "accuracy": 0.9,
        "loss": [0.5, 0.3, 0.2],  # logged three times, or log_list
        "confusion": {"label": ["a", "b"], "count": [3, 4]},  # log_table
        "best": {"model": "tree", "score": 0.9},  # log_row once
        "epochs": [{"epoch": 1, "acc": 0.5}, {"epoch": 2, "acc": 0.7, "note": "x"}],  # log_row twice
        "roc": {"image": "images/roc.png", "description": "ROC curve"},  # log_image
    }
    scalars, tables, images = shapes.split_metrics(metrics, lambda name: f"files/{name}")
    assert scalars == {"accuracy": 0.9, "loss": [0.5, 0.3, 0.2]}
    assert tables["confusion"] == {"columns": ["label", "count"], "rows": [["a", 3], ["b", 4]]}
    assert tables["best"] == {"columns": ["model", "score"], "rows": [["tree", 0.9]]}
    assert tables["epochs"] == {
        "columns": ["epoch", "acc", "note"],
        "rows": [[1, 0.5, None], [2, 0.7, "x"]],
    }
    assert images == [{"name": "roc", "description": "ROC curve", "url": "files/images/roc.png"}]


def test_why_a_step_ran_or_was_reused():
    assert shapes.step_reason(None) is None
    assert shapes.step_reason({"reused_from": None}) is None  # an older result says nothing
    ran = {"reused_from": None, "reuse_reasons": ["parameter n: 2 -> 3", "input 'x' has different content"]}
    assert shapes.step_reason(ran) == "ran: parameter n: 2 -> 3; input 'x' has different content"
    reused = {"reused_from": {"dag_id": "d", "run_id": "r1", "task_id": "t"}, "reuse_reasons": ["unchanged"]}
    assert shapes.step_reason(reused) == "reused from r1"
    assert shapes.reused_link(reused["reused_from"]) == {
        "dag_id": "d",
        "run_id": "r1",
        "task_id": "t",
        "url": "dags/d/runs/r1/plugin/mlpipe-run",
    }


def test_experiment_and_parameters_of_a_run():
    conf = {"n": 3, "regenerate_outputs": False, "force_rerun": [], SUBMISSION_KEY: {"experiment_name": "e"}}
    assert shapes.experiment_of("published_x", conf) == "e"
    assert shapes.experiment_of("experiment_demo", {}) == "demo"
    assert shapes.experiment_of("plain", None) is None
    declared = {"n": {"default": 1}, "m": {"default": "a"}}
    assert shapes.run_parameters(conf, declared) == {"n": 3, "m": "a"}
    assert shapes.run_parameters(conf, None) == {"n": 3}  # no declaration: the conf minus submission keys
    assert shapes.step_kind("PythonScriptStepOperator") == "PythonScriptStep"
    assert shapes.step_kind("BashOperator") == "BashOperator"


def test_compare_metrics_keep_the_last_number_keyed_by_step():
    results = {
        "train": {
            "step": "train",
            "metrics": {"acc": [0.1, 0.8], "name": "x", "flag": True},
            "parent_metrics": {},
        },
        "eval": {
            "step": "eval.py",
            "metrics": {"rmse": 2},
            "parent_metrics": {"best": 0.8, "bad": float("nan")},
        },
    }
    assert shapes.compare_metrics(results) == {"train/acc": 0.8, "eval.py/rmse": 2, "best": 0.8}
    assert shapes.pipeline_metrics(results) == {"best": 0.8, "bad": results["eval"]["parent_metrics"]["bad"]}


def test_run_file_names_never_leave_the_steps_files():
    assert shapes.run_file_path("images/roc.png") == "images/roc.png"
    assert shapes.run_file_path("outputs/./a.txt") == "outputs/a.txt"
    for bad in ("../secret", "/etc/passwd", "a/../../b", "", "a/..", "..\\x"):
        assert shapes.run_file_path(bad) is None, bad


def test_durations_times_and_links():
    start = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert shapes.duration_s(start, start + datetime.timedelta(seconds=12.5)) == 12.5
    assert shapes.duration_s(start, None) is None
    assert shapes.duration_s(start, None, start + datetime.timedelta(seconds=3)) == 3.0
    assert shapes.duration_s(None, None) is None
    assert shapes.iso(start) == "2026-01-01T12:00:00+00:00" and shapes.iso(None) is None
    run = "manual__2026-01-01T12:00:00+00:00"
    assert shapes.step_url("d", run, "t") == (
        "dags/d/runs/manual__2026-01-01T12%3A00%3A00%2B00%3A00/tasks/t/plugin/mlpipe-step"
    )
    assert shapes.file_url("d", "r", "t", "images/a b.png") == (
        "mlpipe/tracking/v1/runs/d/r/steps/t/files/images/a%20b.png"
    )


def test_a_folder_downloads_as_a_zip_stream(tmp_path):
    store = LocalStore(tmp_path)
    store.write_bytes("out/run1/a.txt", b"alpha")
    store.write_bytes("out/run1/sub/b.bin", bytes(range(256)) * 10000)
    chunks = list(zip_stream(store, "out/run1", store.list("out/run1")))
    assert len(chunks) > 1  # streamed, not one piece
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert sorted(archive.namelist()) == ["a.txt", "sub/b.bin"]
    assert archive.read("a.txt") == b"alpha"
    assert archive.read("sub/b.bin") == bytes(range(256)) * 10000
