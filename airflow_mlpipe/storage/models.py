"""The model registry on a datastore: a model version's files stored under a prefix no other
registration writes, verified by listing, then its record (storage/assets.py). Plain JSON in and out:
``Model`` calls it directly outside a step, and the step operator's broker serves the same methods
to a step script (operators/broker.py)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError, UserErrorException
from airflow_mlpipe.storage.assets import AssetNotFound, AssetRegistry, Assets


def stored_sizes(store: Any, prefix: str) -> dict[str, int]:
    """The files under ``prefix`` (relative paths) and their sizes, as a model's record lists them."""
    return {info.path[len(prefix) + 1 :]: info.size for info in store.list(prefix)}


class ModelNotFoundException(AssetNotFound):
    """No registered model of that name, version or id (Azure ML v1's name)."""


class ModelPathNotFoundException(UserErrorException):
    """``Run.register_model``: the model path is not among the run's files (Azure ML v1's name)."""


def _string_dict(value: Any, what: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserErrorException(
            f"{where}: {what} must be a dict of key -> value, got {type(value).__name__}"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (str, int, float, bool, type(None))):
            raise UserErrorException(
                f"{where}: {what} {key!r} -> {item!r}: keys are strings, values plain scalars"
            )
    return dict(value)


def refuse(where: str, **given: Any) -> None:
    """Raise for v1 arguments this package cannot honour, naming them."""
    bad = sorted(k for k, v in given.items() if v is not None)
    if bad:
        raise UserErrorException(
            f"{where}: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not supported by airflow-mlpipe "
            "(no model deployment or profiling here); remove the argument"
        )


def dataset_refs(datasets: Any, where: str) -> list[dict[str, Any]]:
    """v1's ``datasets=[("training data", dataset), ...]`` as JSON: the relation, and the dataset's
    name, version and id when it is registered, and its datastore paths when it has them."""
    refs = []
    for i, pair in enumerate(datasets or []):
        if isinstance(pair, dict) and isinstance(pair.get("name"), str):
            refs.append(dict(pair))  # already a reference (checked by the caller, sent over the broker)
            continue
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise UserErrorException(
                f"{where}: datasets[{i}] must be a (relation, dataset) pair, got {pair!r}"
            )
        scenario, ds = pair
        if not hasattr(ds, "to_spec") and getattr(ds, "id", None) is None:
            raise UserErrorException(f"{where}: datasets[{i}] ({scenario!r}) is not a dataset: {ds!r}")
        ref: dict[str, Any] = {"name": scenario}
        for attr in ("name", "version", "id"):
            value = getattr(ds, attr, None)
            if value is not None:
                ref[f"dataset_{attr}"] = value if isinstance(value, (int, str)) else str(value)
        if hasattr(ds, "to_spec"):
            spec = ds.to_spec()
            ref["type"], ref["paths"] = spec.get("type"), spec.get("paths")
        refs.append(ref)
    return refs


def register_fields(
    where: str,
    tags: Any = None,
    properties: Any = None,
    description: Any = None,
    model_framework: Any = None,
    model_framework_version: Any = None,
    datasets: Any = None,
) -> dict[str, Any]:
    """The checked, JSON-ready metadata of a registration."""
    if model_framework is None and model_framework_version is not None:
        raise UserErrorException(f"{where}: model_framework_version needs model_framework")
    if description is not None and not isinstance(description, str):
        raise UserErrorException(f"{where}: description must be a string")
    return {
        "tags": _string_dict(tags, "tags", where),
        "properties": _string_dict(properties, "properties", where),
        "description": description,
        "model_framework": model_framework,
        "model_framework_version": model_framework_version,
        "datasets": dataset_refs(datasets, where),
    }


def collect_files(
    model_path: str | Path, child_paths: list[str] | None, where: str
) -> list[tuple[Path, str]]:
    """(local file, stored name) of what ``model_path`` registers; stored names start with its
    base name, as v1 stored them (a file ``m.pkl`` downloads as ``m.pkl``, a folder ``d`` as ``d/...``)."""
    root = Path(model_path)
    if not root.exists():
        raise UserErrorException(f"{where}: model_path {str(model_path)!r} cannot be found")
    base = root.resolve().name
    if child_paths:
        if not root.is_dir():
            raise UserErrorException(
                f"{where}: child_paths need model_path to be a folder, not {str(root)!r}"
            )
        picked: set[Path] = set()
        for child in child_paths:
            full = (root / child).resolve()
            if not full.exists() or not full.is_relative_to(root.resolve()):
                raise UserErrorException(f"{where}: child path {child!r} cannot be found in {str(root)!r}")
            picked.update(p for p in full.rglob("*") if p.is_file()) if full.is_dir() else picked.add(full)
        files = sorted(picked)
    elif root.is_dir():
        files = sorted(p.resolve() for p in root.rglob("*") if p.is_file())
    else:
        return [(root, base)]
    if not files:
        raise UserErrorException(f"{where}: model_path {str(model_path)!r} holds no files")
    return [(p, f"{base}/{p.relative_to(root.resolve()).as_posix()}") for p in files]


def _matches(pairs: dict[str, Any], wanted: Any, what: str) -> bool:
    """v1's filter: every item is a key that must be present, or a [key, value] pair."""
    if wanted is None:
        return True
    if not isinstance(wanted, list):
        raise UserErrorException(
            f'Model.list: {what} must be a list, e.g. ["key", ["key2", "value"]]; got {wanted!r}'
        )
    for item in wanted:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            if item[0] not in pairs or str(pairs[item[0]]) != str(item[1]):
                return False
        elif isinstance(item, str):
            if item not in pairs:
                return False
        else:
            raise UserErrorException(
                f"Model.list: {what} item {item!r} is neither a key nor a [key, value] pair"
            )
    return True


class ModelRegistry:
    """The registered models on one datastore (the workspace's default). Plain-JSON in and out,
    so the step broker serves the same methods to a script."""

    def __init__(self, store: Any, assets: Assets | None = None):
        """``store``: where the models' files are; ``assets``: where their records are (default: the
        same datastore; the client's HTTP registry, client/asset_api.py, for a remote workspace)."""
        self.store = store
        self.assets = assets if assets is not None else AssetRegistry(store, "models", "model")

    def _record(self, name: str, version: Any = None) -> dict[str, Any]:
        try:
            return self.assets.get(name, "latest" if version is None else version)
        except AssetNotFound as exc:
            raise ModelNotFoundException(str(exc)) from None

    def get(
        self,
        name: str | None = None,
        id: str | None = None,
        version: Any = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        model_framework: str | None = None,
    ) -> dict[str, Any]:
        if id:
            model_name, sep, model_version = str(id).rpartition(":")
            if not sep or not model_name:
                raise UserErrorException(f"model id {id!r} is not of the form '<name>:<version>'")
            return self._record(model_name, int(model_version) if model_version.isdigit() else model_version)
        if not name:
            raise UserErrorException("Model: give the name or the id of the model to get")
        if version is not None:
            return self._record(name, version)
        self._record(name)  # a clear error when the name is unknown
        found = self.list(name, tags, properties, run_id, model_framework=model_framework)
        if not found:
            raise ModelNotFoundException(
                f"no version of model {name!r} matches tags={tags!r}, properties={properties!r}, "
                f"run_id={run_id!r}, model_framework={model_framework!r}"
            )
        return found[0]

    def list(
        self,
        name: str | None = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        latest: bool = False,
        dataset_id: str | None = None,
        model_framework: str | None = None,
    ) -> list[dict[str, Any]]:
        """Matching records, newest first (as v1's service listed them)."""
        if name is not None and not self.assets.versions(name):
            return []
        out = [
            r
            for r in self.assets.list(name, latest=latest)
            if _matches(r.get("tags") or {}, tags, "tags")
            and _matches(r.get("properties") or {}, properties, "properties")
            and (run_id is None or r.get("run_id") == run_id)
            and (model_framework is None or r.get("model_framework") == model_framework)
            and (dataset_id is None or any(d.get("dataset_id") == dataset_id for d in r.get("datasets", [])))
        ]
        return sorted(
            out, key=lambda r: (r.get("registered_at", 0.0), r["created_time"], r["version"]), reverse=True
        )

    def register(
        self,
        model_path: str,
        model_name: str,
        child_paths: list[str] | None = None,
        fields: dict[str, Any] | None = None,
        run_id: str | None = None,
        experiment_name: str | None = None,
        where: str = "Model.register",
    ) -> dict[str, Any]:
        """Store the files under a new prefix, verify them by listing, then write the record."""
        self.assets.check_name(model_name)
        fields = register_fields(where, **(fields or {}))
        files = collect_files(model_path, child_paths, where)
        prefix = self.assets.new_files_prefix(model_name)
        sizes = {rel: local.stat().st_size for local, rel in files}
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda f: self.store.upload_file(f[0], f"{prefix}/{f[1]}", overwrite=True), files))
        stored = stored_sizes(self.store, prefix)
        if stored != sizes:
            raise DatastoreError(
                f"{where}: model {model_name!r} did not store completely at {self.store.location(prefix)} "
                f"({len(stored)} of {len(sizes)} files match); nothing was registered"
            )
        record = {
            **fields,
            "run_id": run_id,
            "experiment_name": experiment_name,
            "files": {"prefix": prefix, "sizes": sizes},
            "url": self.store.location(prefix),
            "registered_at": time.time(),  # orders listings finer than created_time's seconds
        }
        return self.assets.register(model_name, record)

    def update(self, name: str, version: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Tags (replace, add, remove), new properties (never overwritten, as v1) and the description."""
        where = f"model {name}:{version}"
        record = self._record(name, version)
        tags = dict(record.get("tags") or {})
        if changes.get("tags") is not None:
            tags = _string_dict(changes["tags"], "tags", where)
        tags.update(_string_dict(changes.get("add_tags"), "tags", where))
        remove = changes.get("remove_tags") or []
        for key in [remove] if isinstance(remove, str) else remove:
            tags.pop(key, None)
        properties = dict(record.get("properties") or {})
        added = _string_dict(changes.get("add_properties"), "properties", where)
        clash = sorted(set(added) & set(properties))
        if clash:
            raise UserErrorException(
                f"{where} already has the properties {clash}; a property cannot be changed once set, only "
                "new keys added (use tags for values that change)"
            )
        properties.update(added)
        description = changes.get("description") or record.get("description")
        return self.assets.update(
            name, int(version), {"tags": tags, "properties": properties, "description": description}
        )

    def download(self, name: str, version: Any, target_dir: str, exist_ok: bool = False) -> str:
        """Download a version's files into ``target_dir``; returns their common path (the file itself
        for a one-file model, as v1)."""
        record = self._record(name, version)
        prefix, sizes = record["files"]["prefix"], record["files"]["sizes"]
        targets = []
        for rel in sorted(sizes):
            target = Path(target_dir) / rel
            if target.exists() and not exist_ok:
                raise UserErrorException(
                    f"model {name}:{record['version']}: {target} already exists; pass exist_ok=True to overwrite"
                )
            targets.append((f"{prefix}/{rel}", target))
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda t: self.store.download_file(t[0], t[1]), targets))
        for (_, target), rel in zip(targets, sorted(sizes), strict=True):
            if target.stat().st_size != sizes[rel]:
                raise DatastoreError(f"model {name}:{record['version']}: {rel} downloaded incompletely")
        return os.path.commonpath([str(t) for _, t in targets])
