"""Issue 18's acceptance check "a viewer without access to a DAG sees neither its runs nor its
metrics", end to end: a deployment of its own in Airflow's multi-team mode ([core] multi_team), two
teams each owning a DAG bundle (a folder) with one pipeline DAG, and SimpleAuthManager viewers of
one team each. Each user's own token (POST /auth/token) asks the tracking routes over HTTP, and bob
opens team_a's run page in Airflow's UI in a real browser (Chromium driven by Playwright)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from helpers import running

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import LOCAL_BUNDLE, USERNAME, LocalDeployment

pytestmark = pytest.mark.integration

BASE = "/mlpipe/tracking/v1"
# team -> (its viewer, its pipeline DAG, the metric its step logs)
TEAMS = {
    "team_a": ("alice", "experiment_access_a", 0.91),
    "team_b": ("bob", "experiment_access_b", 0.42),
}
DAG_FILE = '''
"""A one-step pipeline of {team}: the step logs one metric."""
from pathlib import Path

from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace

here = Path(__file__).resolve().parent
step = PythonScriptStep("score.py", name="score", source_directory=str(here / "src"))
dag = Pipeline(Workspace.from_config(), [step]).to_dag("{dag_id}")
'''
SCRIPT = """
from airflow_mlpipe import Run

Run.get_context().log("accuracy", {value})
"""


def team_bundles(root) -> list[dict]:
    """One folder per team, with its pipeline DAG file and the step's script."""
    bundles = []
    for team, (_, dag_id, value) in TEAMS.items():
        folder = root / team
        (folder / "src").mkdir(parents=True)
        (folder / "src" / "score.py").write_text(textwrap.dedent(SCRIPT).format(value=value))
        (folder / f"{dag_id}.py").write_text(DAG_FILE.format(team=team, dag_id=dag_id))
        (folder / ".airflowignore").write_text("src/\n")
        bundles.append(
            {
                "name": f"{team}-dags",
                "classpath": LOCAL_BUNDLE,
                "kwargs": {"path": str(folder)},
                "team_name": team,
            }
        )
    return bundles


@pytest.fixture(scope="module")
def teams_deployment(tmp_path_factory):
    """A LocalDeployment in multi-team mode: the teams' bundles plus the registry's (no team)."""
    root = tmp_path_factory.mktemp("multi-team")
    dep = LocalDeployment(home=root / "mlpipe", dags_folder=root / "unused-dags")
    bundles = team_bundles(root / "bundles")
    bundles.append(
        {"name": "mlpipe-registry", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(dep.registry_dags)}}
    )
    users = ",".join(
        [f"{USERNAME}:admin", *(f"{user}:viewer:{team}" for team, (user, _, _) in TEAMS.items())]
    )
    dep.extra_env.update(
        {
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
        }
    )
    with running(dep, echo=lambda *a: print(*a, file=sys.stderr)):
        yield dep


@pytest.fixture(scope="module")
def team_runs(teams_deployment):
    """One finished run of each team's DAG, triggered by the admin over REST API v2."""
    admin = AirflowClient(teams_deployment.url, USERNAME, teams_deployment.password())
    runs = {}
    for _, dag_id, _ in TEAMS.values():
        admin.wait_for_dag(dag_id, timeout=180)
        runs[dag_id] = admin.trigger(dag_id)["dag_run_id"]
    for dag_id, run_id in runs.items():
        run = admin.wait_for_run(dag_id, run_id, timeout=300)
        assert run["state"] == "success", (dag_id, run)
    return runs


class As:
    """GETs of one user, with the token Airflow gave them (POST /auth/token)."""

    def __init__(self, dep: LocalDeployment, user: str):
        password = json.loads(dep.passwords_file.read_text())[user]
        self.url, self.name = dep.url, user
        self.header = {"Authorization": f"Bearer {AirflowClient(dep.url, user, password).token()}"}

    def __call__(self, path: str, **params) -> tuple[int, dict]:
        r = requests.get(self.url + path, headers=self.header, params=params, timeout=60)
        return r.status_code, r.json()


@pytest.fixture(scope="module")
def users(teams_deployment, team_runs):
    return {name: As(teams_deployment, name) for name in (USERNAME, "alice", "bob")}


def test_airflow_itself_scopes_the_viewers_by_team(users, team_runs):
    """The setting under test is live: Airflow's own REST API refuses bob team_a's runs."""
    status, _ = users["bob"]("/api/v2/dags/experiment_access_a/dagRuns")
    assert status == 403
    status, body = users["bob"]("/api/v2/dags/experiment_access_b/dagRuns")
    assert status == 200 and body["total_entries"] == 1


def test_a_run_step_and_compare_of_another_teams_dag_are_403_naming_it(users, team_runs):
    run_a = team_runs["experiment_access_a"]
    bob = users["bob"]
    for path, params in (
        (f"{BASE}/runs/experiment_access_a/{run_a}", {}),
        (f"{BASE}/runs/experiment_access_a/{run_a}/steps/score", {}),
        (f"{BASE}/compare", {"dag_id": "experiment_access_a"}),
        (f"{BASE}/compare", {"dag_id": "experiment_access_a", "run_id": run_a}),
        (f"{BASE}/runs", {"dag_id": "experiment_access_a"}),
    ):
        status, body = bob(path, **params)
        assert status == 403, (path, params, body)
        assert "experiment_access_a" in body["detail"] and "bob" in body["detail"], body
        assert "accuracy" not in json.dumps(body)


def test_lists_hold_only_the_users_own_teams_dags(users, team_runs):
    for user, mine, theirs in (("bob", "b", "a"), ("alice", "a", "b")):
        status, body = users[user](f"{BASE}/runs", limit=200)
        assert status == 200, body
        dags = {r["dag_id"] for r in body["runs"]}
        assert dags == {f"experiment_access_{mine}"}, (user, body)
        assert body["total_entries"] == 1
        status, body = users[user](f"{BASE}/experiments", limit=200)
        assert status == 200, body
        names = {e["name"] for e in body["experiments"]}
        assert f"access_{mine}" in names and f"access_{theirs}" not in names, (user, body)
        last = next(e for e in body["experiments"] if e["name"] == f"access_{mine}")["last_run"]
        assert last["run_id"] == team_runs[f"experiment_access_{mine}"]


def test_the_admin_sees_both_teams(users, team_runs):
    status, body = users[USERNAME](f"{BASE}/runs", limit=200)
    assert status == 200, body
    assert {r["dag_id"] for r in body["runs"]} == set(team_runs)


def test_each_viewer_reads_their_own_teams_metrics(users, team_runs):
    for team, (user, dag_id, value) in TEAMS.items():
        run_id = team_runs[dag_id]
        status, body = users[user](f"{BASE}/runs/{dag_id}/{run_id}")
        assert status == 200, body
        assert [s["task_id"] for s in body["steps"]] == ["score"]
        status, body = users[user](f"{BASE}/runs/{dag_id}/{run_id}/steps/score")
        assert status == 200, body
        assert body["metrics"] == {"accuracy": value}, (team, body)
        status, body = users[user](f"{BASE}/compare", dag_id=dag_id)
        assert status == 200, body
        assert body["runs"][0]["metrics"] == {"score/accuracy": value}


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium under Playwright, and the pages' build; skipped, saying which is missing."""
    from test_tracking_ui import CHROMIUM, launched_chromium

    from airflow_mlpipe.plugin.ui import BUNDLE, STATIC

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package")
    if not (STATIC / BUNDLE).exists():
        pytest.skip(f"the tracking pages are not built ({BUNDLE}): scripts/setup.sh builds ui/")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
    with launched_chromium() as browser:
        yield browser


def test_in_the_ui_bob_gets_an_access_message_and_no_metric_on_team_as_run_page(
    chromium, teams_deployment, team_runs
):
    from playwright.sync_api import expect
    from test_tracking_ui import Browser, run_page

    dep = teams_deployment
    bob = Browser(chromium, dep.url)
    try:
        bob.login("bob", json.loads(dep.passwords_file.read_text())["bob"])
        page = bob.page
        page.goto(run_page("experiment_access_b", team_runs["experiment_access_b"]))  # his own: shown
        expect(page.get_by_test_id("mlpipe-metrics-score")).to_contain_text("accuracy")
        page.goto(run_page("experiment_access_a", team_runs["experiment_access_a"]))
        message = page.get_by_test_id("mlpipe-error")
        expect(message).to_contain_text("experiment_access_a")
        expect(message).to_contain_text("may not read")
        expect(page.get_by_test_id("mlpipe-metrics-score")).to_have_count(0)
        assert "0.91" not in page.content()
    finally:
        bob.context.close()
    assert bob.outside == [], f"requests left Airflow's origin: {bob.outside}"
