"""Encoding one step of a pipeline: what its inputs, outputs, arguments and parameters are, as plain
JSON (see airflow_mlpipe.spec). Collects the datastores, parameters, data and compute targets the
steps refer to, and every problem found."""

from __future__ import annotations

import os
from typing import Any

from airflow_mlpipe.definitions.compute import LOCAL, ComputeTarget, validate_target_name
from airflow_mlpipe.definitions.dataset import DatasetConsumptionConfig
from airflow_mlpipe.definitions.datastore import DataPathComputeBinding, DataReference, Datastore
from airflow_mlpipe.definitions.output_dataset import OutputFileDatasetConfig
from airflow_mlpipe.definitions.parameter import PipelineParameter
from airflow_mlpipe.definitions.pipeline_data import PipelineData
from airflow_mlpipe.definitions.steps import Step
from airflow_mlpipe.definitions.workspace import Workspace
from airflow_mlpipe.exceptions import ComputeTargetException, UserErrorException

# DAG Params every translated pipeline has: reuse control from a trigger's conf
RESERVED_PARAMETERS = ("regenerate_outputs", "force_rerun")


class SpecBuilder:
    """Collects what steps refer to (datastores, parameters, data, compute) while encoding them."""

    def __init__(
        self,
        workspace: Workspace | None,
        default_datastore: Datastore | None = None,
        default_source_directory: str | None = None,
    ):
        self.workspace = workspace
        self.default_datastore = default_datastore
        self.default_source_directory = default_source_directory
        self.datastores: dict[str, dict[str, Any]] = {}
        self.parameters: dict[str, dict[str, Any]] = {}
        self._param_origin: dict[str, str] = {}
        self.data: dict[str, dict[str, Any]] = {}
        self._data_objects: dict[str, PipelineData] = {}
        self.compute_targets: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        self._dirs: dict[str, str] = {}

    # --- leaves ----------------------------------------------------------------------------

    def datastore(self, ds: Datastore) -> str:
        known = self.datastores.get(ds.name)
        if known is not None and known != ds.spec:
            self.problems.append(f"two different datastores are named {ds.name!r}")
        self.datastores[ds.name] = ds.spec
        return ds.name

    def resolve_dir(self, path: str) -> str:
        """An absolute source directory, resolved once per distinct path."""
        resolved = self._dirs.get(path)
        if resolved is None:
            resolved = self._dirs[path] = os.path.realpath(path)
        return resolved

    def _default_store(self, step: Step, what: str) -> Datastore:
        if self.default_datastore is not None:
            return self.default_datastore
        if self.workspace is not None:
            self.default_datastore = self.workspace.get_default_datastore()
            return self.default_datastore
        raise UserErrorException(f"step {step.name!r}: {what} has no datastore and there is no workspace")

    def reuse_settings(self) -> dict[str, Any]:
        """Where the reuse cache lives (the workspace's 'reuse.datastore', else the default
        datastore) and the global ceiling on the age of a reused result."""
        reuse = (
            dict(self.workspace.reuse) if self.workspace is not None else {"datastore": None, "max_age": None}
        )
        if reuse["datastore"] is not None:
            from airflow_mlpipe.definitions.datastore import Datastore

            self.datastore(Datastore.get(self.workspace, reuse["datastore"]))
        else:
            if self.default_datastore is None and self.workspace is None:
                return {"datastore": None, "max_age": reuse["max_age"]}
            reuse["datastore"] = self.datastore(
                self.default_datastore or self.workspace.get_default_datastore()
            )
        return reuse

    def parameter(self, step: Step, where: str, p: PipelineParameter) -> dict[str, Any]:
        if p.name in RESERVED_PARAMETERS:
            self.problems.append(
                f"step {step.name!r}: {where}: the parameter name {p.name!r} is reserved for reuse control; rename it"
            )
            return {"parameter": p.name}
        known = self.parameters.get(p.name)
        default = p.default_value
        if p.type_name == "datapath":
            self.datastore(default.datastore)
            default = default.to_spec()
        elif p.type_name == "dataset":
            for ds, _ in default.paths:
                if ds is not None:
                    self.datastore(ds)
            default = {"dataset": default.to_spec()}
        mine = {"type": p.type_name, "default": default}
        if known is not None and known != mine:
            self.problems.append(
                f"step {step.name!r}: {where} uses PipelineParameter {p.name!r} as "
                f"{p.type_name} {p.default_value!r}, but {self._param_origin[p.name]} declares it as "
                f"{known['type']} {known['default']!r}; one parameter has one type and default"
            )
        else:
            self.parameters[p.name] = mine
            self._param_origin.setdefault(p.name, f"step {step.name!r}")
        return {"parameter": p.name}

    def encode_value(self, step: Step, where: str, value: Any) -> dict[str, Any]:
        """A params/settings value: a literal primitive or a PipelineParameter."""
        if isinstance(value, PipelineParameter):
            return self.parameter(step, where, value)
        if isinstance(value, (str, int, float, bool)):
            return {"literal": value}
        self.problems.append(
            f"step {step.name!r}: {where} is a {type(value).__name__}; use a str, int, float, bool "
            "or PipelineParameter"
        )
        return {"literal": None}

    def pipeline_data(self, step: Step, pd: PipelineData, role: str) -> None:
        other = self._data_objects.get(pd.name)
        if other is not None and other is not pd._origin:
            self.problems.append(
                f"step {step.name!r}: two different PipelineData objects are named {pd.name!r}; "
                "give each output its own name"
            )
            return
        self._data_objects[pd.name] = pd._origin
        entry = self.data.setdefault(pd.name, {"producer": None, "consumers": []})
        if role == "output":
            if entry["producer"] is not None:
                self.problems.append(
                    f"PipelineData {pd.name!r} is an output of two steps: {entry['producer']!r} and "
                    f"{step.name!r}; each output has exactly one producer"
                )
            entry["producer"] = step.name
            ds = pd.datastore or self._default_store(step, f"output {pd.name!r}")
            entry.update(
                datastore=self.datastore(ds),
                output_name=pd.output_name,
                output_mode=pd.output_mode,
                is_directory=pd.is_directory,
                pipeline_output_name=pd.pipeline_output_name,
            )
            if isinstance(pd, OutputFileDatasetConfig):
                entry.update(
                    destination=pd.destination[1] if pd.destination else None,
                    overwrite=pd.overwrite,
                    source_globs=pd.source_globs,
                    register=pd.registration,
                    read_as=pd.read_as,
                )
        else:
            entry["consumers"].append(step.name)
            entry.setdefault("is_directory", pd.is_directory)
            # consumers read it from the same datastore its producer writes (named in the spec)
            self.datastore(pd.datastore or self._default_store(step, f"input {pd.name!r}"))

    def compute(self, step: Step) -> str | None:
        target = step.compute_target
        if target is None or target == LOCAL:
            return None
        if isinstance(target, tuple) and len(target) == 2:
            target = target[0]
        if isinstance(target, str):
            if self.workspace is None:
                raise UserErrorException(f"step {step.name!r}: compute target {target!r} needs a workspace")
            try:
                target = ComputeTarget(self.workspace, target)
            except ComputeTargetException as exc:
                raise ComputeTargetException(f"step {step.name!r}: {exc}") from None
        if not isinstance(target, ComputeTarget):
            self.problems.append(
                f"step {step.name!r}: compute_target must be a ComputeTarget, its name, or 'local'; got {target!r}"
            )
            return None
        validate_target_name(target.name)
        self.compute_targets[target.name] = target.to_spec()
        return target.name

    # --- one step --------------------------------------------------------------------------

    def step(self, step: Step) -> dict[str, Any]:
        inputs: list[dict[str, Any]] = []
        by_input: dict[Any, dict[str, Any]] = {}
        input_names: set[str] = set()

        def datapath_param(item: Any) -> PipelineParameter | None:
            # Azure ML v1 consumes a DataPath parameter as the tuple (param, DataPathComputeBinding)
            if (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], PipelineParameter)
                and isinstance(item[1], DataPathComputeBinding)
            ):
                return item[0]
            return None

        def identity(item: Any) -> Any:
            # one input may appear as several objects (ds.as_named_input("x") in inputs and
            # .as_download() of it in arguments); they are the same input of the same data
            if isinstance(item, PipelineData):
                return ("pipeline_data", item._input_name, id(item._origin))
            if isinstance(item, DatasetConsumptionConfig):
                return ("dataset", item.name, id(item.dataset))

            if isinstance(item, DataReference):
                return (
                    "datastore_path",
                    item.data_reference_name,
                    item.datastore.name,
                    item.path_on_datastore,
                )
            if datapath_param(item) is not None:
                return ("datapath", item[0].name)
            return ("other", id(item))

        def add_input(item: Any) -> str | None:
            key = identity(item)
            if key in by_input:
                entry = by_input[key]
                # an explicit consumption mode wins over the default one
                if entry.get("mode") == "direct" and getattr(item, "mode", "direct") != "direct":
                    entry["mode"] = item.mode
                    entry["path_on_compute"] = item.path_on_compute
                return entry["name"]
            if isinstance(item, PipelineData):
                self.pipeline_data(step, item, "input")
                entry = {
                    "name": item._input_name,
                    "kind": "pipeline_data",
                    "data": item.name,
                    "mode": item._input_mode,
                    "path_on_compute": item._input_path_on_compute,
                }
                if item._input_tabular is not None:
                    entry["tabular"] = item._input_tabular
            elif isinstance(item, DatasetConsumptionConfig) and item.parameter is not None:
                self.parameter(step, f"input {item.name!r}", item.parameter)
                entry = {
                    "name": item.name,
                    "kind": "dataset_param",
                    "parameter": item.parameter.name,
                    "mode": item.mode,
                    "path_on_compute": item.path_on_compute,
                }
            elif isinstance(item, DatasetConsumptionConfig):
                for ds, _ in item.dataset.paths:
                    if ds is not None:
                        self.datastore(ds)
                entry = {
                    "name": item.name,
                    "kind": "dataset",
                    "dataset": item.dataset.to_spec(),
                    "mode": item.mode,
                    "path_on_compute": item.path_on_compute,
                }
            elif isinstance(item, DataReference):
                entry = {
                    "name": item.data_reference_name,
                    "kind": "datastore_path",
                    "datastore": self.datastore(item.datastore),
                    "path": item.path_on_datastore,
                    "mode": item.mode,
                    "path_on_compute": item.path_on_compute,
                }
            elif datapath_param(item) is not None:
                param, binding = item
                if param.type_name != "datapath":
                    self.problems.append(
                        f"step {step.name!r}: input ({param.name!r}, DataPathComputeBinding) needs a "
                        f"PipelineParameter whose default is a DataPath, not a {param.type_name}"
                    )
                    return None
                self.parameter(step, f"input {param.name!r}", param)
                entry = {
                    "name": param.name,
                    "kind": "datapath_param",
                    "parameter": param.name,
                    "mode": binding.mode,
                    "path_on_compute": binding.path_on_compute,
                }
            else:
                self.problems.append(
                    f"step {step.name!r}: input {item!r} is not a PipelineData, a dataset input "
                    "(dataset.as_named_input(...)), a DataReference or a (DataPath parameter, "
                    "DataPathComputeBinding) pair"
                )
                return None
            if entry["name"] in input_names:
                self.problems.append(
                    f"step {step.name!r}: two different inputs are named {entry['name']!r}; input names must be unique"
                )
            inputs.append(entry)
            input_names.add(entry["name"])
            by_input[key] = entry
            return entry["name"]

        outputs: list[dict[str, Any]] = []
        output_objs = set()
        for out in outputs_of(step):
            if not isinstance(out, PipelineData):
                self.problems.append(f"step {step.name!r}: output {out!r} is not a PipelineData")
                continue
            self.pipeline_data(step, out, "output")
            output_objs.add(id(out._origin))
            outputs.append(
                {
                    "name": out.name,
                    "output_name": out.output_name,
                    "mode": out.output_mode,
                    "path_on_compute": out.output_path_on_compute,
                    "is_directory": out.is_directory,
                }
            )
        for item in step.inputs:
            add_input(item)

        arguments: list[dict[str, Any]] = []
        for i, arg in enumerate(step.arguments):
            where = f"arguments[{i}]"
            if isinstance(arg, PipelineData):
                if id(arg._origin) in output_objs and not getattr(arg, "_bound_as_input", False):
                    arguments.append({"output": arg.name})
                else:
                    # v1 adds a PipelineData passed as an argument to the step's inputs
                    arguments.append({"input": add_input(arg)})
            elif isinstance(arg, (DatasetConsumptionConfig, DataReference)) or datapath_param(arg):
                arguments.append({"input": add_input(arg)})
            elif isinstance(arg, PipelineParameter):
                arguments.append(self.parameter(step, where, arg))
            elif isinstance(arg, (str, int, float, bool)):
                arguments.append({"literal": str(arg)})
            else:
                hint = (
                    " (call .as_named_input('name') on a dataset)" if hasattr(arg, "as_named_input") else ""
                )
                self.problems.append(
                    f"step {step.name!r}: {where} is a {type(arg).__name__}{hint}; arguments take str, numbers, "
                    "PipelineParameter, PipelineData and dataset inputs"
                )
        return {
            "name": step.name,
            "kind": step.kind,
            "max_reuse_age": getattr(step, "max_reuse_age", None),
            "compute_target": self.compute(step),
            "allow_reuse": step.allow_reuse,
            "version": step.version,
            "inputs": inputs,
            "outputs": outputs,
            "arguments": arguments,
            "settings": step.settings_spec(self),
        }


def outputs_of(step: Step) -> list[Any]:
    """A step's outputs: its ``outputs``, plus each OutputFileDatasetConfig in its ``arguments``
    that is not taken ``.as_input()`` (Azure ML v1 inferred those outputs from the arguments)."""
    outs = list(step.outputs)
    seen = {id(getattr(o, "_origin", o)) for o in outs}
    for arg in step.arguments:
        if getattr(arg, "_infers_output", False) and id(arg._origin) not in seen:
            seen.add(id(arg._origin))
            outs.append(arg)
    return outs
