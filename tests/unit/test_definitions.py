from __future__ import annotations

import json
import warnings

import pytest

from airflow_mlpipe import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    Dataset,
    Datastore,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.exceptions import DatastoreError, WorkspaceConfigError


@pytest.mark.parametrize(
    ("default", "type_name"), [(10, "int"), (0.5, "float"), (True, "bool"), ("x", "str")]
)
def test_parameter_types_follow_the_default(default, type_name):
    assert PipelineParameter("p", default_value=default).type_name == type_name


@pytest.mark.parametrize("bad", [None, [1], {"a": 1}, b"x", object()])
def test_parameter_rejects_other_defaults_naming_the_parameter(bad):
    with pytest.raises(UserErrorException, match=r"PipelineParameter 'p': default_value of type"):
        PipelineParameter("p", default_value=bad)


def test_parameter_name_is_checked():
    with pytest.raises(UserErrorException, match="may only contain"):
        PipelineParameter("a b", 1)


def test_embedded_workspace_has_the_builtin_datastores(tmp_path):
    ws = Workspace.from_config()
    assert set(ws.datastores) == {"workspaceblobstore", "workspacefilestore"}
    store = ws.get_default_datastore()
    assert store.name == "workspaceblobstore"
    assert store.datastore_type == "Local"
    assert store.spec["path"].startswith(str(tmp_path / "mlpipe-home" / "workspace"))


def test_config_file_defines_datastores_and_is_found_from_a_subfolder(tmp_path, monkeypatch):
    (tmp_path / "mlpipe.json").write_text(
        json.dumps(
            {
                "workspace_name": "team",
                "default_datastore": "lake",
                "datastores": {
                    "lake": {"type": "azure_blob", "conn_id": "azure_blob", "container": "data"},
                    "scratch": {"type": "local", "path": "scratch"},
                },
            }
        )
    )
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    ws = Workspace.from_config()
    assert ws.name == "team"
    assert ws.get_default_datastore().datastore_type == "AzureBlob"
    assert ws.get_default_datastore().container_name == "data"
    assert Datastore(ws, "scratch").spec["path"] == str(tmp_path / "scratch")


@pytest.mark.parametrize(
    ("datastores", "message"),
    [
        (
            {"x": {"type": "azure_blob", "conn_id": "c", "container": "k", "account_key": "s3cr3t"}},
            "must not be in the config",
        ),
        ({"x": {"type": "azure_file", "share": "s"}}, "type 'azure_file' is not supported"),
        ({"x": {"type": "azure_blob", "container": "k"}}, r"missing \['conn_id'\]"),
        ({"x": {"type": "local", "path": "p", "colour": "red"}}, r"unknown \['colour'\]"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_datastore(tmp_path, datastores, message):
    (tmp_path / "mlpipe.json").write_text(json.dumps({"datastores": datastores}))
    with pytest.raises(WorkspaceConfigError, match=message) as err:
        Workspace.from_config()
    assert "datastore 'x'" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_mlpipe_config_env_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPIPE_CONFIG", str(tmp_path / "nope.json"))
    with pytest.raises(WorkspaceConfigError, match="MLPIPE_CONFIG points to"):
        Workspace.from_config()


def test_compute_target_unknown_then_created_maps_to_a_pool():
    ws = Workspace.from_config()
    with pytest.raises(ComputeTargetException, match="'cpu' not found"):
        ComputeTarget(workspace=ws, name="cpu")
    cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=3)
    target = ComputeTarget.create(ws, "cpu", cfg)
    target.wait_for_completion(show_output=True)
    again = ComputeTarget(ws, "cpu")
    assert isinstance(again, AmlCompute)
    assert again.pool_slots == 3
    assert set(ws.compute_targets) == {"cpu"}


def test_provisioning_options_that_cannot_be_honoured_are_errors():
    with pytest.raises(ComputeTargetException, match="vnet_name"):
        AmlCompute.provisioning_configuration(max_nodes=2, vnet_name="net")
    with pytest.raises(ComputeTargetException, match="max_nodes"):
        AmlCompute.provisioning_configuration(max_nodes=0)


def test_upload_files_keeps_existing_files_unless_overwrite(tmp_path, capsys):
    ws = Workspace.from_config()
    store = Datastore(ws, "workspaceblobstore")
    f = tmp_path / "a.csv"
    f.write_text("v1")
    ref = store.upload_files([str(f)], target_path="data", overwrite=False)
    assert ref.path_on_datastore == "data"
    f.write_text("v2")
    store.upload_files([str(f)], target_path="data", overwrite=False)
    assert "Skipping" in capsys.readouterr().out
    stored = store.store.root / "data" / "a.csv"
    assert stored.read_text() == "v1"
    store.upload_files([str(f)], target_path="data", overwrite=True)
    assert stored.read_text() == "v2"
    with pytest.raises(DatastoreError, match="outside the datastore"):
        store.upload_files([str(f)], target_path="../escape")


def test_datasets_validate_their_paths(tmp_path):
    ws = Workspace.from_config()
    store = ws.get_default_datastore()
    with pytest.raises(UserErrorException, match="matches no file"):
        Dataset.File.from_files([(store, "missing/x.csv")])
    Dataset.File.from_files([(store, "missing/x.csv")], validate=False)
    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,y\n")
    store.upload_files([str(tmp_path / "t.csv")], target_path="tables")
    table = Dataset.Tabular.from_delimited_files([(store, "tables/*.csv")])
    frame = table.to_pandas_dataframe()
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    with pytest.raises(UserErrorException, match=r"give an http\(s\) URL or a datastore path"):
        Dataset.File.from_files("local/x.csv")
    with pytest.raises(
        UserErrorException, match=r"dataset URL https://example.invalid/x.csv: cannot be read"
    ):
        Dataset.File.from_files("https://example.invalid/x.csv")
    web = Dataset.File.from_files("https://example.invalid/x.csv", validate=False)
    assert web.to_path() == ["/x.csv"] and web.to_spec()["paths"] == [
        {"url": "https://example.invalid/x.csv"}
    ]
    with pytest.raises(UserErrorException, match=r"x.csv\?a=1: it carries credentials"):
        Dataset.File.from_files("https://host.invalid/x.csv?a=1&sv=1&sig=SECRET", validate=False)


def test_pipeline_data_and_step_arguments_are_checked():
    with pytest.raises(UserErrorException, match="output_mode"):
        PipelineData("x", output_mode="stream")
    with pytest.raises(UserErrorException, match="invalid"):
        PipelineData("bad name")
    with pytest.raises(UserErrorException, match="runconfig must be a RunConfiguration"):
        PythonScriptStep("a.py", runconfig=object())
    with pytest.raises(UserErrorException, match="distributed TensorFlow is not supported"):
        PythonScriptStep("a.py", runconfig_pipeline_params={"TensorflowWorkerCount": 2})
    with pytest.raises(UserErrorException, match="not a runconfig property"):
        PythonScriptStep("a.py", runconfig_pipeline_params={"Color": 2})
    with pytest.raises(UserErrorException, match="allow_reuse"):
        PythonScriptStep("a.py", allow_reuse="yes")


def test_hash_paths_warns_as_deprecated_like_v1():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PythonScriptStep("a.py", hash_paths=["x"])
    assert any(issubclass(w.category, DeprecationWarning) and "hash_paths" in str(w.message) for w in caught)


def test_step_name_defaults_to_script_name():
    assert PythonScriptStep("train.py").name == "train.py"


def test_step_sequence_orders_steps_and_groups(tmp_path):
    from helpers import write_scripts

    from airflow_mlpipe import Pipeline, PythonScriptStep, StepSequence, Workspace
    from airflow_mlpipe.exceptions import UserErrorException

    src = write_scripts(tmp_path / "src", ["a.py", "b.py", "c.py", "d.py"])
    a, b, c, d = (PythonScriptStep(f"{n}.py", name=n, source_directory=src) for n in "abcd")
    spec = Pipeline(Workspace.from_config(), steps=StepSequence(steps=[a, [b, c], d])).to_spec()
    upstream = {s["name"]: s["upstream"] for s in spec["steps"]}
    assert upstream == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    with pytest.raises(UserErrorException, match="is not a step"):
        StepSequence(steps=[a, "b.py"])
