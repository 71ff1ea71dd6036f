"""The request and response bodies of the plugin's REST routes: Azure ML v1's field names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DataPathAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    DataStoreName: str = Field(min_length=1)
    RelativePath: str


class SubmitBody(BaseModel):
    """Azure ML's published pipeline submission body, plus reuse control."""

    model_config = ConfigDict(extra="forbid")
    ExperimentName: str = Field(min_length=1, max_length=256)
    ParameterAssignments: dict[str, str | int | float | bool] | None = None
    DataPathAssignments: dict[str, DataPathAssignment] | None = None
    # dataset parameters: {"name": {"SavedDataSetReference": {"Id": ...}}} or {"name": {"DataPath": {...}}}
    DataSetDefinitionValueAssignments: dict[str, dict[str, Any]] | None = None
    RunSource: str | None = Field(default=None, max_length=256)
    Description: str | None = Field(default=None, max_length=4096)
    tags: dict[str, str] | None = None
    RegenerateOutputs: bool = False
    ForceRerunSteps: list[str] | None = None


class StepStatus(BaseModel):
    Name: str
    Status: str
    StartTimeUtc: str | None = None
    EndTimeUtc: str | None = None
    TryNumber: int | None = None


class RunResponse(BaseModel):
    Id: str
    Status: str
    DagId: str
    DagRunId: str
    PipelineId: str | None = None
    PipelineEndpointId: str | None = None
    PipelineVersion: str | None = None
    ExperimentName: str | None = None
    Description: str | None = None
    RunSource: str | None = None
    Tags: dict[str, str] | None = None
    CreatedTimeUtc: str | None = None
    StartTimeUtc: str | None = None
    EndTimeUtc: str | None = None
    Steps: list[StepStatus] | None = None


class PublishedPipelineResponse(BaseModel):
    Id: str
    Name: str
    Description: str | None = None
    Version: str | None = None
    Status: str
    DagId: str
    Parameters: dict[str, Any]
    Endpoint: str


class EndpointVersion(BaseModel):
    Version: str
    PipelineId: str


class PipelineEndpointResponse(BaseModel):
    Id: str
    Name: str
    Description: str | None = None
    Status: str
    DefaultVersion: str
    Versions: list[EndpointVersion]
    Endpoint: str


class ErrorResponse(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "a parameter, data path or field is unknown or has a wrong value"),
        (401, "no token, or an invalid or expired one"),
        (403, "the user may not run (or read) this pipeline's DAG"),
        (404, "no published pipeline, endpoint, version or run of that id or name"),
        (409, "the published pipeline or endpoint is disabled or archived"),
    )
}
