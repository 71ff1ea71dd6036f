"""DatabricksStep (its library classes are in databricks_libraries.py), with Azure ML v1's constructors
(``azureml.pipeline.steps.DatabricksStep``, ``azureml.core.databricks``): a notebook, a Python
script or a JAR run as one Databricks job on a DatabricksCompute target.

Arguments are checked when the step is built, with v1's messages prefixed by the step's name;
``settings_spec`` gives the JSON the Databricks step operator reads (see its docstring).
"""

from __future__ import annotations

import posixpath
from typing import Any

from airflow_mlpipe.definitions.databricks_libraries import (
    LIBRARY_ARGS,
    EggLibrary,
    JarLibrary,
    MavenLibrary,
    PyPiLibrary,
    RCranLibrary,
    _Library,
)
from airflow_mlpipe.definitions.dataset import NAME_RE
from airflow_mlpipe.definitions.parameter import PipelineParameter
from airflow_mlpipe.definitions.steps import Step, warn_hash_paths
from airflow_mlpipe.exceptions import UserErrorException

DEFAULT_SPARK_VERSION = "10.4.x-scala2.12"
DEFAULT_NODE_TYPE = "Standard_D3_v2"
TASKS = ("notebook_path", "python_script_path", "python_script_name", "main_class_name")
NEW_CLUSTER_ARGS = (
    "spark_version",
    "node_type",
    "instance_pool_id",
    "num_workers",
    "min_workers",
    "max_workers",
    "spark_env_variables",
    "spark_conf",
    "init_scripts",
    "cluster_log_dbfs_path",
)
# which task each kind of parameters goes with
PARAMS_OF = {
    "notebook_params": ("notebook_path",),
    "python_script_params": ("python_script_path", "python_script_name"),
    "jar_params": ("main_class_name",),
}
_EXACTLY_ONE = (
    "Exactly one of notebook_path, python_script_path, python_script_name or main_class_name is required"
)


class DatabricksStep(Step):
    """Runs a Databricks notebook, a Python script (on DBFS, or ``python_script_name`` from a local
    ``source_directory``) or a JAR's main class as one Databricks job, on a new job cluster or an
    existing interactive one. Inputs and outputs reach the code as widgets / ``--name`` arguments."""

    kind = "databricks"

    def __init__(
        self,
        name: str,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        existing_cluster_id: str | None = None,
        spark_version: str | None = None,
        node_type: str | None = None,
        instance_pool_id: str | None = None,
        num_workers: int | None = None,
        min_workers: int | None = None,
        max_workers: int | None = None,
        spark_env_variables: dict[str, str] | None = None,
        spark_conf: dict[str, str] | None = None,
        init_scripts: list[str] | None = None,
        cluster_log_dbfs_path: str | None = None,
        notebook_path: str | None = None,
        notebook_params: dict[str, Any] | None = None,
        python_script_path: str | None = None,
        python_script_params: list[Any] | None = None,
        main_class_name: str | None = None,
        jar_params: list[Any] | None = None,
        python_script_name: str | None = None,
        source_directory: str | None = None,
        hash_paths: list[str] | None = None,
        run_name: str | None = None,
        timeout_seconds: int | None = None,
        runconfig: Any = None,
        maven_libraries: list[MavenLibrary] | None = None,
        pypi_libraries: list[PyPiLibrary] | None = None,
        egg_libraries: list[EggLibrary] | None = None,
        jar_libraries: list[JarLibrary] | None = None,
        rcran_libraries: list[RCranLibrary] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
        permit_cluster_restart: bool | None = None,
    ):
        """Azure ML v1's DatabricksStep, with the same arguments, defaults and checks."""
        if name is None:
            raise UserErrorException("DatabricksStep: name is required")
        if not isinstance(name, str) or not name:
            raise UserErrorException(f"DatabricksStep: name must be a string, got {name!r}")
        where = f"step {name!r}"
        args = dict(locals())
        libraries = {key: args[key] for key, _ in LIBRARY_ARGS}
        if runconfig is not None:
            if any(v is not None for v in libraries.values()):
                raise UserErrorException(
                    f"{where}: Either pass runconfig or each library type as a separate parameter"
                )
            raise UserErrorException(
                f"{where}: runconfig is not supported for a DatabricksStep: a RunConfiguration here has no "
                "databricks section (its environment and Docker settings do not apply to a Databricks job); "
                "pass the libraries as maven_libraries=, pypi_libraries=, egg_libraries=, jar_libraries=, "
                "rcran_libraries= and the cluster settings as DatabricksStep arguments"
            )
        super().__init__(name, inputs, outputs, None, compute_target, allow_reuse, version)
        self.cluster = _cluster(where, args)
        self.task, self.source_directory = _task(where, args)
        self.notebook_params = _params(where, args, "notebook_params", dict)
        self.python_script_params = _params(where, args, "python_script_params", list)
        self.jar_params = _params(where, args, "jar_params", list)
        self.libraries: list[_Library] = []
        for key, cls in LIBRARY_ARGS:
            given = libraries[key]
            if given is not None and not isinstance(given, (list, tuple)):
                raise UserErrorException(f"{where}: {key} must be a list of {cls.__name__}, got {given!r}")
            for i, lib in enumerate(given or []):
                if not isinstance(lib, cls):
                    raise UserErrorException(f"{where}: {key}[{i}] must be a {cls.__name__}, got {lib!r}")
                self.libraries.append(lib)
        if hash_paths:
            warn_hash_paths()
        if run_name is not None and not isinstance(run_name, str):
            raise UserErrorException(f"{where}: run_name must be a string")
        if timeout_seconds is not None and (
            isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int) or timeout_seconds < 0
        ):
            raise UserErrorException(f"{where}: timeout_seconds must be an int (seconds, 0 for none)")
        if compute_target is None:
            raise UserErrorException(f"{where}: compute_target is required")
        if isinstance(compute_target, str):
            if compute_target == "local":
                raise UserErrorException(
                    f"{where}: a DatabricksStep runs on a DatabricksCompute, not 'local'"
                )
        elif getattr(compute_target, "type", None) != "Databricks":
            raise UserErrorException(
                f"{where}: compute_target must be a DatabricksCompute or its name, got {compute_target!r}"
            )
        if permit_cluster_restart is not None:
            if not isinstance(permit_cluster_restart, bool):
                raise UserErrorException(f"{where}: permit_cluster_restart must be True or False")
            if existing_cluster_id is None:
                raise UserErrorException(
                    f"{where}: permit_cluster_restart applies only with existing_cluster_id (a new job cluster "
                    "is started for the run anyway); remove it"
                )
        self.run_name = run_name
        self.timeout_seconds = timeout_seconds
        self.permit_cluster_restart = bool(permit_cluster_restart)

    def settings_spec(self, builder: Any) -> dict[str, Any]:
        """The step's Databricks job as JSON: ``task``, ``source_directory`` (python_script_name only),
        ``notebook_params`` / ``python_script_params`` / ``jar_params`` (encoded literals or parameters),
        ``cluster``, ``libraries`` (Jobs API objects), ``run_name``, ``timeout_seconds`` and
        ``permit_cluster_restart``."""
        self._check_names(builder)
        self._check_target(builder)
        settings: dict[str, Any] = {"task": dict(self.task)}
        if self.source_directory is not None:
            settings["source_directory"] = builder.resolve_dir(str(self.source_directory))
        settings["notebook_params"] = {
            k: self._encode(builder, f"notebook_params[{k!r}]", v) for k, v in self.notebook_params.items()
        }
        for key in ("python_script_params", "jar_params"):
            values = getattr(self, key)
            settings[key] = [self._encode(builder, f"{key}[{i}]", v) for i, v in enumerate(values)]
        settings["cluster"] = self.cluster
        settings["libraries"] = [lib.to_jobs_api() for lib in self.libraries]
        settings["run_name"] = self.run_name
        settings["timeout_seconds"] = self.timeout_seconds
        settings["permit_cluster_restart"] = self.permit_cluster_restart
        return settings

    def _encode(self, builder: Any, where: str, value: Any) -> dict[str, Any]:
        return encode_plain_value(self, builder, where, value, "parameters")

    def _check_names(self, builder: Any) -> None:
        """Inputs and outputs reach the code as widgets and ``--name`` arguments: their names must be
        identifiers, distinct, and not taken by a notebook parameter."""
        seen: dict[str, str] = {}
        for role, name in [
            *(("input", n) for n in _input_names(self.inputs)),
            *(("output", o.name) for o in self.outputs if hasattr(o, "name")),
        ]:
            if not NAME_RE.match(name):
                builder.problems.append(
                    f"step {self.name!r}: {role} name {name!r} cannot be a widget or '--{name}' argument; "
                    "use letters, digits and '_' (set data_reference_name= or the PipelineData's name)"
                )
            elif name in seen and seen[name] != role:
                builder.problems.append(
                    f"step {self.name!r}: an input and an output are both named {name!r}; the script would "
                    "get one widget / argument for both; rename one"
                )
            elif name in self.notebook_params:
                builder.problems.append(
                    f"step {self.name!r}: notebook_params key {name!r} is also the name of an {role}, whose "
                    "widget would hide the parameter; rename one"
                )
            seen.setdefault(name, role)

    def _check_target(self, builder: Any) -> None:
        check_target_type(
            self,
            builder,
            "Databricks",
            "a DatabricksStep runs on a DatabricksCompute (ComputeTarget.attach(ws, name, "
            "DatabricksCompute.attach_configuration(...)))",
        )


def encode_plain_value(step: Any, builder: Any, where: str, value: Any, plain: str) -> dict[str, Any]:
    """A remote step's parameter value as the spec encodes it; a datapath or dataset parameter is a
    problem (data goes in as an input; ``plain`` names the argument plain values go in)."""
    if isinstance(value, PipelineParameter) and value.type_name in ("datapath", "dataset"):
        builder.problems.append(
            f"step {step.name!r}: {where} is the {value.type_name} parameter {value.name!r}; pass data as "
            f"an input (inputs=[...]) and plain values (str, int, float, bool) as {plain}"
        )
        return {"literal": None}
    return builder.encode_value(step, where, value)


def check_target_type(step: Any, builder: Any, target_type: str, runs_on: str) -> None:
    """A problem unless the step's compute target, where the pipeline defines it, is a ``target_type``
    one (``runs_on``: which target the step needs and how to attach one)."""
    target = step.compute_target
    name = target if isinstance(target, str) else target.name
    spec = builder.compute_targets.get(name)
    if spec is not None and spec.get("type") != target_type:
        builder.problems.append(
            f"step {step.name!r}: compute target {name!r} is a {spec.get('type')} target; {runs_on}"
        )


def _input_names(inputs: list[Any]) -> list[str]:
    """The names a step's inputs go by (the spec builder's names, before it encodes them)."""
    names = []
    for item in inputs:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], PipelineParameter):
            names.append(item[0].name)
            continue
        for attr in ("_input_name", "data_reference_name", "name"):
            value = getattr(item, attr, None)
            if isinstance(value, str):
                names.append(value)
                break
    return names


def _cluster(where: str, args: dict[str, Any]) -> dict[str, Any]:
    """The Jobs API cluster of the step: an existing cluster or a new job cluster (v1's defaults)."""
    existing = args["existing_cluster_id"]
    if existing is not None:
        if not isinstance(existing, str) or not existing:
            raise UserErrorException(f"{where}: existing_cluster_id must be a string")
        given = [a for a in NEW_CLUSTER_ARGS if args[a] is not None]
        if given:
            raise UserErrorException(
                f"{where}: If you specify existing_cluster_id, you can not specify any other cluster "
                f"parameters (got {', '.join(given)})"
            )
        return {"existing_cluster_id": existing}
    spark_version = args["spark_version"] if args["spark_version"] is not None else DEFAULT_SPARK_VERSION
    node_type, pool = args["node_type"], args["instance_pool_id"]
    if not isinstance(spark_version, str) or not spark_version:
        raise UserErrorException(f"{where}: spark_version must be a string")
    if node_type is not None and pool is not None:
        raise UserErrorException(f"{where}: Exactly one of node_type or instance_pool_id can be specified")
    if node_type is None and pool is None:
        node_type = DEFAULT_NODE_TYPE
    for key, value in (("node_type", node_type), ("instance_pool_id", pool)):
        if value is not None and (not isinstance(value, str) or not value):
            raise UserErrorException(f"{where}: {key} must be a string")
    cluster: dict[str, Any] = {"spark_version": spark_version}
    if node_type is not None:
        cluster["node_type_id"] = node_type
    else:
        cluster["instance_pool_id"] = pool
    num, low, high = args["num_workers"], args["min_workers"], args["max_workers"]
    if num is None and (low is None or high is None):
        raise UserErrorException(f"{where}: one of num_workers or min_workers and max_workers is required")
    if num is not None and (low is not None or high is not None):
        raise UserErrorException(
            f"{where}: exactly one of num_workers or min_workers and max_workers is required"
        )
    for key, value, least in (("num_workers", num, 0), ("min_workers", low, 0), ("max_workers", high, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserErrorException(f"{where}: {key} must be an int")
        if value is not None and value < least:
            raise UserErrorException(f"{where}: {key} must be at least {least}, got {value}")
    if num is not None:
        cluster["num_workers"] = num
    else:
        if low > high:
            raise UserErrorException(f"{where}: min_workers ({low}) must not exceed max_workers ({high})")
        cluster["autoscale"] = {"min_workers": low, "max_workers": high}
    for key, out in (("spark_env_variables", "spark_env_vars"), ("spark_conf", "spark_conf")):
        value = args[key]
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, (str, int, float, bool)) for k, v in value.items()
        ):
            raise UserErrorException(f"{where}: {key} must be a dict of names to strings, got {value!r}")
        if value:
            cluster[out] = {k: str(v) for k, v in value.items()}
    scripts = args["init_scripts"]
    if scripts is not None:
        if not isinstance(scripts, list) or not all(isinstance(s, str) and s for s in scripts):
            raise UserErrorException(f"{where}: init_scripts should be a list of strings")
        if scripts:
            cluster["init_scripts"] = [{"dbfs": {"destination": s}} for s in scripts]
    log_path = args["cluster_log_dbfs_path"]
    if log_path is not None:
        if not isinstance(log_path, str) or not log_path:
            raise UserErrorException(f"{where}: cluster_log_dbfs_path should be a string")
        cluster["cluster_log_conf"] = {"dbfs": {"destination": log_path}}
    return {"new_cluster": cluster}


def _task(where: str, args: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """The one thing the job runs, and the local source_directory of a python_script_name."""
    given = [key for key in TASKS if args[key] is not None]
    for key in given:
        if not isinstance(args[key], str) or not args[key]:
            raise UserErrorException(f"{where}: {key} must be a string")
    if len(given) != 1:
        raise UserErrorException(f"{where}: {_EXACTLY_ONE}" + (f" (got {', '.join(given)})" if given else ""))
    key = given[0]
    source = args["source_directory"]
    if key == "python_script_name":
        if source is None:
            raise UserErrorException(
                f"{where}: If python_script_name is specified then source_directory must be too"
            )
        script = args[key]
        normal = posixpath.normpath(script.replace("\\", "/"))
        if posixpath.isabs(normal) or normal == ".." or normal.startswith("../") or ":" in script:
            raise UserErrorException(
                f"{where}: python_script_name must be a path relative to source_directory, got {script!r}; "
                "a script already on DBFS goes in python_script_path"
            )
    elif source is not None:
        raise UserErrorException(
            f"{where}: source_directory goes with python_script_name only (the {key} is not uploaded)"
        )
    for params, tasks in PARAMS_OF.items():
        if args[params] and key not in tasks:
            raise UserErrorException(
                f"{where}: {params} apply to {' or '.join(tasks)}, and this step runs {key}"
            )
    return {key: args[key]}, source


def _params(where: str, args: dict[str, Any], key: str, kind: type) -> Any:
    value = args[key]
    if value is None:
        return kind()
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        hint = (
            " (a set has no order: the arguments would come in any order)" if isinstance(value, set) else ""
        )
        raise UserErrorException(
            f"{where}: {key} must be a {kind.__name__}, got {type(value).__name__}{hint}"
        )
    items = value.items() if kind is dict else enumerate(value)
    for k, v in items:
        if kind is dict and not (isinstance(k, str) and k):
            raise UserErrorException(f"{where}: {key} keys must be non-empty strings, got {k!r}")
        if not isinstance(v, (str, int, float, bool, PipelineParameter)):
            raise UserErrorException(
                f"{where}: {key}[{k!r}] is a {type(v).__name__}; use a str, int, float, bool or PipelineParameter"
            )
    return dict(value) if kind is dict else list(value)
