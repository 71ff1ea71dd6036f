"""The tracking pages in Airflow's own UI, in a real browser: Debian's Chromium driven by Playwright
against the session's Airflow deployment. A person logs in on Airflow's login page, finds
"ML experiments" in Airflow's navigation, opens runs of the repo's example pipeline (dags/
compare_models.py) and sees its three steps, the reuse badges of a second submit linking to the
run they reused, a comparison plot across three runs with different ``pipeline_arg`` values, and
follows a task instance's extra link to its step page. Every request must stay on Airflow's
origin: the pages load nothing from elsewhere (no CDN, no web fonts).

MLPIPE_UI_SCREENSHOTS=docs/img saves the pages' screenshots for the docs (else they go to a
temporary folder)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_mlpipe import Experiment
from airflow_mlpipe.client.rest import AirflowClient

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("MLPIPE_CHROMIUM", "/usr/bin/chromium")  # Debian's chromium package
STEPS = ("train.py", "extract.py", "compare.py")
PLAIN_DAG = "tracking_ui_plain"
# pipeline_arg of the four submits: values no other test module gives the example pipeline, so this
# module's first run computes every step (reuse spans the whole suite's runs)
ARGS = (31, 31, 35, 37)


@pytest.fixture(scope="module")
def passwords(deployment):
    return json.loads(Path(deployment.passwords_file).read_text())


@pytest.fixture(scope="module")
def runs(ws, deployment):
    """The example pipeline submitted four times, pipeline_arg ARGS: the second reuses every step."""
    spec = importlib.util.spec_from_file_location(
        "ui_example", Path(deployment.dags_folder) / "compare_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exp = Experiment(ws, f"ui_{uuid.uuid4().hex[:8]}")
    submitted = []
    for arg in ARGS:
        run = exp.submit(module.pipeline1, pipeline_parameters={"pipeline_arg": arg})
        assert run.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
        submitted.append(run)
    return submitted


@pytest.fixture(scope="module")
def tracking(deployment, passwords):
    """GET of a tracking route as the viewer (the JSON the pages show)."""
    token = AirflowClient(deployment.url, "viewer", passwords["viewer"]).token()

    def get(path: str) -> dict:
        r = requests.get(
            f"{deployment.url}/mlpipe/tracking/v1/{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    return get


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Debian's Chromium (CHROMIUM) under Playwright, headless; closed afterwards. The browser
    modules' fixtures check first what they need."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--disable-background-networking",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package")
    with launched_chromium() as browser:
        yield browser


class Browser:
    """One browser context on Airflow's origin that refuses and records any other origin."""

    def __init__(self, chromium, base: str):
        self.base = base
        self.outside: list[str] = []
        self.context = chromium.new_context(base_url=base, viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(30_000)
        self.context.route(re.compile(r".*"), self._only_airflow)
        self.page = self.context.new_page()

    def _only_airflow(self, route) -> None:
        url = route.request.url
        if url.startswith((self.base + "/", "data:", "blob:")) or url == self.base:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def login(self, user: str, password: str) -> None:
        """Through Airflow's login page, as a person would."""
        page = self.page
        page.goto("/")
        page.wait_for_url(re.compile(r".*/auth/login.*"))
        page.fill('input[name="username"]', user)
        page.fill('input[name="password"]', password)
        page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        page.wait_for_url(self.base + "/")

    def shot(self, name: str, tmp_path: Path) -> None:
        folder = Path(os.environ.get("MLPIPE_UI_SCREENSHOTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        self.page.wait_for_timeout(300)  # let the SVG settle after the last fetch
        self.page.screenshot(path=str(folder / f"tracking-{name}.png"))


@pytest.fixture
def browser(chromium, deployment, passwords):
    b = Browser(chromium, deployment.url)
    b.login("viewer", passwords["viewer"])
    yield b
    b.context.close()
    assert b.outside == [], f"requests left Airflow's origin: {b.outside}"


def run_page(dag_id: str, run_id: str) -> str:
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/plugin/mlpipe-run"


def test_the_navigation_has_ml_experiments_with_the_runs_of_an_experiment(browser, runs, tmp_path):
    from playwright.sync_api import expect

    page = browser.page
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="ML experiments").click()
    page.wait_for_url(re.compile(r".*/plugin/mlpipe$"))
    card = page.get_by_test_id(f"mlpipe-experiment-{runs[0].dag_id.removeprefix('experiment_')}")
    expect(card).to_contain_text("4 runs")
    expect(card.get_by_test_id(f"mlpipe-run-link-{runs[3].run_id}")).to_be_visible()
    browser.shot("experiments", tmp_path)
    card.get_by_test_id(f"mlpipe-run-link-{runs[3].run_id}").click()  # a run's link opens its run page
    page.wait_for_url(re.compile(r".*/plugin/mlpipe-run$"))
    expect(page.get_by_test_id("mlpipe-run-page")).to_contain_text(runs[3].run_id)


def test_a_run_page_shows_the_three_steps_and_a_second_submit_links_its_reuse_badges_to_the_origin(
    browser, runs, tracking, tmp_path
):
    from playwright.sync_api import expect

    page = browser.page
    first, second = runs[0], runs[1]
    page.goto(run_page(first.dag_id, first.run_id))
    for step in STEPS:
        expect(page.get_by_test_id(f"mlpipe-step-status-{step}")).to_contain_text("Finished")
    expect(page.get_by_test_id("mlpipe-graph").locator("path.mp-edge")).to_have_count(3)
    expect(page.get_by_test_id("mlpipe-run-params")).to_contain_text("pipeline_arg")
    expect(page.get_by_test_id("mlpipe-metrics-compare.py")).to_contain_text("evaluation_rows")
    expect(page.get_by_test_id("mlpipe-log-link-train.py")).to_have_attribute(
        "href", re.compile(r".*/tasks/train\.py$")
    )

    page.goto(run_page(second.dag_id, second.run_id))
    detail = tracking(f"runs/{second.dag_id}/{second.run_id}")
    origin_of_first = {
        s["task_id"]: s["reused"] for s in tracking(f"runs/{first.dag_id}/{first.run_id}")["steps"]
    }
    for step in detail["steps"]:
        assert step["reused"], step  # the same code, inputs and pipeline_arg: every step is reused
        badge = page.get_by_test_id(f"mlpipe-reuse-badge-{step['task_id']}")
        expect(badge).to_be_visible()
        origin = step["reused_from"]
        expect(badge).to_have_attribute("href", f"{browser.base}/{origin['url']}")
        if not origin_of_first[step["task_id"]]:  # the first run ran it: the second reused the first
            assert origin["run_id"] == first.run_id
    assert not origin_of_first["compare.py"]  # ARGS[0] is this module's own: it ran first here
    browser.shot("run", tmp_path)
    page.get_by_test_id("mlpipe-reuse-badge-compare.py").click()
    page.wait_for_url(re.compile(rf".*/runs/{re.escape(quote(first.run_id, safe=''))}/plugin/mlpipe-run$"))
    expect(page.get_by_test_id("mlpipe-run-page")).to_contain_text(first.run_id)


def test_the_comparison_plots_a_metric_across_three_runs_with_different_pipeline_args(
    browser, runs, tmp_path
):
    from playwright.sync_api import expect

    page = browser.page
    chosen = [runs[0], runs[2], runs[3]]  # three different pipeline_arg values
    query = "&".join(f"run_id={quote(r.run_id, safe='')}" for r in chosen)
    page.goto(f"/plugin/mlpipe?view=compare&dag_id={quote(runs[0].dag_id)}&{query}")
    page.get_by_test_id("mlpipe-compare-metric").select_option("compare.py/accuracy_decision_tree")
    page.get_by_test_id("mlpipe-compare-x").select_option("pipeline_arg")
    plot = page.get_by_test_id("mlpipe-compare-plot")
    expect(plot.get_by_test_id("mlpipe-compare-point")).to_have_count(3)
    expect(plot).to_contain_text("pipeline_arg")
    table = page.get_by_test_id("mlpipe-compare-table")
    for run, arg in zip(chosen, (ARGS[0], ARGS[2], ARGS[3]), strict=True):
        row = table.get_by_test_id(f"mlpipe-compare-row-{run.run_id}")
        expect(row.locator("input[type=checkbox]")).to_be_checked()
        expect(row.get_by_test_id(f"mlpipe-compare-param-{run.run_id}-pipeline_arg")).to_have_text(str(arg))
    expect(table.get_by_test_id(f"mlpipe-compare-row-{runs[1].run_id}").locator("input")).not_to_be_checked()
    browser.shot("compare", tmp_path)
    # ticking a fourth run adds its point; the selection is kept in the page's address
    table.get_by_test_id(f"mlpipe-compare-row-{runs[1].run_id}").locator("input").check()
    expect(plot.get_by_test_id("mlpipe-compare-point")).to_have_count(4)
    assert page.url.count("run_id=") == 4


def test_a_task_instances_extra_link_opens_its_step_page(browser, runs, tmp_path):
    from playwright.sync_api import expect

    page = browser.page
    run = runs[2]  # ARGS[2]: compare.py ran (a changed parameter), the others were reused
    page.goto(f"/dags/{quote(run.dag_id)}/runs/{quote(run.run_id, safe='')}/tasks/compare.py")
    page.get_by_role("link", name="Details", exact=True).click()  # Airflow lists extra links there
    link = page.get_by_role("link", name="ML step tracking")
    expect(link).to_have_attribute("href", re.compile(r".*/tasks/compare\.py/plugin/mlpipe-step$"))
    link.click()
    page.wait_for_url(re.compile(r".*/tasks/compare\.py/plugin/mlpipe-step$"))
    expect(page.get_by_test_id("mlpipe-step-detail-status-compare.py")).to_contain_text("Finished")
    expect(page.get_by_test_id("mlpipe-step-reason-compare.py")).to_contain_text("ran")
    expect(page.get_by_test_id("mlpipe-metrics-compare.py")).to_contain_text("accuracy_decision_tree")
    expect(page.get_by_test_id("mlpipe-params-compare.py")).to_contain_text("5")
    browser.shot("step", tmp_path)


def test_a_dag_that_is_no_pipeline_says_so_on_its_run_tab(browser, deployment, client):
    from playwright.sync_api import expect

    (Path(deployment.dags_folder) / f"{PLAIN_DAG}.py").write_text(
        textwrap.dedent(f"""
            from airflow.providers.standard.operators.empty import EmptyOperator
            from airflow.sdk import DAG

            with DAG("{PLAIN_DAG}", schedule=None, catchup=False):
                EmptyOperator(task_id="only")
        """)
    )
    client.wait_for_dag(PLAIN_DAG, timeout=180)
    run = client.trigger(PLAIN_DAG, {})
    browser.page.goto(run_page(PLAIN_DAG, run["dag_run_id"]))
    expect(browser.page.get_by_test_id("mlpipe-not-pipeline")).to_contain_text(
        "not an airflow-mlpipe pipeline"
    )
