"""The registry routes the Python client calls: experiment entries, published pipelines, pipeline
endpoints and schedules, under ``/mlpipe/registry/v1`` in Airflow's API server.

The client needs no path of the deployment: the routes write the deployment's own registry
(``Registry()``, ``PublishedRegistry()``, ``ScheduleRegistry()``). Each request is authorized by
Airflow's auth manager before anything is read or written: on the object's DAG (``experiment_<name>``,
``published_<id>``, ``schedule_<id>``; GET to read, PUT/PATCH/POST to write), on DAGs in general for
an object whose DAG id is not chosen yet, and lists keep the records whose DAG the user may read.
State changes only with POST, PUT and PATCH. Errors: 400 (a field, named), 403, 404, 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from airflow_mlpipe.plugin.auth import UserDep, authorize, authorize_dag, readable
from airflow_mlpipe.plugin.models import ERRORS
from airflow_mlpipe.plugin.registry_models import (
    REGISTRY_PREFIX,
    EndpointBody,
    EndpointChange,
    EndpointRecord,
    EntryBody,
    EntryResponse,
    EntryStatus,
    PublishBody,
    PublishedRecord,
    ScheduleBody,
    ScheduleChange,
    ScheduleRecord,
    StatusBody,
)
from airflow_mlpipe.registry import Registry
from airflow_mlpipe.registry.published import NotFoundError, PublishedRegistry
from airflow_mlpipe.registry.schedules import SETTINGS, ScheduleRegistry
from airflow_mlpipe.storage.base import safe_segment

EXPERIMENT_PREFIX = "experiment_"
router = APIRouter(prefix=REGISTRY_PREFIX, tags=["registry"], responses=ERRORS)
DagId = Annotated[str, Path(min_length=1, max_length=250, description="a DAG id")]
ActiveOnly = Annotated[bool, Query(description="only Active records")]


def _dag_id(dag_id: str) -> str:
    if safe_segment(dag_id) != dag_id:
        from airflow_mlpipe.exceptions import UserErrorException

        raise UserErrorException(f"dag_id {dag_id!r} may only contain letters, digits, '.', '_' and '-'")
    return dag_id


def _checked(user: Any, record: dict[str, Any], method: str) -> dict[str, Any]:
    """``record`` once the user may read (GET) or write (PUT) its DAG."""
    authorize_dag(user, record["dag_id"], method)
    return record


def _entry(dag_id: str) -> dict[str, Any]:
    entry = Registry().get(_dag_id(dag_id))
    if entry is None:
        raise NotFoundError(f"no registry entry for DAG {dag_id!r}")
    return entry


# --- experiment entries -----------------------------------------------------------------------


@router.put("/entries/{dag_id}")
def put_entry(user: UserDep, dag_id: DagId, body: EntryBody) -> EntryResponse:
    """Create or update the registry entry of experiment DAG ``experiment_<name>`` (unchanged when
    the spec and settings are the same, so its DAG is not parsed again for nothing)."""
    from airflow_mlpipe.exceptions import UserErrorException

    _dag_id(dag_id)
    if not dag_id.startswith(EXPERIMENT_PREFIX) or dag_id != EXPERIMENT_PREFIX + body.meta.experiment:
        raise UserErrorException(
            f"dag_id {dag_id!r}: an experiment's entry is DAG '{EXPERIMENT_PREFIX}<meta.experiment>' "
            f"({EXPERIMENT_PREFIX}{body.meta.experiment}); published pipelines use POST {REGISTRY_PREFIX}/published"
        )
    authorize_dag(user, dag_id, "PUT")
    spec, meta = body.spec.model_dump(), body.meta.model_dump()
    registry = Registry()
    current = registry.get(dag_id)
    if (
        current is not None
        and current["kind"] == "experiment"
        and (current["spec"], current["meta"]) == (spec, meta)
    ):
        return current
    return registry.put(dag_id, spec, "experiment", meta)


@router.get("/entries/{dag_id}")
def get_entry(user: UserDep, dag_id: DagId) -> EntryResponse:
    """The registry entry (spec and settings) of an experiment or published pipeline DAG."""
    authorize_dag(user, _dag_id(dag_id), "GET")
    return _entry(dag_id)


@router.get("/entries/{dag_id}/status")
def get_entry_status(user: UserDep, dag_id: DagId) -> EntryStatus:
    """What the DAG processor made of an entry (or a schedule): the error it skipped it for."""
    authorize_dag(user, _dag_id(dag_id), "GET")
    return EntryStatus(dag_id=dag_id, error=Registry().broken().get(dag_id))


# --- published pipelines ----------------------------------------------------------------------


@router.post("/published", status_code=201)
def publish(user: UserDep, body: PublishBody) -> PublishedRecord:
    """Publish a spec as a new immutable pipeline (DAG ``published_<id>``)."""
    authorize_dag(user, None, "PUT")
    return PublishedRegistry().publish(
        body.spec.model_dump(),
        body.name,
        body.description,
        body.version,
        body.continue_on_step_failure,
        body.published_from,
    )


@router.get("/published")
def list_published(user: UserDep, active_only: ActiveOnly = False) -> list[PublishedRecord]:
    """The published pipelines whose DAG the user may read, oldest first."""
    return readable(user, PublishedRegistry().list_pipelines(active_only))


@router.get("/published/{pipeline_id}")
def get_published(user: UserDep, pipeline_id: str) -> PublishedRecord:
    return _checked(user, PublishedRegistry().get_pipeline(pipeline_id), "GET")


@router.patch("/published/{pipeline_id}")
def set_published_status(user: UserDep, pipeline_id: str, body: StatusBody) -> PublishedRecord:
    """Enable or disable a published pipeline (a disabled one refuses runs: 409)."""
    registry = PublishedRegistry()
    _checked(user, registry.get_pipeline(pipeline_id), "PUT")
    return registry.set_pipeline_status(pipeline_id, body.status)


# --- pipeline endpoints -----------------------------------------------------------------------


def _endpoint_dags(registry: PublishedRegistry, record: dict[str, Any]) -> list[str]:
    """The DAGs of an endpoint's versions (an endpoint has no DAG of its own)."""
    dags = []
    for v in record["versions"]:
        try:
            dags.append(registry.get_pipeline(v["pipeline_id"])["dag_id"])
        except NotFoundError:
            pass
    return dags


def _authorize_endpoint(user: Any, registry: PublishedRegistry, record: dict[str, Any], method: str) -> None:
    """An endpoint is read (or changed) as the DAG of its default version is."""
    default = registry.endpoint_version(record)
    authorize_dag(user, registry.get_pipeline(default["pipeline_id"])["dag_id"], method)


@router.post("/endpoints", status_code=201)
def create_endpoint(user: UserDep, body: EndpointBody) -> EndpointRecord:
    """A new endpoint whose version "0" (the default) is published pipeline ``pipeline_id``; 409 if
    an endpoint that is not archived has the name."""
    registry = PublishedRegistry()
    authorize_dag(user, registry.get_pipeline(body.pipeline_id)["dag_id"], "PUT")
    return registry.create_endpoint(body.name, body.description, body.pipeline_id)


@router.get("/endpoints")
def list_endpoints(
    user: UserDep,
    active_only: ActiveOnly = False,
    name: Annotated[str | None, Query(min_length=1, description="only the one of this name")] = None,
) -> list[EndpointRecord]:
    """Endpoints (oldest first) whose default version's DAG the user may read."""
    registry = PublishedRegistry()
    records = registry.list_endpoints(active_only)
    if name is not None:
        records = [r for r in records if r["name"] == name and r["status"] != "Archived"]
    keyed = []
    for r in records:
        try:
            keyed.append(
                {**r, "_dag": registry.get_pipeline(registry.endpoint_version(r)["pipeline_id"])["dag_id"]}
            )
        except NotFoundError:  # its default pipeline is gone: nothing to authorize it by
            continue
    return [{k: v for k, v in r.items() if k != "_dag"} for r in readable(user, keyed, "_dag")]


@router.get("/endpoints/{endpoint_id}")
def get_endpoint(user: UserDep, endpoint_id: str) -> EndpointRecord:
    registry = PublishedRegistry()
    record = registry.get_endpoint(endpoint_id)
    _authorize_endpoint(user, registry, record, "GET")
    return record


@router.patch("/endpoints/{endpoint_id}")
def update_endpoint(user: UserDep, endpoint_id: str, body: EndpointChange) -> EndpointRecord:
    """One atomic change: add a version, set the default, rename, enable/disable/archive/reactivate.
    The user must be allowed to write the default version's DAG, and any pipeline the change names."""
    registry = PublishedRegistry()
    record = registry.get_endpoint(endpoint_id)
    _authorize_endpoint(user, registry, record, "PUT")
    for named in (body.add_pipeline, body.default_pipeline):
        if named is not None:
            authorize_dag(user, registry.get_pipeline(named)["dag_id"], "PUT")
    return registry.update_endpoint(endpoint_id, **body.model_dump())


# --- schedules --------------------------------------------------------------------------------


def _check_settings(settings: dict[str, Any], allowed: set[str], where: str) -> None:
    """400 for a setting the registry does not keep, or a recurrence that is not one."""
    from airflow_mlpipe.definitions.schedule import ScheduleRecurrence
    from airflow_mlpipe.exceptions import UserErrorException

    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise UserErrorException(
            f"{where}: unknown or unchangeable setting(s) {unknown}; known: {sorted(allowed)}"
        )
    if settings.get("recurrence") is not None:
        try:
            ScheduleRecurrence.from_spec(settings["recurrence"])
        except ValueError as exc:  # UserErrorException is one
            raise UserErrorException(f"{where}.recurrence: {exc}") from None


@router.post("/schedules", status_code=201)
def create_schedule(user: UserDep, body: ScheduleBody) -> ScheduleRecord:
    """A new Active schedule (DAG ``schedule_<id>``) of a published pipeline or an endpoint. The
    user must be allowed to write DAGs and to trigger runs of the DAG the schedule submits."""
    from airflow_mlpipe.exceptions import UserErrorException

    if (body.pipeline_id is None) == (body.pipeline_endpoint_id is None):
        raise UserErrorException("give pipeline_id or pipeline_endpoint_id (exactly one)")
    _check_settings(body.settings, set(SETTINGS), "settings")
    registry = ScheduleRegistry()
    target = {"pipeline_id": body.pipeline_id, "pipeline_endpoint_id": body.pipeline_endpoint_id}
    authorize_dag(user, None, "PUT")
    authorize(user, registry.schedule_target(target)["dag_id"], "POST")
    return registry.create_schedule(target, body.experiment_name, body.settings)


@router.get("/schedules")
def list_schedules(
    user: UserDep,
    active_only: ActiveOnly = True,
    pipeline_id: Annotated[str | None, Query(description="only the schedules of this pipeline")] = None,
    pipeline_endpoint_id: Annotated[str | None, Query(description="only those of this endpoint")] = None,
) -> list[ScheduleRecord]:
    """Schedules oldest first whose DAG the user may read; as v1, ``active_only`` applies only
    when no pipeline or endpoint is given."""
    return readable(user, ScheduleRegistry().list_schedules(active_only, pipeline_id, pipeline_endpoint_id))


@router.get("/schedules/{schedule_id}")
def get_schedule(user: UserDep, schedule_id: str) -> ScheduleRecord:
    return _checked(user, ScheduleRegistry().get_schedule(schedule_id), "GET")


@router.patch("/schedules/{schedule_id}")
def update_schedule(user: UserDep, schedule_id: str, body: ScheduleChange) -> ScheduleRecord:
    """Change a schedule's settings and/or status ('Active', 'Disabled') in one atomic write."""
    _check_settings(body.changes, {*SETTINGS, "status"}, "changes")
    registry = ScheduleRegistry()
    _checked(user, registry.get_schedule(schedule_id), "PUT")
    return registry.update_schedule(schedule_id, body.changes)
