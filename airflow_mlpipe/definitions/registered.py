"""``Dataset``: Azure ML v1's dataset namespace: the factories (``Dataset.File``, ``Dataset.Tabular``)
and the workspace's registered datasets (``get_by_name``, ``get_by_id``, ``get_all``)."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.definitions.dataset import AbstractDataset, FileDataset, dataset_paths
from airflow_mlpipe.definitions.tabular import from_delimited_files, from_parquet_files
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.assets import AssetRegistry, Assets


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
        from_parquet_files = staticmethod(from_parquet_files)

    # --- the workspace's registered datasets ---------------------------------------------------

    @staticmethod
    def get_by_name(workspace: Any, name: str, version: int | str = "latest") -> AbstractDataset:
        """A registered dataset by name, at ``version`` ("latest" by default)."""
        return to_dataset(workspace, registry(workspace).get(name, version))

    @staticmethod
    def get_by_id(workspace: Any, id: str) -> AbstractDataset:
        """A registered dataset version by its id."""
        return to_dataset(workspace, registry(workspace).get_by_id(id))

    @staticmethod
    def get_all(workspace: Any) -> dict[str, AbstractDataset]:
        """The latest version of every registered dataset, by name."""
        return {r["name"]: to_dataset(workspace, r) for r in registry(workspace).list(latest=True)}


def registry(workspace: Any) -> Assets:
    """The registered datasets of a workspace, on its default datastore (over HTTP for a workspace
    of a remote Airflow: client/asset_api.py)."""
    from airflow_mlpipe.client.asset_api import workspace_assets

    return workspace_assets(workspace, "datasets", "dataset")


def registry_on(store: Any) -> AssetRegistry:
    return AssetRegistry(store, "datasets", "dataset")


def _definition(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in ("type", "paths", "options")}


def register_spec(
    workspace: Any,
    name: str,
    spec: dict[str, Any],
    datastores: dict[str, dict[str, Any]],
    description: str | None = None,
    tags: dict[str, str] | None = None,
    create_new_version: bool = False,
    store: Any = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Register a dataset spec under ``name``, pinned to its data's fingerprint now. The latest
    version is returned instead of a new one when its definition and data are the same."""
    from airflow_mlpipe.reuse.decide import dataset_fingerprint

    reg = registry_on(store) if store is not None else registry(workspace)
    reg.check_name(name)
    if tags is not None and not isinstance(tags, dict):
        raise UserErrorException(f"dataset {name!r}: tags must be a dict of str, got {type(tags).__name__}")
    definition = _definition(spec)
    # a registered dataset registered again must still hold its data; then its check read the data
    pinned = check_pinned(spec, datastores) or dataset_fingerprint(datastores, definition["paths"])
    record = {
        "dataset": definition,
        "pinned": pinned,
        "description": description,
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "run_id": run_id,
    }

    def same(latest: dict[str, Any]) -> bool:
        return latest.get("dataset") == definition and latest.get("pinned") == pinned

    return reg.register(name, record, reuse_latest=same, create_new_version=create_new_version)


def to_dataset(workspace: Any, record: dict[str, Any]) -> AbstractDataset:
    """The dataset object of a registry record, its datastores those of ``workspace``."""
    from airflow_mlpipe.definitions.datastore import Datastore
    from airflow_mlpipe.definitions.tabular import TabularDataset

    spec = record["dataset"]
    paths = []
    for entry in spec["paths"]:
        if "url" in entry:
            paths.append((None, entry["url"]))
            continue
        try:
            paths.append((Datastore.get(workspace, entry["datastore"]), entry["path"]))
        except UserErrorException as exc:
            raise UserErrorException(
                f"dataset {record['name']!r} version {record['version']} reads datastore "
                f"{entry['datastore']!r}, which this workspace does not define ({exc})"
            ) from None
    cls = TabularDataset if spec["type"] == "tabular" else FileDataset
    ds = cls(paths, dict(spec["options"]), validate=False)
    ds.name, ds.version, ds.id = record["name"], record["version"], record["id"]
    ds.description, ds.tags = record.get("description"), dict(record.get("tags") or {})
    ds._registration = reference(record)
    ds._workspace = workspace
    return ds


def reference(record: dict[str, Any]) -> dict[str, Any]:
    """What a dataset spec carries of its registration: enough to name it and check its data."""
    return {k: record[k] for k in ("name", "version", "id", "pinned")}


def bound_spec(record: dict[str, Any]) -> dict[str, Any]:
    """The dataset spec a run binds for a registry record."""
    return {**record["dataset"], "registered": reference(record)}


def check_pinned(spec: dict[str, Any], datastores: dict[str, dict[str, Any]]) -> str | None:
    """Raise when a registered dataset's data is no longer what it was registered with; returns
    the current fingerprint (None for a dataset that was never registered)."""
    reg = spec.get("registered")
    if not reg or not reg.get("pinned"):
        return None
    from airflow_mlpipe.reuse.decide import dataset_fingerprint

    try:
        now = dataset_fingerprint(datastores, spec["paths"])
    except Exception as exc:
        raise UserErrorException(
            f"dataset {reg['name']!r} version {reg['version']}: its data cannot be read ({exc})"
        ) from None
    if now != reg["pinned"]:
        raise UserErrorException(
            f"dataset {reg['name']!r} version {reg['version']}: its data changed or is gone since it was "
            f"registered (at {', '.join(_where(e) for e in spec['paths'])}); a version always reads the "
            "data it was registered with: register a new version to use the data there now"
        )
    return now


def _where(entry: dict[str, Any]) -> str:
    return entry["url"] if "url" in entry else f"{entry['datastore']}:{entry['path']}"
