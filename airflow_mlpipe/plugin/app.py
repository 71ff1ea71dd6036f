"""The REST routes of published pipelines and pipeline endpoints, inside Airflow's API server.

Mounted at ``/mlpipe`` by the plugin. Paths follow Azure ML's (``.../PipelineRuns/PipelineSubmit/
<id>``, ``.../PipelineRuns/PipelineEndpointSubmit/Id/<id>``) and so does the request body, so an
existing caller changes only the URL and the token. The token is Airflow's own (``POST
/auth/token``); each request is authorized by Airflow's auth manager on the target DAG. Every
check runs before the run is created, so a refused request starts nothing.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.plugin.asset_routes import router as asset_router
from airflow_mlpipe.plugin.auth import UserDep, authorize
from airflow_mlpipe.plugin.dagbag import dag_bag
from airflow_mlpipe.plugin.models import (
    ERRORS,
    EndpointVersion,
    PipelineEndpointResponse,
    PublishedPipelineResponse,
    RunResponse,
    StepStatus,
    SubmitBody,
)
from airflow_mlpipe.plugin.registry_routes import router as registry_router
from airflow_mlpipe.plugin.tracking_routes import router as tracking_router
from airflow_mlpipe.plugin.ui import STANDALONE, STANDALONE_PATH, STATIC, STATIC_PATH
from airflow_mlpipe.registry.published import (
    API_PREFIX,
    ENDPOINT_SUBMIT_ROUTE,
    PIPELINE_SUBMIT_ROUTE,
    ConflictError,
    NotFoundError,
    PublishedRegistry,
    endpoint_submit_url,
    pipeline_submit_url,
)
from airflow_mlpipe.registry.submission import SUBMISSION_KEY, build_conf
from airflow_mlpipe.runstatus import run_status, task_status

app = FastAPI(
    title="airflow-mlpipe published pipelines",
    description="Azure ML v1's published pipeline and pipeline endpoint REST contract, on Airflow 3, "
    "and the registry routes the Python client uses (/registry/v1). "
    "Authenticate with a token from Airflow's POST /auth/token.",
    version="1",
)
app.include_router(registry_router)  # the registry routes the Python client calls
app.include_router(asset_router)  # registered datasets, environments and models
app.include_router(tracking_router)  # the tracking pages' JSON routes (/tracking/v1)
# the tracking pages' code (public: no data in it): the plugin bundle and the iframe fallback page
app.mount(STATIC_PATH, StaticFiles(directory=STATIC, check_dir=False), name="mlpipe-static")
app.mount(STANDALONE_PATH, StaticFiles(directory=STANDALONE, html=True, check_dir=False), name="mlpipe-app")


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg')}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=400)


@app.exception_handler(UserErrorException)
async def _user_error(request: Request, exc: UserErrorException) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


@app.exception_handler(NotFoundError)
async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


@app.exception_handler(ConflictError)
async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


# --- helpers ----------------------------------------------------------------------------------


def registry() -> PublishedRegistry:
    return PublishedRegistry()


def base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="").rstrip("/")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime.datetime) else None


def _create_run(
    request: Request, user: Any, dag_id: str, conf: dict[str, Any], note: str | None
) -> dict[str, Any]:
    """Create the DAG run exactly as Airflow's own POST /api/v2/dags/{dag_id}/dagRuns does
    (its Param validation included), and audit-log it under the caller's name."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    body = TriggerDAGRunPostBody(dag_run_id=str(uuid.uuid4()), logical_date=None, conf=conf, note=note)
    with create_session() as session:
        dag_run = trigger_dag_run(
            dag_id=dag_id, body=body, dag_bag=dag_bag(), user=user, session=session, request=request
        )
        session.add(
            Log(
                event="mlpipe_submit",
                dag_id=dag_id,
                run_id=dag_run.run_id,
                owner=user.get_name(),
                extra=f"published pipeline submission from {request.url.path}",
            )
        )
        return {"run_id": dag_run.run_id, "state": str(dag_run.state), "created": _iso(dag_run.queued_at)}


def _submit(
    request: Request,
    user: Any,
    record: dict[str, Any],
    body: SubmitBody,
    endpoint: dict[str, Any] | None = None,
    version: str | None = None,
) -> RunResponse:
    authorize(user, record["dag_id"], "POST")
    if endpoint is not None and endpoint["status"] != "Active":
        raise ConflictError(
            f"pipeline endpoint {endpoint['name']!r} is {endpoint['status'].lower()}; "
            + ("enable() it to accept runs" if endpoint["status"] == "Disabled" else "reactivate(name) it")
        )
    if record["status"] != "Active":
        raise ConflictError(
            f"published pipeline {record['name']!r} ({record['id']}) is disabled; enable() it to accept runs"
        )
    data_paths = (
        {k: v.model_dump() for k, v in body.DataPathAssignments.items()}
        if body.DataPathAssignments is not None
        else None
    )
    conf = build_conf(
        record,
        body.ParameterAssignments,
        data_paths,
        body.RegenerateOutputs,
        body.ForceRerunSteps,
        body.DataSetDefinitionValueAssignments,
    )
    conf[SUBMISSION_KEY] = {
        "experiment_name": body.ExperimentName,
        "run_source": body.RunSource or "REST",
        "description": body.Description,
        "tags": body.tags or {},
        "pipeline_id": record["id"],
        "endpoint_id": endpoint["id"] if endpoint else None,
        "pipeline_version": version,
    }
    note = f"{body.ExperimentName}: {body.Description}" if body.Description else body.ExperimentName
    run = _create_run(request, user, record["dag_id"], conf, note)
    return RunResponse(
        Id=run["run_id"],
        Status=run_status(run["state"]),
        DagId=record["dag_id"],
        DagRunId=run["run_id"],
        PipelineId=record["id"],
        PipelineEndpointId=endpoint["id"] if endpoint else None,
        PipelineVersion=version,
        ExperimentName=body.ExperimentName,
        Description=body.Description,
        RunSource=conf[SUBMISSION_KEY]["run_source"],
        Tags=body.tags or {},
        CreatedTimeUtc=run["created"],
    )


def _endpoint_submit(
    request: Request, user: Any, endpoint: dict[str, Any], body: SubmitBody, version: str | None
) -> RunResponse:
    reg = registry()
    entry = reg.endpoint_version(endpoint, version)
    record = reg.get_pipeline(entry["pipeline_id"])
    return _submit(request, user, record, body, endpoint, entry["version"])


VersionQuery = Annotated[
    str | None, Query(alias="pipelineVersion", description="a version of the endpoint; default: its default")
]

# --- routes -----------------------------------------------------------------------------------


@app.post(PIPELINE_SUBMIT_ROUTE, responses=ERRORS)
def submit_published_pipeline(
    request: Request, user: UserDep, body: SubmitBody, pipeline_id: Annotated[str, Path()]
) -> RunResponse:
    """Run a published pipeline (its ``endpoint`` URL)."""
    return _submit(request, user, registry().get_pipeline(pipeline_id), body)


@app.post(ENDPOINT_SUBMIT_ROUTE, responses=ERRORS)
def submit_endpoint(
    request: Request,
    user: UserDep,
    body: SubmitBody,
    endpoint_id: Annotated[str, Path()],
    pipeline_version: VersionQuery = None,
) -> RunResponse:
    """Run a pipeline endpoint's default version, or the one in ``pipelineVersion``."""
    return _endpoint_submit(request, user, registry().get_endpoint(endpoint_id), body, pipeline_version)


@app.post(ENDPOINT_SUBMIT_ROUTE + "/Versions/{version}", responses=ERRORS)
def submit_endpoint_version(
    request: Request,
    user: UserDep,
    body: SubmitBody,
    endpoint_id: Annotated[str, Path()],
    version: Annotated[str, Path()],
) -> RunResponse:
    """Run one pinned version of a pipeline endpoint."""
    return _endpoint_submit(request, user, registry().get_endpoint(endpoint_id), body, version)


@app.post(f"{API_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Name/{{name}}", responses=ERRORS)
def submit_endpoint_by_name(
    request: Request,
    user: UserDep,
    body: SubmitBody,
    name: Annotated[str, Path()],
    pipeline_version: VersionQuery = None,
) -> RunResponse:
    """Run a pipeline endpoint found by its name."""
    return _endpoint_submit(request, user, registry().get_endpoint(name=name), body, pipeline_version)


@app.post(f"{API_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Name", responses=ERRORS)
def submit_endpoint_by_name_query(
    request: Request,
    user: UserDep,
    body: SubmitBody,
    name: Annotated[str, Query(min_length=1, description="the endpoint's name")],
    pipeline_version: VersionQuery = None,
) -> RunResponse:
    """Run a pipeline endpoint found by name, in v1's URL shape ``.../Name?name=...``."""
    return _endpoint_submit(request, user, registry().get_endpoint(name=name), body, pipeline_version)


@app.get(f"{API_PREFIX}/PipelineRuns/{{run_id}}", responses=ERRORS)
def get_run(user: UserDep, run_id: Annotated[str, Path()]) -> RunResponse:
    """A run of a published pipeline: its status and its steps' statuses."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_mlpipe.registry.published import DAG_PREFIX

    with create_session() as session:
        dag_run = session.scalar(
            select(DagRun).where(DagRun.run_id == run_id, DagRun.dag_id.startswith(DAG_PREFIX)).limit(1)
        )
        if dag_run is None:
            raise NotFoundError(f"no run {run_id!r} of a published pipeline")
        authorize(user, dag_run.dag_id, "GET")
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        ).all()
        sub = (dag_run.conf or {}).get(SUBMISSION_KEY) or {}
        steps = [
            StepStatus(
                Name=ti.task_display_name or ti.task_id,
                Status=task_status(str(ti.state) if ti.state else None),
                StartTimeUtc=_iso(ti.start_date),
                EndTimeUtc=_iso(ti.end_date),
                TryNumber=ti.try_number,
            )
            for ti in sorted(tis, key=lambda t: (t.start_date is None, t.start_date or 0, t.task_id))
        ]
        return RunResponse(
            Id=dag_run.run_id,
            Status=run_status(str(dag_run.state), dag_run.note),
            DagId=dag_run.dag_id,
            DagRunId=dag_run.run_id,
            PipelineId=sub.get("pipeline_id"),
            PipelineEndpointId=sub.get("endpoint_id"),
            PipelineVersion=sub.get("pipeline_version"),
            ExperimentName=sub.get("experiment_name"),
            Description=sub.get("description"),
            RunSource=sub.get("run_source"),
            Tags=sub.get("tags"),
            CreatedTimeUtc=_iso(dag_run.queued_at),
            StartTimeUtc=_iso(dag_run.start_date),
            EndTimeUtc=_iso(dag_run.end_date),
            Steps=steps,
        )


@app.get(f"{API_PREFIX}/PublishedPipelines/{{pipeline_id}}", responses=ERRORS)
def get_published_pipeline(user: UserDep, pipeline_id: Annotated[str, Path()]) -> PublishedPipelineResponse:
    record = registry().get_pipeline(pipeline_id)
    authorize(user, record["dag_id"], "GET")
    return PublishedPipelineResponse(
        Id=record["id"],
        Name=record["name"],
        Description=record["description"],
        Version=record["version"],
        Status=record["status"],
        DagId=record["dag_id"],
        Parameters=record["parameters"],
        Endpoint=pipeline_submit_url(base_url(), record["id"]),
    )


@app.get(f"{API_PREFIX}/PipelineEndpoints/{{endpoint_id}}", responses=ERRORS)
def get_pipeline_endpoint(user: UserDep, endpoint_id: Annotated[str, Path()]) -> PipelineEndpointResponse:
    reg = registry()
    record = reg.get_endpoint(endpoint_id)
    authorize(user, reg.get_pipeline(reg.endpoint_version(record)["pipeline_id"])["dag_id"], "GET")
    return PipelineEndpointResponse(
        Id=record["id"],
        Name=record["name"],
        Description=record["description"],
        Status=record["status"],
        DefaultVersion=record["default_version"],
        Versions=[
            EndpointVersion(Version=v["version"], PipelineId=v["pipeline_id"]) for v in record["versions"]
        ],
        Endpoint=endpoint_submit_url(base_url(), record["id"]),
    )
