"""Registered datasets, environments and models over HTTP: the plugin's ``/mlpipe/registry/v1/assets``
routes (plugin/asset_routes.py). A workspace whose config names a remote Airflow (``api.url`` or
``$MLPIPE_API_URL``) registers and reads its assets here: the API server writes the records on the
workspace's default datastore, which the client names by its spec (no secret: the server opens it
through its own Airflow connection). The client still reads and writes data, and a model's files,
on the datastore with the datastore's own credentials; it never writes a registry record itself.

``AssetApi`` has the methods of ``AssetRegistry`` (storage/assets.py), so Dataset, Environment and
Model read the same either way. A registration reads the latest version, decides (reuse it, refuse,
or add one) and adds with ``expect_latest``: the server answers 409 when another registration came
first, and ``Assets.register`` decides again.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_mlpipe.client.registry_api import BASE, mapped_request, segment
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.assets import AssetConflict, AssetNotFound, AssetRegistry, Assets

ASSETS = BASE + "/assets"  # plugin/asset_routes.py, under the registry routes' prefix
_ERRORS = {400: UserErrorException, 404: AssetNotFound, 409: AssetConflict}


class AssetApi(Assets):
    """The registered assets of kind ``kind`` on ``datastore`` (a Datastore of the client's
    workspace) of the deployment ``client`` talks to."""

    def __init__(self, client: AirflowClient, kind: str, label: str, datastore: Any):
        super().__init__(kind, label)
        self.client = client
        self.datastore = datastore
        self._datastore = json.dumps(datastore.spec, sort_keys=True)

    @property
    def store(self) -> Any:  # type: ignore[override]
        """The datastore as the client opens it, with its own credentials (a model's files)."""
        return self.datastore.store

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        params = {**kwargs.pop("params", {}), "datastore": self._datastore}
        return mapped_request(
            self.client, _ERRORS, method, f"{ASSETS}/{self.kind}{path}", params=params, **kwargs
        )

    def versions(self, name: str) -> list[int]:
        return self._call("GET", f"/{segment(self.check_name(name))}/versions")

    def names(self) -> list[str]:
        return sorted({r["name"] for r in self.list(latest=True)})

    def get(self, name: str, version: int | str | None = "latest") -> dict[str, Any]:
        wanted = "latest" if version is None else version
        return self._call("GET", f"/{segment(self.check_name(name))}/versions/{segment(wanted)}")

    def get_by_id(self, asset_id: str) -> dict[str, Any]:
        return self._call("GET", f"/by-id/{segment(asset_id)}")

    def list(self, name: str | None = None, latest: bool = False) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"latest": str(bool(latest)).lower()}
        if name:
            params["name"] = self.check_name(name)
        return self._call("GET", "", params=params)

    def add(self, name: str, record: dict[str, Any], expect_latest: int | None = None) -> dict[str, Any]:
        body = {"record": record, "expect_latest": expect_latest}
        return self._call("POST", f"/{segment(self.check_name(name))}/versions", json=body)

    def update(self, name: str, version: int, changes: dict[str, Any]) -> dict[str, Any]:
        path = f"/{segment(self.check_name(name))}/versions/{int(version)}"
        return self._call("PATCH", path, json={"changes": changes})


def workspace_assets(workspace: Any, kind: str, label: str) -> Assets:
    """The registered assets of ``kind`` in ``workspace``: over HTTP for a workspace of a remote
    Airflow, else on its default datastore directly (the embedded workspace, a step's workspace)."""
    from airflow_mlpipe.client.auth import talks_to_remote, workspace_client

    if workspace is None:
        raise UserErrorException(f"registered {kind} need a workspace (Workspace.from_config())")
    datastore = workspace.get_default_datastore()
    if talks_to_remote(workspace):
        return AssetApi(workspace_client(workspace), kind, label, datastore)
    return AssetRegistry(datastore.store, kind, label)
