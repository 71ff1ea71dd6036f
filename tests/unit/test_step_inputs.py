"""What a step script receives for each kind of data path (v1's file semantics), without Airflow:
the operator's data half (operators/step_data.py) on a real local datastore and a loopback web server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_mlpipe import Workspace
from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.operators.step_data import StepData, StepRun


class Step(StepData):
    def __init__(self, ws: Workspace, inputs: list[dict]):
        self.task_id = "consume"
        self.log = logging.getLogger("test")
        self.pipeline = {"datastores": {n: d.spec for n, d in ws.datastores.items()}, "data": {}}
        self.step = {"name": "consume", "inputs": inputs, "outputs": []}


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.from_config()
    src = tmp_path / "src"
    (src / "folder" / "deep").mkdir(parents=True)
    (src / "one.csv").write_text("a\n1\n")
    (src / "folder" / "x.csv").write_text("x")
    (src / "folder" / "deep" / "y.csv").write_text("y")
    ws.get_default_datastore().upload(str(src), "d", show_progress=False)
    return ws


def materialize(ws, tmp_path, inp: dict) -> tuple[str, Path]:
    run = StepRun(workdir=tmp_path / "work", parameters={})
    Step(ws, [inp]).materialize_inputs(None, run)
    got = run.inputs[inp["name"]]
    return got["kind"], Path(got["path"])


def dataset(paths, kind="file", options=None):
    return {"type": kind, "paths": paths, "options": options or {}}


def test_one_file_arrives_as_that_file_and_folders_and_globs_as_folders(ws, tmp_path):
    store = "workspaceblobstore"
    one = {
        "name": "one",
        "kind": "dataset",
        "mode": "mount",
        "dataset": dataset([{"datastore": store, "path": "d/one.csv"}]),
    }
    kind, path = materialize(ws, tmp_path / "1", one)
    assert kind == "path" and path.is_file() and path.name == "one.csv" and path.read_text() == "a\n1\n"
    ref = {
        "name": "ref",
        "kind": "datastore_path",
        "mode": "download",
        "datastore": store,
        "path": "d/one.csv",
    }
    _, path = materialize(ws, tmp_path / "2", ref)
    assert path.is_file() and path.name == "one.csv"  # a DataReference or DataPath to a file, too
    folder = {"name": "f", "kind": "datastore_path", "mode": "mount", "datastore": store, "path": "d/folder"}
    _, path = materialize(ws, tmp_path / "3", folder)
    assert path.is_dir() and sorted(p.relative_to(path).as_posix() for p in path.rglob("*.csv")) == [
        "deep/y.csv",
        "x.csv",
    ]
    glob = {
        "name": "g",
        "kind": "dataset",
        "mode": "mount",
        "dataset": dataset([{"datastore": store, "path": "d/folder/*.csv"}]),
    }
    _, path = materialize(ws, tmp_path / "4", glob)
    assert path.is_dir() and [p.name for p in path.iterdir()] == [
        "x.csv"
    ]  # a glob of one match stays a folder
    two = {
        "name": "two",
        "kind": "dataset",
        "mode": "download",
        "dataset": dataset(
            [{"datastore": store, "path": "d/one.csv"}, {"datastore": store, "path": "d/folder/x.csv"}]
        ),
    }
    _, path = materialize(ws, tmp_path / "5", two)
    assert path.is_dir() and sorted(p.name for p in path.iterdir()) == ["one.csv", "x.csv"]


def test_a_tabular_input_lists_its_files_and_options(ws, tmp_path):
    table = {
        "name": "t",
        "kind": "dataset",
        "mode": "direct",
        "dataset": dataset(
            [{"datastore": "workspaceblobstore", "path": "d/one.csv"}], "tabular", {"separator": ","}
        ),
    }
    run = StepRun(workdir=tmp_path / "work", parameters={})
    Step(ws, [table]).materialize_inputs(None, run)
    got = run.inputs["t"]
    assert got["kind"] == "tabular" and [Path(f).name for f in got["files"]] == ["one.csv"]


def test_a_web_file_arrives_as_that_file(ws, tmp_path):
    from web_server import serve_folder

    served = tmp_path / "served"
    served.mkdir()
    (served / "iris.csv").write_text("a,b\n1,2\n")
    with serve_folder(served) as server:
        inp = {
            "name": "w",
            "kind": "dataset",
            "mode": "mount",
            "dataset": dataset([{"url": server.url("iris.csv")}]),
        }
        _, path = materialize(ws, tmp_path / "w", inp)
    assert path.is_file() and path.name == "iris.csv" and path.read_text() == "a,b\n1,2\n"


def test_missing_data_names_the_input(ws, tmp_path):
    gone = {
        "name": "gone",
        "kind": "datastore_path",
        "mode": "mount",
        "datastore": "workspaceblobstore",
        "path": "d/nope",
    }
    with pytest.raises(StepFailedError, match=r"step 'consume': input 'gone': nothing found at .*d/nope"):
        materialize(ws, tmp_path, gone)
    elsewhere = {"name": "e", "kind": "datastore_path", "mode": "mount", "datastore": "lake", "path": "x"}
    with pytest.raises(Exception, match=r"datastore 'lake', which this step's workspace does not define"):
        materialize(ws, tmp_path, elsewhere)
