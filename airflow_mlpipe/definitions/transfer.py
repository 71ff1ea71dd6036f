"""DataTransferStep (Azure ML v1's ``azureml.pipeline.steps.DataTransferStep``): copy files or a
table from one datastore to another, on a DataFactoryCompute target (an Airflow pool; Azure Data
Factory itself is not called, see docs/transfer.md).

Checks and messages are v1's, prefixed with the step's name. Beyond v1: the destination may also be
a PipelineData, an OutputFileDatasetConfig or a FileDataset of one datastore path. ``settings_spec``
gives the JSON the transfer operator reads::

    {"source": <ref>, "destination": <ref>, "source_type": "file"|"directory"|None,
     "destination_type": ..., "output": <data name of get_output()>}

where a ``<ref>`` is ``{"kind": "datastore_path", "datastore", "path"}``,
``{"kind": "pipeline_data", "data"}``, ``{"kind": "dataset"}`` or ``{"kind": "sql", "datastore",
"table"|"query"|"procedure", "params"}``; a source that is also one of the step's inputs (every kind
but sql) names it with ``"input"``, so the operator resolves it like any input (location, fingerprint).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from airflow_mlpipe.definitions.compute import LOCAL, ComputeTarget
from airflow_mlpipe.definitions.dataset import DatasetConsumptionConfig, FileDataset, check_input_name
from airflow_mlpipe.definitions.datastore import DataReference
from airflow_mlpipe.definitions.output_dataset import OutputFileDatasetConfig
from airflow_mlpipe.definitions.pipeline_data import PipelineData
from airflow_mlpipe.definitions.sql_reference import SqlDataReference
from airflow_mlpipe.definitions.steps import Step
from airflow_mlpipe.exceptions import UserErrorException

OUTPUT_PORT = "_data_transfer_output"  # v1's name of a transfer step's output
REFERENCE_TYPES = ("file", "directory")
POOLED_TYPES = ("DataFactory", "AmlCompute")  # targets that are an Airflow pool a transfer may run on
_COMPUTE_HINT = (
    "pass a DataFactoryCompute (ComputeTarget.create(ws, 'adf', DataFactoryCompute.provisioning_configuration())), "
    "its name, or 'local' to run on any worker"
)


class DataTransferOutput(PipelineData):
    """``get_output()`` of a transfer step: the destination, as data a later step consumes (its
    input name is ``_data_transfer_output``, as in v1; ``.as_input(name)`` renames it)."""

    def __init__(self, step_name: str, destination: DataReference, is_directory: bool):
        super().__init__(
            _data_name(step_name),
            datastore=destination.datastore,
            output_name=OUTPUT_PORT,
            output_path_on_compute=destination.path_on_compute,
            output_overwrite=destination.overwrite,
            is_directory=is_directory,
        )
        self._input_name = OUTPUT_PORT
        self.destination = destination


def _data_name(step_name: str) -> str:
    """A pipeline-wide unique data name for the step's output (v1 scoped port names per step)."""
    safe = re.sub(r"\W", "_", step_name)
    if safe != step_name:  # keep distinct names distinct after the substitution
        safe += "_" + hashlib.sha1(step_name.encode()).hexdigest()[:8]
    return f"{OUTPUT_PORT}_{safe}"


def _reference_type(where: str, what: str, value: Any) -> str | None:
    if value is None:
        return None
    values = ", ".join(REFERENCE_TYPES)
    if not isinstance(value, str):
        raise UserErrorException(f"{where}: {what} must be a string. Possible values include: {values}.")
    if value.lower() not in REFERENCE_TYPES:
        raise UserErrorException(
            f"{where}: Unknown value provided for {what}. Possible values include: {values}."
        )
    return value.lower()


def _source(where: str, ref: Any) -> Any:
    """The source as a DataReference, SqlDataReference, PipelineData or dataset input."""
    if isinstance(ref, (DataReference, PipelineData)):
        return ref
    if isinstance(ref, FileDataset):
        name = ref.name if isinstance(ref.name, str) and re.match(r"^[A-Za-z_]\w*$", ref.name) else "source"
        return ref.as_named_input(name)
    if isinstance(ref, DatasetConsumptionConfig):
        dataset = ref.parameter.default_value if ref.parameter is not None else ref.dataset
        if isinstance(dataset, FileDataset):
            return ref
    if hasattr(ref, "to_spec") and hasattr(ref, "paths"):  # a TabularDataset and the like
        raise UserErrorException(
            f"{where}: source_data_reference is a {type(ref).__name__}; copy its files with a FileDataset of "
            "the same paths (Dataset.File.from_files(path=...))"
        )
    raise UserErrorException(
        f"{where}: Unexpected source_data_reference type: {type(ref).__name__}; use a DataReference, "
        "SqlDataReference, PipelineData, OutputFileDatasetConfig or FileDataset"
    )


def _destination(where: str, ref: Any) -> Any:
    """The destination as a DataReference, a SqlDataReference of a table, or a PipelineData."""
    if isinstance(ref, SqlDataReference):
        if ref.sql_table is None:
            raise UserErrorException(
                f"{where}: a SqlDataReference destination must name a table (sql_table=...), not a "
                f"{ref.sql_kind}; rows are appended to that table"
            )
        return ref
    if isinstance(ref, OutputFileDatasetConfig) and ref._bound_as_input:
        raise UserErrorException(
            f"{where}: destination_data_reference is OutputFileDatasetConfig {ref.name!r} taken as_input(); "
            "this step writes it, so pass the OutputFileDatasetConfig itself"
        )
    if isinstance(ref, (DataReference, PipelineData)):
        return ref
    if isinstance(ref, FileDataset):
        if len(ref.paths) != 1 or ref.paths[0][0] is None or re.search(r"[*?\[]", ref.paths[0][1]):
            raise UserErrorException(
                f"{where}: a FileDataset destination must be one datastore path without wildcards, got "
                f"{[p for _, p in ref.paths]}"
            )
        datastore, path = ref.paths[0]
        return DataReference(datastore, path_on_datastore=path)
    raise UserErrorException(
        f"{where}: Unexpected destination_data_reference type: {type(ref).__name__}; use a DataReference, "
        "SqlDataReference (a table), PipelineData, OutputFileDatasetConfig or FileDataset"
    )


def _check_compute(where: str, target: Any) -> None:
    if target is None:
        raise UserErrorException(f"{where}: compute_target is required; {_COMPUTE_HINT}")
    if isinstance(target, str):
        return  # resolved against the workspace when the pipeline is built (settings_spec)
    if isinstance(target, ComputeTarget) and target.type in POOLED_TYPES:
        return
    raise UserErrorException(
        f"{where}: compute_target is not specified correctly: got {target!r}; {_COMPUTE_HINT}"
    )


def _same_place(a: Any, b: Any) -> bool:
    """Whether two datastore references overlap (one is the other or inside it)."""
    if type(a) is not DataReference or type(b) is not DataReference or a.datastore.name != b.datastore.name:
        return False
    pa, pb = a.path_on_datastore, b.path_on_datastore
    return pa == pb or not pa or not pb or pb.startswith(pa + "/") or pa.startswith(pb + "/")


class DataTransferStep(Step):
    """Copies ``source_data_reference`` to ``destination_data_reference``: files between Blob, ADLS
    Gen2, Azure Files and local datastores, tables and queries to files, files into a table."""

    kind = "data_transfer"

    def __init__(
        self,
        name: str,
        source_data_reference: Any = None,
        destination_data_reference: Any = None,
        compute_target: Any = None,
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        allow_reuse: bool = True,
    ):
        """Azure ML v1's DataTransferStep, with the same arguments and checks."""
        if name is None:
            raise UserErrorException("DataTransferStep: name is required")
        if not isinstance(name, str):
            raise UserErrorException(f"DataTransferStep: name must be a string, got {name!r}")
        where = f"DataTransferStep {name!r}"
        if source_data_reference is None:
            raise UserErrorException(f"{where}: source_data_reference is required")
        if destination_data_reference is None:
            raise UserErrorException(f"{where}: destination_data_reference is required")
        _check_compute(where, compute_target)
        source_type = _reference_type(where, "source_reference_type", source_reference_type)
        destination_type = _reference_type(where, "destination_reference_type", destination_reference_type)
        source = _source(where, source_data_reference)
        destination = _destination(where, destination_data_reference)
        for ref, kind, what in (
            (source, source_type, "source"),
            (destination, destination_type, "destination"),
        ):
            if kind is not None and isinstance(ref, SqlDataReference):
                raise UserErrorException(
                    f"{where}: {what}_reference_type={kind!r} describes files, but the {what} is a SQL "
                    f"{ref.sql_kind}; leave {what}_reference_type unset"
                )
        if _same_place(source, destination):
            raise UserErrorException(
                f"{where}: source {source.path_on_datastore!r} and destination "
                f"{destination.path_on_datastore!r} on datastore {source.datastore.name!r} overlap; copy to "
                "a path outside the source"
            )
        if isinstance(destination, PipelineData):
            output = destination  # this step writes it; later steps consume it as any PipelineData
        else:
            files_out = destination_type or source_type or "directory"
            if isinstance(destination, SqlDataReference):
                files_out = "file"  # a table is one thing, not a folder
            output = DataTransferOutput(name, destination, is_directory=files_out == "directory")
        inputs = [] if isinstance(source, SqlDataReference) else [source]
        super().__init__(name, inputs, [output], None, compute_target, allow_reuse, None)
        self.source = source
        self.destination = destination
        self.source_reference_type = source_type
        self.destination_reference_type = destination_type
        self._output = output

    def get_output(self) -> PipelineData:
        """The destination as data a later step consumes (and the edge that orders the two): a
        PipelineData named ``_data_transfer_output``, or the destination itself when it is one."""
        return self._output

    def _encode(self, builder: Any, ref: Any, role: str) -> dict[str, Any]:
        if isinstance(ref, SqlDataReference):
            return ref.encode(builder, self, role)
        if isinstance(ref, DataReference):
            out = {"kind": "datastore_path", "datastore": builder.datastore(ref.datastore)}
            out["path"] = ref.path_on_datastore
            if role == "source":
                out["input"] = ref.data_reference_name
            return out
        if isinstance(ref, PipelineData):
            out = {"kind": "pipeline_data", "data": ref.name}
            if role == "source":
                out["input"] = check_input_name(ref._input_name, "input")
            return out
        out = {"kind": "dataset", "input": ref.name}  # a DatasetConsumptionConfig (the step's input)
        if ref.parameter is not None:
            out["parameter"] = ref.parameter.name
        return out

    def settings_spec(self, builder: Any) -> dict[str, Any]:
        target = self.compute_target
        name = target.name if isinstance(target, ComputeTarget) else target
        if name is not None and name != LOCAL:
            kind = builder.compute_targets.get(name, {}).get("type")
            if kind not in POOLED_TYPES:
                builder.problems.append(
                    f"DataTransferStep {self.name!r}: Error in getting data factory compute named `{name}`: it is "
                    f"a {kind} target; {_COMPUTE_HINT}"
                )
        return {
            "source": self._encode(builder, self.source, "source"),
            "destination": self._encode(builder, self.destination, "destination"),
            "source_type": self.source_reference_type,
            "destination_type": self.destination_reference_type,
            "output": self._output.name,
        }
