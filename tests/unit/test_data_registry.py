"""Registered datasets (register, get_by_name, get_by_id, get_all, ws.datasets), pinned versions,
dataset-valued parameters and their run values (Python, REST body, Airflow conf)."""

from __future__ import annotations

import threading

import pytest

from airflow_mlpipe import Dataset, DatasetConsumptionConfig, PipelineParameter, UserErrorException, Workspace
from airflow_mlpipe.definitions.parameter import coerce_dataset, coerce_param
from airflow_mlpipe.definitions.registered import registry
from airflow_mlpipe.registry.submission import build_conf
from airflow_mlpipe.reuse.decide import bind_inputs
from airflow_mlpipe.storage.assets import AssetConflict, AssetNotFound


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.from_config()
    src = tmp_path / "src"
    (src / "folder").mkdir(parents=True)
    (src / "one.csv").write_text("a,b\n1,2\n")
    (src / "folder" / "x.txt").write_text("x")
    (src / "folder" / "y.txt").write_text("y")
    ws.get_default_datastore().upload(str(src), "data", show_progress=False)
    return ws


def test_register_gives_versions_ids_and_reads_back_by_name_version_and_id(ws):
    ds = ws.get_default_datastore()
    first = Dataset.File.from_files((ds, "data/folder")).register(ws, "images", "the images", {"team": "a"})
    assert (first.name, first.version) == ("images", 1)
    assert first.id and first.description == "the images" and first.tags == {"team": "a"}
    # an unchanged definition returns the latest version instead of a new one
    again = Dataset.File.from_files((ds, "data/folder")).register(ws, "images", create_new_version=True)
    assert again.version == 1 and again.id == first.id
    # another definition under the same name needs create_new_version=True (v1's rule)
    with pytest.raises(
        UserErrorException, match=r"dataset 'images' is already registered .*create_new_version=True"
    ):
        Dataset.File.from_files((ds, "data/one.csv")).register(ws, "images")
    second = Dataset.File.from_files((ds, "data/one.csv")).register(ws, "images", create_new_version=True)
    assert second.version == 2
    assert Dataset.get_by_name(ws, "images").version == 2
    v1 = Dataset.get_by_name(ws, "images", version=1)
    assert v1.to_path() == ["/x.txt", "/y.txt"]
    assert Dataset.get_by_id(ws, first.id).version == 1
    assert set(Dataset.get_all(ws)) == {"images"} and ws.datasets["images"].version == 2
    tab = Dataset.Tabular.from_delimited_files((ds, "data/one.csv")).register(ws, "table")
    back = Dataset.get_by_name(ws, "table")
    assert type(back).__name__ == "TabularDataset"
    assert back.to_pandas_dataframe().to_dict("list") == {"a": [1], "b": [2]}
    assert tab.id == back.id


def test_unknown_names_versions_and_ids_are_named_in_the_error(ws):
    ds = ws.get_default_datastore()
    with pytest.raises(AssetNotFound, match=r"no dataset named 'nope' .*none is registered"):
        Dataset.get_by_name(ws, "nope")
    Dataset.File.from_files((ds, "data/one.csv")).register(ws, "known")
    with pytest.raises(AssetNotFound, match=r"no dataset named 'nope' .*registered: known"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(AssetNotFound, match=r"dataset 'known' has no version 7; its versions: 1"):
        Dataset.get_by_name(ws, "known", version=7)
    with pytest.raises(UserErrorException, match=r"version 'two' is not a version number"):
        Dataset.get_by_name(ws, "known", version="two")
    with pytest.raises(AssetNotFound, match=r"no dataset with id 'f00'"):
        Dataset.get_by_id(ws, "f00")
    with pytest.raises(UserErrorException, match=r"dataset name 'a b' is invalid"):
        Dataset.File.from_files((ds, "data/one.csv")).register(ws, "a b")


def test_a_version_reads_the_data_it_was_registered_with_or_fails_clearly(ws, tmp_path):
    ds = ws.get_default_datastore()
    Dataset.File.from_files((ds, "data/one.csv")).register(ws, "pinned")
    got = Dataset.get_by_name(ws, "pinned").download(str(tmp_path / "d1"))
    assert open(got[0]).read() == "a,b\n1,2\n"
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "one.csv").write_text("a,b\n9,9\n")
    ds.upload(str(changed), "data", overwrite=True, show_progress=False)
    with pytest.raises(UserErrorException, match=r"dataset 'pinned' version 1: its data changed or is gone"):
        Dataset.get_by_name(ws, "pinned").download(str(tmp_path / "d2"))
    # registering the data there now makes version 2, which reads it
    new = Dataset.File.from_files((ds, "data/one.csv")).register(ws, "pinned", create_new_version=True)
    assert new.version == 2
    assert open(new.download(str(tmp_path / "d3"))[0]).read() == "a,b\n9,9\n"


def test_concurrent_registrations_get_distinct_versions(ws, tmp_path):
    ds = ws.get_default_datastore()
    for i in range(6):
        (tmp_path / "many").mkdir(exist_ok=True)
        (tmp_path / "many" / f"f{i}.txt").write_text(str(i))
    ws.get_default_datastore().upload(str(tmp_path / "many"), "many", show_progress=False)
    versions: list[int] = []

    def reg(i: int) -> None:
        d = Dataset.File.from_files((ds, f"many/f{i}.txt")).register(ws, "race", create_new_version=True)
        versions.append(d.version)

    threads = [threading.Thread(target=reg, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert registry(ws).versions("race") == [1, 2, 3, 4, 5, 6]


def test_a_registration_that_lost_the_race_decides_again_on_the_new_latest(ws):
    """``add`` refuses a stale ``expect_latest`` (the HTTP route's 409); ``register`` then reads
    the version that came first and reuses it when it is the same record, or adds after it."""
    reg = registry(ws)
    first = reg.add("raced", {"v": "a"}, expect_latest=0)
    with pytest.raises(AssetConflict, match="version 1 was registered after version 0 was read"):
        reg.add("raced", {"v": "b"}, expect_latest=0)
    assert reg.versions("raced") == [1]

    class Overtaken(type(reg)):
        """Another registration of the same record lands between the read and the first add."""

        overtaken = False

        def add(self, name, record, expect_latest=None):
            if not self.overtaken:
                self.overtaken = True
                super().add(name, record, expect_latest)
            return super().add(name, record, expect_latest)

    racing = Overtaken(reg.store, reg.kind, reg.label)
    same = racing.register("raced", {"v": "c"}, reuse_latest=lambda latest: latest["v"] == "c")
    assert same["version"] == 2 and reg.versions("raced") == [1, 2]  # the winner's version, reused
    racing.overtaken = False
    after = racing.register("raced", {"v": "d"})
    assert after["version"] == 4 and reg.get("raced")["v"] == "d" and first["version"] == 1
    racing.overtaken = False
    with pytest.raises(UserErrorException, match="already registered .* create_new_version=True"):
        racing.register("fresh", {"v": "e"}, create_new_version=False)  # the winner made it exist
    assert reg.versions("fresh") == [1]


def test_file_dataset_download_to_path_and_mount(ws, tmp_path):
    ds = ws.get_default_datastore()
    folder = Dataset.File.from_files((ds, "data/folder"))
    assert folder.to_path() == ["/x.txt", "/y.txt"]
    files = folder.download(str(tmp_path / "out"))
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["x.txt", "y.txt"]
    with pytest.raises(UserErrorException, match=r"2 file\(s\) already exist .*overwrite=True"):
        folder.download(str(tmp_path / "out"))
    assert len(folder.download(str(tmp_path / "out"), overwrite=True)) == 2
    with folder.mount() as ctx:
        mounted = ctx.mount_point
        assert sorted(p.name for p in __import__("pathlib").Path(mounted).iterdir()) == ["x.txt", "y.txt"]
    assert not __import__("os").path.exists(mounted)


def test_dataset_parameter_values_in_every_form():
    assert coerce_dataset("p", {"SavedDataSetReference": {"Id": "abc"}}) == {"id": "abc"}
    assert coerce_dataset("p", {"id": "abc"}) == {"id": "abc"}
    assert coerce_dataset("p", {"name": "n"}) == {"name": "n", "version": "latest"}
    assert coerce_dataset("p", {"name": "n", "version": 3}) == {"name": "n", "version": 3}
    assert coerce_dataset("p", {"DataPath": {"DataStoreName": "s", "RelativePath": "/a/b"}}) == {
        "datastore": "s",
        "path": "a/b",
    }
    spec = {"type": "file", "paths": [{"datastore": "s", "path": "x"}], "options": {}}
    assert coerce_param("p", "dataset", {"dataset": spec}) == {"dataset": spec}
    for bad in [
        1,
        "x",
        {"name": ""},
        {"id": 3},
        {"dataset": {"type": "other", "paths": []}},
        {"name": "n", "version": "v"},
    ]:
        with pytest.raises(UserErrorException, match=r"parameter 'p' in here: .* is not a dataset"):
            coerce_param("p", "dataset", bad, where="here")


def test_dataset_parameter_spec_and_binding_per_run(ws):
    from airflow_mlpipe import Pipeline, PythonScriptStep

    ds = ws.get_default_datastore()
    v1 = Dataset.File.from_files((ds, "data/one.csv")).register(ws, "train")
    v2 = Dataset.File.from_files((ds, "data/folder")).register(ws, "train", create_new_version=True)
    param = PipelineParameter("train_data", default_value=v1)
    assert param.type_name == "dataset"
    src = __import__("pathlib").Path("steps")
    src.mkdir()
    (src / "s.py").write_text("print(1)\n")
    step = PythonScriptStep(
        "s.py",
        name="s",
        source_directory="steps",
        arguments=["--in", DatasetConsumptionConfig("data", param).as_mount()],
    )
    spec = Pipeline(ws, [step]).to_spec()
    assert spec["parameters"]["train_data"]["type"] == "dataset"
    assert spec["parameters"]["train_data"]["default"]["dataset"]["registered"]["version"] == 1
    (inp,) = spec["steps"][0]["inputs"]
    assert inp["kind"] == "dataset_param" and inp["mode"] == "mount"
    pipeline = spec
    default = coerce_param("train_data", "dataset", spec["parameters"]["train_data"]["default"])
    bound = bind_inputs(spec["steps"][0], {"train_data": default}, pipeline)["inputs"][0]
    assert bound["kind"] == "dataset" and bound["dataset"]["paths"] == [
        {"datastore": ds.name, "path": "data/one.csv"}
    ]
    by_id = bind_inputs(spec["steps"][0], {"train_data": {"id": v2.id}}, pipeline)["inputs"][0]
    assert by_id["dataset"]["registered"]["version"] == 2
    by_name = bind_inputs(spec["steps"][0], {"train_data": {"name": "train", "version": "latest"}}, pipeline)
    assert by_name["inputs"][0]["dataset"]["paths"][0]["path"] == "data/folder"
    by_path = bind_inputs(
        spec["steps"][0], {"train_data": {"datastore": ds.name, "path": "data/folder"}}, pipeline
    )
    assert by_path["inputs"][0]["dataset"]["type"] == "file"
    with pytest.raises(
        UserErrorException, match=r"dataset parameter 'train_data': dataset 'train' has no version 9"
    ):
        bind_inputs(spec["steps"][0], {"train_data": {"name": "train", "version": 9}}, pipeline)
    with pytest.raises(
        UserErrorException, match=r"names datastore 'elsewhere', which the workspace does not define"
    ):
        bind_inputs(spec["steps"][0], {"train_data": {"datastore": "elsewhere", "path": "x"}}, pipeline)


def test_rest_body_dataset_assignments_become_conf():
    record = {
        "name": "pub",
        "parameters": {
            "data": {"type": "dataset", "default": {"dataset": {"type": "file", "paths": [], "options": {}}}},
            "n": {"type": "int", "default": 1},
        },
        "datastores": ["workspaceblobstore"],
        "steps": ["s"],
    }
    conf = build_conf(record, dataset_assignments={"data": {"SavedDataSetReference": {"Id": "i-1"}}})
    assert conf["data"] == {"id": "i-1"}
    conf = build_conf(
        record,
        dataset_assignments={
            "data": {"DataPath": {"DataStoreName": "workspaceblobstore", "RelativePath": "x"}}
        },
    )
    assert conf["data"] == {"datastore": "workspaceblobstore", "path": "x"}
    with pytest.raises(
        UserErrorException, match=r"'n' is not a dataset parameter .*its dataset parameters are \['data'\]"
    ):
        build_conf(record, dataset_assignments={"n": {"SavedDataSetReference": {"Id": "i"}}})
    with pytest.raises(
        UserErrorException,
        match=r"'data' is a dataset parameter; set it in DataSetDefinitionValueAssignments",
    ):
        build_conf(record, parameter_assignments={"data": "x"})
    with pytest.raises(UserErrorException, match=r"names datastore 'nowhere'"):
        build_conf(
            record,
            dataset_assignments={"data": {"DataPath": {"DataStoreName": "nowhere", "RelativePath": "x"}}},
        )
