"""``Dataset``: Azure ML v1's dataset namespace: the factories (``Dataset.File``, ``Dataset.Tabular``)
and the workspace's registered datasets (``get_by_name``, ``get_by_id``, ``get_all``)."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.dataset import FileDataset, dataset_paths
from airflow_mlpipe.definitions.tabular import from_delimited_files
from airflow_mlpipe.exceptions import UserErrorException


class Dataset:
    """Factory namespace, as in Azure ML v1: ``Dataset.File.from_files``, ``Dataset.Tabular...``."""

    class File:
        @staticmethod
        def from_files(
            path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False
        ) -> FileDataset:
            if partition_format is not None:
                raise UserErrorException("Dataset.File.from_files: partition_format is not supported")
            return FileDataset(dataset_paths(path), {}, validate)

    class Tabular:
        from_delimited_files = staticmethod(from_delimited_files)
