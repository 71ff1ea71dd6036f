"""Who calls the plugin's routes, and what Airflow's auth manager lets them do.

The token is Airflow's own (``POST /auth/token``, or the UI's cookie). Every decision is the auth
manager's: per DAG with ``is_authorized_dag`` (the runs of a DAG for submits, the DAG itself for
registry writes), and for lists the DAGs the user may read, as Airflow's own list routes filter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="a JWT from Airflow's POST /auth/token")

# what a refused method would have done, for the 403 message
_ACTIONS = {"GET": "read", "POST": "trigger", "PUT": "write", "PATCH": "change", "DELETE": "delete"}


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Any:
    """The Airflow user of the bearer token (or the UI's cookie); 401 when there is none."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    token = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    token = token or request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise HTTPException(
            401,
            "not authenticated: send 'Authorization: Bearer <token>' with a token from Airflow's POST /auth/token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return await get_auth_manager().get_user_from_token(token)
    except Exception:  # expired, badly signed or malformed: all mean "get a new token"
        raise HTTPException(
            401,
            "the token is invalid or expired; get a new one from Airflow's POST /auth/token",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


UserDep = Annotated[Any, Depends(current_user)]


def authorize(user: Any, dag_id: str, method: str) -> None:
    """403 unless ``user`` may create (POST) or read (GET) runs of DAG ``dag_id``."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    _check(user, dag_id, method, DagAccessEntity.RUN, "runs of DAG")


def authorize_dag(user: Any, dag_id: str | None, method: str) -> None:
    """403 unless ``user`` may read (GET) or write (PUT/PATCH) DAG ``dag_id`` itself: its registry
    entry, record or schedule. ``dag_id`` None: DAGs in general (a DAG whose id is not chosen yet)."""
    _check(user, dag_id, method, None, "DAG")


def authorize_asset(user: Any, method: str, what: str) -> None:
    """403 unless ``user`` may read (GET) or write (POST/PUT) assets: registered datasets and models."""
    from airflow.api_fastapi.app import get_auth_manager

    if not get_auth_manager().is_authorized_asset(method=method, user=user):
        verb = {"GET": "read", "POST": "register", "PUT": "change"}.get(method, method)
        raise HTTPException(403, f"user {user.get_name()!r} may not {verb} {what}")


def _check(user: Any, dag_id: str | None, method: str, entity: Any, what: str) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    if not get_auth_manager().is_authorized_dag(
        method=method, access_entity=entity, details=DagDetails(id=dag_id), user=user
    ):
        target = f"{what} {dag_id!r}" if dag_id else "DAGs (a new one)"
        raise HTTPException(403, f"user {user.get_name()!r} may not {_ACTIONS.get(method, method)} {target}")


def dag_teams(dag_ids: list[str]) -> dict[str, str | None]:
    """The team of each DAG (multi-team mode; None otherwise), as Airflow's own routes pass it."""
    from airflow.models.dag import DagModel

    return DagModel.get_dag_id_to_team_name_mapping(list(dag_ids)) if dag_ids else {}


def authorize_tracking(user: Any, dag_id: str) -> None:
    """403 unless ``user`` may read the runs AND the XComs of ``dag_id``: tracking data (metrics,
    outputs, run files) is the steps' XCom results."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    details = DagDetails(id=dag_id, team_name=dag_teams([dag_id]).get(dag_id))
    for entity, what in ((DagAccessEntity.RUN, "runs"), (DagAccessEntity.XCOM, "step results")):
        if not get_auth_manager().is_authorized_dag(
            method="GET", access_entity=entity, details=details, user=user
        ):
            raise HTTPException(403, f"user {user.get_name()!r} may not read the {what} of DAG {dag_id!r}")


def tracking_readable(user: Any, dag_ids: set[str]) -> set[str]:
    """The DAGs of ``dag_ids`` whose runs the user may read: a tracking list's filter (a list
    never answers 403; it shows what the user may see)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    manager, teams = get_auth_manager(), dag_teams(sorted(dag_ids))
    return {
        d
        for d in dag_ids
        if manager.is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.RUN,
            details=DagDetails(id=d, team_name=teams.get(d)),
            user=user,
        )
    }


def readable(user: Any, records: list[dict[str, Any]], key: str = "dag_id") -> list[dict[str, Any]]:
    """The records whose DAG (``record[key]``) the user may read: a list route's filter."""
    from airflow.api_fastapi.app import get_auth_manager

    allowed = get_auth_manager().filter_authorized_dag_ids(
        dag_ids={r[key] for r in records}, user=user, method="GET"
    )
    return [r for r in records if r[key] in allowed]
