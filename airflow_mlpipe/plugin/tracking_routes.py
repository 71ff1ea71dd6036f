"""The tracking routes (``/mlpipe/tracking/v1``): experiments, published pipelines, endpoints and
schedules with their recent runs; a run's steps, graph, reuse and metrics; a step's metrics, tables,
images and outputs; run files and outputs streamed from the datastore; and a compare table.

Every route needs a logged-in user (plugin/auth.py). A route about one DAG asks the auth manager for
read access to that DAG's runs and XComs (403 naming the DAG); a list keeps the DAGs the user may
read. 400 names a bad parameter, 404 the unknown DAG, run, step, file or output. See docs/tracking.md.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.plugin import tracking_shapes as shapes
from airflow_mlpipe.plugin.auth import UserDep, authorize_tracking, tracking_readable
from airflow_mlpipe.plugin.models import ERRORS
from airflow_mlpipe.plugin.tracking_data import Reader, run_file
from airflow_mlpipe.plugin.tracking_models import (
    MAX_LIMIT,
    TRACKING_PREFIX,
    CompareResponse,
    EndpointList,
    ExperimentList,
    PipelineList,
    RunDetail,
    RunList,
    ScheduleList,
    StepDetail,
)
from airflow_mlpipe.plugin.tracking_stream import stream_file, zip_stream
from airflow_mlpipe.registry.published import DAG_PREFIX as PUBLISHED_PREFIX
from airflow_mlpipe.registry.published import NotFoundError, PublishedRegistry

router = APIRouter(prefix=TRACKING_PREFIX, tags=["tracking"], responses=ERRORS)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, description="entries to skip")]
DagId = Annotated[str, Path(min_length=1, max_length=250)]
RunId = Annotated[str, Path(min_length=1, max_length=250)]
TaskId = Annotated[str, Path(min_length=1, max_length=250)]
RECENT = 5


def _session() -> Any:
    from airflow.utils.session import create_session

    return create_session()


def _all_dag_ids(reader: Reader, prefixes: tuple[str, ...] | None = None) -> set[str]:
    from airflow.models import DagModel, DagRun
    from sqlalchemy import select

    ids = set(reader.session.scalars(select(DagModel.dag_id)))
    ids |= set(reader.session.scalars(select(DagRun.dag_id).distinct()))
    if prefixes:
        ids = {d for d in ids if d.startswith(prefixes)}
    return ids


def _submitted(reader: Reader, dag_ids: set[str], key: str, value: str) -> list[dict[str, Any]]:
    """The recent runs of ``dag_ids`` whose submission ``key`` is ``value`` (an endpoint's, a schedule's)."""
    runs = [
        r for r in reader.recent_runs(sorted(dag_ids), 200) if shapes.submission(r.conf).get(key) == value
    ]
    return reader.summaries(runs[:RECENT])


# --- lists ------------------------------------------------------------------------------------


@router.get("/experiments")
def list_experiments(user: UserDep, limit: Limit = 50, offset: Offset = 0) -> ExperimentList:
    """Experiments (name order): an experiment DAG's runs and published runs submitted under it."""
    with _session() as session:
        reader = Reader(session)
        dags = tracking_readable(user, _all_dag_ids(reader, (shapes.EXPERIMENT_PREFIX, PUBLISHED_PREFIX)))
        items = reader.experiments(dags)
        page = items[offset : offset + limit]
        for item in page:
            item["last_run"] = reader.summary(item["last_run"]) if item["last_run"] is not None else None
        return ExperimentList(experiments=page, total_entries=len(items))


@router.get("/pipelines")
def list_pipelines(user: UserDep, limit: Limit = 50, offset: Offset = 0) -> PipelineList:
    """Published pipelines (oldest first) whose DAG the user may read, with their recent runs."""
    records = PublishedRegistry().list_pipelines()
    with _session() as session:
        reader = Reader(session)
        allowed = tracking_readable(user, {r["dag_id"] for r in records})
        records = [r for r in records if r["dag_id"] in allowed]
        page = [
            {
                "id": r["id"],
                "name": r["name"],
                "version": r.get("version"),
                "status": r["status"],
                "dag_id": r["dag_id"],
                "recent_runs": reader.summaries(reader.recent_runs([r["dag_id"]], RECENT)),
            }
            for r in records[offset : offset + limit]
        ]
        return PipelineList(pipelines=page, total_entries=len(records))


@router.get("/endpoints")
def list_endpoints(user: UserDep, limit: Limit = 50, offset: Offset = 0) -> EndpointList:
    """Pipeline endpoints (oldest first) whose default version's DAG the user may read."""
    registry = PublishedRegistry()
    pipelines = {p["id"]: p for p in registry.list_pipelines()}
    records = []
    for r in registry.list_endpoints():
        dags = {pipelines[v["pipeline_id"]]["dag_id"] for v in r["versions"] if v["pipeline_id"] in pipelines}
        default = next((v for v in r["versions"] if v["version"] == r.get("default_version")), None)
        if default is not None and default["pipeline_id"] in pipelines:
            records.append((r, pipelines[default["pipeline_id"]]["dag_id"], dags))
    with _session() as session:
        reader = Reader(session)
        allowed = tracking_readable(user, {d for _, _, dags in records for d in dags})
        records = [x for x in records if x[1] in allowed]
        page = [
            {
                "id": r["id"],
                "name": r["name"],
                "status": r["status"],
                "default_version": r.get("default_version"),
                "versions": [
                    {"version": v["version"], "pipeline_id": v["pipeline_id"]} for v in r["versions"]
                ],
                "recent_runs": _submitted(reader, dags & allowed, "endpoint_id", r["id"]),
            }
            for r, _, dags in records[offset : offset + limit]
        ]
        return EndpointList(endpoints=page, total_entries=len(records))


@router.get("/schedules")
def list_schedules(user: UserDep, limit: Limit = 50, offset: Offset = 0) -> ScheduleList:
    """Schedules (oldest first) whose DAG the user may read, with the runs they submitted."""
    from airflow_mlpipe.registry.schedules import ScheduleRegistry

    registry = ScheduleRegistry()
    records = registry.list_schedules(active_only=False)
    pipeline_dags = {p["id"]: p["dag_id"] for p in registry.list_pipelines()}
    with _session() as session:
        reader = Reader(session)
        allowed = tracking_readable(user, {r["dag_id"] for r in records} | set(pipeline_dags.values()))
        records = [r for r in records if r["dag_id"] in allowed]
        page = []
        for r in records[offset : offset + limit]:
            page.append(
                {
                    "id": r["id"],
                    "name": r.get("name"),
                    "status": r["status"],
                    "pipeline_id": r.get("pipeline_id"),
                    "next_run": reader.next_run(r["dag_id"]) if r["status"] == "Active" else None,
                    "recent_runs": _submitted(
                        reader, set(pipeline_dags.values()) & allowed, "schedule_id", r["id"]
                    ),
                }
            )
        return ScheduleList(schedules=page, total_entries=len(records))


@router.get("/runs")
def list_runs(
    user: UserDep,
    dag_id: Annotated[str | None, Query(min_length=1, description="only this DAG's runs")] = None,
    experiment: Annotated[str | None, Query(min_length=1, description="only this experiment's runs")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunList:
    """Runs newest first, of the DAGs the user may read (of one DAG or experiment when given)."""
    with _session() as session:
        reader = Reader(session)
        if dag_id is not None:
            authorize_tracking(user, dag_id)
            from airflow.models import DagModel

            if session.get(DagModel, dag_id) is None:
                raise NotFoundError(f"no DAG {dag_id!r}")
            dags = {dag_id}
        else:
            dags = tracking_readable(user, _all_dag_ids(reader))
        runs, total = reader.runs(dags, experiment, limit, offset)
        return RunList(runs=reader.summaries(runs), total_entries=total)


# --- one run, one step ------------------------------------------------------------------------


@router.get("/runs/{dag_id}/{run_id}")
def get_run(user: UserDep, dag_id: DagId, run_id: RunId) -> RunDetail:
    """A run with every step (status, durations, reuse and why it ran) and the graph's edges."""
    authorize_tracking(user, dag_id)
    with _session() as session:
        reader = Reader(session)
        return RunDetail(**reader.run_detail(reader.dag_run(dag_id, run_id)))


@router.get("/runs/{dag_id}/{run_id}/steps/{task_id}")
def get_step(user: UserDep, dag_id: DagId, run_id: RunId, task_id: TaskId) -> StepDetail:
    """A step: its node, parameters, metrics, tables, images, tags and outputs."""
    authorize_tracking(user, dag_id)
    with _session() as session:
        reader = Reader(session)
        return StepDetail(**reader.step_detail(reader.dag_run(dag_id, run_id), task_id))


def _result(dag_id: str, run_id: str, task_id: str) -> tuple[Reader, dict[str, Any]]:
    with _session() as session:
        reader = Reader(session)
        result = reader.result_of(reader.dag_run(dag_id, run_id), task_id)
        reader.entry(dag_id)  # read now: the stream runs after the session closed
        return reader, result


@router.get(
    "/runs/{dag_id}/{run_id}/steps/{task_id}/files/{name:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_run_file(
    user: UserDep, dag_id: DagId, run_id: RunId, task_id: TaskId, name: str
) -> StreamingResponse:
    """A run file of the step (an image of ``log_image``, a file of ./outputs), streamed."""
    authorize_tracking(user, dag_id)
    clean = shapes.run_file_path(name)
    if clean is None:
        raise UserErrorException(
            f"file {name!r}: give a run file name, not an absolute path or one with '..'"
        )
    reader, result = _result(dag_id, run_id, task_id)
    where = run_file(result, clean)
    if where is None:
        raise NotFoundError(f"step {task_id!r} of run {run_id!r} has no run file {clean!r}")
    store = reader.store(dag_id, where["datastore"])
    kind = mimetypes.guess_type(clean)[0] or "application/octet-stream"
    base = clean.rsplit("/", 1)[-1]
    return StreamingResponse(
        stream_file(store, where["path"]),
        media_type=kind,
        headers={"Content-Disposition": f'inline; filename="{_header_name(base)}"'},
    )


@router.get(
    "/runs/{dag_id}/{run_id}/steps/{task_id}/outputs/{output}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}},
)
def download_output(
    user: UserDep, dag_id: DagId, run_id: RunId, task_id: TaskId, output: str
) -> StreamingResponse:
    """A stored output: a single-file output as itself, a folder as a zip stream."""
    authorize_tracking(user, dag_id)
    reader, result = _result(dag_id, run_id, task_id)
    loc = (result.get("outputs") or {}).get(output)
    if loc is None:
        raise NotFoundError(
            f"step {task_id!r} of run {run_id!r} has no stored output {output!r}; "
            f"it has {sorted(result.get('outputs') or {})}"
        )
    store = reader.store(dag_id, loc["datastore"])
    path = loc["path"].strip("/")
    files = store.list(path)
    if not files:
        raise NotFoundError(
            f"output {output!r} of step {task_id!r} has no files on datastore {loc['datastore']!r}"
        )
    if len(files) == 1 and files[0].path.strip("/") == path:
        base = path.rsplit("/", 1)[-1]
        kind = mimetypes.guess_type(base)[0] or "application/octet-stream"
        return StreamingResponse(
            stream_file(store, path),
            media_type=kind,
            headers={"Content-Disposition": f'attachment; filename="{_header_name(base)}"'},
        )
    return StreamingResponse(
        zip_stream(store, path, files),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{_header_name(output)}.zip"'},
    )


def _header_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "download"


# --- compare ----------------------------------------------------------------------------------


@router.get("/compare")
def compare(
    user: UserDep,
    dag_id: Annotated[str, Query(min_length=1, description="the pipeline DAG whose runs to compare")],
    run_id: Annotated[list[str] | None, Query(description="runs to compare; none: all, newest first")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CompareResponse:
    """Parameters and numeric metrics (the last value of each) of runs of one pipeline DAG."""
    authorize_tracking(user, dag_id)
    with _session() as session:
        reader = Reader(session)
        if run_id:
            runs = [reader.dag_run(dag_id, r) for r in dict.fromkeys(run_id)]
            total = len(runs)
            runs = runs[offset : offset + limit]
        else:
            from airflow.models import DagModel

            if session.get(DagModel, dag_id) is None:
                raise NotFoundError(f"no DAG {dag_id!r}")
            runs, total = reader.runs({dag_id}, None, limit, offset)
        results = reader.results_by_run(dag_id, [r.run_id for r in runs]) if runs else {}
        rows = []
        for run in runs:
            rows.append(
                {
                    "run_id": run.run_id,
                    "start_date": shapes.iso(run.start_date),
                    "status": reader.summary(run)["status"],
                    "parameters": shapes.run_parameters(run.conf, reader.declared(dag_id)),
                    "metrics": shapes.compare_metrics(results.get(run.run_id, {})),
                }
            )
        return CompareResponse(
            dag_id=dag_id,
            runs=rows,
            metric_names=sorted({m for r in rows for m in r["metrics"]}),
            parameter_names=sorted({p for r in rows for p in r["parameters"]}),
            total_entries=total,
        )
