"""Response models of the tracking routes (``/mlpipe/tracking/v1``), so they appear in the app's
OpenAPI (``/mlpipe/openapi.json``). Times are ISO 8601 UTC strings or null, durations seconds;
``url`` fields are relative to Airflow's base href (no leading slash). See docs/tracking.md."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

TRACKING_PREFIX = "/tracking/v1"
MAX_LIMIT = 200


class RunSummary(BaseModel):
    dag_id: str
    run_id: str
    experiment: str | None = None
    is_pipeline: bool
    status: str = Field(description="Azure ML v1 status: NotStarted, Running, Finished, Failed, Canceled")
    state: str | None = Field(None, description="Airflow's DAG run state")
    start_date: str | None = None
    end_date: str | None = None
    duration_s: float | None = None
    parameters: dict[str, Any] = {}
    description: str | None = None
    tags: dict[str, Any] = {}
    url: str


class ReusedFrom(BaseModel):
    dag_id: str
    run_id: str
    task_id: str | None = None
    url: str


class StepNode(BaseModel):
    task_id: str
    name: str
    kind: str | None = None
    status: str
    state: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    duration_s: float | None = None
    try_number: int | None = None
    reused: bool = False
    reused_from: ReusedFrom | None = None
    reason: str | None = Field(None, description="why the step ran, or 'reused from <run>'; null: unknown")
    log_url: str
    url: str


class RunDetail(RunSummary):
    steps: list[StepNode] = []
    edges: list[tuple[str, str]] = Field([], description="[upstream task, downstream task]")
    pipeline_metrics: dict[str, Any] = {}
    airflow_url: str
    message: str | None = None


class Table(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class Image(BaseModel):
    name: str
    description: str = ""
    url: str


class Output(BaseModel):
    name: str
    datastore: str | None = None
    path: str | None = None
    files: int | None = None
    bytes: int | None = None
    download_url: str


class StepDetail(StepNode):
    parameters: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    tables: dict[str, Table] = {}
    images: list[Image] = []
    tags: dict[str, Any] = {}
    outputs: list[Output] = []


class RunList(BaseModel):
    runs: list[RunSummary]
    total_entries: int


class ExperimentItem(BaseModel):
    name: str
    dag_ids: list[str]
    total_runs: int
    last_run: RunSummary | None = None


class ExperimentList(BaseModel):
    experiments: list[ExperimentItem]
    total_entries: int


class PipelineItem(BaseModel):
    id: str
    name: str
    version: str | None = None
    status: str
    dag_id: str
    recent_runs: list[RunSummary] = []


class PipelineList(BaseModel):
    pipelines: list[PipelineItem]
    total_entries: int


class EndpointVersionItem(BaseModel):
    version: str
    pipeline_id: str


class EndpointItem(BaseModel):
    id: str
    name: str
    status: str
    default_version: str | None = None
    versions: list[EndpointVersionItem] = []
    recent_runs: list[RunSummary] = []


class EndpointList(BaseModel):
    endpoints: list[EndpointItem]
    total_entries: int


class ScheduleItem(BaseModel):
    id: str
    name: str | None = None
    status: str
    pipeline_id: str | None = None
    next_run: str | None = None
    recent_runs: list[RunSummary] = []


class ScheduleList(BaseModel):
    schedules: list[ScheduleItem]
    total_entries: int


class CompareRun(BaseModel):
    run_id: str
    start_date: str | None = None
    status: str
    parameters: dict[str, Any] = {}
    metrics: dict[str, float | int] = {}


class CompareResponse(BaseModel):
    dag_id: str
    runs: list[CompareRun]
    metric_names: list[str]
    parameter_names: list[str]
    total_entries: int
