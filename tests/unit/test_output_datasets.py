"""OutputFileDatasetConfig in pipeline specs (outputs inferred from arguments, edges from as_input,
destinations, registration, tables), PipelineData.as_dataset(), and publishing to a destination."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlpipe import (
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PipelineValidationError,
    PythonScriptStep,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.operators.step_data import destination_path, keep_matching, tabular_input


@pytest.fixture
def ws():
    Path("src").mkdir()
    for name in ("prep.py", "train.py", "score.py"):
        Path("src", name).write_text("print('hi')\n")
    return Workspace.from_config()


def step(script, arguments, **kw):
    return PythonScriptStep(script, name=script[:-3], source_directory="src", arguments=arguments, **kw)


def test_an_output_in_arguments_is_an_output_and_as_input_is_the_edge(ws):
    ds = ws.get_default_datastore()
    prepped = OutputFileDatasetConfig(
        name="prepped", destination=(ds, "out/{run-id}/{output-name}")
    ).as_upload(overwrite=True, source_globs=["*.csv"])
    registered = prepped.read_delimited_files(separator=";").register_on_complete(
        "prepped_table", "d", {"k": "v"}
    )
    model = OutputFileDatasetConfig("model")
    step("prep.py", ["--out", registered])
    step("train.py", ["--data", registered.as_input("train_data"), "--model", model])
    s3 = step("score.py", ["--model", model.as_input("m")])
    spec = Pipeline(ws, [s3]).to_spec()  # resolve_closure finds the producers through the edges
    by = {s["name"]: s for s in spec["steps"]}
    assert [s["name"] for s in spec["steps"]] == ["prep", "train", "score"]
    assert [o["name"] for o in by["prep"]["outputs"]] == ["prepped"]
    assert by["prep"]["arguments"] == [{"literal": "--out"}, {"output": "prepped"}]
    assert by["train"]["upstream"] == ["prep"] and by["score"]["upstream"] == ["train"]
    (inp,) = by["train"]["inputs"]
    assert (
        inp["name"] == "train_data" and inp["kind"] == "pipeline_data" and inp["tabular"]["separator"] == ";"
    )
    data = spec["data"]["prepped"]
    assert data["destination"] == "out/{run-id}/{output-name}"
    assert data["overwrite"] is True and data["source_globs"] == ["*.csv"]
    assert data["register"] == {"name": "prepped_table", "description": "d", "tags": {"k": "v"}}
    assert data["read_as"]["type"] == "tabular"
    assert spec["data"]["model"]["destination"] is None and spec["data"]["model"]["register"] is None
    assert spec["default_datastore"] == ds.name


def test_an_output_produced_by_two_steps_is_an_error(ws):
    out = OutputFileDatasetConfig("twice")
    with pytest.raises(PipelineValidationError, match=r"'twice' is an output of two steps"):
        Pipeline(ws, [step("prep.py", [out]), step("train.py", [out])]).to_spec()


def test_destination_and_options_are_checked():
    ws = Workspace.from_config()
    ds = ws.get_default_datastore()
    with pytest.raises(UserErrorException, match=r"destination must be a \(Datastore, 'path'\) tuple"):
        OutputFileDatasetConfig("o", destination="somewhere")
    with pytest.raises(UserErrorException, match=r"holds \['\{run_id\}'\]; the only placeholders are"):
        OutputFileDatasetConfig("o", destination=(ds, "x/{run_id}"))
    with pytest.raises(DatastoreError, match="points outside the datastore"):
        OutputFileDatasetConfig("o", destination=(ds, "../x"))
    with pytest.raises(UserErrorException, match="partition_format is not supported"):
        OutputFileDatasetConfig("o", partition_format="{x}/a.csv")
    with pytest.raises(UserErrorException, match="source_globs must be a list"):
        OutputFileDatasetConfig("o").as_upload(source_globs="*.csv")
    with pytest.raises(UserErrorException, match=r"dataset name 'bad name' is invalid"):
        OutputFileDatasetConfig("o").register_on_complete("bad name")
    assert OutputFileDatasetConfig().name.startswith("output_")
    assert destination_path("a/{run-id}/{output-name}", "manual__2026:01", "o") == "a/manual__2026_01/o"


def test_pipeline_data_as_dataset_parses_tables(ws):
    pd = PipelineData("table")
    s1 = step("prep.py", ["--out", pd], outputs=[pd])
    s2 = step(
        "train.py",
        [
            "--in",
            pd.as_dataset().parse_delimited_files(separator="\t", file_extension=".tsv").as_named_input("t"),
        ],
    )
    spec = Pipeline(ws, [s1, s2]).to_spec()
    (inp,) = spec["steps"][1]["inputs"]
    assert (
        inp["name"] == "t"
        and inp["tabular"]["separator"] == "\t"
        and inp["tabular"]["path_glob"] == "**/*.tsv"
    )


def test_source_globs_and_tabular_inputs_pick_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for rel in ("a.csv", "b.txt", "sub/c.csv"):
        (tmp_path / rel).write_text("x")
    keep_matching(tmp_path, ["**/*.csv"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.csv",
        "sub/c.csv",
    ]
    files = [tmp_path / "a.csv", tmp_path / "sub/c.csv"]
    got = tabular_input(tmp_path, files, {"separator": ",", "path_glob": "sub/*.csv"})
    assert got["files"] == [str(tmp_path / "sub/c.csv")] and "path_glob" not in got["options"]


def test_local_publish_replaces_a_folder_whole_and_respects_overwrite(tmp_path):
    ws = Workspace.from_config()
    store = ws.get_default_datastore().store
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "a.txt").write_text("1")
    (first / "old.txt").write_text("1")
    (second / "a.txt").write_text("2")
    listed = store.publish_dir(first, "dest/out", overwrite=False)
    assert sorted(f.path for f in listed) == ["dest/out/a.txt", "dest/out/old.txt"]
    with pytest.raises(DatastoreError, match=r"already holds 2 file\(s\); the output may not overwrite"):
        store.publish_dir(second, "dest/out", overwrite=False)
    listed = store.publish_dir(second, "dest/out", overwrite=True)
    assert [f.path for f in listed] == ["dest/out/a.txt"]
    assert store.read_bytes("dest/out/a.txt") == b"2"
    assert [f.path for f in store.list("dest")] == ["dest/out/a.txt"]  # no temp folder left or listed
