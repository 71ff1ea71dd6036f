"""``CondaDependencies``: Azure ML v1's conda specification (channels, conda packages, a pip section).

The object keeps the YAML structure v1 kept (``name``, ``dependencies`` with a nested ``{"pip": [...]}``,
``channels``), so v1 code that inspects or edits it works unchanged. What a step's environment gets
from it is ``conda_section()``: the Azure ML SDK's own pip packages (``azureml-*``, such as the
``azureml-defaults`` v1 adds by default) are left out there, because airflow-mlpipe gives the step
its run context itself, and v1's implicit Python (3.8.13, what ``CondaDependencies()`` starts
from) stands for the runtime's default Python. Package specs and pip options land in pipeline specs, so one that carries
credentials (``https://user:token@host``, ``?token=...``) is refused: keep private index logins in
the image (a base Dockerfile) or in pip's own configuration on the workers.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException

__all__ = ["CondaDependencies", "PYTHON_DEFAULT_VERSION"]

PYTHON_DEFAULT_VERSION = "3.8.13"  # v1's default Python for new conda specifications
DEFAULT_SDK_ORIGIN = "https://pypi.python.org/simple"
CONDA_FILE_NAME = "auto_conda_dependencies.yml"  # v1's file name for save_to_file without a path
_VALID_KEYS = ("name", "channels", "dependencies", "prefix", "variables")
_PIP, _PACKAGES, _CHANNELS = "pip", "dependencies", "channels"
# user:password@ in a URL, or a query parameter whose value is a credential
_USERINFO = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/@\s]+@")
_SECRET_PARAM = re.compile(r"(?i)[?&](token|access_token|api_key|apikey|password|secret|sig|signature)=")


def _default_structure() -> dict[str, Any]:
    """What v1's ``CondaDependencies()`` starts from: Python, azureml-defaults, two channels."""
    return {
        "name": "project_environment",
        _PACKAGES: [f"python={PYTHON_DEFAULT_VERSION}", {_PIP: ["azureml-defaults"]}],
        _CHANNELS: ["anaconda", "conda-forge"],
    }


def check_no_credentials(text: str, where: str) -> str:
    """``text`` unchanged, or UserErrorException when it carries a login or a token."""
    if _USERINFO.search(text) or _SECRET_PARAM.search(text):
        raise UserErrorException(
            f"{where}: {_USERINFO.sub(lambda m: m.group(0).split('://')[0] + '://***@', text)!r} carries "
            "credentials, which would be stored in plain text in the pipeline spec and the registry; use an "
            "index URL without them and give pip its login in the image (a base Dockerfile) or in pip's "
            "configuration on the workers"
        )
    return text


def check_pip_option(option: str, where: str = "pip option") -> str:
    """A pip option that can be stored: no credentials, no reference to a local requirements file."""
    if option.split()[0] in ("-r", "--requirement", "-c", "--constraint"):
        raise UserErrorException(
            f"{where} {option!r}: requirement files named inside requirements are not read; list their "
            "packages in the file itself"
        )
    return check_no_credentials(option, where)


def package_name(spec: str) -> str:
    """``"scikit-learn[all]>=1.3"`` -> ``"scikit-learn"``; a wheel file or URL -> its distribution name."""
    if spec.endswith(".whl"):
        return re.split("-", re.split("/", spec)[-1])[0]
    return re.split(r"[\[=<>~!;@ ]", spec.strip(), maxsplit=1)[0]


def is_sdk_package(spec: str) -> bool:
    """Whether a pip spec installs a package of the Azure ML SDK (``azureml-*``)."""
    name = package_name(spec).lower().replace("_", "-").replace(".", "-")
    return name == "azureml" or name.startswith("azureml-")


def _is_option(item: str) -> bool:
    return item.startswith("-")


class CondaDependencies:
    """Manages a step environment's dependencies, as Azure ML v1's ``CondaDependencies``.

    ``CondaDependencies()`` holds v1's default specification (Python 3.8.13 and the pip package
    ``azureml-defaults``); ``CondaDependencies(path)`` reads a conda environment YAML file (keys
    ``name``, ``channels``, ``dependencies``, ``prefix``, ``variables``).
    """

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: Any = None):
        if conda_dependencies_file_path:
            structure = read_yaml(conda_dependencies_file_path)
            where = f"conda file {conda_dependencies_file_path!r}"
        elif _underlying_structure:
            structure = copy.deepcopy(dict(_underlying_structure))
            where = "conda specification"
        else:
            structure, where = _default_structure(), "conda specification"
        _validate(structure, where)
        self._conda_dependencies: dict[str, Any] = structure
        self._python_version = self.get_python_version()

    def __repr__(self) -> str:
        return f"CondaDependencies({self._conda_dependencies!r})"

    @staticmethod
    def create(
        pip_indexurl: str | None = None,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = PYTHON_DEFAULT_VERSION,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        """A specification with these packages (v1's argument order). Without ``pip_packages`` it holds
        ``azureml-defaults`` as v1's did; SDK packages are kept here but never installed in a step's
        environment (see ``conda_section``), so ``pin_sdk_version`` changes nothing."""
        cd = CondaDependencies()
        if pip_indexurl:
            cd.set_pip_index_url(f"--index-url {pip_indexurl}")
            cd.set_pip_option(f"--extra-index-url {DEFAULT_SDK_ORIGIN}")
        if python_version:
            cd.set_python_version(python_version)
        if pip_packages is not None:
            for package in list(cd.pip_packages):
                cd.remove_pip_package(package)
            for package in pip_packages:
                cd.add_pip_package(package)
        for package in conda_packages or []:
            cd.add_conda_package(package)
        return cd

    @staticmethod
    def merge_requirements(requirements: list[str]) -> list[str]:
        """Merge the specs of one package: ``["a>=1", "a<2"]`` -> ``["a>=1,<2"]``."""
        merged: dict[str, list[str]] = {}
        for req in requirements:
            name = package_name(req)
            merged.setdefault(name, []).append(req[len(name) :].strip())
        return [name + ",".join(x for x in parts if x) for name, parts in merged.items()]

    @staticmethod
    def sdk_origin_url() -> str:
        return DEFAULT_SDK_ORIGIN

    # --- reading ---------------------------------------------------------------------------

    def _items(self) -> list[Any]:
        return self._conda_dependencies.setdefault(_PACKAGES, [])

    def _pip_list(self, create: bool = False) -> list[str] | None:
        for item in self._conda_dependencies.get(_PACKAGES) or []:
            if isinstance(item, dict) and _PIP in item:
                if item[_PIP] is None:
                    item[_PIP] = []
                return item[_PIP]
        if create:
            pip: list[str] = []
            self._items().append({_PIP: pip})
            return pip
        return None

    @property
    def conda_channels(self) -> Iterator[str]:
        """The channels (a copy, as in v1: edit them with add_channel / remove_channel)."""
        return iter(list(self._conda_dependencies.get(_CHANNELS) or []))

    @property
    def conda_packages(self) -> Iterator[str]:
        """The conda packages, ``python=...`` included as in v1 (a copy)."""
        return iter(
            [str(x) for x in self._conda_dependencies.get(_PACKAGES) or [] if not isinstance(x, dict)]
        )

    @property
    def pip_packages(self) -> Iterator[str]:
        """The pip packages (a copy), options left out."""
        return iter([x for x in self._pip_list() or [] if not _is_option(x)])

    @property
    def pip_options(self) -> Iterator[str]:
        """The pip options such as ``--index-url ...`` (a copy)."""
        return iter([x for x in self._pip_list() or [] if _is_option(x)])

    def get_python_version(self) -> str | None:
        for item in self._conda_dependencies.get(_PACKAGES) or []:
            if isinstance(item, str) and package_name(item) == "python":
                return item[len("python") :].lstrip("=<>~! ") or None
        return None

    def get_default_number_of_packages(self) -> tuple[int, int]:
        """(conda, pip) packages in v1's default specification."""
        return 1, 1

    # --- editing ---------------------------------------------------------------------------

    def set_python_version(self, version: str) -> None:
        items = self._items()
        for index, item in enumerate(items):
            if isinstance(item, str) and package_name(item) == "python":
                items[index] = f"python={version}"
                break
        else:
            items.insert(0, f"python={version}")
        self._python_version = version

    def add_channel(self, channel: str) -> None:
        channels = self._conda_dependencies.setdefault(_CHANNELS, [])
        if channel not in channels:
            channels.append(check_no_credentials(channel, "conda channel"))

    def remove_channel(self, channel: str) -> None:
        channels = self._conda_dependencies.get(_CHANNELS) or []
        if channel in channels:
            channels.remove(channel)

    def add_conda_package(self, conda_package: str) -> None:
        check_no_credentials(conda_package, "conda package")
        if package_name(conda_package) == "python":
            self.set_python_version(conda_package[len("python") :].lstrip("=<>~! "))
        elif conda_package not in self._items():
            self._items().append(conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        if package_name(conda_package) == "python":
            raise UserErrorException("python must not be removed from conda dependencies")
        if conda_package in self._items():
            self._items().remove(conda_package)

    def add_pip_package(self, pip_package: str) -> None:
        """Add a pip package; an earlier spec of the same package is replaced (moved to the end)."""
        if _is_option(pip_package):
            raise UserErrorException(f"Invalid package name {pip_package}: use set_pip_option for options")
        check_no_credentials(pip_package, "pip package")
        self.remove_pip_package(pip_package)
        pip = self._pip_list(create=True)
        assert pip is not None
        pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        if _is_option(pip_package):
            raise UserErrorException(f"Invalid package name {pip_package}")
        pip, name = self._pip_list() or [], package_name(pip_package)
        for item in [x for x in pip if not _is_option(x) and package_name(x) == name]:
            pip.remove(item)

    def set_pip_option(self, pip_option: str) -> None:
        """Add a pip option, or replace the one with the same flag (``--index-url``)."""
        if not _is_option(pip_option):
            raise UserErrorException(f"Invalid pip option {pip_option}: options start with '-'")
        check_pip_option(pip_option)
        pip = self._pip_list(create=True)
        assert pip is not None
        flag = pip_option.split()[0]
        for index, item in enumerate(pip):
            if _is_option(item) and item.split()[0] == flag:
                pip[index] = pip_option
                return
        pip.append(pip_option)

    def remove_pip_option(self, pip_option: str) -> None:
        if not _is_option(pip_option):
            raise UserErrorException(f"Invalid pip option {pip_option}")
        pip, flag = self._pip_list() or [], pip_option.split()[0]
        for item in [x for x in pip if _is_option(x) and x.split()[0] == flag]:
            pip.remove(item)

    def set_pip_index_url(self, index_url: str) -> None:
        """v1 passes the whole option: ``set_pip_index_url("--index-url https://...")``."""
        self.set_pip_option(index_url if _is_option(index_url) else f"--index-url {index_url}")

    def set_pip_requirements(self, pip_requirements: list[str]) -> None:
        """Replace the whole pip section (packages and options)."""
        lines = [x.strip() for x in pip_requirements if x.strip() and not x.strip().startswith("#")]
        for line in lines:
            (check_pip_option if _is_option(line) else check_no_credentials)(line, "pip requirement")
        pip = self._pip_list(create=True)
        assert pip is not None
        pip[:] = lines

    def add_tensorflow_pip_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        name = "tensorflow-gpu" if core_type == "gpu" else "tensorflow"
        self.add_pip_package(f"{name}=={version}" if version else name)

    def add_tensorflow_conda_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        name = "tensorflow-gpu" if core_type == "gpu" else "tensorflow"
        self.add_conda_package(f"{name}={version}" if version else name)

    # --- writing ---------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._conda_dependencies)

    def serialize_to_string(self) -> str:
        import yaml

        return yaml.safe_dump(self._conda_dependencies, sort_keys=False, default_flow_style=False)

    def save(self, path: str | None = None) -> str:
        """Write the YAML file at ``path`` (a file path whose folder exists); returns the path."""
        if not path or os.path.isdir(path):
            raise UserErrorException(
                "CondaDependencies.save: give the path of a file (with its name), not a directory"
            )
        parent = os.path.dirname(path)
        if parent and not os.path.isdir(parent):
            raise UserErrorException(f"CondaDependencies.save: folder {parent!r} does not exist")
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.serialize_to_string())
        return path.replace("\\", "/")

    def save_to_file(self, base_directory: str, conda_file_path: str | None = None) -> str:
        """Deprecated in v1 (use save): write under ``base_directory``; returns the relative path."""
        relative = (conda_file_path or f".azureml/{CONDA_FILE_NAME}").replace("\\", "/")
        full = os.path.join(os.path.abspath(base_directory), relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        self.save(full)
        return relative

    # --- what a step's environment gets ----------------------------------------------------

    def conda_section(self) -> dict[str, Any]:
        """The ``conda`` section of an environment definition: SDK packages left out, credentials refused."""
        options = [check_pip_option(x) for x in self.pip_options]
        python = self.get_python_version()
        return {
            "channels": [check_no_credentials(x, "conda channel") for x in self.conda_channels],
            "conda_packages": [x for x in self.conda_packages if package_name(x) != "python"],
            "pip_packages": [
                check_no_credentials(x, "pip package") for x in self.pip_packages if not is_sdk_package(x)
            ],
            # v1's implicit default (3.8.13) stands for the runtime's default Python, like its default image
            "python_version": None if python == PYTHON_DEFAULT_VERSION else python,
            "pip_options": options,
        }


def read_yaml(path: str, what: str = "conda file") -> Any:
    """A YAML (or JSON) file's content; a missing or malformed file is an error naming it."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise UserErrorException(f"{what} {path!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise UserErrorException(f"{what} {path!r} is not valid YAML: {exc}") from None


def _validate(structure: Any, where: str) -> None:
    if not isinstance(structure, dict):
        raise UserErrorException(f"{where}: not a conda environment specification (a YAML mapping)")
    for key in structure:
        if str(key) not in _VALID_KEYS:
            raise UserErrorException(
                f"{where}: unknown key {key!r} in the environment specification "
                f"(allowed: {', '.join(_VALID_KEYS)})"
            )
    for key in (_PACKAGES, _CHANNELS):
        if structure.get(key) is not None and not isinstance(structure[key], list):
            raise UserErrorException(f"{where}: {key!r} should be a list")
    for item in structure.get(_PACKAGES) or []:
        if isinstance(item, dict):
            if set(item) != {_PIP} or not isinstance(item[_PIP] or [], list):
                raise UserErrorException(
                    f"{where}: a dependency mapping must be {{'pip': [...]}}, got {item!r}"
                )
            item[_PIP] = [str(spec) for spec in item[_PIP] or []]
            for spec in item[_PIP]:
                check_no_credentials(spec, f"{where}, pip entry")
        elif isinstance(item, str):
            check_no_credentials(item, f"{where}, conda package")
        else:
            raise UserErrorException(f"{where}: dependency {item!r} should be a string or {{'pip': [...]}}")
    for channel in structure.get(_CHANNELS) or []:
        check_no_credentials(str(channel), f"{where}, channel")
