"""Published pipelines and versioned pipeline endpoints, as records in the pipeline registry.

A published pipeline is immutable: its spec is a registry DAG entry (DAG id ``published_<id>``)
and its record (``published/<id>.json`` in the registry store) holds what callers need without the spec: name,
version, description, typed parameters with defaults, step names, datastore names, snapshot ids.
Only its ``status`` ("Active" or "Disabled") ever changes.

An endpoint (``endpoints/<id>.json``) names published pipelines as versions "0", "1", ...
and one default version. Its status is "Active", "Disabled" or "Archived"; an archived endpoint
releases its name. Names are unique among endpoints that are not archived.

Every read-modify-write is a conditional write of the record it changes (registry/records.py),
and a change that checks names across endpoints also holds the registry's store lease: two
writers on any two machines never lose each other's change. No Airflow import: the client, the
CLI and the API server plugin all use this module.
"""

from __future__ import annotations

import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.exceptions import MlpipeError, UserErrorException
from airflow_mlpipe.registry import Registry
from airflow_mlpipe.storage.base import Store

PUBLISHED_FORMAT = "mlpipe.published-pipeline/1"
ENDPOINT_FORMAT = "mlpipe.pipeline-endpoint/1"
DAG_PREFIX = "published_"
PIPELINE_STATUSES = ("Active", "Disabled")
# the plugin's REST routes (Azure ML's paths), under the prefix the plugin mounts its app at
ROUTES_MOUNT = "/mlpipe"
API_PREFIX = "/pipelines/v1.0"
PIPELINE_SUBMIT_ROUTE = API_PREFIX + "/PipelineRuns/PipelineSubmit/{pipeline_id}"
ENDPOINT_SUBMIT_ROUTE = API_PREFIX + "/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint_id}"
ENDPOINT_STATUSES = ("Active", "Disabled", "Archived")


class NotFoundError(MlpipeError, LookupError):
    """No published pipeline, endpoint or version of that id, name or number."""


class ConflictError(MlpipeError):
    """The target exists but is not in a state that allows the request (disabled, name taken)."""


def pipeline_submit_url(base_url: str, pipeline_id: str) -> str:
    """A published pipeline's ``endpoint``: where a POST starts a run."""
    return base_url + ROUTES_MOUNT + PIPELINE_SUBMIT_ROUTE.format(pipeline_id=quote(pipeline_id, safe=""))


def endpoint_submit_url(base_url: str, endpoint_id: str) -> str:
    """A pipeline endpoint's ``endpoint``: where a POST runs its default (or a pinned) version."""
    return base_url + ROUTES_MOUNT + ENDPOINT_SUBMIT_ROUTE.format(endpoint_id=quote(endpoint_id, safe=""))


def published_dag_id(pipeline_id: str) -> str:
    return f"{DAG_PREFIX}{pipeline_id}"


def pipeline_id_of_dag(dag_id: str) -> str | None:
    return dag_id[len(DAG_PREFIX) :] if dag_id.startswith(DAG_PREFIX) else None


def check_id(kind: str, value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFoundError(f"no {kind} with id {value!r} (ids are UUIDs)") from None


def check_text(what: str, value: Any, required: bool = True, limit: int = 256) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserErrorException(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise UserErrorException(f"{what} is {len(value)} characters long; at most {limit} are allowed")
    return value


class PublishedRegistry:
    """Records of published pipelines and endpoints in one registry (None = the deployment's, a
    folder path, or a Store)."""

    published = "published"
    endpoints = "endpoints"

    def __init__(self, root: str | Path | Store | None = None):
        self.registry = Registry(root)
        self.root = self.registry.root
        self.store = self.registry.store
        self.records = self.registry.records

    def locked(self) -> AbstractContextManager[None]:
        """The registry's store lease, for changes that must see several records at once."""
        return self.records.locked()

    # --- published pipelines -----------------------------------------------------------------

    def publish(
        self,
        spec: dict[str, Any],
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool = False,
        published_from: str | None = None,
    ) -> dict[str, Any]:
        """Store the spec as a new immutable published pipeline and return its record."""
        check_text("published pipeline name", name)
        check_text("description", description, required=False, limit=4096)
        check_text("version", version, required=False)
        pipeline_id = str(uuid.uuid4())
        dag_id = published_dag_id(pipeline_id)
        snapshots = sorted(
            {s["settings"]["snapshot"]["id"] for s in spec["steps"] if s["settings"].get("snapshot")}
        )
        record = {
            "format": PUBLISHED_FORMAT,
            "id": pipeline_id,
            "name": name,
            "description": description,
            "version": version,
            "dag_id": dag_id,
            "continue_on_step_failure": bool(continue_on_step_failure),
            "parameters": spec["parameters"],
            "steps": [s["name"] for s in spec["steps"]],
            "datastores": sorted(spec["datastores"]),
            "snapshots": snapshots,
            "published_from": published_from,
            "created": time.time(),
            "status": "Active",
        }
        meta = {
            "published_id": pipeline_id,
            "name": name,
            "version": version,
            "continue_on_step_failure": bool(continue_on_step_failure),
        }
        # the DAG entry first: a record never points at a spec that is not there
        self.registry.put(dag_id, spec, "published", meta)
        self.records.create(self._pipeline_path(pipeline_id), record)
        return record

    def _pipeline_path(self, pipeline_id: str) -> str:
        return f"{self.published}/{check_id('published pipeline', pipeline_id)}.json"

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        record = self.records.read(self._pipeline_path(pipeline_id))
        if record is None:
            raise NotFoundError(f"no published pipeline with id {pipeline_id!r}")
        return record

    def list_pipelines(self, active_only: bool = False) -> list[dict[str, Any]]:
        records = self.records.read_all(self.published)
        if active_only:
            records = [r for r in records if r["status"] == "Active"]
        return sorted(records, key=lambda r: r["created"])

    def set_pipeline_status(self, pipeline_id: str, status: str) -> dict[str, Any]:
        if status not in PIPELINE_STATUSES:
            raise UserErrorException(f"status must be one of {PIPELINE_STATUSES}, got {status!r}")

        def change(record: dict[str, Any]) -> None:
            record["status"] = status

        return self.records.update(
            self._pipeline_path(pipeline_id),
            change,
            lambda: NotFoundError(f"no published pipeline with id {pipeline_id!r}"),
        )

    # --- endpoints ---------------------------------------------------------------------------

    def _endpoint_path(self, endpoint_id: str) -> str:
        return f"{self.endpoints}/{check_id('pipeline endpoint', endpoint_id)}.json"

    def list_endpoints(self, active_only: bool = False) -> list[dict[str, Any]]:
        records = self.records.read_all(self.endpoints)
        if active_only:
            records = [r for r in records if r["status"] == "Active"]
        return sorted(records, key=lambda r: r["created"])

    def get_endpoint(self, endpoint_id: str | None = None, name: str | None = None) -> dict[str, Any]:
        if endpoint_id is None and name is None:
            raise UserErrorException("give the pipeline endpoint's id or its name")
        if endpoint_id is not None:
            record = self.records.read(self._endpoint_path(endpoint_id))
            if record is None or (name is not None and record["name"] != name):
                raise NotFoundError(
                    f"no pipeline endpoint with id {endpoint_id!r}" + (f" and name {name!r}" if name else "")
                )
            return record
        for record in self.list_endpoints():
            if record["name"] == name and record["status"] != "Archived":
                return record
        raise NotFoundError(f"no pipeline endpoint named {name!r}")

    def check_name_free(self, name: str, but: str | None = None) -> None:
        """Raise ConflictError if an endpoint other than ``but`` that is not archived has ``name``."""
        if any(
            r["name"] == name and r["status"] != "Archived" and r["id"] != but for r in self.list_endpoints()
        ):
            raise ConflictError(
                f"a pipeline endpoint named {name!r} already exists; add a version to it with "
                "PipelineEndpoint.get(ws, name=...).add_default(published), or choose another name"
            )

    def create_endpoint(self, name: str, description: str | None, pipeline_id: str) -> dict[str, Any]:
        check_text("pipeline endpoint name", name)
        check_text("description", description, required=False, limit=4096)
        self.get_pipeline(pipeline_id)
        with self.locked():
            self.check_name_free(name)
            now = time.time()
            record = {
                "format": ENDPOINT_FORMAT,
                "id": str(uuid.uuid4()),
                "name": name,
                "description": description,
                "status": "Active",
                "default_version": "0",
                "versions": [{"version": "0", "pipeline_id": pipeline_id, "added": now}],
                "created": now,
                "updated": now,
            }
            self.records.create(self._endpoint_path(record["id"]), record)
        return record

    def update_endpoint(
        self,
        endpoint_id: str,
        add_pipeline: str | None = None,
        make_default: bool = False,
        default_version: str | None = None,
        default_pipeline: str | None = None,
        status: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """One atomic change of an endpoint; returns the record as stored. A rename (or a
        reactivation, which names the endpoint) holds the registry's lease while it checks that no
        other endpoint has the name; every change is a conditional write of the record."""
        path = self._endpoint_path(endpoint_id)
        if add_pipeline is not None:
            self.get_pipeline(add_pipeline)
        if name is not None:
            check_text("pipeline endpoint name", name)
        if status is not None and status not in ENDPOINT_STATUSES:
            raise UserErrorException(f"status must be one of {ENDPOINT_STATUSES}, got {status!r}")

        def change(record: dict[str, Any]) -> None:
            versions = record["versions"]
            if add_pipeline is not None:
                version = str(max(int(v["version"]) for v in versions) + 1)
                versions.append({"version": version, "pipeline_id": add_pipeline, "added": time.time()})
                if make_default:
                    record["default_version"] = version
            if default_version is not None:
                if str(default_version) not in {v["version"] for v in versions}:
                    raise NotFoundError(
                        f"pipeline endpoint {record['name']!r} has no version {str(default_version)!r}; "
                        f"it has {[v['version'] for v in versions]}"
                    )
                record["default_version"] = str(default_version)
            if default_pipeline is not None:
                matching = [v["version"] for v in versions if v["pipeline_id"] == default_pipeline]
                if not matching:
                    raise NotFoundError(
                        f"published pipeline {default_pipeline!r} is not a version of pipeline endpoint "
                        f"{record['name']!r}; add it with add_default(published)"
                    )
                record["default_version"] = matching[-1]
            if name is not None:
                self.check_name_free(name, but=record["id"])
                record["name"] = name
            if status is not None:
                if record["status"] == "Archived" and status != "Archived" and name is None:
                    raise ConflictError(
                        f"pipeline endpoint {record['name']!r} is archived; reactivate(name) it first"
                    )
                record["status"] = status
            record["updated"] = time.time()

        def missing() -> Exception:
            return NotFoundError(f"no pipeline endpoint with id {endpoint_id!r}")

        if name is None:
            return self.records.update(path, change, missing)
        with self.locked():
            return self.records.update(path, change, missing)

    def endpoint_version(self, endpoint: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        """The version entry a submit goes to: the default one, or ``version``."""
        wanted = endpoint["default_version"] if version is None else str(version)
        for v in endpoint["versions"]:
            if v["version"] == wanted:
                return v
        raise NotFoundError(
            f"pipeline endpoint {endpoint['name']!r} has no version {wanted!r}; "
            f"it has {[v['version'] for v in endpoint['versions']]}"
        )
