"""PipelineData: a step output stored on a datastore, and the edge that orders two steps."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.dataset import check_input_name
from airflow_mlpipe.definitions.datastore import Datastore
from airflow_mlpipe.exceptions import UserErrorException

OUTPUT_MODES = ("mount", "upload")


class PipelineData:
    def __init__(
        self,
        name: str,
        datastore: Datastore | None = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ):
        self.name = check_input_name(name, "PipelineData")
        if datastore is not None and not isinstance(datastore, Datastore):
            raise UserErrorException(
                f"PipelineData {name!r}: datastore must be a Datastore, got {datastore!r}"
            )
        if output_mode not in OUTPUT_MODES:
            raise UserErrorException(
                f"PipelineData {name!r}: output_mode {output_mode!r} is invalid; use one of {OUTPUT_MODES}"
            )
        if training_output is not None:
            raise UserErrorException(
                f"PipelineData {name!r}: training_output (AutoML/HyperDrive) is not supported"
            )
        self.datastore = datastore
        self.output_name = check_input_name(output_name or name, "output")
        self.output_mode = output_mode
        self.output_path_on_compute = output_path_on_compute
        self.output_overwrite = output_overwrite
        self.data_type = data_type or "AnyDirectory"
        self.is_directory = True if is_directory is None else bool(is_directory)
        self.pipeline_output_name = pipeline_output_name
        # how a consumer takes it (set on the copies as_input/as_download/as_mount return)
        self._input_name = self.name
        self._input_mode = "mount"
        self._input_path_on_compute: str | None = None
        self._input_tabular: dict[str, Any] | None = None  # read as a table: its options
        self._origin = self
        self._producer: Any = None

    def _copy(self, **changes: Any) -> Any:
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        return copy

    def _as(self, input_name: str | None, mode: str, path_on_compute: str | None = None) -> Any:
        copy = self._copy()
        copy._input_name = check_input_name(input_name or self.name, "input")
        copy._input_mode = mode
        copy._input_path_on_compute = path_on_compute
        copy._origin = self._origin
        return copy

    def as_input(self, input_name: str | None = None) -> PipelineData:
        return self._as(input_name, self._input_mode)

    def as_download(
        self, input_name: str | None = None, path_on_compute: str | None = None, overwrite: bool | None = None
    ) -> PipelineData:
        # overwrite is moot: every run downloads into a fresh folder
        return self._as(input_name, "download", path_on_compute)

    def as_mount(self, input_name: str | None = None) -> PipelineData:
        return self._as(input_name, "mount")

    def as_dataset(self) -> PipelineData:
        """This output consumed as a FileDataset (v1's PipelineOutputFileDataset)."""
        return self._copy()

    def as_named_input(self, name: str) -> PipelineData:
        return self._as(name, self._input_mode)

    def parse_delimited_files(
        self,
        include_path: bool = False,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        file_extension: str = "",
        set_column_types: dict[str, Any] | None = None,
        quoted_line_breaks: bool = False,
    ) -> PipelineData:
        """Consume this output as a TabularDataset of delimited files (v1's PipelineOutputTabularDataset)."""
        from airflow_mlpipe.tables import delimited_options

        refuse_table_options(f"PipelineData {self.name!r}", partition_format, set_column_types)
        options = delimited_options(
            separator=separator,
            header=header,
            include_path=include_path,
            support_multi_line=quoted_line_breaks,
        )
        if file_extension:
            options["path_glob"] = f"**/*{file_extension}"
        return self._copy(_input_tabular=options)

    def parse_parquet_files(
        self,
        include_path: bool = False,
        partition_format: str | None = None,
        file_extension: str = ".parquet",
        set_column_types: dict[str, Any] | None = None,
    ) -> PipelineData:
        """Consume this output as a TabularDataset of parquet files."""
        from airflow_mlpipe.tables import parquet_options

        refuse_table_options(f"PipelineData {self.name!r}", partition_format, set_column_types)
        options = parquet_options(include_path=include_path)
        if file_extension:
            options["path_glob"] = f"**/*{file_extension}"
        return self._copy(_input_tabular=options)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    def __repr__(self) -> str:
        return f"PipelineData(name={self.name!r})"


def refuse_table_options(where: str, partition_format: Any, set_column_types: Any) -> None:
    if partition_format is not None:
        raise UserErrorException(
            f"{where}: partition_format is not supported; filter rows in the step script"
        )
    if set_column_types is not None:
        raise UserErrorException(
            f"{where}: set_column_types is not supported; convert types with pandas in the step"
        )
