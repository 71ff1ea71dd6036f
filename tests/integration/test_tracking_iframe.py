"""The iframe fallback of the tracking pages (``[mlpipe] tracking_ui = iframe``) in a real browser:
a deployment of its own with AIRFLOW__MLPIPE__TRACKING_UI=iframe (the plugin registers the pages as
Airflow external views, the standalone build shown in an iframe), a one-step pipeline DAG whose
step logs a metric, and Debian's Chromium driven by Playwright. A viewer logs in on Airflow's login
page, finds "ML experiments" in Airflow's navigation, opens a DAG run's "ML run" tab and a task
instance's "ML step" tab, and reads the experiment, the step and its metric inside the iframe.
Every request, the iframe's too, must stay on Airflow's origin."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from helpers import running

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

pytestmark = pytest.mark.integration

DAG_ID = "experiment_iframe_demo"
EXPERIMENT = "iframe_demo"
METRIC, VALUE = "accuracy", 0.87
DAG_FILE = f'''
"""A one-step pipeline: the step logs one metric."""
from pathlib import Path

from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace

here = Path(__file__).resolve().parent
step = PythonScriptStep("score.py", name="score", source_directory=str(here / "src"))
dag = Pipeline(Workspace.from_config(), [step]).to_dag("{DAG_ID}")
'''
SCRIPT = f"""
from airflow_mlpipe import Run

Run.get_context().log("{METRIC}", {VALUE})
"""


@pytest.fixture(scope="module")
def iframe_deployment(tmp_path_factory):
    """A LocalDeployment whose plugin shows the tracking pages as external views (iframes)."""
    root = tmp_path_factory.mktemp("iframe-ui")
    dags = root / "dags"
    (dags / "src").mkdir(parents=True)
    (dags / "src" / "score.py").write_text(textwrap.dedent(SCRIPT))
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    (dags / ".airflowignore").write_text("src/\n")
    dep = LocalDeployment(home=root / "mlpipe", dags_folder=dags)
    dep.extra_env.update(
        {
            "AIRFLOW__MLPIPE__TRACKING_UI": "iframe",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin,viewer:viewer",
        }
    )
    with running(dep, echo=lambda *a: print(*a, file=sys.stderr)):
        yield dep


@pytest.fixture(scope="module")
def run_id(iframe_deployment):
    """One finished run of the pipeline DAG, triggered by the admin over REST API v2."""
    dep = iframe_deployment
    admin = AirflowClient(dep.url, USERNAME, dep.password())
    admin.wait_for_dag(DAG_ID, timeout=180)
    run_id = admin.trigger(DAG_ID)["dag_run_id"]
    run = admin.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "success", run
    return run_id


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium under Playwright, and the standalone build; skipped, saying which is missing."""
    from test_tracking_ui import CHROMIUM, launched_chromium

    from airflow_mlpipe.plugin.ui import STANDALONE

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package")
    if not (STANDALONE / "index.html").exists():
        pytest.skip("the standalone tracking page is not built: scripts/setup.sh builds ui/")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def browser(chromium, iframe_deployment, run_id):
    """The viewer, logged in through Airflow's login page; no request may leave Airflow's origin."""
    from test_tracking_ui import Browser

    dep = iframe_deployment
    b = Browser(chromium, dep.url)
    b.login("viewer", json.loads(dep.passwords_file.read_text())["viewer"])
    yield b
    b.context.close()
    assert b.outside == [], f"requests left Airflow's origin: {b.outside}"


def test_the_plugin_registers_external_views_and_no_react_app(iframe_deployment, run_id):
    """The setting reached the API server: Airflow lists the three pages as external views."""
    dep = iframe_deployment
    token = AirflowClient(dep.url, USERNAME, dep.password()).token()
    r = requests.get(f"{dep.url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text
    plugin = next(p for p in r.json()["plugins"] if p["name"] == "airflow_mlpipe")
    assert plugin["react_apps"] == []
    views = {v["name"]: v for v in plugin["external_views"]}
    assert set(views) == {"ML experiments", "ML run", "ML step"}
    assert "{RUN_ID}" in views["ML run"]["href"] and "{TASK_ID}" in views["ML step"]["href"]


def iframe(page, title: str):
    """The iframe in which Airflow shows a plugin page (titled with the page's name)."""
    return page.frame_locator(f'iframe[title="{title}"]')


def open_tab(page, path: str, tab: str, url: str):
    """Open Airflow's page ``path``, click its plugin tab ``tab``, wait for ``url``; the tab's iframe."""
    page.goto(path)
    page.get_by_role("tab", name=tab).or_(page.get_by_role("link", name=tab)).first.click()
    page.wait_for_url(re.compile(url))
    return iframe(page, tab)


def expect_the_score_metric(frame) -> None:
    from playwright.sync_api import expect

    metrics = frame.get_by_test_id("mlpipe-metrics-score")
    expect(metrics).to_contain_text(METRIC)
    expect(metrics).to_contain_text(str(VALUE))


def test_the_navigation_opens_ml_experiments_in_an_iframe_listing_the_experiment(browser):
    from playwright.sync_api import expect

    page = browser.page
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="ML experiments").click()
    page.wait_for_url(re.compile(r".*/plugin/mlpipe(/.*)?$"))
    frame = iframe(page, "ML experiments")
    card = frame.get_by_test_id(f"mlpipe-experiment-{EXPERIMENT}")
    expect(card).to_contain_text("1 run")


def test_a_dag_runs_ml_run_tab_shows_the_step_and_its_metric_in_the_iframe(browser, run_id):
    from playwright.sync_api import expect

    frame = open_tab(
        browser.page, f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}", "ML run", r".*/plugin/mlpipe-run$"
    )
    expect(frame.get_by_test_id("mlpipe-run-page")).to_contain_text(run_id)
    expect(frame.get_by_test_id("mlpipe-step-status-score")).to_contain_text("Finished")
    expect_the_score_metric(frame)


def test_a_task_instances_ml_step_tab_shows_the_step_page_in_the_iframe(browser, run_id):
    from playwright.sync_api import expect

    frame = open_tab(
        browser.page,
        f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/score",
        "ML step",
        r".*/tasks/score/plugin/mlpipe-step$",
    )
    expect(frame.get_by_test_id("mlpipe-step-detail-status-score")).to_contain_text("Finished")
    expect_the_score_metric(frame)


def test_links_inside_the_iframes_open_airflows_pages_with_their_iframes(browser, run_id):
    """An experiment's run link, a step of the run graph, and the run page's "Compare runs" link
    navigate Airflow's page (target _top), whose iframe then shows that page, the comparison too."""
    from playwright.sync_api import expect

    page = browser.page
    page.goto("/plugin/mlpipe")
    nav = iframe(page, "ML experiments")
    nav.get_by_test_id(f"mlpipe-experiment-{EXPERIMENT}").get_by_test_id(f"mlpipe-run-link-{run_id}").click()
    page.wait_for_url(re.compile(r".*/plugin/mlpipe-run$"))
    run = iframe(page, "ML run")
    expect(run.get_by_test_id("mlpipe-run-page")).to_contain_text(run_id)
    run.get_by_test_id("mlpipe-compare-link").click()
    page.wait_for_url(re.compile(r".*/plugin/mlpipe(/.*)?\?.*view=compare.*"))
    nav = iframe(page, "ML experiments")
    row = nav.get_by_test_id("mlpipe-compare-table").get_by_test_id(f"mlpipe-compare-row-{run_id}")
    expect(row).to_be_visible()
    page.goto(f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/plugin/mlpipe-run")
    iframe(page, "ML run").get_by_test_id("mlpipe-step-score").locator("a").first.click()
    page.wait_for_url(re.compile(r".*/tasks/score/plugin/mlpipe-step$"))
    step = iframe(page, "ML step")
    expect(step.get_by_test_id("mlpipe-step-detail-status-score")).to_contain_text("Finished")
