"""Registered datasets, environments and models, under ``/mlpipe/registry/v1/assets/<kind>`` in
Airflow's API server: what ``Dataset.register``, ``Environment.register`` and ``Model.register`` of a
remote workspace call (client/asset_api.py).

Every request names the datastore the records live on (``?datastore=<spec as JSON>``: the client's
default datastore, the one its steps read the records from). The spec carries no secret; the server
opens it through its own Airflow connection (``conn_id``). A folder datastore is accepted only when
this deployment's workspace defines a datastore on the same folder: a folder of the client's machine
is not one the deployment's components can read.

Authorization is Airflow's auth manager's, before anything is read or written: datasets and models
are assets (``is_authorized_asset``); an environment decides what code the steps of DAGs run in,
so it is read and written as DAGs are (``is_authorized_dag``). Errors: 400 (naming the field or
the datastore), 403, 404, 409 (another registration added a version first: decide again).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from airflow_mlpipe.plugin.auth import UserDep, authorize_asset, authorize_dag
from airflow_mlpipe.plugin.models import ERRORS
from airflow_mlpipe.plugin.registry_models import REGISTRY_PREFIX, AssetChange, AssetRegistration
from airflow_mlpipe.registry.published import ConflictError, NotFoundError
from airflow_mlpipe.storage.assets import AssetConflict, AssetNotFound, AssetRegistry

router = APIRouter(prefix=REGISTRY_PREFIX + "/assets", tags=["registered assets"], responses=ERRORS)
Kind = Literal["datasets", "environments", "models"]
LABELS = {"datasets": "dataset", "environments": "environment", "models": "model"}
FILE_TYPES = ("azure_blob", "azure_data_lake_gen2", "azure_file_share")
MUTABLE = {"description", "tags", "properties"}  # what a PATCH may change: a version's data stays
DatastoreSpec = Annotated[
    str,
    Query(
        min_length=2,
        max_length=4096,
        description="the client's default datastore's spec, as JSON (type, conn_id, container, ...; no secret)",
    ),
]
Name = Annotated[str, Path(min_length=1, max_length=255)]


def _datastore(raw: str) -> dict[str, Any]:
    """A datastore spec the deployment can open, from the request's ``datastore`` (400 otherwise)."""
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.definitions.workspace_config import check_datastore
    from airflow_mlpipe.exceptions import UserErrorException

    try:
        sent = json.loads(raw)
    except ValueError:
        raise UserErrorException("datastore: not JSON; send the datastore's spec as a JSON object") from None
    if not isinstance(sent, dict):
        raise UserErrorException(f"datastore: expected a JSON object, got {type(sent).__name__}")
    name = str(sent.get("name") or "default")
    spec = check_datastore(name, sent, None, "sent with the request")
    if spec["type"] in FILE_TYPES:
        return spec
    if spec["type"] == "local":
        ws = Workspace.from_config()
        for own in ws.datastores:
            mine = ws.datastore_spec(own)
            if mine["type"] == "local" and mine["path"] == spec["path"]:
                return mine
        raise UserErrorException(
            f"datastore {name!r} is a folder ({spec['path']}) this deployment has no datastore on, so its "
            "workers could not read what is registered there; make the workspace's default datastore one "
            "the deployment shares (azure_blob, azure_data_lake_gen2 or azure_file_share)"
        )
    raise UserErrorException(
        f"datastore {name!r} has type {spec['type']!r}: registered assets are files, kept on a file "
        f"datastore ({', '.join(FILE_TYPES)}, or a folder of the deployment's workspace)"
    )


def _registry(kind: str, raw: str) -> AssetRegistry:
    from airflow_mlpipe.storage import open_store

    return AssetRegistry(open_store(_datastore(raw)), kind, LABELS[kind])


def _authorize(user: Any, kind: str, method: str) -> None:
    if kind == "environments":
        authorize_dag(user, None, method)
    else:
        authorize_asset(user, method, f"registered {kind}")


def _found(call: Any, *args: Any) -> Any:
    """``call(*args)``, its AssetNotFound a 404 and its AssetConflict a 409."""
    try:
        return call(*args)
    except AssetNotFound as exc:
        raise NotFoundError(str(exc)) from None
    except AssetConflict as exc:
        raise ConflictError(str(exc)) from None


@router.get("/{kind}")
def list_assets(
    user: UserDep,
    kind: Kind,
    datastore: DatastoreSpec,
    name: Annotated[str | None, Query(min_length=1, description="only the versions of this name")] = None,
    latest: Annotated[bool, Query(description="only each name's latest version")] = False,
) -> list[dict[str, Any]]:
    """Every version (or each name's latest) of the registered assets of ``kind``, oldest name first."""
    _authorize(user, kind, "GET")
    return _registry(kind, datastore).list(name, latest=latest)


@router.get("/{kind}/{name}/versions")
def list_versions(user: UserDep, kind: Kind, name: Name, datastore: DatastoreSpec) -> list[int]:
    """The version numbers of ``name``, ascending (empty when it is not registered)."""
    _authorize(user, kind, "GET")
    return _registry(kind, datastore).versions(name)


@router.get("/{kind}/{name}/versions/{version}")
def get_version(
    user: UserDep,
    kind: Kind,
    name: Name,
    datastore: DatastoreSpec,
    version: Annotated[str, Path(description="a version number, or 'latest'")],
) -> dict[str, Any]:
    _authorize(user, kind, "GET")
    return _found(_registry(kind, datastore).get, name, version)


@router.get("/{kind}/by-id/{asset_id}")
def get_by_id(user: UserDep, kind: Kind, asset_id: str, datastore: DatastoreSpec) -> dict[str, Any]:
    _authorize(user, kind, "GET")
    return _found(_registry(kind, datastore).get_by_id, asset_id)


@router.post("/{kind}/{name}/versions", status_code=201)
def add_version(
    user: UserDep, kind: Kind, name: Name, datastore: DatastoreSpec, body: AssetRegistration
) -> dict[str, Any]:
    """Add the next version of ``name``, if its latest version is still ``expect_latest`` (0: none
    yet; else 409). A model's record must name files already stored, complete, under the name's
    own files prefix: the server lists them before the record is written."""
    _authorize(user, kind, "POST")
    registry = _registry(kind, datastore)
    if kind == "models":
        _check_model_files(registry, name, body.record)
    return _found(registry.add, name, body.record, body.expect_latest)


@router.patch("/{kind}/{name}/versions/{version}")
def update_version(
    user: UserDep, kind: Kind, name: Name, version: int, datastore: DatastoreSpec, body: AssetChange
) -> dict[str, Any]:
    """Change a version's description, tags or properties (the data it names stays)."""
    from airflow_mlpipe.exceptions import UserErrorException

    _authorize(user, kind, "PUT")
    unknown = sorted(set(body.changes) - MUTABLE)
    if unknown:
        raise UserErrorException(
            f"changes: {unknown} cannot be changed; a version may change {sorted(MUTABLE)}"
        )
    return _found(_registry(kind, datastore).update, name, version, body.changes)


def _check_model_files(registry: AssetRegistry, name: str, record: dict[str, Any]) -> None:
    """400 unless ``record["files"]`` names a prefix under the model's files root whose listing
    matches the sizes it gives (so no half-uploaded model is ever registered)."""
    from airflow_mlpipe.exceptions import UserErrorException

    files = record.get("files")
    root = registry.files_root(name) + "/"
    if not isinstance(files, dict) or not isinstance(files.get("sizes"), dict):
        raise UserErrorException("record.files: a model's record needs 'files': {'prefix', 'sizes'}")
    prefix = files.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith(root) or ".." in prefix.split("/"):
        raise UserErrorException(
            f"record.files.prefix: {prefix!r} is not under the model's files root {root}"
        )
    from airflow_mlpipe.storage.models import stored_sizes

    stored = stored_sizes(registry.store, prefix)
    if stored != files["sizes"]:
        raise UserErrorException(
            f"model {name!r}: {registry.store.location(prefix)} holds {len(stored)} files, not the "
            f"{len(files['sizes'])} of the record (or of other sizes); nothing was registered"
        )
