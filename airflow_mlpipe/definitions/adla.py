"""AdlaStep, with Azure ML v1's constructor (``azureml.pipeline.steps.AdlaStep``): a U-SQL script
run as one job on an AdlaCompute target (an ADLA account's job API, or ``mlpipe adla serve``), or,
on a DatabricksCompute target, compiled to Spark SQL and run as one Databricks run.

v1's placeholder convention: ``@@name@@`` in the script is replaced, for each run, by the location
of the input or output named ``name`` (a path of the account's default store) or by the value of
``params[name]``. Arguments are checked when the step is built, with v1's messages prefixed by the
step's name; ``settings_spec`` checks the script's placeholders and gives the JSON the ADLA step
operator reads.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.databricks import _input_names, check_target_type, encode_plain_value
from airflow_mlpipe.definitions.parameter import PipelineParameter
from airflow_mlpipe.definitions.steps import Step, warn_hash_paths
from airflow_mlpipe.exceptions import UserErrorException

PLACEHOLDER = re.compile(r"@@([A-Za-z0-9_.\-]+)@@")
TYPE = "DataLakeAnalytics"
DATABRICKS_TYPE = "Databricks"  # definitions/databricks_compute.py's TYPE: the script runs as Spark SQL
SPARK_ENGINE = "spark"  # settings["engine"] of an AdlaStep on a Databricks target


def placeholders(script: str) -> dict[str, int]:
    """Each ``@@name@@`` of a script -> the line (1-based) it first appears on."""
    found: dict[str, int] = {}
    for m in PLACEHOLDER.finditer(script):
        found.setdefault(m.group(1), script.count("\n", 0, m.start()) + 1)
    return found


def substitute(script: str, values: dict[str, str]) -> str:
    """The script with every ``@@name@@`` whose name is in ``values`` replaced (v1's rule: others stay)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), script)


def substituted_script(
    step: str, folder: str, settings: dict[str, Any], parameters: dict[str, Any], locations: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """An AdlaStep spec's script, read from ``folder``, with ``@@name@@`` replaced by its ``params``
    (this run's ``parameters`` for PipelineParameters) and ``locations``; also the values used.
    A script that cannot be read fails the step ``step``."""
    from airflow_mlpipe.exceptions import StepFailedError

    values = {
        name: str(parameters[v["parameter"]] if "parameter" in v else v["literal"])
        for name, v in settings["params"].items()
    }
    values.update(locations)
    script_file = Path(folder) / settings["script_name"]
    try:
        text = script_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepFailedError(f"step {step!r}: cannot read U-SQL script {script_file}: {exc}") from None
    return substitute(text, values), values


class AdlaStep(Step):
    """Runs the U-SQL script ``script_name`` (relative to ``source_directory``) as one ADLA job;
    ``@@name@@`` in it becomes this run's location of an input or output, or a ``params`` value."""

    kind = "adla"

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        degree_of_parallelism: int | None = None,
        priority: int | None = None,
        runtime_version: str | None = None,
        compute_target: Any = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ):
        """Azure ML v1's AdlaStep, with the same arguments, defaults and checks."""
        if script_name is None:
            raise UserErrorException("AdlaStep: script_name is required")
        if not isinstance(script_name, str):
            raise UserErrorException("AdlaStep: script_name must be a string")
        if name is None:
            name = script_name
        where = f"step {name!r}"
        if compute_target is None:
            raise UserErrorException(f"{where}: compute_target is required")
        super().__init__(name, inputs, outputs, None, compute_target, allow_reuse, version)
        normal = posixpath.normpath(script_name.replace("\\", "/"))
        if not script_name or posixpath.isabs(normal) or normal == ".." or normal.startswith("../"):
            raise UserErrorException(
                f"{where}: script_name must be a path relative to source_directory, got {script_name!r}"
            )
        if isinstance(compute_target, str):
            if compute_target == "local":
                raise UserErrorException(f"{where}: an AdlaStep runs on an AdlaCompute, not 'local'")
        elif getattr(compute_target, "type", None) not in (TYPE, DATABRICKS_TYPE):
            raise UserErrorException(
                f"{where}: compute_target must be an AdlaCompute, a DatabricksCompute or its name, "
                f"got {compute_target!r}"
            )
        if params is not None and not isinstance(params, dict):
            raise UserErrorException(f"{where}: params must be a dict, got {type(params).__name__}")
        for key, value in (params or {}).items():
            if not (isinstance(key, str) and PLACEHOLDER.fullmatch(f"@@{key}@@")):
                raise UserErrorException(
                    f"{where}: params key {key!r} cannot be a @@name@@ placeholder; use letters, digits, "
                    "'_', '.' and '-'"
                )
            if not isinstance(value, (str, int, float, bool, PipelineParameter)):
                raise UserErrorException(
                    f"{where}: params[{key!r}] is a {type(value).__name__}; use a str, int, float, bool or "
                    "PipelineParameter"
                )
        self.degree_of_parallelism = _positive_int(
            where, "degree_of_parallelism", degree_of_parallelism, True
        )
        self.priority = _positive_int(where, "priority", priority, False)
        if runtime_version is not None and not (isinstance(runtime_version, str) and runtime_version):
            raise UserErrorException(f"{where}: runtime_version must be a string, got {runtime_version!r}")
        if hash_paths:
            warn_hash_paths()
        self.script_name = script_name
        self.params = dict(params or {})
        self.runtime_version = runtime_version
        self.source_directory = source_directory

    def settings_spec(self, builder: Any) -> dict[str, Any]:
        """The step's job as JSON: ``script_name``, ``source_directory``, ``params`` (encoded literals
        or parameters), ``substitutions`` (placeholder name -> "input" | "output" | "param"),
        ``degree_of_parallelism``, ``priority`` and ``runtime_version``; on a Databricks target also
        ``engine: "spark"`` (the step's results differ from an ADLA job's, so its fingerprint too)."""
        source = self.source_directory or builder.default_source_directory
        if source is None:
            raise UserErrorException(
                f"step {self.name!r}: no source_directory, and the Pipeline has no default_source_directory"
            )
        folder = builder.resolve_dir(str(source))
        on_databricks = self._check_target(builder)
        roles = self._roles(builder)
        script = Path(folder) / self.script_name
        try:
            text = script.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            builder.problems.append(
                f"step {self.name!r}: cannot read U-SQL script {self.script_name!r} in {folder}: {exc}"
            )
            text = ""
        unknown = {n: line for n, line in placeholders(text).items() if n not in roles}
        for placeholder, line in sorted(unknown.items(), key=lambda kv: kv[1]):
            builder.problems.append(
                f"step {self.name!r}: {self.script_name} line {line}: @@{placeholder}@@ names no input, output "
                f"or params key of the step (known: {sorted(roles) or 'none'}); add it or fix the name"
            )
        settings: dict[str, Any] = {
            "script_name": self.script_name,
            "source_directory": folder,
            "params": {k: self._encode(builder, f"params[{k!r}]", v) for k, v in sorted(self.params.items())},
            "substitutions": dict(sorted(roles.items())),
            "degree_of_parallelism": self.degree_of_parallelism,
            "priority": self.priority,
            "runtime_version": self.runtime_version,
        }
        if on_databricks:
            settings["engine"] = SPARK_ENGINE
        return settings

    def _roles(self, builder: Any) -> dict[str, str]:
        """Placeholder name -> what fills it; an input, output and params key sharing a name is a problem."""
        roles: dict[str, str] = {}
        named = [
            *(("input", n) for n in _input_names(self.inputs)),
            *(("output", o.name) for o in self.outputs if hasattr(o, "name")),
            *(("param", k) for k in self.params),
        ]
        for role, name in named:
            if name in roles and roles[name] != role:
                builder.problems.append(
                    f"step {self.name!r}: {roles[name]} and {role} are both named {name!r}, so @@{name}@@ "
                    "would mean either; rename one"
                )
                continue
            roles[name] = role
        return roles

    def _encode(self, builder: Any, where: str, value: Any) -> dict[str, Any]:
        return encode_plain_value(self, builder, where, value, "params")

    def _check_target(self, builder: Any) -> bool:
        """Whether the step runs on a Databricks target (as Spark SQL); any type but an ADLA or a
        Databricks one is a problem."""
        target = self.compute_target
        name = target if isinstance(target, str) else target.name
        spec = builder.compute_targets.get(name) or {}
        if spec.get("type") == DATABRICKS_TYPE:
            return True
        check_target_type(
            self,
            builder,
            TYPE,
            "an AdlaStep runs on an AdlaCompute (ComputeTarget.attach(ws, name, "
            "AdlaCompute.attach_configuration(...))), or as Spark SQL on a DatabricksCompute",
        )
        return False


def _positive_int(where: str, key: str, value: Any, negative_is_one: bool) -> int | None:
    """v1: both must be greater than 0; a negative degree of parallelism means 1 (ADLA's rule)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserErrorException(f"{where}: {key} must be an int, got {value!r}")
    if value < 0 and negative_is_one:
        return 1
    if value < 1:
        raise UserErrorException(f"{where}: {key} must be greater than 0, got {value}")
    return value
