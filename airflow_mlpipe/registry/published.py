"""Published pipelines and versioned pipeline endpoints, as records in the registry folder.

A published pipeline is immutable: its spec is a registry DAG entry (DAG id ``published_<id>``)
and its record (``registry/published/<id>.json``) holds what callers need without the spec: name,
version, description, typed parameters with defaults, step names, datastore names, snapshot ids.
Only its ``status`` ("Active" or "Disabled") ever changes.

An endpoint (``registry/endpoints/<id>.json``) names published pipelines as versions "0", "1", ...
and one default version. Its status is "Active", "Disabled" or "Archived"; an archived endpoint
releases its name. Names are unique among endpoints that are not archived.

Every read-modify-write holds an exclusive ``flock`` on ``registry/.lock``, so two clients (or a
client and the API server) never lose each other's change. No Airflow import: the client, the CLI
and the API server plugin all use this module.
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_mlpipe.definitions.workspace import write_json_atomic
from airflow_mlpipe.exceptions import MlpipeError, UserErrorException
from airflow_mlpipe.registry import Registry

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
    """Records of published pipelines and endpoints under one registry root."""

    def __init__(self, root: str | Path | None = None):
        self.registry = Registry(root)
        self.root = self.registry.root
        self.published = self.root / "published"
        self.endpoints = self.root / "endpoints"

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

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
        write_json_atomic(self.published / f"{pipeline_id}.json", record)
        return record

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        pid = check_id("published pipeline", pipeline_id)
        record = self._read(self.published / f"{pid}.json")
        if record is None:
            raise NotFoundError(f"no published pipeline with id {pipeline_id!r}")
        return record

    def list_pipelines(self, active_only: bool = False) -> list[dict[str, Any]]:
        if not self.published.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in self.published.glob("*.json")]
        if active_only:
            records = [r for r in records if r["status"] == "Active"]
        return sorted(records, key=lambda r: r["created"])

    def set_pipeline_status(self, pipeline_id: str, status: str) -> dict[str, Any]:
        if status not in PIPELINE_STATUSES:
            raise UserErrorException(f"status must be one of {PIPELINE_STATUSES}, got {status!r}")
        with self.locked():
            record = self.get_pipeline(pipeline_id)
            record["status"] = status
            write_json_atomic(self.published / f"{record['id']}.json", record)
        return record

    # --- endpoints ---------------------------------------------------------------------------

    def _endpoint_path(self, endpoint_id: str) -> Path:
        return self.endpoints / f"{check_id('pipeline endpoint', endpoint_id)}.json"

    def list_endpoints(self, active_only: bool = False) -> list[dict[str, Any]]:
        if not self.endpoints.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in self.endpoints.glob("*.json")]
        if active_only:
            records = [r for r in records if r["status"] == "Active"]
        return sorted(records, key=lambda r: r["created"])

    def get_endpoint(self, endpoint_id: str | None = None, name: str | None = None) -> dict[str, Any]:
        if endpoint_id is None and name is None:
            raise UserErrorException("give the pipeline endpoint's id or its name")
        if endpoint_id is not None:
            record = self._read(self._endpoint_path(endpoint_id))
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
            write_json_atomic(self._endpoint_path(record["id"]), record)
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
        """One atomic change of an endpoint; returns the record as stored."""
        with self.locked():
            record = self.get_endpoint(endpoint_id)
            versions = record["versions"]
            if add_pipeline is not None:
                self.get_pipeline(add_pipeline)
                version = str(max(int(v["version"]) for v in versions) + 1)
                versions.append({"version": version, "pipeline_id": add_pipeline, "added": time.time()})
                if make_default:
                    record["default_version"] = version
            if default_version is not None:
                default_version = str(default_version)
                if default_version not in {v["version"] for v in versions}:
                    raise NotFoundError(
                        f"pipeline endpoint {record['name']!r} has no version {default_version!r}; "
                        f"it has {[v['version'] for v in versions]}"
                    )
                record["default_version"] = default_version
            if default_pipeline is not None:
                matching = [v["version"] for v in versions if v["pipeline_id"] == default_pipeline]
                if not matching:
                    raise NotFoundError(
                        f"published pipeline {default_pipeline!r} is not a version of pipeline endpoint "
                        f"{record['name']!r}; add it with add_default(published)"
                    )
                record["default_version"] = matching[-1]
            if name is not None:
                check_text("pipeline endpoint name", name)
                self.check_name_free(name, but=record["id"])
                record["name"] = name
            if status is not None:
                if status not in ENDPOINT_STATUSES:
                    raise UserErrorException(f"status must be one of {ENDPOINT_STATUSES}, got {status!r}")
                if record["status"] == "Archived" and status != "Archived" and name is None:
                    raise ConflictError(
                        f"pipeline endpoint {record['name']!r} is archived; reactivate(name) it first"
                    )
                record["status"] = status
            record["updated"] = time.time()
            write_json_atomic(self._endpoint_path(record["id"]), record)
        return record

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
