"""DatabricksStep, the Databricks library classes and DatabricksCompute: v1's arguments and checks,
the spec a Databricks step operator reads, and a token that never lands in a file, spec or repr."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from airflow_mlpipe import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    DatabricksCompute,
    DatabricksStep,
    DataPath,
    EggLibrary,
    JarLibrary,
    MavenLibrary,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineValidationError,
    PyPiLibrary,
    RCranLibrary,
    RunConfiguration,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.exceptions import WorkspaceConfigError
from airflow_mlpipe.reuse.decide import settings_of

TOKEN = "dapi-not-a-real-token-0123456789"
NOTEBOOK = {"notebook_path": "/Users/me/prep", "compute_target": "dbx", "num_workers": 1}


def write_config(folder: Path, databricks: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlpipe.json"
    path.write_text(json.dumps({"workspace_name": "team", "databricks": databricks}))
    return path


@pytest.fixture
def ws(tmp_path):
    """A workspace whose Databricks workspace 'dbw' is reached through an existing Airflow connection."""
    config = write_config(
        tmp_path / "project",
        {"dbw": {"conn_id": "databricks_default", "mounts": {"workspaceblobstore": "/mnt/blob/"}}},
    )
    return Workspace.from_config(config)


@pytest.fixture
def dbx(ws):
    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="dbw")
    return ComputeTarget.attach(ws, "dbx", config)


# --- construction: v1's checks, each naming the step -------------------------------------------

INVALID = [
    (
        {"notebook_path": None},
        "Exactly one of notebook_path, python_script_path, python_script_name or main_class_name is required",
    ),
    (
        {"python_script_path": "dbfs:/x.py"},
        r"Exactly one of .* is required \(got notebook_path, python_script_path\)",
    ),
    (
        {"notebook_path": None, "python_script_name": "train.py"},
        "If python_script_name is specified then source_directory must be too",
    ),
    (
        {"notebook_path": None, "python_script_name": "/abs/train.py", "source_directory": "src"},
        "must be a path relative to source_directory",
    ),
    (
        {"notebook_path": None, "python_script_name": "../up.py", "source_directory": "src"},
        "must be a path relative to source_directory",
    ),
    ({"source_directory": "src"}, "source_directory goes with python_script_name only"),
    ({"notebook_path": 3}, "notebook_path must be a string"),
    (
        {"existing_cluster_id": "0101-abc"},
        r"If you specify existing_cluster_id, you can not specify any other cluster parameters \(got num_workers\)",
    ),
    (
        {"num_workers": None, "existing_cluster_id": "0101-abc", "spark_conf": {"a": "b"}},
        "can not specify any other cluster parameters",
    ),
    (
        {"node_type": "Standard_D3_v2", "instance_pool_id": "pool-1"},
        "Exactly one of node_type or instance_pool_id can be specified",
    ),
    ({"num_workers": None}, "one of num_workers or min_workers and max_workers is required"),
    (
        {"num_workers": None, "min_workers": 1},
        "one of num_workers or min_workers and max_workers is required",
    ),
    (
        {"min_workers": 1, "max_workers": 2},
        "exactly one of num_workers or min_workers and max_workers is required",
    ),
    (
        {"num_workers": None, "min_workers": 4, "max_workers": 2},
        r"min_workers \(4\) must not exceed max_workers \(2\)",
    ),
    ({"num_workers": "2"}, "num_workers must be an int"),
    ({"num_workers": True}, "num_workers must be an int"),
    ({"num_workers": -1}, "num_workers must be at least 0"),
    ({"spark_version": 10}, "spark_version must be a string"),
    ({"init_scripts": "dbfs:/init.sh"}, "init_scripts should be a list of strings"),
    ({"cluster_log_dbfs_path": 1}, "cluster_log_dbfs_path should be a string"),
    ({"spark_env_variables": ["A=1"]}, "spark_env_variables must be a dict"),
    ({"compute_target": None}, "compute_target is required"),
    ({"compute_target": "local"}, "runs on a DatabricksCompute, not 'local'"),
    ({"compute_target": 42}, "compute_target must be a DatabricksCompute or its name"),
    (
        {"runconfig": RunConfiguration(), "pypi_libraries": []},
        "Either pass runconfig or each library type as a separate parameter",
    ),
    ({"runconfig": RunConfiguration()}, "runconfig is not supported for a DatabricksStep"),
    ({"permit_cluster_restart": True}, "permit_cluster_restart applies only with existing_cluster_id"),
    (
        {"python_script_params": ["a"]},
        "python_script_params apply to python_script_path or python_script_name",
    ),
    (
        {"notebook_path": None, "main_class_name": "com.x.Main", "notebook_params": {"a": "b"}},
        "notebook_params apply to notebook_path",
    ),
    (
        {"notebook_path": None, "python_script_path": "dbfs:/x.py", "python_script_params": {"a", "b"}},
        "a set has no order",
    ),
    ({"notebook_params": {"a": [1]}}, r"notebook_params\['a'\] is a list"),
    ({"maven_libraries": [PyPiLibrary("x")]}, r"maven_libraries\[0\] must be a MavenLibrary"),
    ({"jar_libraries": JarLibrary("dbfs:/a.jar")}, "jar_libraries must be a list of JarLibrary"),
    ({"timeout_seconds": "60"}, "timeout_seconds must be an int"),
    ({"run_name": 1}, "run_name must be a string"),
]


@pytest.mark.parametrize(("changes", "message"), INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_arguments_are_refused_naming_the_step(changes, message):
    with pytest.raises(UserErrorException, match=message) as excinfo:
        DatabricksStep("db", **{**NOTEBOOK, **changes})
    assert str(excinfo.value).startswith("step 'db': ")


def test_name_is_required_as_in_v1():
    with pytest.raises(UserErrorException, match="name is required"):
        DatabricksStep(None, **NOTEBOOK)


def test_an_aml_compute_target_is_refused(ws):
    cpu = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
    with pytest.raises(UserErrorException, match="compute_target must be a DatabricksCompute"):
        DatabricksStep("db", **{**NOTEBOOK, "compute_target": cpu})


def test_hash_paths_warns_as_deprecated_like_v1():
    with pytest.warns(DeprecationWarning, match="hash_paths"):
        DatabricksStep("db", hash_paths=["x"], **NOTEBOOK)


def test_new_cluster_defaults_are_v1s():
    step = DatabricksStep("db", notebook_path="/n", compute_target="dbx", num_workers=0)
    assert step.cluster == {
        "new_cluster": {
            "spark_version": "10.4.x-scala2.12",
            "node_type_id": "Standard_D3_v2",
            "num_workers": 0,
        }
    }
    pooled = DatabricksStep(
        "db", notebook_path="/n", compute_target="dbx", num_workers=2, instance_pool_id="p1"
    )
    assert pooled.cluster == {
        "new_cluster": {"spark_version": "10.4.x-scala2.12", "instance_pool_id": "p1", "num_workers": 2}
    }
    assert step.permit_cluster_restart is False and step.allow_reuse is True and step.kind == "databricks"


def test_an_existing_cluster_with_restart_permitted():
    step = DatabricksStep(
        "db",
        notebook_path="/n",
        compute_target="dbx",
        existing_cluster_id="0101-abc",
        permit_cluster_restart=True,
    )
    assert step.cluster == {"existing_cluster_id": "0101-abc"} and step.permit_cluster_restart is True


# --- libraries ------------------------------------------------------------------------------------


def test_libraries_give_jobs_api_objects_without_empty_fields():
    assert MavenLibrary("org.jsoup:jsoup:1.7.2").to_jobs_api() == {
        "maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}
    }
    full = MavenLibrary("a:b:1", repo="https://repo.example/m2", exclusions=["c:d"])
    assert full.to_jobs_api() == {
        "maven": {"coordinates": "a:b:1", "repo": "https://repo.example/m2", "exclusions": ["c:d"]}
    }
    assert PyPiLibrary("pandas==2.2").to_jobs_api() == {"pypi": {"package": "pandas==2.2"}}
    assert PyPiLibrary("x", repo="https://pypi.example/simple").to_jobs_api() == {
        "pypi": {"package": "x", "repo": "https://pypi.example/simple"}
    }
    assert RCranLibrary("ggplot2").to_jobs_api() == {"cran": {"package": "ggplot2"}}
    assert EggLibrary("dbfs:/libs/a.egg").to_jobs_api() == {"egg": "dbfs:/libs/a.egg"}
    assert JarLibrary("dbfs:/libs/a.jar").to_jobs_api() == {"jar": "dbfs:/libs/a.jar"}
    assert JarLibrary("dbfs:/libs/a.jar") == JarLibrary("dbfs:/libs/a.jar") != EggLibrary("dbfs:/libs/a.jar")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MavenLibrary(), "coordinates must be a non-empty string"),
        (lambda: MavenLibrary("jsoup"), "coordinates must be 'group:artifact:version'"),
        (lambda: MavenLibrary("a:b:1", exclusions="c:d"), "exclusions must be a list"),
        (lambda: PyPiLibrary(""), "PyPiLibrary: package must be a non-empty string"),
        (lambda: PyPiLibrary("x", repo=3), "PyPiLibrary: repo must be a non-empty string"),
        (lambda: RCranLibrary(None), "RCranLibrary: package"),
        (lambda: JarLibrary("libs/a.jar"), "JarLibrary: library must be the URI"),
        (lambda: EggLibrary("dbfs:/my libs/a.egg"), "EggLibrary: library must be the URI"),
    ],
)
def test_libraries_validate_their_arguments(make, message):
    with pytest.raises(UserErrorException, match=message):
        make()


# --- the spec -------------------------------------------------------------------------------------


def test_notebook_step_with_parameters_and_data_in_a_pipeline(ws, dbx):
    alpha = PipelineParameter("alpha", default_value=3)
    store = ws.get_default_datastore()
    prepped = PipelineData("prepped", datastore=store)
    step = DatabricksStep(
        "prep",
        inputs=[store.path("raw/2024", data_reference_name="raw")],
        outputs=[prepped],
        notebook_path="/Users/me/prep",
        notebook_params={"alpha": alpha, "mode": "full"},
        compute_target=dbx,
        num_workers=2,
        run_name="prep-run",
        timeout_seconds=600,
    )
    spec = Pipeline(ws, [step]).to_spec()
    (entry,) = spec["steps"]
    assert entry["kind"] == "databricks" and entry["compute_target"] == "dbx"
    assert [i["name"] for i in entry["inputs"]] == ["raw"] and entry["inputs"][0]["path"] == "raw/2024"
    assert [o["name"] for o in entry["outputs"]] == ["prepped"]
    assert entry["settings"] == {
        "task": {"notebook_path": "/Users/me/prep"},
        "notebook_params": {"alpha": {"parameter": "alpha"}, "mode": {"literal": "full"}},
        "python_script_params": [],
        "jar_params": [],
        "cluster": {
            "new_cluster": {
                "spark_version": "10.4.x-scala2.12",
                "node_type_id": "Standard_D3_v2",
                "num_workers": 2,
            }
        },
        "libraries": [],
        "run_name": "prep-run",
        "timeout_seconds": 600,
        "permit_cluster_restart": False,
    }
    assert spec["parameters"]["alpha"] == {"type": "int", "default": 3}
    assert spec["data"]["prepped"]["producer"] == "prep"
    assert spec["compute_targets"] == {
        "dbx": {
            "name": "dbx",
            "type": "Databricks",
            "conn_id": "databricks_default",
            "mounts": {"workspaceblobstore": "/mnt/blob"},
        }
    }
    assert json.loads(json.dumps(spec)) == spec


def test_python_script_name_step_resolves_its_source_and_checks_the_script(ws, dbx, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    step = DatabricksStep(
        "train",
        python_script_name="jobs/train.py",
        source_directory=str(src),
        python_script_params=["--alpha", PipelineParameter("alpha", default_value=0.5), 7],
        compute_target="dbx",  # by name, looked up in the workspace
        num_workers=1,
    )
    with pytest.raises(
        PipelineValidationError, match=r"step 'train': script file .*jobs/train.py does not exist"
    ):
        Pipeline(ws, [step]).to_spec()
    (src / "jobs").mkdir()
    (src / "jobs" / "train.py").write_text("print('hi')\n")
    settings = Pipeline(ws, [step]).to_spec()["steps"][0]["settings"]
    assert settings["task"] == {"python_script_name": "jobs/train.py"}
    assert settings["source_directory"] == str(src.resolve())
    assert settings["python_script_params"] == [
        {"literal": "--alpha"},
        {"parameter": "alpha"},
        {"literal": 7},
    ]


def test_reuse_settings_do_not_depend_on_where_the_source_is(ws, dbx, tmp_path):
    specs = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.py").write_text("print(1)\n")
        step = DatabricksStep(
            "train",
            python_script_name="train.py",
            source_directory=str(tmp_path / folder),
            compute_target=dbx,
            num_workers=1,
        )
        specs.append(Pipeline(ws, [step]).to_spec()["steps"][0])
    assert specs[0]["settings"]["source_directory"] != specs[1]["settings"]["source_directory"]
    assert settings_of(specs[0]) == settings_of(specs[1])


def test_jar_step_with_libraries_in_v1_order(ws, dbx):
    step = DatabricksStep(
        "jar",
        main_class_name="com.example.Main",
        jar_params=["--date", PipelineParameter("date", default_value="2024-01-01")],
        rcran_libraries=[RCranLibrary("ggplot2")],
        jar_libraries=[JarLibrary("dbfs:/libs/main.jar")],
        egg_libraries=[EggLibrary("dbfs:/libs/x.egg")],
        pypi_libraries=[PyPiLibrary("pandas")],
        maven_libraries=[MavenLibrary("org.jsoup:jsoup:1.7.2")],
        compute_target=dbx,
        existing_cluster_id="0101-abc",
    )
    settings = Pipeline(ws, [step]).to_spec()["steps"][0]["settings"]
    assert settings["task"] == {"main_class_name": "com.example.Main"}
    assert settings["jar_params"] == [{"literal": "--date"}, {"parameter": "date"}]
    assert settings["cluster"] == {"existing_cluster_id": "0101-abc"}
    assert settings["libraries"] == [
        {"maven": {"coordinates": "org.jsoup:jsoup:1.7.2"}},
        {"pypi": {"package": "pandas"}},
        {"egg": "dbfs:/libs/x.egg"},
        {"jar": "dbfs:/libs/main.jar"},
        {"cran": {"package": "ggplot2"}},
    ]
    assert "source_directory" not in settings


def test_autoscale_and_the_other_cluster_settings_in_jobs_api_form():
    step = DatabricksStep(
        "db",
        python_script_path="dbfs:/jobs/run.py",
        compute_target="dbx",
        spark_version="13.3.x-scala2.12",
        node_type="Standard_DS3_v2",
        min_workers=1,
        max_workers=4,
        spark_env_variables={"PYSPARK_PYTHON": "/databricks/python3/bin/python3", "N": 3},
        spark_conf={"spark.speculation": "true"},
        init_scripts=["dbfs:/init/a.sh", "dbfs:/init/b.sh"],
        cluster_log_dbfs_path="dbfs:/logs",
    )
    assert step.cluster == {
        "new_cluster": {
            "spark_version": "13.3.x-scala2.12",
            "node_type_id": "Standard_DS3_v2",
            "autoscale": {"min_workers": 1, "max_workers": 4},
            "spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3", "N": "3"},
            "spark_conf": {"spark.speculation": "true"},
            "init_scripts": [
                {"dbfs": {"destination": "dbfs:/init/a.sh"}},
                {"dbfs": {"destination": "dbfs:/init/b.sh"}},
            ],
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs"}},
        }
    }


def test_spec_problems_name_the_step(ws, dbx):
    store = ws.get_default_datastore()
    cpu = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
    steps = [
        DatabricksStep(
            "clash",
            inputs=[store.path("a", data_reference_name="alpha")],
            notebook_params={"alpha": "1"},
            **{**NOTEBOOK, "compute_target": dbx},
        ),
        DatabricksStep("badname", inputs=[store.path("raw data")], **NOTEBOOK),
        DatabricksStep("oncpu", **{**NOTEBOOK, "compute_target": "cpu"}),
        DatabricksStep(
            "datapath",
            notebook_params={"where": PipelineParameter("where", default_value=DataPath(store, "x"))},
            **NOTEBOOK,
        ),
    ]
    with pytest.raises(PipelineValidationError) as excinfo:
        Pipeline(ws, steps).to_spec()
    text = "\n".join(excinfo.value.problems)
    assert "step 'clash': notebook_params key 'alpha' is also the name of an input" in text
    assert "step 'badname': input name 'raw data' cannot be a widget or '--raw data' argument" in text
    assert f"step 'oncpu': compute target {cpu.name!r} is a AmlCompute target" in text
    assert "step 'datapath': notebook_params['where'] is the datapath parameter 'where'" in text


# --- DatabricksCompute --------------------------------------------------------------------------------


def test_attach_with_a_connection_entry_stores_no_token(ws):
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="dbw", access_token=TOKEN
    )
    assert TOKEN not in repr(config) and config.access_token == TOKEN
    with pytest.warns(UserWarning, match="'databricks_default', which holds the credentials") as caught:
        target = ComputeTarget.attach(ws, "dbx", config)
    assert all(TOKEN not in str(w.message) for w in caught)
    assert isinstance(target, DatabricksCompute) and isinstance(ComputeTarget(ws, "dbx"), DatabricksCompute)
    assert isinstance(DatabricksCompute(ws, "dbx"), DatabricksCompute)
    stored = json.loads(ws._compute_file.read_text())
    assert stored == {
        "dbx": {
            "type": "Databricks",
            "conn_id": "databricks_default",
            "resource_group": "rg",
            "workspace_name": "dbw",
        }
    }
    assert target.to_spec() == {
        "name": "dbx",
        "type": "Databricks",
        "conn_id": "databricks_default",
        "mounts": {"workspaceblobstore": "/mnt/blob"},
    }
    step = DatabricksStep("db", **{**NOTEBOOK, "compute_target": target})
    everything = ws._compute_file.read_text() + repr(target) + json.dumps(Pipeline(ws, [step]).to_spec())
    assert TOKEN not in everything
    assert ws.compute_targets["dbx"].conn_id == "databricks_default"


def test_attach_by_resource_id(ws):
    rid = "/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Databricks/workspaces/dbw"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no token given: nothing to warn about
        target = ComputeTarget.attach(ws, "dbx", DatabricksCompute.attach_configuration(resource_id=rid))
    assert target.spec["resource_group"] == "rg2" and target.databricks_workspace_name == "dbw"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Please provide resource_group and workspace_name"),
        ({"workspace_name": "dbw"}, "resource_group is not provided"),
        ({"resource_id": "/subscriptions/s"}, "Invalid resource_id provided"),
        (
            {"resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/workspaces/w"},
            "resource type Microsoft.Compute",
        ),
        (
            {
                "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w",
                "workspace_name": "w",
            },
            "do not provide workspace_name",
        ),
        (
            {"resource_group": "rg", "workspace_name": "dbw", "access_token": 123},
            "access_token must be a string",
        ),
    ],
)
def test_attach_configuration_checks_as_v1(kwargs, message):
    with pytest.raises(ComputeTargetException, match=message):
        DatabricksCompute.attach_configuration(**kwargs)


def test_attach_needs_a_config_entry_naming_the_workspace(ws):
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="other", access_token=TOKEN
    )
    with pytest.raises(
        ComputeTargetException, match=r"Databricks workspace 'other'.*\"databricks\": \{\"other\": "
    ) as excinfo:
        ComputeTarget.attach(ws, "dbx", config)
    assert TOKEN not in str(excinfo.value)
    assert not ws._compute_file.exists()


def test_a_host_entry_needs_a_token(tmp_path):
    ws = Workspace.from_config(
        write_config(tmp_path / "p", {"dbw": {"host": "127.0.0.1", "port": 8443, "schema": "http"}})
    )
    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="dbw")
    with pytest.raises(ComputeTargetException, match="needs access_token .*'mlpipe_databricks_dbx'"):
        ComputeTarget.attach(ws, "dbx", config)


def test_attach_refuses_other_configurations_and_names_taken_by_other_targets(ws):
    ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="dbw")
    with pytest.raises(ComputeTargetException, match="'cpu' already exists as a AmlCompute target"):
        ComputeTarget.attach(ws, "cpu", config)
    with pytest.raises(ComputeTargetException, match="only DatabricksCompute.attach_configuration"):
        ComputeTarget.attach(ws, "x", AmlCompute.provisioning_configuration(max_nodes=1))
    with pytest.raises(ComputeTargetException, match="is a AmlCompute target, not a Databricks"):
        DatabricksCompute(ws, "cpu")
    with pytest.raises(ComputeTargetException, match=r"not found.*DatabricksCompute.attach_configuration"):
        DatabricksCompute(ws, "missing")
    with pytest.raises(ComputeTargetException, match="This method is DEPRECATED"):
        DatabricksCompute.attach(ws, "dbx", "/subscriptions/x", TOKEN)


def test_detach_not_delete(ws, dbx):
    with pytest.raises(ComputeTargetException, match="Try to use detach instead"):
        dbx.delete()
    dbx.detach()
    assert "dbx" not in ws.compute_targets


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ([], "expected an object"),
        ({"dbw": {"host": "h", "token": TOKEN}}, r"\['token'\] must not be in the config file"),
        ({"dbw": {"conn_id": "c", "host": "h"}}, "exactly one of 'conn_id' and 'host'"),
        ({"dbw": {}}, "exactly one of 'conn_id' and 'host'"),
        ({"dbw": {"conn_id": ""}}, "'conn_id' must be a non-empty string"),
        ({"dbw": {"conn_id": "c", "port": 1}}, "'port' and 'schema' go with 'host'"),
        ({"dbw": {"host": "h", "port": "443"}}, "'port' must be an integer"),
        ({"dbw": {"host": "h", "schema": "ftp"}}, "'schema' must be 'https' or 'http'"),
        ({"dbw": {"host": "h", "region": "x"}}, r"unknown keys \['region'\]"),
        ({"dbw": {"conn_id": "c", "mounts": {"nope": "/mnt/x"}}}, "mounts names datastore 'nope'"),
        ({"dbw": {"conn_id": "c", "mounts": {"workspaceblobstore": "mnt/x"}}}, "must be a DBFS mount point"),
    ],
)
def test_the_config_section_is_checked_naming_the_key(tmp_path, section, message):
    with pytest.raises(WorkspaceConfigError, match=message) as excinfo:
        Workspace.from_config(write_config(tmp_path / "p", section))
    assert "'databricks' in " in str(excinfo.value) and TOKEN not in str(excinfo.value)


def test_write_config_keeps_the_databricks_section(ws, tmp_path):
    path = ws.write_config(tmp_path / "copy")
    assert Workspace.from_config(path).databricks == ws.databricks
