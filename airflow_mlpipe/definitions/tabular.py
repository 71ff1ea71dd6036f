"""TabularDataset: delimited or parquet files read as one table, Azure ML v1's Dataset.Tabular.

A TabularDataset is immutable: take, skip, keep_columns, drop_columns and random_split return new
datasets whose options record the transforms (a JSON list), applied when the table is read, by
``airflow_mlpipe.tables.read_table``, outside a step and inside one alike.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import posixpath
import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.dataset import AbstractDataset, FileDataset, dataset_paths
from airflow_mlpipe.definitions.datastore import DataPath, DataReference, Datastore
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.base import normalize_path
from airflow_mlpipe.tables import (
    check_columns,
    check_read_arguments,
    delimited_options,
    parquet_options,
    read_table,
    with_transform,
    write_partitions,
    write_table,
)

DERIVED_PREFIX = "mlpipe/derived"


class TabularDataset(AbstractDataset):
    kind = "tabular"

    # --- reading ----------------------------------------------------------------------------

    @property
    def partition_keys(self) -> list[str]:
        """The keys of a dataset written by ``partition_by`` (``[]`` for any other dataset)."""
        return list(self.options.get("partition_keys", []))

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        """Load all records into a pandas DataFrame, with the dataset's format and transforms."""
        check_read_arguments(on_error, out_of_range_datetime)
        with tempfile.TemporaryDirectory(prefix="mlpipe-tabular-") as tmp:
            return read_table(self._download_to(Path(tmp)), self.options, root=tmp)

    # --- new datasets -----------------------------------------------------------------------

    def _derive(self, transform: dict[str, Any]) -> TabularDataset:
        return TabularDataset(list(self.paths), with_transform(self.options, transform), validate=False)

    def take(self, count: int) -> TabularDataset:
        """The first ``count`` records."""
        return self._derive({"op": "take", "count": _count(count, "take")})

    def skip(self, count: int) -> TabularDataset:
        """Every record but the first ``count``."""
        return self._derive({"op": "skip", "count": _count(count, "skip")})

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        """Only ``columns``; with ``validate=True`` the data is read now to check they exist."""
        cols = _columns(columns, "keep_columns")
        dataset = self._derive({"op": "keep_columns", "columns": cols})
        if validate:
            check_columns("keep_columns", cols, list(self.to_pandas_dataframe().columns))
        return dataset

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        """Every column but ``columns`` (a column that is not there is an error when the data is read)."""
        return self._derive({"op": "drop_columns", "columns": _columns(columns, "drop_columns")})

    def random_split(
        self, percentage: float, seed: int | None = None
    ) -> tuple[TabularDataset, TabularDataset]:
        """Two datasets: about ``percentage`` of the records, and the others.

        A seeded generator draws one number per record in order, so the halves never overlap and
        together are the whole. Without ``seed`` one is chosen now, so each half reads the same
        records every time (and in a step).
        """
        if (
            isinstance(percentage, bool)
            or not isinstance(percentage, numbers.Real)
            or not 0.0 <= percentage <= 1.0
        ):
            raise UserErrorException(
                f"random_split: percentage must be a number between 0.0 and 1.0, got {percentage!r}"
            )
        if seed is None:
            seed = secrets.randbits(32)
        elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UserErrorException(f"random_split: seed must be a non-negative int, got {seed!r}")
        split = {"op": "random_split", "percentage": float(percentage), "seed": seed}
        return self._derive({**split, "part": 0}), self._derive({**split, "part": 1})

    # --- writing ----------------------------------------------------------------------------

    def partition_by(
        self,
        partition_keys: list[str],
        target: Any,
        name: str | None = None,
        show_progress: bool = True,
        partition_as_file_dataset: bool = False,
    ) -> AbstractDataset:
        """Write the table as parquet partitions ``<key>=<value>/.../part-00000.parquet`` in a new
        folder under ``target`` and return a dataset of them (registered as ``name`` if given)."""
        console = print if show_progress else _quiet
        console("Validating arguments.")
        keys = [partition_keys] if isinstance(partition_keys, str) else list(partition_keys or [])
        if not keys:
            raise UserErrorException("partition_by: partition_keys cannot be empty")
        if len(keys) != len(set(keys)):
            raise UserErrorException(f"partition_by: partition_keys cannot have duplicates: {keys}")
        datastore, relative = _parse_target(target)
        table = self.to_pandas_dataframe()
        columns = [str(c) for c in table.columns]
        invalid = [k for k in keys if k not in columns]
        if invalid:
            raise UserErrorException(
                f"partition_by: {invalid} are invalid partition keys; the dataset has columns {columns}"
            )
        if len(keys) == len(columns):
            raise UserErrorException("partition_by: at least one column must not be a partition key")
        if table.empty:
            raise UserErrorException("partition_by: the dataset has no records to partition")
        console("Arguments validated.")
        # a new folder per call (v1 adds a guid too), so no call overwrites another's partitions
        prefix = posixpath.join(relative, uuid.uuid4().hex) if relative else uuid.uuid4().hex
        with tempfile.TemporaryDirectory(prefix="mlpipe-partitions-") as tmp:
            key_types = write_partitions(table, Path(tmp), keys)
            console(f"Uploading file to {prefix}")
            datastore.store.upload_dir(Path(tmp), prefix)
        console("Successfully uploaded file to datastore.")
        console("Creating a new dataset.")
        if partition_as_file_dataset:
            result: AbstractDataset = FileDataset([(datastore, prefix)], {}, validate=False)
        else:
            options = {**parquet_options(), "partition_keys": keys, "partition_key_types": key_types}
            result = TabularDataset([(datastore, prefix)], options, validate=False)
        console("Successfully created a new dataset.")
        if name is None:
            return result
        console("registering a new dataset.")
        registered = result.register(workspace=datastore.workspace, name=name, create_new_version=True)
        console("Successfully created and registered a new dataset.")
        return registered

    def to_csv_files(self, separator: str = ",") -> FileDataset:
        """The table as CSV files on the dataset's datastore, as a FileDataset."""
        if not isinstance(separator, str) or not separator:
            raise UserErrorException(
                f"to_csv_files: separator {separator!r} is invalid: use a non-empty string"
            )
        return self._materialize("csv", separator)

    def to_parquet_files(self) -> FileDataset:
        """The table as parquet files on the dataset's datastore, as a FileDataset."""
        return self._materialize("parquet", ",")

    def _materialize(self, fmt: str, separator: str) -> FileDataset:
        datastore = self._datastore(f"to_{fmt}_files")
        # the folder is named by what determines its content: the dataset's spec, the versions of
        # its files and the output format; the same table is written to the same place again
        sources: list[Any] = []
        for ds, p in self.paths:
            if ds is None:
                sources.append(p)
            else:
                sources += [[ds.name, i.path, i.etag, i.size] for i, _ in ds.store.resolve(p)]
        key = {
            "dataset": self.to_spec(),
            "sources": sources,
            "output": {"format": fmt, "separator": separator},
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        prefix = f"{DERIVED_PREFIX}/{digest}"
        table = self.to_pandas_dataframe()
        with tempfile.TemporaryDirectory(prefix="mlpipe-derived-") as tmp:
            write_table(table, Path(tmp), fmt, separator)
            datastore.store.upload_dir(Path(tmp), prefix)  # each file is stored atomically
        return FileDataset([(datastore, prefix)], {}, validate=False)

    def _datastore(self, what: str) -> Datastore:
        for ds, _ in self.paths:
            if ds is not None:
                return ds
        raise UserErrorException(
            f"{what}: the dataset has no datastore path to write next to (only web URLs); "
            "upload the data to a datastore and make the dataset from there"
        )


def _quiet(*_args: Any) -> None:
    return None


def _count(count: Any, what: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserErrorException(f"{what}: count must be a non-negative int, got {count!r}")
    return count


def _columns(columns: Any, what: str) -> list[str]:
    cols = [columns] if isinstance(columns, str) else columns
    if not isinstance(cols, (list, tuple)) or not cols or not all(isinstance(c, str) for c in cols):
        raise UserErrorException(
            f"{what}: columns must be a column name or a non-empty list of names, got {columns!r}"
        )
    return list(cols)


def _parse_target(target: Any) -> tuple[Datastore, str]:
    """partition_by's target: a DataPath, a Datastore, or a (Datastore, path) tuple (as v1)."""
    if isinstance(target, DataPath):
        return target.datastore, normalize_path(target.path_on_datastore, where="partition_by target")
    if isinstance(target, DataReference):
        return target.datastore, target.path_on_datastore
    if isinstance(target, Datastore):
        return target, ""
    if isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Datastore):
        if not isinstance(target[1], str):
            raise UserErrorException(f"partition_by: the target's path must be a str, got {target[1]!r}")
        return target[0], normalize_path(target[1], where="partition_by target")
    raise UserErrorException(
        f"partition_by: target {target!r} is invalid; use a DataPath, a Datastore or a (Datastore, 'path') tuple"
    )


def _refuse(what: str, set_column_types: Any, partition_format: Any) -> None:
    if set_column_types is not None:
        raise UserErrorException(
            f"Dataset.Tabular.{what}: set_column_types is not supported; convert column types in the "
            "step script (DataFrame.astype, pandas.to_datetime)"
        )
    if partition_format is not None:
        raise UserErrorException(
            f"Dataset.Tabular.{what}: partition_format is not supported; write partitioned data with "
            "TabularDataset.partition_by (folders named <key>=<value>) or read the file path with "
            "include_path=True"
        )


def from_delimited_files(
    path: Any,
    validate: bool = True,
    include_path: bool = False,
    infer_column_types: bool = True,
    set_column_types: dict[str, Any] | None = None,
    separator: str = ",",
    header: Any = True,
    partition_format: str | None = None,
    support_multi_line: bool = False,
    empty_as_string: bool = False,
    encoding: str = "utf8",
) -> TabularDataset:
    """A TabularDataset of delimited files (CSV, TSV, ...) at datastore paths."""
    _refuse("from_delimited_files", set_column_types, partition_format)
    options = delimited_options(
        separator=separator,
        header=header,
        encoding=encoding,
        infer_column_types=infer_column_types,
        include_path=include_path,
        empty_as_string=empty_as_string,
        support_multi_line=support_multi_line,
    )
    return TabularDataset(dataset_paths(path), options, validate)


def from_parquet_files(
    path: Any,
    validate: bool = True,
    include_path: bool = False,
    set_column_types: dict[str, Any] | None = None,
    partition_format: str | None = None,
) -> TabularDataset:
    """A TabularDataset of parquet files at datastore paths."""
    _refuse("from_parquet_files", set_column_types, partition_format)
    return TabularDataset(dataset_paths(path), parquet_options(include_path=include_path), validate)
