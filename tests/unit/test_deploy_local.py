"""deploy/local.py: what prepares the metadata database, by mode (the multi-team deployment it
makes runs in tests/integration/test_tracking_access.py)."""

from __future__ import annotations

import pytest

from airflow_mlpipe.deploy.local import LocalDeployment, database_commands

AIRFLOW = ["python", "-m", "airflow"]


def test_a_deployment_is_migrated_and_nothing_more_by_default():
    assert database_commands(AIRFLOW, {}) == [[*AIRFLOW, "db", "migrate"]]
    assert database_commands(AIRFLOW, {"AIRFLOW__CORE__MULTI_TEAM": "False"}) == [[*AIRFLOW, "db", "migrate"]]


@pytest.mark.parametrize("value", ["True", "true", " t ", "1"])
def test_multi_team_mode_creates_the_teams_of_the_bundles(value):
    assert database_commands(AIRFLOW, {"AIRFLOW__CORE__MULTI_TEAM": value}) == [
        [*AIRFLOW, "db", "migrate"],
        [*AIRFLOW, "teams", "sync"],
    ]


def test_extra_env_overrides_the_deployments_own_settings(tmp_path):
    bundles = '[{"name": "team_a-dags", "classpath": "x", "kwargs": {}, "team_name": "team_a"}]'
    dep = LocalDeployment(
        home=tmp_path,
        extra_env={
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles,
        },
    )
    env = dep.environment(28080, "id", (1, 2))
    assert env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] == bundles
    assert database_commands(AIRFLOW, env)[-1] == [*AIRFLOW, "teams", "sync"]
