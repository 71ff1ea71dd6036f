"""Runs last (file order): stopping the session's deployment must leave no process behind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_zz_down_stops_every_process(deployment):
    from airflow_mlpipe.deploy.local import port_is_free, tagged_pids

    state = deployment.state()
    status = deployment.status()
    assert status["running"] and all(status["processes"].values())
    deployment.down()
    assert tagged_pids(state["deployment_id"]) == []
    assert port_is_free(state["port"])
    assert deployment.status() == {"running": False}
