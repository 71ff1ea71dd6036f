"""The request and response bodies of the registry routes (plugin/registry_routes.py).

Requests forbid unknown fields, so a misspelt one is a 400 naming it. Responses are the registry's
records as stored (the fields below, and any a newer registry adds), which the Python client wraps
in PublishedPipeline, PipelineEndpoint and Schedule.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlpipe.spec import SPEC_FORMAT

REGISTRY_PREFIX = "/registry/v1"  # under the plugin's mount (/mlpipe); the client imports it from here


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class PipelineSpec(_Record):
    """A pipeline spec as ``Pipeline.to_spec()`` builds it (only its outline is checked here; the
    DAG processor checks the rest, and ``.../status`` tells what it found)."""

    format: Literal[SPEC_FORMAT]  # type: ignore[valid-type]
    steps: list[dict[str, Any]] = Field(min_length=1)
    parameters: dict[str, dict[str, Any]]
    datastores: dict[str, dict[str, Any]]


class EntryMeta(_Request):
    experiment: str = Field(min_length=1, max_length=256)
    continue_on_step_failure: bool = False


class EntryBody(_Request):
    """An experiment DAG's registry entry: the spec the client built, and how to run it."""

    spec: PipelineSpec
    meta: EntryMeta


class EntryResponse(_Record):
    format: str
    dag_id: str
    kind: str
    spec: dict[str, Any]
    created: float
    meta: dict[str, Any]


class EntryStatus(BaseModel):
    dag_id: str
    error: str | None = Field(description="why the DAG processor skipped the entry; null: it did not")


class PublishBody(_Request):
    spec: PipelineSpec
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=4096)
    version: str | None = Field(default=None, max_length=256)
    continue_on_step_failure: bool = False
    published_from: str | None = Field(default=None, max_length=256, description="the run it came from")


class StatusBody(_Request):
    status: Literal["Active", "Disabled"]


class PublishedRecord(_Record):
    id: str
    name: str
    description: str | None = None
    version: str | None = None
    dag_id: str
    continue_on_step_failure: bool
    parameters: dict[str, Any]
    steps: list[str]
    datastores: list[str]
    snapshots: list[str]
    status: str
    created: float


class EndpointBody(_Request):
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=4096)
    pipeline_id: str = Field(min_length=1, description="the published pipeline of version '0'")


class EndpointChange(_Request):
    """One atomic change of an endpoint (any combination; absent fields change nothing)."""

    add_pipeline: str | None = Field(
        default=None, description="a published pipeline to add as the next version"
    )
    make_default: bool = Field(default=False, description="make the added version the default")
    default_version: str | None = None
    default_pipeline: str | None = Field(default=None, description="make this pipeline's version the default")
    status: Literal["Active", "Disabled", "Archived"] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=256)


class EndpointVersionRecord(_Record):
    version: str
    pipeline_id: str


class EndpointRecord(_Record):
    id: str
    name: str
    description: str | None = None
    status: str
    default_version: str
    versions: list[EndpointVersionRecord]
    created: float
    updated: float


class ScheduleBody(_Request):
    """A new schedule: exactly one target, and the settings ``Schedule.create`` checked."""

    pipeline_id: str | None = None
    pipeline_endpoint_id: str | None = None
    experiment_name: str = Field(min_length=1, max_length=256)
    settings: dict[str, Any]


class ScheduleChange(_Request):
    changes: dict[str, Any] = Field(description="settings and/or 'status' to change")


class ScheduleRecord(_Record):
    id: str
    dag_id: str
    name: str
    description: str | None = None
    pipeline_id: str | None = None
    pipeline_endpoint_id: str | None = None
    experiment_name: str
    status: str
    recurrence: dict[str, Any] | None = None
    datastore_name: str | None = None
    created: float
    updated: float


class AssetRegistration(_Request):
    """A new version of a registered dataset, environment or model."""

    record: dict[str, Any] = Field(
        description="the version's record as the client built it (the server sets name, version, id, created_time)"
    )
    expect_latest: int = Field(
        ge=0, description="the latest version the client decided on (0: none); another one is a 409"
    )


class AssetChange(_Request):
    changes: dict[str, Any] = Field(description="new 'description', 'tags' and/or 'properties'")
