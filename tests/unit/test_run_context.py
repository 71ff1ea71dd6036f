from __future__ import annotations

import json

import pytest

from airflow_mlpipe import Run
from airflow_mlpipe.operators.python_script import read_metrics, script_environment


def test_offline_run_prints_instead_of_raising(capsys, monkeypatch):
    monkeypatch.delenv("MLPIPE_RUN_CONTEXT", raising=False)
    run = Run.get_context()
    run.log("accuracy", 0.9)
    run.parent.log("best", "lr")
    run.log_list("losses", [3, 2, 1])
    out = capsys.readouterr().out
    assert "Attempted to log scalar metric accuracy" in out and "0.9" in out
    assert run.id.startswith("OfflineRun_")
    assert run.input_datasets == {}
    assert run.get_metrics() == {"accuracy": 0.9, "losses": [3, 2, 1]}


def test_online_run_reads_inputs_and_writes_metrics(tmp_path, monkeypatch):
    csv = tmp_path / "t.csv"
    csv.write_text("a;b\n1;2\n3;4\n")
    metrics = tmp_path / "m.jsonl"
    ctx = {
        "run_id": "d/r/t/1",
        "experiment": "exp",
        "parent_run_id": "d/r",
        "input_datasets": {
            "files": {"kind": "path", "path": str(tmp_path)},
            "table": {"kind": "tabular", "files": [str(csv)], "options": {"separator": ";"}},
        },
        "parameters": {"n": 3},
        "metrics_file": str(metrics),
        "files_dir": str(tmp_path / "files"),
        "parent_files_dir": str(tmp_path / "parent_files"),
    }
    (tmp_path / "ctx.json").write_text(json.dumps(ctx))
    monkeypatch.setenv("MLPIPE_RUN_CONTEXT", str(tmp_path / "ctx.json"))
    run = Run.get_context()
    assert run.experiment.name == "exp"
    assert run.input_datasets["files"] == str(tmp_path)
    assert run.input_datasets["table"].to_pandas_dataframe()["b"].tolist() == [2, 4]
    import numpy as np

    run.log("acc", np.float64(0.5))
    run.log("acc", 0.75)
    run.log_row("row", x=1, y=2)
    run.parent.log("best", "model-a")
    run.tag("stage", "dev")
    run.tag("stage", "prod")
    run.parent.tag("owner")
    (tmp_path / "note.txt").write_text("hello")
    run.upload_file("notes/note.txt", str(tmp_path / "note.txt"))
    run.parent.upload_file("summary.txt", str(tmp_path / "note.txt"))
    with pytest.raises(ValueError, match="without '..'"):
        run.upload_file("../escape.txt", str(tmp_path / "note.txt"))

    class Figure:  # what log_image needs of a matplotlib figure: savefig into a stream
        def savefig(self, stream, format):
            stream.write(b"\x89PNG fake")

    run.log_image("curve", plot=Figure(), description="loss")
    with pytest.raises(ValueError, match="exactly one of path and plot"):
        run.log_image("none")
    step, parent, tags, parent_tags = read_metrics(metrics)
    assert step == {
        "acc": [0.5, 0.75],
        "row": {"x": 1, "y": 2},
        "curve": {"image": "images/curve.png", "description": "loss"},
    }
    assert parent == {"best": "model-a"}
    assert tags == {"stage": "prod"} and parent_tags == {"owner": ""}
    assert (tmp_path / "files" / "notes" / "note.txt").read_text() == "hello"
    assert (tmp_path / "files" / "images" / "curve.png").read_bytes() == b"\x89PNG fake"
    assert (tmp_path / "parent_files" / "summary.txt").exists()


def test_step_scripts_never_see_airflow_secrets():
    env = script_environment(
        {
            "PATH": "/bin",
            "AIRFLOW_CONN_BLOB": "wasb://secret",
            "AIRFLOW_VAR_KEY": "v",
            "AIRFLOW__API_AUTH__JWT_SECRET": "j",
            "AIRFLOW__CORE__FERNET_KEY": "f",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite://",
            "AIRFLOW__CORE__DAGS_FOLDER": "/dags",
        }
    )
    assert env == {"PATH": "/bin", "AIRFLOW__CORE__DAGS_FOLDER": "/dags"}
