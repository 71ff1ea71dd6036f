"""Model: v1's model registry on the embedded workspace's local default datastore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_mlpipe import Dataset, Datastore, Model, Run, UserErrorException, Workspace
from airflow_mlpipe.definitions.model import ModelNotFoundException


@pytest.fixture
def ws():
    return Workspace.from_config()


def _write(path: Path, data: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    return path


def test_register_a_file_then_download_it(ws, tmp_path):
    _write(tmp_path / "model.pkl", "weights-1")
    m = Model.register(
        ws,
        "model.pkl",
        "churn",
        tags={"area": "sales"},
        properties={"auc": "0.9"},
        description="first",
        model_framework=Model.Framework.SCIKITLEARN,
        model_framework_version="1.5",
    )
    assert (m.name, m.version, m.id) == ("churn", 1, "churn:1")
    assert m.tags == {"area": "sales"} and m.properties == {"auc": "0.9"}
    assert (m.description, m.model_framework, m.model_framework_version) == ("first", "ScikitLearn", "1.5")
    assert m.run_id is None and m.experiment_name is None and m.created_time.tzinfo is not None
    assert "mlpipe/registry/models/churn/files/" in m.url

    path = m.download("dl")
    assert path == os.path.join("dl", "model.pkl")  # one file: the file itself, as v1
    assert Path(path).read_text() == "weights-1"
    with pytest.raises(UserErrorException, match="already exists; pass exist_ok=True"):
        m.download("dl")
    assert m.download("dl", exist_ok=True) == path


def test_register_a_folder_and_child_paths(ws, tmp_path):
    _write(tmp_path / "net" / "config.json", "{}")
    _write(tmp_path / "net" / "weights" / "a.bin", "aa")
    _write(tmp_path / "net" / "weights" / "b.bin", "bbb")
    _write(tmp_path / "net" / "scratch.txt", "not part of the model")
    whole = Model.register(ws, str(tmp_path / "net"), "net")
    folder = Path(whole.download(str(tmp_path / "all")))
    assert folder == tmp_path / "all" / "net"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "config.json",
        "scratch.txt",
        "weights/a.bin",
        "weights/b.bin",
    ]
    some = Model.register(ws, "net", "net", child_paths=["config.json", "weights"])
    assert some.version == 2
    folder = Path(some.download("some"))
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "config.json",
        "weights/a.bin",
        "weights/b.bin",
    ]
    with pytest.raises(UserErrorException, match="child path 'missing.bin' cannot be found"):
        Model.register(ws, "net", "net", child_paths=["missing.bin"])
    with pytest.raises(UserErrorException, match=r"child path '\.\./elsewhere' cannot be found"):
        Model.register(ws, "net", "net", child_paths=["../elsewhere"])
    assert [m.version for m in Model.list(ws, "net")] == [2, 1]  # failed registrations add nothing


def test_versions_increase_and_stay_immutable(ws, tmp_path):
    source = _write(tmp_path / "m.txt", "v1")
    first = Model.register(ws, "m.txt", "m")
    source.write_text("v2, a new training")
    second = Model.register(ws, "m.txt", "m")
    assert (first.version, second.version) == (1, 2)
    assert first.url != second.url  # each version owns its files
    assert Model(ws, "m").version == 2
    assert Path(Model(ws, "m", version=1).download("old")).read_text() == "v1"
    assert Path(Model(ws, id="m:2").download("new")).read_text() == "v2, a new training"
    first.add_tags({"stage": "retired"})  # metadata changes, the files do not
    assert Path(Model(ws, "m", version=1).download("again")).read_text() == "v1"


def test_list_filters_as_v1(ws, tmp_path):
    _write(tmp_path / "f.bin", "x")
    Model.register(ws, "f.bin", "a", tags={"team": "x", "stage": "dev"}, properties={"kind": "tree"})
    Model.register(ws, "f.bin", "a", tags={"team": "x", "stage": "prod"}, model_framework="Onnx")
    Model.register(ws, "f.bin", "b", tags={"team": "y"})

    def ids(**kw):
        return [m.id for m in Model.list(ws, **kw)]

    assert ids() == ["b:1", "a:2", "a:1"]  # newest first
    assert ids(name="a") == ["a:2", "a:1"]
    assert ids(latest=True) == ["b:1", "a:2"]
    assert ids(tags=["team"]) == ["b:1", "a:2", "a:1"]
    assert ids(tags=[["team", "x"]]) == ["a:2", "a:1"]
    assert ids(tags=["stage", ["team", "x"], ["stage", "dev"]]) == ["a:1"]
    assert ids(properties=[["kind", "tree"]]) == ["a:1"]
    assert ids(model_framework="Onnx") == ["a:2"]
    assert ids(name="nobody") == []
    assert ids(run_id="dag/run/task") == []
    # the constructor gives the newest version that matches
    assert Model(ws, "a", tags=[["stage", "dev"]]).version == 1
    with pytest.raises(ModelNotFoundException, match="no version of model 'a' matches"):
        Model(ws, "a", tags=[["stage", "qa"]])
    with pytest.raises(UserErrorException, match="tags must be a list"):
        Model.list(ws, tags={"team": "x"})
    with pytest.raises(UserErrorException, match="page_count must be between 20 and 255"):
        Model.list(ws, page_count=5)


def test_tags_and_properties(ws, tmp_path):
    _write(tmp_path / "f.bin", "x")
    m = Model.register(ws, "f.bin", "tagged", tags={"a": "1", "b": "2"}, properties={"p": "1"})
    m.add_tags({"a": "10", "c": "3"})
    m.remove_tags(["b"])
    m.add_properties({"q": "2"})
    stored = Model(ws, "tagged")
    assert stored.tags == m.tags == {"a": "10", "c": "3"}
    assert stored.properties == m.properties == {"p": "1", "q": "2"}
    with pytest.raises(UserErrorException, match=r"tagged:1 already has the properties \['p'\]"):
        m.add_properties({"p": "changed"})
    assert Model(ws, "tagged").properties["p"] == "1"
    m.update(tags={"only": "this"}, description="described")
    again = Model(ws, "tagged")
    assert (again.tags, again.description) == ({"only": "this"}, "described")


def test_datasets_are_recorded(ws, tmp_path):
    _write(tmp_path / "f.bin", "x")
    store = ws.get_default_datastore()
    _write(Path(store.spec["path"]) / "train" / "rows.csv", "a\n1\n")
    files = Dataset.File.from_files((Datastore.get(ws, store.name), "train"))
    files.name, files.version, files.id = "train-set", 3, "ds-123"  # as a registered dataset carries
    m = Model.register(ws, "f.bin", "with-data", datasets=[("training data", files)])
    ref = Model(ws, "with-data").datasets["training data"][0]
    assert m.datasets == Model(ws, "with-data").datasets
    assert (ref["dataset_name"], ref["dataset_version"], ref["dataset_id"]) == ("train-set", 3, "ds-123")
    assert ref["paths"] == [{"datastore": store.name, "path": "train"}]
    assert [x.id for x in Model.list(ws, dataset_id="ds-123")] == ["with-data:1"]
    with pytest.raises(UserErrorException, match=r"datasets\[0\] must be a \(relation, dataset\) pair"):
        Model.register(ws, "f.bin", "with-data", datasets=[files])


def test_get_model_path_outside_a_step(ws, tmp_path):
    _write(tmp_path / "model.pkl", "one")
    Model.register(ws, "model.pkl", "scorer")
    _write(tmp_path / "model.pkl", "two")
    Model.register(ws, "model.pkl", "scorer")
    # with a workspace: downloaded into the v1 cache folder
    latest = Model.get_model_path("scorer", _workspace=ws)
    assert latest == os.path.join("azureml-models", "scorer", "2", "model.pkl")
    assert Path(latest).read_text() == "two"
    first = Model.get_model_path("scorer", version=1, _workspace=ws)
    assert Path(first).read_text() == "one"
    # without one (v1): only the cache, then ./<name>
    assert Model.get_model_path("scorer") == latest
    assert Model.get_model_path("scorer", version=1) == first
    _write(tmp_path / "loose", "a model file next to the script")
    assert Model.get_model_path("loose") == "loose"
    with pytest.raises(ModelNotFoundException, match="model 'other' .*pass _workspace=ws"):
        Model.get_model_path("other")
    with pytest.raises(ModelNotFoundException, match="'scorer' has no version 5"):
        Model.get_model_path("scorer", version=5, _workspace=ws)
    with pytest.raises(UserErrorException, match="version should be an int"):
        Model.get_model_path("scorer", version="1")


def test_unknown_names_versions_and_ids_are_clear(ws, tmp_path):
    with pytest.raises(ModelNotFoundException, match=r"no model named 'ghost' .*none is registered"):
        Model(ws, "ghost")
    _write(tmp_path / "f.bin", "x")
    Model.register(ws, "f.bin", "real")
    with pytest.raises(ModelNotFoundException, match=r"no model named 'ghost' .*registered: real"):
        Model(ws, "ghost", version=1)
    with pytest.raises(ModelNotFoundException, match="model 'real' has no version 4; its versions: 1"):
        Model(ws, "real", version=4)
    with pytest.raises(ModelNotFoundException, match="model 'real' has no version 9"):
        Model(ws, id="real:9")
    with pytest.raises(UserErrorException, match="not of the form '<name>:<version>'"):
        Model(ws, id="real")
    with pytest.raises(UserErrorException, match="give the name or the id"):
        Model(ws)
    assert isinstance(ModelNotFoundException("x"), UserErrorException)


def test_bad_and_unsupported_arguments_are_named(ws, tmp_path):
    _write(tmp_path / "f.bin", "x")
    for arg in ("resource_configuration", "sample_input_dataset", "sample_output_dataset"):
        with pytest.raises(UserErrorException, match=f"{arg} is not supported"):
            Model.register(ws, "f.bin", "m", **{arg: object()})
    with pytest.raises(UserErrorException, match="model_path 'nowhere.pkl' cannot be found"):
        Model.register(ws, "nowhere.pkl", "m")
    with pytest.raises(UserErrorException, match="model_framework_version needs model_framework"):
        Model.register(ws, "f.bin", "m", model_framework_version="1.0")
    with pytest.raises(UserErrorException, match="tags must be a dict"):
        Model.register(ws, "f.bin", "m", tags=["a"])
    with pytest.raises(UserErrorException, match="model name 'bad name' is invalid"):
        Model.register(ws, "f.bin", "bad name")
    assert Model.list(ws) == []  # nothing was registered
    m = Model.register(ws, "f.bin", "m")
    with pytest.raises(UserErrorException, match="resource_configuration is not supported"):
        m.update(resource_configuration=object())
    with pytest.raises(UserErrorException, match="immutable"):
        m.delete()


def test_run_register_model_needs_a_step(ws, monkeypatch):
    monkeypatch.delenv("MLPIPE_RUN_CONTEXT", raising=False)
    with pytest.raises(UserErrorException, match=r"needs a pipeline step.*Model\.register"):
        Run.get_context().register_model("m", "outputs/model.pkl")


def test_serialize_round_trip(ws, tmp_path):
    _write(tmp_path / "f.bin", "x")
    m = Model.register(ws, "f.bin", "ser", tags={"a": "1"}, model_framework="Onnx")
    payload = m.serialize()
    assert (payload["id"], payload["framework"], payload["tags"]) == ("ser:1", "Onnx", {"a": "1"})
    back = Model.deserialize(ws, payload)
    assert back.serialize() == payload
    assert Path(back.download("d")).read_text() == "x"


def test_v1_paths_reach_the_same_class():
    from airflow_mlpipe.v1.core import Model as CoreModel
    from airflow_mlpipe.v1.core.model import Model as ModuleModel

    assert CoreModel is ModuleModel is Model
