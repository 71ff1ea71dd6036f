"""Pipeline steps with Azure ML v1's constructors. Each step becomes one Airflow task."""

from __future__ import annotations

import warnings
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException


class Step:
    """What every step kind shares: a name, inputs, outputs, arguments, ordering and reuse."""

    kind = "abstract"

    def __init__(
        self,
        name: str,
        inputs: list[Any] | None,
        outputs: list[Any] | None,
        arguments: list[Any] | None,
        compute_target: Any,
        allow_reuse: bool,
        version: str | None,
    ):
        if not isinstance(name, str) or not name:
            raise UserErrorException(f"step name must be a non-empty string, got {name!r}")
        for what, value in (("inputs", inputs), ("outputs", outputs), ("arguments", arguments)):
            if value is not None and not isinstance(value, (list, tuple)):
                raise UserErrorException(f"step {name!r}: {what} must be a list, got {type(value).__name__}")
        if not isinstance(allow_reuse, bool):
            raise UserErrorException(f"step {name!r}: allow_reuse must be True or False")
        self.name = name
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.arguments = list(arguments or [])
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self.version = None if version is None else str(version)
        self._run_after: list[Step] = []
        inferred = [a for a in self.arguments if getattr(a, "_infers_output", False)]
        for out in [*self.outputs, *inferred]:
            origin = getattr(out, "_origin", None)
            if origin is not None and getattr(origin, "_producer", None) is None:
                origin._producer = self  # lets Pipeline(resolve_closure=True) find this step

    def run_after(self, step: Step) -> None:
        """Run this step after ``step`` even though no data flows between them."""
        if not isinstance(step, Step):
            raise UserErrorException(f"step {self.name!r}: run_after() takes a step, got {step!r}")
        self._run_after.append(step)

    def settings_spec(self, builder: Any) -> dict[str, Any]:
        """The kind-specific settings, as JSON (see airflow_mlpipe.spec)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class PythonScriptStep(Step):
    """Runs ``script_name`` from ``source_directory`` with Python on an Airflow worker."""

    kind = "python_script"

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
        max_reuse_age: Any = None,
    ):
        """Azure ML v1's PythonScriptStep. ``max_reuse_age`` (an airflow-mlpipe addition: seconds,
        a timedelta or '12h') bounds how old a committed result this step may reuse."""
        if not isinstance(script_name, str) or not script_name:
            raise UserErrorException(
                f"PythonScriptStep: script_name must be a file name, got {script_name!r}"
            )
        super().__init__(
            name or script_name, inputs, outputs, arguments, compute_target, allow_reuse, version
        )
        if runconfig is not None:
            from airflow_mlpipe.definitions.runconfig import RunConfiguration

            if not isinstance(runconfig, RunConfiguration):
                raise UserErrorException(
                    f"step {self.name!r}: runconfig must be a RunConfiguration, got {type(runconfig).__name__}"
                )
        self.runconfig = runconfig
        self.runconfig_pipeline_params = check_runconfig_params(self.name, runconfig_pipeline_params)
        if params is not None and not isinstance(params, dict):
            raise UserErrorException(
                f"step {self.name!r}: params must be a dict, got {type(params).__name__}"
            )
        if hash_paths:
            warn_hash_paths()
        from airflow_mlpipe.definitions.workspace import parse_duration

        self.max_reuse_age = (
            None
            if max_reuse_age is None
            else parse_duration(max_reuse_age, f"step {self.name!r}: max_reuse_age")
        )
        self.script_name = script_name
        self.params = dict(params or {})
        self.source_directory = source_directory

    def settings_spec(self, builder: Any) -> dict[str, Any]:
        source = self.source_directory or builder.default_source_directory
        if source is None:
            raise UserErrorException(
                f"step {self.name!r}: no source_directory, and the Pipeline has no default_source_directory"
            )
        from airflow_mlpipe.definitions.environment import environment_definition

        environment = environment_definition(self.runconfig, where=f"step {self.name!r}: runconfig")
        settings = {
            "script_name": self.script_name,
            "source_directory": builder.resolve_dir(str(source)),
            "params": {
                k: builder.encode_value(self, f"params[{k!r}]", v) for k, v in sorted(self.params.items())
            },
        }
        if environment is not None:  # the step's environment (docs/environments.md); else the worker's Python
            settings["environment"] = environment
        if self.runconfig_pipeline_params:
            settings["runconfig_params"] = {
                k: builder.encode_value(self, f"runconfig_pipeline_params[{k!r}]", v)
                for k, v in sorted(self.runconfig_pipeline_params.items())
            }
        return settings


def warn_hash_paths() -> None:
    """v1's deprecation of ``hash_paths``: the whole source folder is hashed anyway."""
    warnings.warn(
        "Parameter 'hash_paths' is deprecated and will be removed. All files under "
        "source_directory are hashed (except those excluded by .amlignore or .gitignore).",
        DeprecationWarning,
        stacklevel=3,
    )


# runconfig properties v1 let a PipelineParameter set per run; a step runs on one node here, so
# each must come to 1 at run time (the operator checks the run's value)
RUNCONFIG_PARAMS = ("NodeCount", "MpiProcessCountPerNode")
_TENSORFLOW_PARAMS = ("TensorflowWorkerCount", "TensorflowParameterServerCount")


def check_runconfig_params(step: str, params: Any) -> dict[str, Any]:
    if not params:
        return {}
    if not isinstance(params, dict):
        raise UserErrorException(f"step {step!r}: runconfig_pipeline_params must be a dict, got {params!r}")
    for key in params:
        if key in _TENSORFLOW_PARAMS:
            raise UserErrorException(
                f"step {step!r}: runconfig_pipeline_params[{key!r}]: distributed TensorFlow is not supported; "
                "a step runs as one process"
            )
        if key not in RUNCONFIG_PARAMS:
            raise UserErrorException(
                f"step {step!r}: runconfig_pipeline_params[{key!r}] is not a runconfig property a pipeline "
                f"parameter can set; v1 allowed {list(RUNCONFIG_PARAMS + _TENSORFLOW_PARAMS)}"
            )
    return dict(params)
