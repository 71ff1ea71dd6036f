"""``Environment``: Azure ML v1's environment of a step (Python packages, Docker settings, variables).

An environment is only a definition here; ``environment_definition(env)`` turns it (or a
``RunConfiguration``) into the plain dict a pipeline spec carries, ``environment_hash`` names the
Docker image built from it (``mlpipe-env:<first 20 hex>``), and ``needs_container`` says whether the
step needs that image at all (otherwise it runs on the worker's own Python, as without environment).
Registered environments are immutable versions on the workspace's default datastore.

Curated environments: ``Environment.get(ws, "AzureML-...")`` gives a local equivalent, the listed
pip packages (unpinned, on the runtime's default Python; SDK packages left out):

- ``AzureML-Minimal``: none (the step runs on the worker's own Python)
- ``AzureML-Tutorial``: scikit-learn, pandas, numpy, scipy, matplotlib
- ``AzureML-Scikit-learn-0.20.3``, ``AzureML-sklearn-0.24-ubuntu18.04-py37-cpu``,
  ``AzureML-sklearn-1.0-ubuntu20.04-py38-cpu``, ``AzureML-sklearn-1.1-ubuntu20.04-py38-cpu``:
  scikit-learn, pandas, numpy
- ``AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu``: lightgbm, scikit-learn, pandas, numpy
- ``AzureML-PyTorch-1.6-CPU``, ``AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu``: torch, torchvision, numpy
- ``AzureML-TensorFlow-2.3-CPU``, ``AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu``:
  tensorflow, numpy, pandas

Every version of a curated name gives the same local equivalent. Environment variables are stored in
plain text in pipeline specs: keep secrets in Airflow connections.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from airflow_mlpipe.definitions.conda import PYTHON_DEFAULT_VERSION, CondaDependencies
from airflow_mlpipe.exceptions import UserErrorException

# v1's default base images (azureml.core.environment); DEFAULT_CPU_IMAGE stands for "the runtime's
# default base image" in a definition (base_image null), so no Azure ML image is pulled for it
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.3-cudnn8-ubuntu20.04"
DEFAULT_SHM_SIZE = "2g"
REGISTRY_ADVICE = "registry logins come from an Airflow docker connection (workspace config docker.conn_id)"
_RESERVED = re.compile(r"(?i)^(azureml|microsoft)")
_SK = ["scikit-learn", "pandas", "numpy"]
_TORCH, _TF = ["torch", "torchvision", "numpy"], ["tensorflow", "numpy", "pandas"]
CURATED: dict[str, list[str]] = {
    "AzureML-Minimal": [],
    "AzureML-Tutorial": [*_SK, "scipy", "matplotlib"],
    "AzureML-Scikit-learn-0.20.3": _SK,
    "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu": _SK,
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": _SK,
    "AzureML-sklearn-1.1-ubuntu20.04-py38-cpu": _SK,
    "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu": ["lightgbm", *_SK],
    "AzureML-PyTorch-1.6-CPU": _TORCH,
    "AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu": _TORCH,
    "AzureML-TensorFlow-2.3-CPU": _TF,
    "AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu": _TF,
}


class ContainerRegistryLogin:
    """``env.docker.base_image_registry``: where the base image comes from. A login is never stored:
    ``conn_id`` names the Airflow docker connection holding it (username/password are refused)."""

    def __init__(self, address: str | None = None, conn_id: str | None = None):
        self.address, self.conn_id = address, conn_id
        self.username: str | None = None
        self.password: str | None = None


def check_registry(registry: Any, where: str, need_conn_id: bool = False) -> dict[str, Any] | None:
    """The storable part of a registry object ({address, conn_id}); a login in it is an error."""
    if registry is None:
        return None
    conn_id, login = getattr(registry, "conn_id", None), ("username", "password")
    if any(getattr(registry, key, None) for key in login) or (need_conn_id and not conn_id):
        raise UserErrorException(
            f"{where}: {REGISTRY_ADVICE}; give a registry object whose conn_id names that connection, "
            "without username or password"
        )
    if conn_id is not None and not isinstance(conn_id, str):
        raise UserErrorException(f"{where}: conn_id should be an Airflow connection id, got {conn_id!r}")
    return {"address": getattr(registry, "address", None), "conn_id": conn_id}


class PythonSection:
    """The Python side of an environment (v1's ``azureml.core.environment.PythonSection``)."""

    def __init__(self, _skip_defaults: bool = False):
        self.interpreter_path = "python"
        self.user_managed_dependencies = False
        self.conda_dependencies: CondaDependencies | None = None if _skip_defaults else CondaDependencies()
        self.conda_dependencies_file: str | None = None  # deprecated in v1; kept for its round trips
        self.base_conda_environment: str | None = None


class DockerSection:
    """Docker settings of an environment (v1's ``DockerSection``). ``base_image`` and
    ``base_dockerfile`` exclude each other: setting one clears the other, as in v1."""

    def __init__(self, _skip_defaults: bool = False):
        self.enabled = False  # deprecated in v1 in favour of RunConfiguration.docker (both count here)
        self.shared_volumes = True
        self.arguments: list[str] = []
        self.shm_size: str | None = None if _skip_defaults else DEFAULT_SHM_SIZE
        self._base_image: str | None = None if _skip_defaults else DEFAULT_CPU_IMAGE
        self._base_dockerfile: str | None = None
        self.base_image_registry: Any = ContainerRegistryLogin()

    @property
    def base_image(self) -> str | None:
        return self._base_image

    @base_image.setter
    def base_image(self, value: str | None) -> None:
        self._base_image = value or None
        if value:
            self._base_dockerfile = None

    @property
    def base_dockerfile(self) -> str | None:
        return self._base_dockerfile

    @base_dockerfile.setter
    def base_dockerfile(self, value: Any) -> None:
        """Dockerfile text, a path to one, or an open file."""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value and callable(getattr(value, "read", None)):
            value = value.read()
        elif value and "\n" not in value and os.path.isfile(value):
            with open(value, encoding="utf-8") as handle:
                value = handle.read()
        self._base_dockerfile = value or None
        if value:
            self._base_image = None


class Environment:
    """A step's environment, as Azure ML v1's ``azureml.core.Environment``: ``python``
    (PythonSection), ``docker`` (DockerSection), ``environment_variables``, ``name`` and ``version``."""

    def __init__(self, name: str | None, **kwargs: Any):
        if name is not None and not isinstance(name, str):
            raise UserErrorException(f"Environment name should be a string, got {type(name).__name__}")
        skip = bool(kwargs.get("_skip_defaults", False))
        self.name = name
        self.version: str | None = None
        self.python = PythonSection(_skip_defaults=skip)
        self.docker = DockerSection(_skip_defaults=skip)
        self.environment_variables: dict[str, str] = {} if skip else {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
        self.inferencing_stack_version: str | None = None
        self.r: Any = None
        self.asset_id: str | None = None

    def __str__(self) -> str:
        return f"Environment(Name: {self.name},\nVersion: {self.version})"

    def __repr__(self) -> str:
        return json.dumps(_files().env_to_dict(self), indent=4, sort_keys=True)

    def clone(self, new_name: str) -> Environment:
        if not new_name:
            raise UserErrorException("Environment.clone: a new name is required")
        env = _files().env_from_dict(_files().env_to_dict(self))
        env.name, env.version, env.asset_id = new_name, None, None
        return env

    # --- the workspace's environments ------------------------------------------------------

    def register(self, workspace: Any) -> Environment:
        """Store this environment as the next version of its name; an unchanged definition returns
        the latest version instead. Returns the registered Environment (``version`` set)."""
        where = f"Environment({self.name!r}).register"
        if not self.name:
            raise UserErrorException(f"{where}: the environment needs a name")
        if _RESERVED.match(self.name):
            raise UserErrorException(
                f"{where}: names starting with 'AzureML' or 'Microsoft' are reserved for curated environments; "
                "choose another name"
            )
        definition = environment_definition(self, where=where)
        digest = environment_hash(definition)
        record = {"environment": _files().env_to_dict(self), "definition": definition, "hash": digest}
        stored = _registry(workspace).register(
            self.name, record, reuse_latest=lambda r: r.get("hash") == digest
        )
        return _from_record(stored)

    @staticmethod
    def get(
        workspace: Any, name: str, version: str | int | None = None, label: str | None = None
    ) -> Environment:
        """A registered environment (latest version unless ``version``), or a curated one by name."""
        if label is not None:
            raise UserErrorException(
                f"Environment.get({name!r}): labels are not supported; pass version= (or nothing for the latest)"
            )
        if isinstance(name, str) and name.lower().startswith("azureml-"):
            return _curated(name, version)
        return _from_record(_registry(workspace).get(name, "latest" if version is None else version))

    @staticmethod
    def list(workspace: Any) -> dict[str, Environment]:
        """The latest version of every registered environment, and the curated ones, by name."""
        found: dict[str, Environment] = {name: _curated(name, None) for name in CURATED}
        found.update({r["name"]: _from_record(r) for r in _registry(workspace).list(latest=True)})
        return found

    def build(self, workspace: Any, image_build_compute: Any = None) -> Any:
        raise UserErrorException(
            "Environment.build: images are not built ahead of time; the step's Docker runtime builds (and "
            "caches) the image of a step's environment when the step first runs"
        )

    # --- factories -------------------------------------------------------------------------

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        """From a conda environment YAML file (v1 adds Python 3.8.13 when the file names none)."""
        conda = CondaDependencies(conda_dependencies_file_path=file_path)
        if not conda.get_python_version():
            conda.set_python_version(PYTHON_DEFAULT_VERSION)
        env = Environment(name=name)
        env.python.conda_dependencies = conda
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> Environment:
        """From a pip requirements file (v1 adds the conda package ``pip``, pinned to ``pip_version``)."""
        env = Environment(name=name)
        try:
            with open(file_path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            raise UserErrorException(
                f"Environment.from_pip_requirements: {file_path!r} does not exist"
            ) from None
        assert env.python.conda_dependencies is not None
        env.python.conda_dependencies.set_pip_requirements(lines)
        env.python.conda_dependencies.add_conda_package(f"pip={pip_version}" if pip_version else "pip")
        return env

    @staticmethod
    def _from_dependencies(
        name: str, conda_specification: str | None, pip_requirements: str | None
    ) -> Environment:
        if conda_specification and pip_requirements:
            raise UserErrorException("give only one of conda_specification or pip_requirements")
        if conda_specification:
            return Environment.from_conda_specification(name, conda_specification)
        if pip_requirements:
            return Environment.from_pip_requirements(name, pip_requirements)
        env = Environment(name)
        env.python.user_managed_dependencies = True
        return env

    @staticmethod
    def from_dockerfile(
        name: str,
        dockerfile: Any,
        conda_specification: str | None = None,
        pip_requirements: str | None = None,
    ) -> Environment:
        """From a Dockerfile (its text, a path, or an open file), with optional Python dependencies."""
        env = Environment._from_dependencies(name, conda_specification, pip_requirements)
        env.docker.base_dockerfile = dockerfile
        return env

    @staticmethod
    def from_docker_image(
        name: str,
        image: str,
        container_registry: Any = None,
        conda_specification: str | None = None,
        pip_requirements: str | None = None,
    ) -> Environment:
        """From a base image, with optional Python dependencies. The step runs in a container of it
        (``docker.enabled`` is set: on v1's clusters every run used Docker). A private registry's
        login comes from an Airflow docker connection: ``container_registry`` must name it (conn_id)."""
        check_registry(container_registry, f"Environment.from_docker_image({name!r})", need_conn_id=True)
        env = Environment._from_dependencies(name, conda_specification, pip_requirements)
        env.docker.base_image = image
        env.docker.enabled = True
        if container_registry is not None:
            env.docker.base_image_registry = container_registry
        return env

    # --- files -----------------------------------------------------------------------------

    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        """Write v1's layout: ``azureml_environment.json``, ``conda_dependencies.yml``, ``BaseDockerfile``."""
        _files().save_env_directory(self, path, overwrite)

    @staticmethod
    def load_from_directory(path: str) -> Environment:
        return _files().load_env_directory(path)


def _files() -> Any:
    """The v1 file formats (environment dicts) live in runconfig.py, with the .runconfig format."""
    from airflow_mlpipe.definitions import runconfig

    return runconfig


def _registry(workspace: Any) -> Any:
    """The registered environments of a workspace, on its default datastore (over HTTP for a
    workspace of a remote Airflow: client/asset_api.py)."""
    from airflow_mlpipe.client.asset_api import workspace_assets

    return workspace_assets(workspace, "environments", "environment")


def _from_record(record: dict[str, Any]) -> Environment:
    env = _files().env_from_dict(
        record["environment"], where=f"registered environment {record.get('name')!r}"
    )
    env.name, env.version, env.asset_id = record["name"], str(record["version"]), record.get("id")
    return env


def _curated(name: str, version: Any) -> Environment:
    known = {k.lower(): k for k in CURATED}
    if name.lower() not in known:
        raise UserErrorException(
            f"curated environment {name!r} has no local equivalent in airflow-mlpipe; the known ones: "
            f"{', '.join(CURATED)}. Define an Environment with the packages it needs instead"
        )
    name = known[name.lower()]
    env = Environment(name, _skip_defaults=True)
    env.docker = DockerSection()
    env.python.conda_dependencies = CondaDependencies(
        _underlying_structure={"name": name, "dependencies": [{"pip": list(CURATED[name])}], "channels": []}
    )
    env.version = "1" if version is None else str(version)
    return env


# --- the definition a pipeline spec carries -----------------------------------------------------


def definition_of(
    env: Environment,
    where: str,
    use_docker: bool = False,
    shm_size: str | None = None,
    arguments: list[str] | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The definition of ``env``; a RunConfiguration passes its Docker settings and variables (they win)."""
    if env.r is not None:
        raise UserErrorException(f"{where}: environment.r (R environments) is not supported; use Python")
    check_registry(env.docker.base_image_registry, where)
    python, docker = env.python, env.docker
    conda = None
    if not python.user_managed_dependencies and python.conda_dependencies is not None:
        try:
            conda = python.conda_dependencies.conda_section()
        except UserErrorException as exc:
            raise UserErrorException(f"{where}: {exc}") from None
    base_image = docker.base_image
    if base_image and base_image.split("@")[0].split(":")[0] == DEFAULT_CPU_IMAGE:
        base_image = None
    merged = {**(env.environment_variables or {}), **(variables or {})}
    return {
        "name": env.name,
        "version": None if env.version is None else str(env.version),
        "python": {
            "user_managed_dependencies": bool(python.user_managed_dependencies),
            "interpreter_path": python.interpreter_path or "python",
            "conda": conda,
        },
        "docker": {
            "enabled": bool(docker.enabled or use_docker),
            "base_image": base_image,
            "base_dockerfile": docker.base_dockerfile,
            "shm_size": shm_size or docker.shm_size,
            "arguments": [str(a) for a in (arguments or docker.arguments or [])],
        },
        "environment_variables": {str(k): str(v) for k, v in merged.items()},
    }


def environment_definition(env_or_runconfig: Any, where: str | None = None) -> dict[str, Any] | None:
    """The definition dict of an Environment or a RunConfiguration (None for None). Options that cannot
    work here raise UserErrorException naming the option (prefixed with ``where``, e.g. the step)."""
    if env_or_runconfig is None:
        return None
    if isinstance(env_or_runconfig, Environment):
        return definition_of(env_or_runconfig, where or f"Environment({env_or_runconfig.name!r})")
    if callable(getattr(env_or_runconfig, "_environment_definition", None)):
        return env_or_runconfig._environment_definition(where)
    raise UserErrorException(
        f"{where or 'environment'}: expected an Environment or a RunConfiguration, got "
        f"{type(env_or_runconfig).__name__}"
    )


def environment_hash(definition: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of the definition without its name and version."""
    body = {k: v for k, v in definition.items() if k not in ("name", "version")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def needs_container(definition: dict[str, Any]) -> bool:
    """Whether the step needs the environment's image (else it runs on the worker's own Python)."""
    docker, python = definition.get("docker") or {}, definition.get("python") or {}
    if docker.get("enabled") or docker.get("base_dockerfile"):
        return True
    conda = python.get("conda") or {}
    return not python.get("user_managed_dependencies") and bool(
        conda.get("conda_packages") or conda.get("pip_packages")
    )
