"""TabularDataset: delimited (or parquet) files read as one table, Azure ML v1's Dataset.Tabular."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.dataset import AbstractDataset, dataset_paths
from airflow_mlpipe.exceptions import UserErrorException


class TabularDataset(AbstractDataset):
    kind = "tabular"

    def to_pandas_dataframe(self) -> Any:
        from airflow_mlpipe.tables import read_delimited

        with tempfile.TemporaryDirectory(prefix="mlpipe-tabular-") as tmp:
            return read_delimited(self._download_to(Path(tmp)), self.options)


def from_delimited_files(
    path: Any,
    validate: bool = True,
    include_path: bool = False,
    infer_column_types: bool = True,
    set_column_types: dict[str, Any] | None = None,
    separator: str = ",",
    header: bool | str = True,
    partition_format: str | None = None,
    support_multi_line: bool = False,
    empty_as_string: bool = False,
    encoding: str = "utf8",
) -> TabularDataset:
    if partition_format is not None or set_column_types is not None:
        raise UserErrorException(
            "Dataset.Tabular.from_delimited_files: partition_format and set_column_types are "
            "not supported; convert column types in the step script"
        )
    header_mode = header
    if isinstance(header, bool):
        header_mode = "all_files_same_headers" if header else "no_header"
    options = {
        "separator": separator,
        "header": header_mode,
        "infer_column_types": bool(infer_column_types),
        "include_path": bool(include_path),
        "empty_as_string": bool(empty_as_string),
        "encoding": encoding,
        "support_multi_line": bool(support_multi_line),
    }
    return TabularDataset(dataset_paths(path), options, validate)
