"""The plugin's registration of the tracking pages (plugin/ui.py), the step link
(operators/links.py) and the static serving of the built pages (plugin/app.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from helpers import fan_pipeline, write_scripts

from airflow_mlpipe import Workspace
from airflow_mlpipe.operators.links import MlpipeStepLink, is_step_operator, step_page_path
from airflow_mlpipe.plugin import ui


@pytest.fixture
def mode(monkeypatch):
    def set_mode(value: str) -> None:
        monkeypatch.setenv("AIRFLOW__MLPIPE__TRACKING_UI", value)

    return set_mode


def test_react_mode_registers_three_apps_each_with_its_own_cache_busted_bundle_url(mode):
    mode("react")
    apps, views, links = ui.registrations()
    assert views == [] and [type(link) for link in links] == [MlpipeStepLink]
    assert [(a["destination"], a["url_route"]) for a in apps] == [
        ("nav", "mlpipe"),
        ("dag_run", "mlpipe-run"),
        ("task_instance", "mlpipe-step"),
    ]
    urls = [a["bundle_url"] for a in apps]
    assert len(set(urls)) == 3  # a shared URL is imported once per page: the 2nd app would be empty
    assert all(u.startswith(f"mlpipe/static/{ui.BUNDLE}?v={ui.bundle_stamp()}&view=") for u in urls)
    assert ui.BUNDLE.endswith(".js")  # .cjs is served as text/plain and refused as a module
    assert apps[0]["category"] == "browse"


def test_iframe_mode_registers_external_views_and_off_registers_nothing(mode):
    mode("iframe")
    apps, views, links = ui.registrations()
    assert apps == [] and len(links) == 1
    assert [v["url_route"] for v in views] == ["mlpipe", "mlpipe-run", "mlpipe-step"]
    assert views[1]["href"] == "mlpipe/tracking/app/?view=run&dag_id={DAG_ID}&run_id={RUN_ID}"
    mode("off")
    assert ui.registrations() == ([], [], [])


def test_an_unknown_mode_is_logged_by_name_and_read_as_react(mode, caplog):
    mode("angular")
    assert ui.ui_mode() == "react"
    assert "[mlpipe] tracking_ui = 'angular'" in caplog.text


def test_the_step_link_answers_for_step_tasks_only_also_after_serialization(tmp_path):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.serialization.serialized_objects import DagSerialization

    src = write_scripts(tmp_path / "src", ["prep.py", "work.py", "merge.py"])
    dag = fan_pipeline(Workspace.from_config(), src, width=1).to_dag("fan")
    EmptyOperator(task_id="plain", dag=dag)
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    key = SimpleNamespace(
        dag_id="fan", run_id="manual__2026-01-01T00:00:00+00:00", task_id="prep", map_index=-1
    )
    link = MlpipeStepLink()
    for tasks in (dag, restored):  # the worker's operators and the API server's deserialized ones
        assert is_step_operator(tasks.get_task("prep")) and not is_step_operator(tasks.get_task("plain"))
        assert link.get_link(tasks.get_task("prep"), ti_key=key) == (
            "/dags/fan/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/prep/plugin/mlpipe-step"
        )
        assert link.get_link(tasks.get_task("plain"), ti_key=key) == ""
    assert step_page_path("d", "r", "t", 2) == "dags/d/runs/r/tasks/t/mapped/2/plugin/mlpipe-step"


def test_the_built_pages_are_served_as_javascript_and_html():
    from airflow_mlpipe.plugin.app import app

    if not (ui.STATIC / ui.BUNDLE).exists():
        pytest.fail(
            f"{ui.STATIC / ui.BUNDLE} is missing: build the pages (scripts/setup.sh, or npm run build in ui/)"
        )
    client = TestClient(app)
    bundle = client.get(f"/static/{ui.BUNDLE}?v=1&view=run")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert b"AirflowPlugin" in bundle.content and b"ReactJSXRuntime" in bundle.content  # UMD on host React
    page = client.get("/tracking/app/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get("/static/../app.py").status_code == 404
