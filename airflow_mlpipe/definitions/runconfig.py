"""``RunConfiguration`` and ``DockerConfiguration``: Azure ML v1's run settings of a step, and the
v1 file formats (``.runconfig`` files, ``azureml_environment.json``) of run configurations and
environments.

Only what a step's environment needs is used here: the environment, Docker settings and environment
variables (``environment_definition(run_config)``). The step's own script, arguments and compute
target win over ``script``, ``arguments`` and ``target``; distributed-training options (a framework
other than Python, a communicator, several nodes, MPI or TensorFlow settings) and data sections are
refused when the definition is computed, naming the option.
"""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace
from typing import Any

from airflow_mlpipe.definitions.conda import CondaDependencies, read_yaml
from airflow_mlpipe.definitions.environment import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    DEFAULT_SHM_SIZE,
    ContainerRegistryLogin,
    Environment,
    check_registry,
    definition_of,
)
from airflow_mlpipe.exceptions import UserErrorException

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "DockerConfiguration",
    "RunConfiguration",
]

RUNCONFIG_EXTENSION = ".runconfig"
_CONDA_FILE, _DOCKERFILE, _ENV_FILE = "conda_dependencies.yml", "BaseDockerfile", "azureml_environment.json"
_DIRS = (".azureml", "aml_config")  # v1's project folders for run configurations, newest first


class DockerConfiguration:
    """Docker runtime settings of a run (v1's ``azureml.core.runconfig.DockerConfiguration``).
    ``use_docker=True`` runs the step in its environment's image."""

    def __init__(
        self,
        use_docker: bool | None = False,
        shared_volumes: bool | None = True,
        arguments: list[str] | None = None,
        shm_size: str | None = DEFAULT_SHM_SIZE,
    ):
        self.use_docker = bool(use_docker)
        self.shared_volumes = True if shared_volumes is None else bool(shared_volumes)
        self.arguments = list(arguments or [])
        self.shm_size = shm_size or DEFAULT_SHM_SIZE


# v1's defaults of the distributed-training sections: anything else is refused
_DISTRIBUTED = {
    "mpi": {"process_count_per_node": 1, "node_count": 1},
    "tensorflow": {"worker_count": 1, "parameter_server_count": 1},
}


class RunConfiguration:
    """A step's run settings, as Azure ML v1's ``RunConfiguration``: ``environment`` (an Environment),
    ``docker`` (DockerConfiguration), ``environment_variables`` (merged over the environment's; these
    win), ``target`` ("local"), ``node_count`` (1)."""

    def __init__(
        self,
        script: str | None = None,
        arguments: list[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: CondaDependencies | None = None,
        _history_enabled: bool | None = None,
        _path: str | None = None,
        _name: str | None = None,
        command: list[str] | str | None = None,
    ):
        self._path, self._name = _path, _name
        self.script = script
        self.command = command or ""
        self.arguments = list(arguments or [])
        self._target = "local"
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.max_run_duration_seconds: int | None = None
        self.node_count = 1
        self.priority: int | None = None
        self.environment = Environment(name="default-environment")
        self.environment.python.conda_dependencies = conda_dependencies or CondaDependencies()
        self.docker = DockerConfiguration()
        self.history = SimpleNamespace(output_collection=True, snapshot_project=True)
        if _history_enabled:
            self.history.output_collection = _history_enabled
        self.mpi = SimpleNamespace(**_DISTRIBUTED["mpi"])
        self.tensorflow = SimpleNamespace(**_DISTRIBUTED["tensorflow"])
        self.data_references: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.output_data: dict[str, Any] = {}
        self.environment_variables: dict[str, str] = {}
        self.source_directory_data_store: str | None = None
        self.credential_passthrough = False

    def __repr__(self) -> str:
        return json.dumps(runconfig_to_dict(self), indent=4)

    @property
    def target(self) -> str:
        """Where v1 ran the job; informative here (the step's compute_target decides)."""
        return self._target

    @target.setter
    def target(self, target: Any) -> None:
        self._target = (
            target if isinstance(target, str) or target is None else getattr(target, "name", target)
        )

    @property
    def auto_prepare_environment(self) -> bool:
        """Deprecated and unused in v1."""
        return True

    @auto_prepare_environment.setter
    def auto_prepare_environment(self, _: Any) -> None:
        pass

    # --- the environment a step gets -------------------------------------------------------

    def _environment_definition(self, where: str | None = None) -> dict[str, Any]:
        where = where or "RunConfiguration"
        if str(self.framework or "Python").lower() != "python":
            _refuse(where, f"framework={self.framework!r}", "only 'Python' runs here")
        if str(self.communicator or "None") != "None":
            _refuse(where, f"communicator={self.communicator!r}", "distributed training is not supported")
        if (self.node_count or 1) != 1:
            _refuse(where, f"node_count={self.node_count!r}", "a step runs on one worker")
        for section, defaults in _DISTRIBUTED.items():
            value = getattr(self, section, None)
            changed = {k: getattr(value, k, d) for k, d in defaults.items() if getattr(value, k, d) != d}
            if changed:
                _refuse(where, f"{section} settings {changed}", "distributed training is not supported")
        for section in ("data_references", "data", "output_data"):
            if getattr(self, section):
                _refuse(where, section, "pass data in the step's inputs and outputs instead")
        if not isinstance(self.environment, Environment):
            raise UserErrorException(f"{where}: environment should be an Environment")
        docker = self.docker or DockerConfiguration()
        return definition_of(
            self.environment,
            where,
            use_docker=docker.use_docker,
            # v1's deprecated environment.docker settings count when DockerConfiguration keeps its defaults
            shm_size=docker.shm_size if docker.shm_size != DEFAULT_SHM_SIZE else None,
            arguments=list(docker.arguments or []),
            variables=self.environment_variables,
        )

    # --- files -----------------------------------------------------------------------------

    def save(
        self, path: str | None = None, name: str | None = None, separate_environment_yaml: bool = False
    ) -> None:
        """Write a v1 run configuration file (YAML): ``<path>/.azureml/<name>`` for a project folder, or
        the file ``path``. The conda specification goes to ``conda_dependencies.yml`` beside it, and with
        ``separate_environment_yaml`` the environment to ``environment.yml``."""
        path = path or self._path or os.getcwd()
        if os.path.isdir(path):
            name = name or self._name
            if not name:
                raise UserErrorException("RunConfiguration.save: a name is required to save into a folder")
            folder = os.path.join(path, _project_dir(path))
            os.makedirs(folder, exist_ok=True)
            relative_dir, target = _project_dir(path) + "/", os.path.join(folder, name)
        else:
            if not os.path.isdir(os.path.dirname(path) or "."):
                raise UserErrorException(f"RunConfiguration.save: {path!r} argument is invalid")
            folder, relative_dir, target = os.path.dirname(path) or ".", "", path
        data = runconfig_to_dict(self)
        python = data["environment"]["python"]
        python.pop("condaDependencies")
        conda_file = python.get("condaDependenciesFile") or relative_dir + "conda_dependencies.yml"
        if self.environment.python.conda_dependencies is not None:
            python["condaDependenciesFile"] = conda_file
            self.environment.python.conda_dependencies.save_to_file(
                path if relative_dir else folder, conda_file
            )
        if separate_environment_yaml:
            _write_yaml(os.path.join(folder, "environment.yml"), data["environment"])
            data["environment"] = relative_dir + "environment.yml"
        _write_yaml(target, data)

    @staticmethod
    def load(path: str | None = None, name: str | None = None) -> RunConfiguration:
        """Read a run configuration file (YAML or JSON) written by ``save`` or by Azure ML v1."""
        path = path or os.getcwd()
        if os.path.isfile(path):
            full, project = path, os.path.dirname(os.path.abspath(path))
        else:
            if not name:
                raise UserErrorException(f"RunConfiguration.load: {path!r} is not a file; give the name too")
            candidates = [
                os.path.join(path, d, name + ext) for ext in ("", RUNCONFIG_EXTENSION) for d in _DIRS
            ]
            candidates.append(os.path.join(path, name + RUNCONFIG_EXTENSION))
            full, project = next((c for c in candidates if os.path.isfile(c)), ""), path
            if not full:
                raise UserErrorException(f"Failed to load RunConfiguration from path={path} name={name}")
        data = read_yaml(full, "run configuration file")
        if not isinstance(data, dict):
            raise UserErrorException(f"run configuration {full!r} should be a mapping")
        if isinstance(data.get("environment"), str):
            data["environment"] = read_yaml(_beside(project, data["environment"]), "environment file")
        return runconfig_from_dict(data, project, where=full, _path=path, _name=name)


def _refuse(where: str, option: str, why: str) -> None:
    raise UserErrorException(
        f"{where}: RunConfiguration {option} cannot be honoured: {why} (airflow-mlpipe runs a step as one "
        "Python process on one worker)"
    )


def _beside(project: str, relative: str) -> str:
    """A file a run configuration names: relative to its project folder, which is the parent of the
    folder of a file loaded directly from ``.azureml`` (``aml_config``)."""
    first = os.path.join(project, relative)
    if os.path.exists(first) or os.path.basename(project) not in _DIRS:
        return first
    return os.path.join(os.path.dirname(project), relative)


def _project_dir(path: str) -> str:
    """v1's choice: ``.azureml``, unless only the legacy ``aml_config`` folder exists."""
    legacy = os.path.isdir(os.path.join(path, "aml_config")) and not os.path.isdir(
        os.path.join(path, ".azureml")
    )
    return "aml_config" if legacy else ".azureml"


def _write_yaml(path: str, data: Any) -> None:
    import yaml

    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False, default_flow_style=False)


# --- v1's serialized layout (camelCase keys; snake_case is read too; no login is ever written) ------


def _get(data: dict[str, Any], snake: str, default: Any = None) -> Any:
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    return data[camel] if camel in data else data.get(snake, default)


def runconfig_to_dict(rc: RunConfiguration) -> dict[str, Any]:
    docker = rc.docker or DockerConfiguration()
    return {
        "script": rc.script,
        "command": rc.command,
        "arguments": [str(a) for a in rc.arguments or []],
        "target": rc.target,
        "framework": rc.framework,
        "communicator": rc.communicator,
        "maxRunDurationSeconds": rc.max_run_duration_seconds,
        "nodeCount": rc.node_count,
        "priority": rc.priority,
        "environment": env_to_dict(rc.environment),
        "docker": {
            "useDocker": docker.use_docker,
            "sharedVolumes": docker.shared_volumes,
            "arguments": list(docker.arguments),
            "shmSize": docker.shm_size,
        },
        "mpi": {"processCountPerNode": rc.mpi.process_count_per_node, "nodeCount": rc.mpi.node_count},
        "tensorflow": {
            "workerCount": rc.tensorflow.worker_count,
            "parameterServerCount": rc.tensorflow.parameter_server_count,
        },
        "environmentVariables": {str(k): str(v) for k, v in (rc.environment_variables or {}).items()},
        "sourceDirectoryDataStore": rc.source_directory_data_store,
        "credentialPassthrough": rc.credential_passthrough,
    }


def runconfig_from_dict(data: dict[str, Any], project: str, where: str, **private: Any) -> RunConfiguration:
    rc = RunConfiguration(**private)
    rc.script, rc.command = data.get("script"), data.get("command") or ""
    rc.arguments = list(data.get("arguments") or [])
    rc.target = data.get("target") or "local"
    rc.framework, rc.communicator = data.get("framework") or "Python", data.get("communicator") or "None"
    rc.max_run_duration_seconds, rc.priority = _get(data, "max_run_duration_seconds"), data.get("priority")
    rc.node_count = _get(data, "node_count") or 1
    if data.get("environment"):
        rc.environment = env_from_dict(data["environment"], where=where)
        conda_file = rc.environment.python.conda_dependencies_file
        if rc.environment.python.conda_dependencies is None and conda_file:
            rc.environment.python.conda_dependencies = CondaDependencies(_beside(project, conda_file))
    docker = data.get("docker") or {}
    rc.docker = DockerConfiguration(
        use_docker=_get(docker, "use_docker", False),
        shared_volumes=_get(docker, "shared_volumes", True),
        arguments=docker.get("arguments"),
        shm_size=_get(docker, "shm_size"),
    )
    for section, defaults in _DISTRIBUTED.items():
        for key in defaults:
            value = _get(data.get(section) or {}, key)
            if value is not None:
                setattr(getattr(rc, section), key, value)
    for section in ("data_references", "data", "output_data"):
        setattr(rc, section, dict(_get(data, section) or {}))
    rc.environment_variables = dict(_get(data, "environment_variables") or {})
    rc.source_directory_data_store = _get(data, "source_directory_data_store")
    rc.credential_passthrough = bool(_get(data, "credential_passthrough", False))
    return rc


def env_to_dict(env: Environment) -> dict[str, Any]:
    conda = env.python.conda_dependencies
    registry = check_registry(env.docker.base_image_registry, f"Environment({env.name!r})")
    return {
        "name": env.name,
        "version": env.version,
        "environmentVariables": dict(env.environment_variables or {}),
        "python": {
            "userManagedDependencies": bool(env.python.user_managed_dependencies),
            "interpreterPath": env.python.interpreter_path,
            "condaDependenciesFile": env.python.conda_dependencies_file,
            "baseCondaEnvironment": env.python.base_conda_environment,
            "condaDependencies": conda.as_dict() if conda is not None else None,
        },
        "docker": {
            "enabled": bool(env.docker.enabled),
            "baseImage": env.docker.base_image,
            "baseDockerfile": env.docker.base_dockerfile,
            "sharedVolumes": env.docker.shared_volumes,
            "shmSize": env.docker.shm_size,
            "arguments": list(env.docker.arguments or []),
            "baseImageRegistry": {"address": registry["address"], "connId": registry["conn_id"]}
            if registry
            else None,
        },
        "inferencingStackVersion": env.inferencing_stack_version,
        "assetId": env.asset_id,
    }


def env_from_dict(data: Any, where: str = "environment") -> Environment:
    if not isinstance(data, dict):
        raise UserErrorException(f"{where}: an environment should be a mapping, got {type(data).__name__}")
    env = Environment(data.get("name"), _skip_defaults=True)
    env.version = None if data.get("version") is None else str(data["version"])
    env.environment_variables = dict(_get(data, "environment_variables") or {})
    env.inferencing_stack_version = _get(data, "inferencing_stack_version")
    env.asset_id = _get(data, "asset_id")
    python, docker = data.get("python") or {}, data.get("docker") or {}
    env.python.user_managed_dependencies = bool(_get(python, "user_managed_dependencies", False))
    env.python.interpreter_path = _get(python, "interpreter_path") or "python"
    env.python.conda_dependencies_file = _get(python, "conda_dependencies_file")
    env.python.base_conda_environment = _get(python, "base_conda_environment")
    if _get(python, "conda_dependencies"):
        env.python.conda_dependencies = CondaDependencies(
            _underlying_structure=_get(python, "conda_dependencies")
        )
    env.docker.enabled = bool(docker.get("enabled", False))
    env.docker.base_image = _get(docker, "base_image")
    env.docker._base_dockerfile = _get(docker, "base_dockerfile") or None  # text, never a path here
    env.docker.shared_volumes = _get(docker, "shared_volumes", True)
    env.docker.shm_size = _get(docker, "shm_size")
    env.docker.arguments = list(docker.get("arguments") or [])
    registry = _get(docker, "base_image_registry") or {}
    login = ContainerRegistryLogin(registry.get("address"), _get(registry, "conn_id"))
    login.username, login.password = registry.get("username"), registry.get("password")
    check_registry(login, where)
    env.docker.base_image_registry = login
    return env


def save_env_directory(env: Environment, path: str, overwrite: bool = False) -> None:
    """``Environment.save_to_directory``: the definition JSON, the conda file and the Dockerfile."""
    os.makedirs(path, exist_ok=overwrite)
    data = env_to_dict(env)
    if env.python.conda_dependencies is not None:
        env.python.conda_dependencies.save(os.path.join(path, _CONDA_FILE))
        del data["python"]["condaDependencies"]
    if env.docker.base_dockerfile:
        with open(os.path.join(path, _DOCKERFILE), "w", encoding="utf-8") as handle:
            handle.write(env.docker.base_dockerfile)
        del data["docker"]["baseDockerfile"]
    with open(os.path.join(path, _ENV_FILE), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=4)


def load_env_directory(path: str) -> Environment:
    """``Environment.load_from_directory``."""
    definition = os.path.join(path, _ENV_FILE)
    if not os.path.isfile(definition):
        raise UserErrorException(f"Environment.load_from_directory: {definition!r} does not exist")
    with open(definition, encoding="utf-8") as handle:
        env = env_from_dict(json.load(handle), where=definition)
    if os.path.isfile(os.path.join(path, _CONDA_FILE)):
        env.python.conda_dependencies = CondaDependencies(os.path.join(path, _CONDA_FILE))
    if os.path.isfile(os.path.join(path, _DOCKERFILE)):
        env.docker.base_dockerfile = os.path.join(path, _DOCKERFILE)
    return env
