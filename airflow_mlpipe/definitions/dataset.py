"""Datasets: files or delimited tables at paths on datastores (Azure ML v1's Dataset API)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.datastore import DataReference, Datastore
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.base import normalize_path

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_input_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserErrorException(
            f"{what} name {name!r} is invalid: use letters, digits and '_' and start with a letter or '_'"
        )
    return name


def dataset_paths(path: Any) -> list[tuple[Datastore, str]]:
    items = path if isinstance(path, list) else [path]
    out = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            out.append((item[0], normalize_path(item[1])))
        elif isinstance(item, DataReference):
            out.append((item.datastore, item.path_on_datastore))
        elif isinstance(item, str):
            raise UserErrorException(
                f"dataset path {item!r}: only datastore paths are supported, as (datastore, "
                "'relative/path') tuples; upload local or web files to a datastore first"
            )
        else:
            raise UserErrorException(
                f"dataset path {item!r}: expected a (Datastore, path) tuple or a list of them"
            )
    if not out:
        raise UserErrorException("a dataset needs at least one path")
    return out


class AbstractDataset:
    kind = "abstract"

    def __init__(self, paths: list[tuple[Datastore, str]], options: dict[str, Any], validate: bool):
        self.paths = paths
        self.options = options
        if validate:
            for ds, p in paths:
                if not ds.store.resolve(p):
                    raise UserErrorException(
                        f"dataset path {p!r} on datastore {ds.name!r} matches no file "
                        f"({ds.store.location(p)}); upload the data first or pass validate=False"
                    )

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "paths": [{"datastore": ds.name, "path": p} for ds, p in self.paths],
            "options": dict(self.options),
        }

    def _download_to(self, target: Path) -> list[Path]:
        files: list[Path] = []
        for ds, p in self.paths:
            files += ds.store.download(p, target)
        return files


class FileDataset(AbstractDataset):
    kind = "file"

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input("input").as_download(path_on_compute)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input("input").as_mount(path_on_compute)

    def download(self, target_path: str | Path | None = None, overwrite: bool = False) -> list[str]:
        target = Path(target_path or tempfile.mkdtemp(prefix="mlpipe-dataset-"))
        return [str(p) for p in self._download_to(target)]

    def to_path(self) -> list[str]:
        out = []
        for ds, p in self.paths:
            out += ["/" + rel for _, rel in ds.store.resolve(p)]
        return out


class DatasetConsumptionConfig:
    """How a step consumes a dataset: its input name and mode (direct, download or mount)."""

    def __init__(
        self, name: str, dataset: AbstractDataset, mode: str = "direct", path_on_compute: str | None = None
    ):
        self.name = check_input_name(name, "dataset input")
        self.dataset = dataset
        if mode == "direct" and isinstance(dataset, FileDataset):
            mode = "download"  # a file dataset handed to a script is always files on disk
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_hdfs(self) -> DatasetConsumptionConfig:
        raise UserErrorException(f"dataset input {self.name!r}: as_hdfs() needs Spark; use as_download()")

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r})"
