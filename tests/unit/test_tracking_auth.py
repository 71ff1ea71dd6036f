"""The tracking routes' authorization (plugin/auth.py authorize_tracking, tracking_readable) against
Airflow's real SimpleAuthManager. Its roles are global; its only per-DAG rule is the DAG's team
(multi-team mode), so a per-DAG refusal is a user outside the team of the DAG's bundle. The live
deployment tests cover roles and 401 (tests/integration/test_tracking_routes.py) and a
multi-team deployment's refusals (tests/integration/test_tracking_access.py)."""

from __future__ import annotations

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi import HTTPException

from airflow_mlpipe.plugin import auth

TEAMS = {"experiment_red": "red", "experiment_blue": "blue", "experiment_open": None}


@pytest.fixture(autouse=True)
def simple_manager(monkeypatch):
    import airflow.api_fastapi.app as api_app

    manager = SimpleAuthManager()
    monkeypatch.setattr(api_app, "get_auth_manager", lambda: manager)
    monkeypatch.setattr(auth, "dag_teams", lambda dag_ids: {d: TEAMS.get(d) for d in dag_ids})
    return manager


def user(role, teams=()):
    return SimpleAuthManagerUser(username=f"{role}-{'-'.join(teams) or 'all'}", role=role, teams=list(teams))


def test_a_reader_of_the_dags_team_may_read_its_runs_and_step_results():
    auth.authorize_tracking(user("viewer", ["red"]), "experiment_red")
    auth.authorize_tracking(user("viewer", ["red"]), "experiment_open")  # a DAG of no team
    auth.authorize_tracking(user("admin"), "experiment_blue")


def test_another_teams_dag_is_refused_with_a_403_naming_it():
    with pytest.raises(HTTPException) as err:
        auth.authorize_tracking(user("viewer", ["red"]), "experiment_blue")
    assert err.value.status_code == 403
    assert "experiment_blue" in err.value.detail and "viewer-red" in err.value.detail


def test_a_user_without_a_role_reads_nothing():
    with pytest.raises(HTTPException) as err:
        auth.authorize_tracking(user(None), "experiment_open")
    assert err.value.status_code == 403


def test_lists_keep_only_the_readable_dags():
    assert auth.tracking_readable(user("viewer", ["red"]), set(TEAMS)) == {
        "experiment_red",
        "experiment_open",
    }
    assert auth.tracking_readable(user("admin"), set(TEAMS)) == set(TEAMS)
    assert auth.tracking_readable(user(None), set(TEAMS)) == set()
