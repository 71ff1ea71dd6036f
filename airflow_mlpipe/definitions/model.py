"""``Model``: Azure ML v1's model registry, kept on the workspace's default datastore.

A registered version is immutable (storage/models.py). Outside a step ``Model`` reads and writes the
datastore itself; inside a step the script cannot reach the datastore (Airflow's secrets are not in
its environment), so every call goes through the step operator's broker (operators/broker.py,
step_calls.py), which serves the same ``ModelRegistry`` methods.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.models import (
    ModelNotFoundException,
    ModelPathNotFoundException,
    ModelRegistry,
    refuse,
    register_fields,
)

__all__ = ["Model", "ModelNotFoundException", "ModelPathNotFoundException", "ModelRegistry", "models_dir"]

MODELS_DIR = "azureml-models"  # v1's cache folder for get_model_path, under $AML_APP_ROOT or the cwd


def models_dir() -> Path:
    return Path(os.environ.get("AML_APP_ROOT", "")) / MODELS_DIR


def _timestamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def registry_for(workspace: Any) -> Any:
    """Where Model calls go: the step's broker inside a step, else the workspace's default datastore."""
    from airflow_mlpipe import step_calls

    if step_calls.in_step():
        return step_calls.BrokeredModels()
    if workspace is None:
        raise UserErrorException("Model: a workspace is needed (Workspace.from_config())")
    from airflow_mlpipe.client.asset_api import workspace_assets

    assets = workspace_assets(workspace, "models", "model")  # over HTTP for a remote Airflow's workspace
    return ModelRegistry(assets.store, assets)


def _int_version(version: Any, where: str) -> int | None:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise UserErrorException(f"{where}: version should be an int, got {version!r}")
    return version


class Model:
    """A registered model version (Azure ML v1's ``azureml.core.Model``): ``Model(ws, "name")`` is its
    latest version, ``Model(ws, "name", version=2)`` or ``Model(ws, id="name:2")`` a given one."""

    class Framework:
        CUSTOM = "Custom"
        MULTI = "Multi"
        ONNX = "Onnx"
        PYTORCH = "PyTorch"
        SCIKITLEARN = "ScikitLearn"
        TENSORFLOW = "TensorFlow"
        TFKERAS = "TfKeras"

    def __init__(
        self,
        workspace: Any,
        name: str | None = None,
        id: str | None = None,
        tags: list[Any] | None = None,
        properties: list[Any] | None = None,
        version: int | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **kwargs: Any,
    ):
        self._load(workspace, {})
        if workspace is not None:  # v1: Model(None) is an empty object (deserialize fills it)
            record = registry_for(workspace).get(
                name=name,
                id=id,
                version=version,
                tags=tags,
                properties=properties,
                run_id=run_id,
                model_framework=model_framework,
            )
            self._load(workspace, record)

    def _load(self, workspace: Any, record: dict[str, Any]) -> None:
        self.workspace = workspace
        self.name: str | None = record.get("name")
        self.version: int | None = record.get("version")
        self.id = f"{self.name}:{self.version}" if record else None
        self.tags: dict[str, Any] = dict(record.get("tags") or {})
        self.properties: dict[str, Any] = dict(record.get("properties") or {})
        self.description: str | None = record.get("description")
        self.created_time = _timestamp(record.get("created_time"))
        self.created_by = None
        self.run_id: str | None = record.get("run_id")
        self.experiment_name: str | None = record.get("experiment_name")
        self.model_framework: str | None = record.get("model_framework")
        self.model_framework_version: str | None = record.get("model_framework_version")
        self.url: str | None = record.get("url")
        self.datasets: dict[str, list[dict[str, Any]]] = {}
        for ref in record.get("datasets") or []:
            self.datasets.setdefault(ref["name"], []).append({k: v for k, v in ref.items() if k != "name"})
        self.mime_type, self.unpack, self.run = "application/octet-stream", False, None
        self.parent_id, self.derived_model_ids = None, []
        self.resource_configuration = self.sample_input_dataset = self.sample_output_dataset = None

    @classmethod
    def _from_record(cls, workspace: Any, record: dict[str, Any]) -> Model:
        model = cls.__new__(cls)
        model._load(workspace, record)
        return model

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, "
            f"tags={self.tags}, properties={self.properties})"
        )

    # --- registering and finding -----------------------------------------------------------

    @staticmethod
    def register(
        workspace: Any,
        model_path: str,
        model_name: str,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        datasets: list[tuple[str, Any]] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: list[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
    ) -> Model:
        """Upload a local file or folder (``child_paths``: only those paths inside it) as the next
        version of ``model_name``."""
        where = f"Model.register({model_name!r})"
        refuse(
            where,
            sample_input_dataset=sample_input_dataset,
            sample_output_dataset=sample_output_dataset,
            resource_configuration=resource_configuration,
        )
        fields = register_fields(
            where, tags, properties, description, model_framework, model_framework_version, datasets
        )
        if not os.path.exists(model_path):
            raise UserErrorException(f"{where}: model_path {str(model_path)!r} cannot be found")
        print(f"Registering model {model_name}")
        record = registry_for(workspace).register(
            os.path.abspath(model_path), model_name, child_paths=child_paths, fields=fields, where=where
        )
        return Model._from_record(workspace, record)

    @staticmethod
    def _register_from_run(run: Any, model_name: str, model_path: str | None, **given: Any) -> Model:
        """``Run.register_model`` in a step: the operator registers a file of the run's (its
        ./outputs or what it uploaded) with the run's id and experiment."""
        from airflow_mlpipe import step_calls

        where = f"Run.register_model({model_name!r})"
        if getattr(run, "_offline", True) or not step_calls.in_step():
            raise UserErrorException(
                f"{where} needs a pipeline step: an offline run has no run files to register from; register a "
                "local file or folder with Model.register(workspace, model_path, model_name) instead"
            )
        unknown = sorted(
            set(given)
            - {
                "tags",
                "properties",
                "description",
                "datasets",
                "model_framework",
                "model_framework_version",
                "sample_input_dataset",
                "sample_output_dataset",
                "resource_configuration",
            }
        )
        if unknown:
            raise UserErrorException(f"{where}: unknown argument(s) {unknown}")
        refuse(
            where,
            **{
                k: given.pop(k, None)
                for k in ("sample_input_dataset", "sample_output_dataset", "resource_configuration")
            },
        )
        fields = register_fields(where, **given)
        record = step_calls.BrokeredModels().register_from_run(
            model_name=model_name, model_path=model_path or model_name, fields=fields
        )
        return Model._from_record(run.experiment.workspace, record)

    @staticmethod
    def list(
        workspace: Any,
        name: str | None = None,
        tags: list[Any] | None = None,
        properties: list[Any] | None = None,
        run_id: str | None = None,
        latest: bool = False,
        dataset_id: str | None = None,
        expand: bool = True,
        page_count: int = 255,
        model_framework: str | None = None,
    ) -> list[Model]:
        """Registered versions, newest first; ``tags``/``properties`` filter by key or [key, value]."""
        if page_count and not 20 <= page_count <= 255:
            raise UserErrorException(f"Model.list: page_count must be between 20 and 255, got {page_count}")
        if tags is not None and not isinstance(tags, list):
            raise UserErrorException(
                f'Model.list: tags must be a list, e.g. ["key", ["key2", "value"]]; got {tags!r}'
            )
        records = registry_for(workspace).list(
            name=name,
            tags=tags,
            properties=properties,
            run_id=run_id,
            latest=latest,
            dataset_id=dataset_id,
            model_framework=model_framework,
        )
        return [Model._from_record(workspace, r) for r in records]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """The local path of a model's files (v1): inside a step, downloaded from the registry into
        ./azureml-models/<name>/<version>/; elsewhere, from ``_workspace`` when given, else found in
        that cache folder or at ./<model_name>."""
        from airflow_mlpipe import step_calls

        where = f"Model.get_model_path({model_name!r})"
        _int_version(version, where)
        in_step = step_calls.in_step()
        if version is not None:
            try:
                return Model._cached_path(model_name, version)
            except ModelNotFoundException:
                if not in_step and _workspace is None:
                    raise
        if in_step:
            return step_calls.BrokeredModels().model_path(
                name=model_name, version=version, root=str(models_dir().resolve())
            )
        if _workspace is None:
            return Model._cached_path(model_name, version)
        registry = registry_for(_workspace)
        record = registry.get(name=model_name, version=version)
        target = models_dir() / model_name / str(record["version"])
        return registry.download(model_name, record["version"], str(target), exist_ok=True)

    @staticmethod
    def _cached_path(model_name: str, version: int | None) -> str:
        folder = models_dir() / model_name
        if folder.is_dir():
            versions = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
            chosen = version if version is not None else (versions[-1] if versions else None)
            candidate = folder / str(chosen)
            if chosen is not None and candidate.is_dir():
                entries = sorted(os.listdir(candidate))
                if len(entries) != 1:
                    raise UserErrorException(f"{candidate} may hold only 1 file or folder; found {entries}")
                return str(candidate / entries[0])
        if os.path.exists(model_name):
            return model_name
        raise ModelNotFoundException(
            f"model {model_name!r} (version {version if version is not None else 'latest'}) is not in the cache "
            f"at {folder} nor at ./{model_name} in {os.getcwd()}; pass _workspace=ws to download it from "
            "the workspace's registry"
        )

    # --- this version ----------------------------------------------------------------------

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Download this version's files into ``target_dir``; returns the file (one-file model) or folder."""
        if exists_ok is not None:
            exist_ok = exists_ok
        target = target_dir if not _in_step() else os.path.abspath(target_dir)
        return registry_for(self.workspace).download(self.name, self.version, target, exist_ok=exist_ok)

    def _update(self, **changes: Any) -> None:
        record = registry_for(self.workspace).update(self.name, self.version, changes)
        self.tags, self.properties = dict(record["tags"]), dict(record["properties"])
        self.description = record.get("description")

    def add_tags(self, tags: dict[str, Any]) -> None:
        self._update(add_tags=tags)
        print("Model tag add operation complete.")

    def remove_tags(self, tags: list[str]) -> None:
        self._update(remove_tags=tags)
        print("Model tag remove operation complete.")

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties; an existing key is an error (properties never change once set, as v1)."""
        self._update(add_properties=properties)
        print("Model properties add operation complete.")

    def update_tags_properties(
        self,
        add_tags: dict | None = None,
        remove_tags: list | None = None,
        add_properties: dict | None = None,
    ) -> None:
        self._update(add_tags=add_tags, remove_tags=remove_tags, add_properties=add_properties)

    def update(
        self,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
    ) -> None:
        """Replace the tags and/or the description (the files of a version never change)."""
        refuse(
            f"Model.update({self.id})",
            sample_input_dataset=sample_input_dataset,
            sample_output_dataset=sample_output_dataset,
            resource_configuration=resource_configuration,
        )
        self._update(tags=tags or None, description=description)

    def delete(self) -> None:
        raise UserErrorException(
            f"Model.delete({self.id}): registered model versions are immutable in airflow-mlpipe and are "
            "not deleted; tag the version (model.add_tags) to mark it retired"
        )

    def serialize(self) -> dict[str, Any]:
        """v1's JSON form of a model."""
        return {
            "createdTime": self.created_time.isoformat() if self.created_time else None,
            "createdBy": self.created_by,
            "description": self.description,
            "id": self.id,
            "mimeType": self.mime_type,
            "name": self.name,
            "framework": self.model_framework,
            "frameworkVersion": self.model_framework_version,
            "tags": self.tags,
            "properties": self.properties,
            "unpack": self.unpack,
            "url": self.url,
            "version": self.version,
            "experimentName": self.experiment_name,
            "runId": self.run_id,
            "runDetails": str(self.run),
            "datasets": [{"name": k, **ref} for k, refs in self.datasets.items() for ref in refs],
            "resourceConfiguration": None,
            "sampleInputDatasetId": None,
            "sampleOutputDatasetId": None,
        }

    @staticmethod
    def deserialize(workspace: Any, model_payload: dict[str, Any]) -> Model:
        p = model_payload
        created = p.get("createdTime")
        record = {
            "name": p.get("name"),
            "version": p.get("version"),
            "tags": p.get("tags"),
            "properties": p.get("properties"),
            "description": p.get("description"),
            "created_time": created.replace("+00:00", "Z") if isinstance(created, str) else None,
            "run_id": p.get("runId"),
            "experiment_name": p.get("experimentName"),
            "model_framework": p.get("framework"),
            "model_framework_version": p.get("frameworkVersion"),
            "url": p.get("url"),
            "datasets": p.get("datasets") or [],
        }
        return Model._from_record(workspace, record)


def _in_step() -> bool:
    from airflow_mlpipe import step_calls

    return step_calls.in_step()
