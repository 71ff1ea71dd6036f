"""The workspace's registry, over HTTP: the plugin's ``/mlpipe/registry/v1`` routes in Airflow's API
server (plugin/registry_routes.py). The client needs no path of the deployment.

``RegistryApi`` has the method names and return values of the registry classes the client used
to call on a folder (``Registry``, ``PublishedRegistry``, ``ScheduleRegistry``), so the v1 classes
read the same. The routes' errors become the exceptions those classes raised, with the server's
message: 400 UserErrorException, 404 NotFoundError, 409 ConflictError; a refusal (403) stays an
AirflowApiError with status 403, naming the user and the DAG.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_mlpipe.client.rest import AirflowApiError, AirflowClient
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import ROUTES_MOUNT, ConflictError, NotFoundError, PublishedRegistry
from airflow_mlpipe.registry.schedules import ScheduleRegistry

# plugin/registry_models.py REGISTRY_PREFIX (not imported: importing the plugin package loads
# Airflow's plugin manager and the API app; tests/unit/test_registry_api.py checks they agree)
REGISTRY_PREFIX = "/registry/v1"
BASE = ROUTES_MOUNT + REGISTRY_PREFIX
_ERRORS = {400: UserErrorException, 404: NotFoundError, 409: ConflictError}


def segment(value: Any) -> str:
    """``value`` quoted as one path segment."""
    return quote(str(value), safe="")


def mapped_request(
    client: AirflowClient, errors: dict[int, type[Exception]], method: str, path: str, **kwargs: Any
) -> Any:
    """``client.request``, a route's error status raised as the exception ``errors`` maps it to
    (with the server's message); any other error stays an AirflowApiError (a 403 among them)."""
    try:
        return client.request(method, path, **kwargs)
    except AirflowApiError as exc:
        error = errors.get(exc.status or 0)
        if error is not None:
            raise error(exc.detail) from None
        raise


class RegistryApi:
    """The registry of the Airflow deployment ``client`` talks to."""

    def __init__(self, client: AirflowClient):
        self.client = client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return mapped_request(self.client, _ERRORS, method, BASE + path, **kwargs)

    # --- experiment entries (Registry) ----------------------------------------------------------

    def put(self, dag_id: str, spec: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        """Create or update experiment DAG ``dag_id``'s entry (the server leaves an equal one as it is)."""
        return self._call("PUT", f"/entries/{segment(dag_id)}", json={"spec": spec, "meta": meta})

    def get(self, dag_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/entries/{segment(dag_id)}")
        except NotFoundError:
            return None

    def broken_error(self, dag_id: str) -> str | None:
        """Why the DAG processor skipped DAG ``dag_id``'s entry, or None."""
        return self._call("GET", f"/entries/{segment(dag_id)}/status")["error"]

    # --- published pipelines (PublishedRegistry) ------------------------------------------------

    def publish(
        self,
        spec: dict[str, Any],
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool = False,
        published_from: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "spec": spec,
            "name": name,
            "description": description,
            "version": version,
            "continue_on_step_failure": bool(continue_on_step_failure),
            "published_from": published_from,
        }
        return self._call("POST", "/published", json=body)

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return self._call("GET", f"/published/{segment(pipeline_id)}")

    def list_pipelines(self, active_only: bool = False) -> list[dict[str, Any]]:
        return self._call("GET", "/published", params={"active_only": str(bool(active_only)).lower()})

    def set_pipeline_status(self, pipeline_id: str, status: str) -> dict[str, Any]:
        return self._call("PATCH", f"/published/{segment(pipeline_id)}", json={"status": status})

    # --- endpoints ------------------------------------------------------------------------------

    def list_endpoints(self, active_only: bool = False, name: str | None = None) -> list[dict[str, Any]]:
        params = {"active_only": str(bool(active_only)).lower()}
        return self._call("GET", "/endpoints", params={**params, **({"name": name} if name else {})})

    def get_endpoint(self, endpoint_id: str | None = None, name: str | None = None) -> dict[str, Any]:
        if endpoint_id is None and name is None:
            raise UserErrorException("give the pipeline endpoint's id or its name")
        if endpoint_id is not None:
            record = self._call("GET", f"/endpoints/{segment(endpoint_id)}")
            if name is not None and record["name"] != name:
                raise NotFoundError(f"no pipeline endpoint with id {endpoint_id!r} and name {name!r}")
            return record
        found = self.list_endpoints(name=name)
        if not found:
            raise NotFoundError(f"no pipeline endpoint named {name!r}")
        return found[0]

    def check_name_free(self, name: str) -> None:
        """ConflictError if an endpoint that is not archived has ``name`` (the server checks again
        when it creates one; this is to fail before a Pipeline is published for nothing)."""
        if self.list_endpoints(name=name):
            raise ConflictError(
                f"a pipeline endpoint named {name!r} already exists; add a version to it with "
                "PipelineEndpoint.get(ws, name=...).add_default(published), or choose another name"
            )

    def create_endpoint(self, name: str, description: str | None, pipeline_id: str) -> dict[str, Any]:
        body = {"name": name, "description": description, "pipeline_id": pipeline_id}
        return self._call("POST", "/endpoints", json=body)

    def update_endpoint(self, endpoint_id: str, **change: Any) -> dict[str, Any]:
        """One atomic change (see EndpointChange: add_pipeline, make_default, default_version,
        default_pipeline, status, name)."""
        return self._call("PATCH", f"/endpoints/{segment(endpoint_id)}", json=change)

    # the registry's own logic on a record: it reads only the record and get_pipeline/get_endpoint
    endpoint_version = PublishedRegistry.endpoint_version

    # --- schedules ------------------------------------------------------------------------------

    schedule_target = ScheduleRegistry.schedule_target

    def create_schedule(
        self, target: dict[str, str | None], experiment_name: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        body = {
            "pipeline_id": target.get("pipeline_id"),
            "pipeline_endpoint_id": target.get("pipeline_endpoint_id"),
            "experiment_name": experiment_name,
            "settings": settings,
        }
        return self._call("POST", "/schedules", json=body)

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._call("GET", f"/schedules/{segment(schedule_id)}")

    def list_schedules(
        self,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"active_only": str(bool(active_only)).lower()}
        if pipeline_id is not None:
            params["pipeline_id"] = pipeline_id
        if pipeline_endpoint_id is not None:
            params["pipeline_endpoint_id"] = pipeline_endpoint_id
        return self._call("GET", "/schedules", params=params)

    def update_schedule(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/schedules/{segment(schedule_id)}", json={"changes": changes})


def workspace_registry(workspace: Any) -> RegistryApi:
    """The registry of a workspace's Airflow deployment, through its API."""
    from airflow_mlpipe.client.auth import workspace_client

    return RegistryApi(workspace_client(workspace))
