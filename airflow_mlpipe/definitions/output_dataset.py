"""OutputFileDatasetConfig: Azure ML v1's recommended step output (``azureml.data``).

It is a PipelineData with more to say: where the data goes (``destination``, which may hold
``{run-id}`` and ``{output-name}``), how it is written (``as_mount``, ``as_upload``), how the next
step reads it (``as_input``, ``read_delimited_files``, ``read_parquet_files``) and the dataset it
registers when its step completes (``register_on_complete``). A step that names it in its
``arguments`` produces it (v1 inferred the output from there); a step that takes ``.as_input()``
consumes it, and that is the edge between the two.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from airflow_mlpipe.definitions.datastore import Datastore
from airflow_mlpipe.definitions.pipeline_data import PipelineData, refuse_table_options
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.base import normalize_path

TEMPLATES = ("{run-id}", "{output-name}")
_BRACES = re.compile(r"\{[^}]*\}")


def check_destination(name: str, destination: Any) -> tuple[Datastore, str] | None:
    if destination is None:
        return None
    if not (
        isinstance(destination, tuple) and len(destination) == 2 and isinstance(destination[0], Datastore)
    ):
        raise UserErrorException(
            f"OutputFileDatasetConfig {name!r}: destination must be a (Datastore, 'path') tuple, got {destination!r}"
        )
    path = destination[1] or ""
    if not isinstance(path, str):
        raise UserErrorException(
            f"OutputFileDatasetConfig {name!r}: destination path must be a str, got {path!r}"
        )
    unknown = sorted(set(_BRACES.findall(path)) - set(TEMPLATES))
    if unknown:
        raise UserErrorException(
            f"OutputFileDatasetConfig {name!r}: destination path {path!r} holds {unknown}; the only "
            f"placeholders are {list(TEMPLATES)}"
        )
    probe = path.replace("{run-id}", "r").replace("{output-name}", "o")
    normalize_path(probe, where=f"OutputFileDatasetConfig {name!r}: destination path")
    if not probe.strip("/"):
        raise UserErrorException(
            f"OutputFileDatasetConfig {name!r}: destination path is empty; name a folder on datastore "
            f"{destination[0].name!r}"
        )
    return destination[0], path.strip("/")


class OutputFileDatasetConfig(PipelineData):
    """``OutputFileDatasetConfig(name=None, destination=None, source=None, partition_format=None)``."""

    def __init__(
        self,
        name: str | None = None,
        destination: tuple[Datastore, str] | None = None,
        source: str | None = None,
        partition_format: str | None = None,
    ):
        name = name or f"output_{uuid.uuid4().hex[:8]}"  # v1 made up a name when none was given
        if partition_format is not None:
            raise UserErrorException(
                f"OutputFileDatasetConfig {name!r}: partition_format is not supported; write the "
                "partition folders from the script"
            )
        dest = check_destination(name, destination)
        super().__init__(name, datastore=dest[0] if dest else None, output_path_on_compute=source)
        self.destination = dest
        self.source = source
        self.overwrite = False
        self.source_globs: list[str] | None = None
        self.registration: dict[str, Any] | None = None
        self.read_as: dict[str, Any] = {"type": "file", "options": {}}  # how it is registered and read
        self._bound_as_input = False

    # --- how the producer writes it ----------------------------------------------------------

    @property
    def _infers_output(self) -> bool:
        """In a step's arguments, this object is that step's output (not an input)."""
        return not self._bound_as_input

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        """Write through a mount (here: a local folder uploaded when the step ends; existing files
        at a named destination are replaced, as writes through a mount replace them)."""
        return self._copy(output_mode="mount", overwrite=True, source_globs=None)

    def as_upload(
        self, overwrite: bool = False, source_globs: list[str] | None = None
    ) -> OutputFileDatasetConfig:
        """Upload the files when the step ends: only those matching ``source_globs`` (all when None);
        with ``overwrite=False`` a named destination that already holds files is an error."""
        if source_globs is not None and (
            isinstance(source_globs, str) or not all(isinstance(g, str) and g for g in source_globs)
        ):
            raise UserErrorException(
                f"OutputFileDatasetConfig {self.name!r}: source_globs must be a list of glob patterns, got {source_globs!r}"
            )
        return self._copy(
            output_mode="upload",
            overwrite=bool(overwrite),
            source_globs=list(source_globs) if source_globs is not None else None,
        )

    def register_on_complete(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> OutputFileDatasetConfig:
        """Register the output as dataset ``name`` (a new version each time its data differs) when
        the producing step completes."""
        from airflow_mlpipe.storage.assets import check_asset_name

        check_asset_name(name, "dataset")
        if tags is not None and not isinstance(tags, dict):
            raise UserErrorException(f"register_on_complete({name!r}): tags must be a dict, got {tags!r}")
        registration = {
            "name": name,
            "description": description,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        }
        return self._copy(registration=registration)

    # --- how a consumer reads it -------------------------------------------------------------

    def as_input(self, name: str | None = None) -> OutputFileDatasetConfig:
        """This output as the input ``name`` of a later step (a folder, or a table after
        ``read_delimited_files``/``read_parquet_files``)."""
        copy = self._as(name, "mount")
        copy._bound_as_input = True
        copy._input_tabular = self.read_as["options"] if self.read_as["type"] == "tabular" else None
        return copy

    def read_delimited_files(
        self,
        include_path: bool = False,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        path_glob: str | None = None,
        set_column_types: dict[str, Any] | None = None,
    ) -> OutputTabularDatasetConfig:
        from airflow_mlpipe.tables import delimited_options

        refuse_table_options(f"OutputFileDatasetConfig {self.name!r}", partition_format, set_column_types)
        options = delimited_options(separator=separator, header=header, include_path=include_path)
        return self._tabular(options, path_glob)

    def read_parquet_files(
        self,
        include_path: bool = False,
        partition_format: str | None = None,
        path_glob: str | None = None,
        set_column_types: dict[str, Any] | None = None,
    ) -> OutputTabularDatasetConfig:
        from airflow_mlpipe.tables import parquet_options

        refuse_table_options(f"OutputFileDatasetConfig {self.name!r}", partition_format, set_column_types)
        return self._tabular(parquet_options(include_path=include_path), path_glob)

    def _tabular(self, options: dict[str, Any], path_glob: str | None) -> OutputTabularDatasetConfig:
        if path_glob:
            options = {**options, "path_glob": path_glob}
        copy = object.__new__(OutputTabularDatasetConfig)
        copy.__dict__.update(self.__dict__)
        copy.read_as = {"type": "tabular", "options": options}
        return copy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class OutputTabularDatasetConfig(OutputFileDatasetConfig):
    """An output read (by consumers, and when registered) as a TabularDataset."""
