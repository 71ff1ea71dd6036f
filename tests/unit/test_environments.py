"""Environments, conda specifications and run configurations (Azure ML v1's API): the objects, their
files, registration on a real local datastore, and the definition a pipeline spec carries."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from airflow_mlpipe import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    CondaDependencies,
    DockerConfiguration,
    Environment,
    RunConfiguration,
    UserErrorException,
    Workspace,
)
from airflow_mlpipe.definitions.environment import (
    CURATED,
    environment_definition,
    environment_hash,
    needs_container,
)
from airflow_mlpipe.storage.assets import AssetNotFound

CONDA_YAML = """\
name: train-env
channels:
  - conda-forge
dependencies:
  - python=3.10
  - numpy=1.26
  - pip
  - pip:
    - pandas>=2
    - azureml-core==1.48.0
    - azureml_defaults
    - --extra-index-url https://example.org/simple
"""


@pytest.fixture
def conda_file(tmp_path):
    path = tmp_path / "conda_dependencies.yml"
    path.write_text(CONDA_YAML)
    return path


@pytest.fixture
def ws():
    return Workspace.from_config()  # the isolated embedded workspace (tests/conftest.py)


def _pip_env(name: str, *packages: str) -> Environment:
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=list(packages))
    return env


# --- CondaDependencies -------------------------------------------------------------------------


def test_default_conda_dependencies_are_v1s():
    cd = CondaDependencies()
    assert list(cd.pip_packages) == ["azureml-defaults"]
    assert list(cd.conda_packages) == ["python=3.8.13"]
    assert list(cd.conda_channels) == ["anaconda", "conda-forge"]
    assert cd.get_python_version() == "3.8.13" and list(cd.pip_options) == []
    # what a step gets: no SDK package, and v1's implicit Python means the runtime's default Python
    assert cd.conda_section() == {
        "channels": ["anaconda", "conda-forge"],
        "conda_packages": [],
        "pip_packages": [],
        "python_version": None,
        "pip_options": [],
    }


def test_conda_yaml_file_is_read_and_sdk_packages_left_out_of_the_definition(conda_file):
    cd = CondaDependencies(str(conda_file))
    assert list(cd.conda_packages) == ["python=3.10", "numpy=1.26", "pip"]
    assert list(cd.pip_packages) == ["pandas>=2", "azureml-core==1.48.0", "azureml_defaults"]
    assert list(cd.pip_options) == ["--extra-index-url https://example.org/simple"]
    assert list(cd.conda_channels) == ["conda-forge"] and cd.get_python_version() == "3.10"
    assert cd.conda_section() == {
        "channels": ["conda-forge"],
        "conda_packages": ["numpy=1.26", "pip"],
        "pip_packages": ["pandas>=2"],
        "python_version": "3.10",
        "pip_options": ["--extra-index-url https://example.org/simple"],
    }
    # the returned iterables are copies, as in v1
    packages = list(cd.pip_packages)
    packages.append("x")
    assert "x" not in list(cd.pip_packages)


def test_create_and_edits_follow_v1(tmp_path):
    cd = CondaDependencies.create(
        pip_packages=["scikit-learn==1.3.0", "azureml-defaults"],
        conda_packages=["numpy"],
        python_version="3.11",
        pip_indexurl="https://pkgs.example.org/simple",
    )
    assert list(cd.pip_packages) == ["scikit-learn==1.3.0", "azureml-defaults"]
    assert list(cd.pip_options) == [
        "--index-url https://pkgs.example.org/simple",
        "--extra-index-url https://pypi.python.org/simple",
    ]
    assert cd.get_python_version() == "3.11" and "numpy" in list(cd.conda_packages)
    cd.add_pip_package("scikit-learn==1.4.0")  # replaces the earlier spec, moved to the end
    assert list(cd.pip_packages) == ["azureml-defaults", "scikit-learn==1.4.0"]
    cd.remove_pip_package("scikit-learn")
    assert list(cd.pip_packages) == ["azureml-defaults"]
    cd.add_conda_package("numpy")  # no duplicate
    cd.add_conda_package("python=3.12")  # sets the Python version
    cd.add_channel("conda-forge")
    cd.add_channel("conda-forge")
    assert (
        list(cd.conda_packages) == ["python=3.12", "numpy"]
        and list(cd.conda_channels).count("conda-forge") == 1
    )
    cd.remove_conda_package("numpy")
    cd.remove_channel("anaconda")
    assert list(cd.conda_packages) == ["python=3.12"] and list(cd.conda_channels) == ["conda-forge"]
    cd.set_pip_option("--index-url https://other.example.org/simple")  # same flag: replaced
    cd.remove_pip_option("--extra-index-url")
    assert list(cd.pip_options) == ["--index-url https://other.example.org/simple"]
    cd.set_python_version("3.10")
    assert cd.get_python_version() == "3.10"
    # without pip_packages, create keeps v1's azureml-defaults (not installed in a step)
    assert list(CondaDependencies.create().pip_packages) == ["azureml-defaults"]
    assert CondaDependencies.merge_requirements(["a>=1", "b", "a<2"]) == ["a>=1,<2", "b"]
    # files: save, save_to_file, serialize_to_string, and reading them back
    saved = cd.save(str(tmp_path / "env.yml"))
    assert CondaDependencies(saved).as_dict() == cd.as_dict()
    assert cd.save_to_file(str(tmp_path), "sub/conda.yml") == "sub/conda.yml"
    assert CondaDependencies(str(tmp_path / "sub" / "conda.yml")).as_dict() == cd.as_dict()
    assert cd.serialize_to_string() == (tmp_path / "env.yml").read_text()
    assert "name: project_environment" in cd.serialize_to_string()


def test_conda_errors_name_the_problem(tmp_path):
    with pytest.raises(UserErrorException, match="python must not be removed"):
        CondaDependencies().remove_conda_package("python=3.8.13")
    with pytest.raises(UserErrorException, match="Invalid package name --no-deps"):
        CondaDependencies().add_pip_package("--no-deps")
    with pytest.raises(UserErrorException, match="Invalid pip option pandas"):
        CondaDependencies().set_pip_option("pandas")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nplatform: linux\n")
    with pytest.raises(UserErrorException, match=r"bad.yml.*unknown key 'platform'"):
        CondaDependencies(str(bad))
    bad.write_text("- just\n- a list\n")
    with pytest.raises(UserErrorException, match="not a conda environment specification"):
        CondaDependencies(str(bad))
    bad.write_text("dependencies: [python=3.10\n")
    with pytest.raises(UserErrorException, match="is not valid YAML"):
        CondaDependencies(str(bad))
    with pytest.raises(UserErrorException, match="does not exist"):
        CondaDependencies(str(tmp_path / "missing.yml"))
    with pytest.raises(UserErrorException, match="not a directory"):
        CondaDependencies().save(str(tmp_path))
    with pytest.raises(UserErrorException, match="requirement files named inside requirements are not read"):
        CondaDependencies().set_pip_requirements(["pandas", "-r other.txt"])
    bad.write_text("dependencies:\n  - pip:\n    - 1.5\n  - 42\n")
    with pytest.raises(UserErrorException, match="dependency 42 should be a string"):
        CondaDependencies(str(bad))


@pytest.mark.parametrize(
    "call",
    [
        lambda: CondaDependencies.create(pip_indexurl="https://user:secret@pkgs.example.org/simple"),
        lambda: CondaDependencies().set_pip_option(
            "--extra-index-url https://__token__:abc@example.org/simple"
        ),
        lambda: CondaDependencies().add_pip_package("git+https://ghp_abc123@github.com/org/repo.git"),
        lambda: CondaDependencies().add_pip_package("https://example.org/pkg.whl?token=abc"),
        lambda: CondaDependencies().add_channel("https://user:pw@conda.example.org/channel"),
    ],
)
def test_credentials_are_refused_with_a_clear_error(call):
    with pytest.raises(UserErrorException, match="carries credentials") as excinfo:
        call()
    assert "secret" not in str(excinfo.value) and "pw@" not in str(excinfo.value)


def test_credentials_in_a_conda_file_are_refused(tmp_path):
    path = tmp_path / "env.yml"
    path.write_text("dependencies:\n  - pip:\n    - --index-url https://me:pass@example.org/simple\n")
    with pytest.raises(UserErrorException, match=r"env.yml.*carries credentials"):
        CondaDependencies(str(path))
    # set through the structure after loading: refused when the definition is computed, naming the step
    env = Environment("e")
    env.python.conda_dependencies._conda_dependencies["dependencies"][1]["pip"].append(
        "--index-url https://a:b@x.org"
    )
    with pytest.raises(UserErrorException, match=r"^step 'train': pip option: .*carries credentials"):
        environment_definition(env, where="step 'train'")


# --- Environment ---------------------------------------------------------------------------------


def test_environment_defaults_are_v1s():
    env = Environment("myenv")
    assert (env.name, env.version, env.inferencing_stack_version) == ("myenv", None, None)
    assert isinstance(env.python.conda_dependencies, CondaDependencies)
    assert env.python.user_managed_dependencies is False and env.python.interpreter_path == "python"
    assert env.docker.enabled is False and env.docker.base_image == DEFAULT_CPU_IMAGE
    assert env.docker.base_dockerfile is None and env.docker.shm_size == "2g" and env.docker.arguments == []
    assert env.environment_variables == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert DEFAULT_GPU_IMAGE != DEFAULT_CPU_IMAGE and "cuda" in DEFAULT_GPU_IMAGE
    definition = environment_definition(env)
    assert definition == {
        "name": "myenv",
        "version": None,
        "python": {
            "user_managed_dependencies": False,
            "interpreter_path": "python",
            "conda": {
                "channels": ["anaconda", "conda-forge"],
                "conda_packages": [],
                "pip_packages": [],
                "python_version": None,
                "pip_options": [],
            },
        },
        "docker": {
            "enabled": False,
            "base_image": None,
            "base_dockerfile": None,
            "shm_size": "2g",
            "arguments": [],
        },
        "environment_variables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"},
    }
    assert needs_container(definition) is False  # the worker's own Python, as without environment
    assert json.loads(json.dumps(definition)) == definition  # plain JSON
    assert str(env) == "Environment(Name: myenv,\nVersion: None)"
    assert json.loads(repr(env))["name"] == "myenv"
    with pytest.raises(UserErrorException, match="name should be a string"):
        Environment(3)  # type: ignore[arg-type]


def test_from_conda_specification_and_pip_requirements(tmp_path, conda_file):
    env = Environment.from_conda_specification("train", str(conda_file))
    definition = environment_definition(env)
    assert definition["python"]["conda"]["pip_packages"] == ["pandas>=2"]
    assert definition["python"]["conda"]["python_version"] == "3.10" and needs_container(definition)
    no_python = tmp_path / "nopython.yml"
    no_python.write_text("dependencies:\n  - pip:\n    - requests\n")
    env = Environment.from_conda_specification("other", str(no_python))
    assert env.python.conda_dependencies.get_python_version() == "3.8.13"  # v1 adds its default
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\npandas==2.2.0\n\n--extra-index-url https://example.org/simple\nazureml-core\n"
    )
    env = Environment.from_pip_requirements("req", str(requirements), pip_version="23.3")
    conda = environment_definition(env)["python"]["conda"]
    assert conda["pip_packages"] == ["pandas==2.2.0"] and conda["conda_packages"] == ["pip=23.3"]
    assert conda["pip_options"] == ["--extra-index-url https://example.org/simple"]
    assert (
        list(
            Environment.from_pip_requirements("r", str(requirements)).python.conda_dependencies.conda_packages
        )[-1]
        == "pip"
    )
    with pytest.raises(UserErrorException, match="does not exist"):
        Environment.from_pip_requirements("r", str(tmp_path / "missing.txt"))


def test_from_dockerfile_and_from_docker_image(tmp_path, conda_file):
    dockerfile = "FROM python:3.12-slim\nRUN pip install pandas\n"
    env = Environment.from_dockerfile("df", dockerfile)
    assert env.docker.base_dockerfile == dockerfile and env.docker.base_image is None
    assert env.python.user_managed_dependencies is True
    definition = environment_definition(env)
    assert definition["python"]["conda"] is None and needs_container(definition)
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile)
    assert Environment.from_dockerfile("df", str(path)).docker.base_dockerfile == dockerfile
    with open(path) as handle:
        assert Environment.from_dockerfile("df", handle).docker.base_dockerfile == dockerfile
    with_conda = Environment.from_dockerfile("df", dockerfile, conda_specification=str(conda_file))
    assert with_conda.python.user_managed_dependencies is False
    with pytest.raises(UserErrorException, match="only one of conda_specification or pip_requirements"):
        Environment.from_dockerfile("df", dockerfile, str(conda_file), str(conda_file))
    image = Environment.from_docker_image("img", "python:3.12-slim")
    definition = environment_definition(image)
    assert (
        definition["docker"]["enabled"] is True and definition["docker"]["base_image"] == "python:3.12-slim"
    )
    assert definition["python"]["user_managed_dependencies"] is True and needs_container(definition)
    # base_image and base_dockerfile exclude each other, as in v1
    image.docker.base_dockerfile = dockerfile
    assert image.docker.base_image is None
    image.docker.base_image = "ubuntu:24.04"
    assert image.docker.base_dockerfile is None


def test_private_registry_logins_come_from_an_airflow_connection():
    ok = Environment.from_docker_image(
        "img",
        "registry.example.org/team/base:1",
        container_registry=SimpleNamespace(conn_id="docker_default"),
    )
    assert environment_definition(ok)["docker"]["base_image"] == "registry.example.org/team/base:1"
    saved = json.loads(repr(ok))["docker"]["baseImageRegistry"]
    assert saved == {"address": None, "connId": "docker_default"}
    advice = re.escape(
        "registry logins come from an Airflow docker connection (workspace config docker.conn_id)"
    )
    login = SimpleNamespace(address="registry.example.org", username="me", password="secret")
    with pytest.raises(UserErrorException, match=advice):
        Environment.from_docker_image("img", "registry.example.org/x:1", container_registry=login)
    with pytest.raises(UserErrorException, match=advice):
        Environment.from_docker_image("img", "registry.example.org/x:1", container_registry=SimpleNamespace())
    # v1's attribute style is refused where it would be stored: the definition, repr, files
    env = Environment("e")
    env.docker.base_image_registry.address = "registry.example.org"
    env.docker.base_image_registry.password = "secret"
    for call in (lambda: environment_definition(env), lambda: repr(env), lambda: env.clone("f")):
        with pytest.raises(UserErrorException, match=advice) as excinfo:
            call()
        assert "secret" not in str(excinfo.value)


def test_save_to_directory_and_load_round_trip(tmp_path, conda_file):
    env = Environment.from_conda_specification("saved", str(conda_file))
    env.docker.base_dockerfile = "FROM python:3.12-slim\n"
    env.environment_variables = {"MODE": "fast"}
    env.save_to_directory(str(tmp_path / "envdir"))
    assert sorted(p.name for p in (tmp_path / "envdir").iterdir()) == [
        "BaseDockerfile",
        "azureml_environment.json",
        "conda_dependencies.yml",
    ]
    back = Environment.load_from_directory(str(tmp_path / "envdir"))
    assert environment_definition(back) == environment_definition(env)
    with pytest.raises(FileExistsError):
        env.save_to_directory(str(tmp_path / "envdir"))
    env.save_to_directory(str(tmp_path / "envdir"), overwrite=True)
    with pytest.raises(UserErrorException, match="does not exist"):
        Environment.load_from_directory(str(tmp_path / "nowhere"))
    clone = env.clone("copy")
    assert clone.name == "copy" and clone.version is None
    assert environment_hash(environment_definition(clone)) == environment_hash(environment_definition(env))


# --- registration ----------------------------------------------------------------------------------


def test_register_versions_on_the_default_datastore(ws):
    first = _pip_env("trainer", "pandas").register(ws)
    assert (first.name, first.version) == ("trainer", "1") and first.asset_id
    again = _pip_env("trainer", "pandas").register(ws)  # identical definition: the latest version
    assert again.version == "1" and again.asset_id == first.asset_id
    second = _pip_env("trainer", "pandas", "scikit-learn").register(ws)
    assert second.version == "2"
    assert Environment.get(ws, "trainer").version == "2"
    old = Environment.get(ws, "trainer", version="1")
    assert environment_definition(old)["python"]["conda"]["pip_packages"] == ["pandas"]
    assert list(Environment.get(ws, "trainer", version=2).python.conda_dependencies.pip_packages) == [
        "pandas",
        "scikit-learn",
    ]
    # the registered object gives the same definition (and image) as the one registered
    assert environment_hash(environment_definition(second)) == environment_hash(
        environment_definition(_pip_env("x", "pandas", "scikit-learn"))
    )
    _pip_env("other", "numpy").register(ws)
    listed = Environment.list(ws)
    assert listed["trainer"].version == "2" and listed["other"].version == "1"
    assert set(CURATED) <= set(listed)
    # the records on the datastore hold the definition, not only the object
    store = ws.get_default_datastore().store
    assert store.read_bytes("mlpipe/registry/environments/trainer/versions/00000002.json") is not None


def test_registration_errors(ws):
    with pytest.raises(AssetNotFound, match="no environment named 'nope'"):
        Environment.get(ws, "nope")
    _pip_env("one", "pandas").register(ws)
    with pytest.raises(AssetNotFound, match="has no version '7'"):
        Environment.get(ws, "one", version="7")
    with pytest.raises(UserErrorException, match="labels are not supported"):
        Environment.get(ws, "one", label="production")
    with pytest.raises(UserErrorException, match="reserved for curated environments"):
        _pip_env("AzureML-mine", "pandas").register(ws)
    with pytest.raises(UserErrorException, match="needs a name"):
        Environment(None).register(ws)
    with pytest.raises(UserErrorException, match="need a workspace"):
        Environment.get(None, "one")
    with pytest.raises(UserErrorException, match="built"):
        Environment("x").build(ws)


def test_curated_names_resolve_to_local_equivalents(ws):
    minimal = Environment.get(ws, "AzureML-Minimal")
    assert minimal.name == "AzureML-Minimal" and not needs_container(environment_definition(minimal))
    sklearn = Environment.get(ws, "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", version="40")
    definition = environment_definition(sklearn)
    assert definition["python"]["conda"]["pip_packages"] == ["scikit-learn", "pandas", "numpy"]
    assert needs_container(definition) and sklearn.version == "40"
    assert Environment.get(ws, "azureml-tutorial").name == "AzureML-Tutorial"  # case-insensitive
    with pytest.raises(UserErrorException, match="AzureML-Nope.*AzureML-Minimal, AzureML-Tutorial"):
        Environment.get(ws, "AzureML-Nope")


# --- RunConfiguration ------------------------------------------------------------------------------


def test_run_configuration_defaults_and_conda_dependencies():
    rc = RunConfiguration()
    assert (
        rc.target == "local" and rc.node_count == 1 and rc.framework == "Python" and rc.communicator == "None"
    )
    assert rc.environment.name == "default-environment" and rc.environment_variables == {}
    assert rc.docker.use_docker is False and rc.docker.shm_size == "2g" and rc.docker.shared_volumes is True
    cd = CondaDependencies.create(pip_packages=["pandas"])
    rc = RunConfiguration(conda_dependencies=cd, script="train.py", arguments=["--a", 1])
    assert rc.environment.python.conda_dependencies is cd and rc.arguments == ["--a", 1]
    rc.target = SimpleNamespace(name="cpu-cluster")
    assert rc.target == "cpu-cluster"


def test_run_configuration_definition_merges_docker_and_variables():
    env = _pip_env("env", "pandas")
    env.environment_variables = {"A": "env", "B": "env"}
    rc = RunConfiguration()
    rc.environment = env
    rc.environment_variables = {"B": "rc", "C": 3}
    definition = environment_definition(rc)
    assert definition["environment_variables"] == {"A": "env", "B": "rc", "C": "3"}  # the run config wins
    assert definition["docker"]["enabled"] is False
    rc.docker = DockerConfiguration(use_docker=True, shm_size="8g", arguments=["--cpus", "2"])
    docker = environment_definition(rc)["docker"]
    assert docker == {
        "enabled": True,
        "base_image": None,
        "base_dockerfile": None,
        "shm_size": "8g",
        "arguments": ["--cpus", "2"],
    }
    # v1's deprecated path decides too
    rc = RunConfiguration()
    rc.environment.docker.enabled = True
    rc.environment.docker.shm_size, rc.environment.docker.arguments = "4g", ["--ipc=host"]
    docker = environment_definition(rc)["docker"]
    assert docker["enabled"] is True and docker["shm_size"] == "4g" and docker["arguments"] == ["--ipc=host"]
    assert environment_definition(rc)["name"] == "default-environment"


@pytest.mark.parametrize(
    ("change", "option"),
    [
        (lambda rc: setattr(rc, "framework", "PySpark"), "framework='PySpark'"),
        (lambda rc: setattr(rc, "communicator", "OpenMpi"), "communicator='OpenMpi'"),
        (lambda rc: setattr(rc, "node_count", 2), "node_count=2"),
        (lambda rc: setattr(rc.mpi, "process_count_per_node", 4), "mpi settings"),
        (lambda rc: setattr(rc.tensorflow, "worker_count", 2), "tensorflow settings"),
        (lambda rc: rc.data_references.update(ref=object()), "data_references"),
        (lambda rc: setattr(rc.environment, "r", object()), "environment.r"),
    ],
)
def test_options_that_cannot_work_are_named(change, option):
    rc = RunConfiguration()
    change(rc)
    with pytest.raises(UserErrorException, match=re.escape(option)) as excinfo:
        environment_definition(rc, where="step 'train'")
    assert str(excinfo.value).startswith("step 'train': ")


def test_run_configuration_save_and_load_round_trip(tmp_path, conda_file):
    rc = RunConfiguration(script="train.py", arguments=["--epochs", "3"])
    rc.environment = Environment.from_conda_specification("train-env", str(conda_file))
    rc.environment_variables = {"MODE": "fast"}
    rc.docker = DockerConfiguration(use_docker=True, arguments=["--ipc=host"])
    rc.target = "cpu-cluster"
    project = tmp_path / "project"
    project.mkdir()
    rc.save(path=str(project), name="train")
    assert (project / ".azureml" / "train").is_file() and (
        project / ".azureml" / "conda_dependencies.yml"
    ).is_file()
    for loaded in (
        RunConfiguration.load(str(project), "train"),
        RunConfiguration.load(str(project / ".azureml" / "train")),
    ):
        assert environment_definition(loaded) == environment_definition(rc)
        assert (loaded.script, loaded.arguments, loaded.target) == (
            "train.py",
            ["--epochs", "3"],
            "cpu-cluster",
        )
        assert loaded.docker.arguments == ["--ipc=host"]
    # a file path, with the environment in its own YAML file
    target = tmp_path / "single" / "job.runconfig"
    target.parent.mkdir()
    rc.save(path=str(target), separate_environment_yaml=True)
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "conda_dependencies.yml",
        "environment.yml",
        "job.runconfig",
    ]
    assert environment_definition(RunConfiguration.load(str(target))) == environment_definition(rc)
    assert environment_definition(RunConfiguration.load(str(target.parent), "job")) == environment_definition(
        rc
    )
    # the project layout with a separate environment file; no conda specification at all
    rc.environment.python.conda_dependencies = None
    rc.save(path=str(project), name="bare", separate_environment_yaml=True)
    assert (project / ".azureml" / "environment.yml").is_file()
    bare = RunConfiguration.load(str(project), "bare")
    assert bare.environment.python.conda_dependencies is None
    assert environment_definition(bare) == environment_definition(rc)
    with pytest.raises(UserErrorException, match="a name is required"):
        rc.save(path=str(project))
    with pytest.raises(UserErrorException, match="argument is invalid"):
        rc.save(path=str(tmp_path / "missing" / "x.runconfig"))
    with pytest.raises(UserErrorException, match="Failed to load RunConfiguration"):
        RunConfiguration.load(str(project), "nope")


def test_v1_written_runconfig_files_load(tmp_path, conda_file):
    # camelCase keys and a conda file beside it, as v1 wrote them; JSON is read as well
    (tmp_path / "aml_config").mkdir()
    (tmp_path / "aml_config" / "conda_dependencies.yml").write_text(CONDA_YAML)
    v1 = {
        "script": "score.py",
        "arguments": [],
        "target": "local",
        "framework": "Python",
        "communicator": "None",
        "nodeCount": 1,
        "environment": {
            "name": "legacy",
            "environmentVariables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"},
            "python": {
                "userManagedDependencies": False,
                "interpreterPath": "python",
                "condaDependenciesFile": "aml_config/conda_dependencies.yml",
            },
            "docker": {
                "enabled": True,
                "baseImage": DEFAULT_CPU_IMAGE + ":20230509.v1",
                "sharedVolumes": True,
                "shmSize": "2g",
                "arguments": [],
                "baseImageRegistry": {"address": None, "username": None, "password": None},
            },
        },
        "docker": {"useDocker": False, "sharedVolumes": True, "arguments": [], "shmSize": "2g"},
        "mpi": {"processCountPerNode": 1},
        "dataReferences": {},
        "environmentVariables": {},
    }
    (tmp_path / "aml_config" / "score.runconfig").write_text(json.dumps(v1))
    rc = RunConfiguration.load(str(tmp_path), "score")
    definition = environment_definition(rc)
    assert definition["docker"]["enabled"] is True and definition["docker"]["base_image"] is None
    assert definition["python"]["conda"]["pip_packages"] == ["pandas>=2"]
    v1["environment"]["docker"]["baseImageRegistry"]["password"] = "secret"
    (tmp_path / "aml_config" / "score.runconfig").write_text(json.dumps(v1))
    with pytest.raises(UserErrorException, match="registry logins come from an Airflow docker connection"):
        RunConfiguration.load(str(tmp_path), "score")


# --- the definition functions ----------------------------------------------------------------------


def test_environment_hash_ignores_name_and_version_only():
    a, b = _pip_env("a", "pandas"), _pip_env("b", "pandas")
    b.version = "9"
    da, db = environment_definition(a), environment_definition(b)
    assert da != db and environment_hash(da) == environment_hash(db)
    assert re.fullmatch(r"[0-9a-f]{64}", environment_hash(da))
    reordered = json.loads(json.dumps(da, sort_keys=True))
    assert environment_hash(reordered) == environment_hash(da)
    assert environment_hash(environment_definition(_pip_env("a", "pandas==2.2.0"))) != environment_hash(da)
    a.environment_variables["X"] = "1"
    assert environment_hash(environment_definition(a)) != environment_hash(da)
    assert environment_definition(None) is None
    with pytest.raises(UserErrorException, match="expected an Environment or a RunConfiguration"):
        environment_definition("myenv")


def test_needs_container_cases():
    def definition(conda=None, user_managed=False, enabled=False, dockerfile=None):
        return {
            "python": {
                "user_managed_dependencies": user_managed,
                "interpreter_path": "python",
                "conda": conda,
            },
            "docker": {
                "enabled": enabled,
                "base_image": None,
                "base_dockerfile": dockerfile,
                "shm_size": None,
                "arguments": [],
            },
            "environment_variables": {"A": "1"},
        }

    packages = {
        "channels": [],
        "conda_packages": [],
        "pip_packages": ["pandas"],
        "python_version": None,
        "pip_options": [],
    }
    empty = {**packages, "pip_packages": []}
    assert needs_container(definition()) is False
    assert needs_container(definition(conda=empty)) is False
    assert needs_container(definition(conda=packages)) is True
    assert needs_container(definition(conda={**empty, "conda_packages": ["numpy"]})) is True
    assert needs_container(definition(conda=packages, user_managed=True)) is False
    assert needs_container(definition(enabled=True)) is True
    assert needs_container(definition(dockerfile="FROM python:3.12-slim")) is True
    sdk_only = _pip_env("sdk", "azureml-core", "azureml-dataset-runtime[fuse]")
    assert needs_container(environment_definition(sdk_only)) is False


def test_v1_namespace_exports():
    from airflow_mlpipe.v1.core import Environment as CoreEnvironment
    from airflow_mlpipe.v1.core import RunConfiguration as CoreRunConfiguration
    from airflow_mlpipe.v1.core.conda_dependencies import CondaDependencies as V1Conda
    from airflow_mlpipe.v1.core.environment import DockerSection, PythonSection
    from airflow_mlpipe.v1.core.runconfig import DEFAULT_CPU_IMAGE as V1Image
    from airflow_mlpipe.v1.core.runconfig import CondaDependencies as RunconfigConda
    from airflow_mlpipe.v1.core.runconfig import DockerConfiguration as V1Docker

    assert CoreEnvironment is Environment and CoreRunConfiguration is RunConfiguration
    assert V1Conda is CondaDependencies is RunconfigConda and V1Docker is DockerConfiguration
    assert V1Image == DEFAULT_CPU_IMAGE
    assert isinstance(Environment("x").python, PythonSection) and isinstance(
        Environment("x").docker, DockerSection
    )
