"""The tracking routes (/mlpipe/tracking/v1) in a real Airflow API server, on runs of a real
two-step pipeline (tests/integration/tracking_src): lists, a run's steps and graph, reuse and why a
step ran, a step's metrics, table and image, file and output downloads, compare, pagination, bad
ids and parameters (400/404, never 5xx), a DAG that is no pipeline, the viewer user, and 401.
Per-DAG refusals need a multi-team setup: tests/integration/test_tracking_access.py runs one, and
tests/unit/test_tracking_auth.py covers the rules."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from airflow_mlpipe import (
    Experiment,
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.plugin.tracking_shapes import log_url

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).parent / "tracking_src")
BASE = "/mlpipe/tracking/v1"
PLAIN_DAG = "tracking_plain"
PLAIN_SOURCE = f'''
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("{PLAIN_DAG}", schedule=None, catchup=False):
    EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
'''


class Api:
    """One user's GETs of the tracking routes: (status, JSON body or bytes, headers)."""

    def __init__(self, deployment, user: str | None, password: str | None = None):
        self.url = deployment.url + BASE
        token = AirflowClient(deployment.url, user, password).token() if user else None
        self.header = {"Authorization": f"Bearer {token}"} if token else {}

    def __call__(self, path: str, **params) -> tuple[int, object]:
        r = requests.get(self.url + path, headers=self.header, params=params, timeout=120)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content
        return r.status_code, body

    def raw(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.header, timeout=120)


@pytest.fixture(scope="module")
def apis(deployment, client):
    passwords = json.loads(Path(deployment.passwords_file).read_text())
    return Api(deployment, "admin", passwords["admin"]), Api(deployment, "viewer", passwords["viewer"])


def tracking_pipeline(ws: Workspace, salt: str) -> Pipeline:
    ds = ws.get_default_datastore()
    n = PipelineParameter("n", default_value=1)
    prepared = PipelineData("prepared", datastore=ds)
    model = PipelineData("model", datastore=ds)
    prepare = PythonScriptStep(
        "prepare.py",
        name="prepare",
        source_directory=SRC,
        arguments=["--n", n, "--salt", salt, "--out", prepared],
        outputs=[prepared],
    )
    train = PythonScriptStep(
        "train.py",
        name="train",
        source_directory=SRC,
        arguments=["--data", prepared, "--n", n, "--salt", salt, "--out", model],
        inputs=[prepared],
        outputs=[model],
    )
    return Pipeline(ws, [prepare, train], description="tracking routes test")


@pytest.fixture(scope="module")
def runs(ws):
    """Four runs of one experiment: n=1, n=1 again (reused), n=3 and n=5."""
    name = f"tracking_{uuid.uuid4().hex[:8]}"
    exp = Experiment(ws, name)
    pipeline = tracking_pipeline(ws, uuid.uuid4().hex)
    first = exp.submit(pipeline, pipeline_parameters={"n": 1})
    assert first.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
    second = exp.submit(pipeline, pipeline_parameters={"n": 1})
    assert second.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
    third = exp.submit(pipeline, pipeline_parameters={"n": 3})
    fourth = exp.submit(pipeline, pipeline_parameters={"n": 5})
    for run in (third, fourth):
        assert run.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
    return {"experiment": exp, "pipeline": pipeline, "runs": [first, second, third, fourth]}


def test_runs_appear_in_the_experiment_and_run_lists(apis, runs):
    admin, _ = apis
    exp, first = runs["experiment"], runs["runs"][0]
    status, body = admin("/experiments", limit=200)
    assert status == 200, body
    item = next(e for e in body["experiments"] if e["name"] == exp.name)
    assert item["dag_ids"] == [first.dag_id] and item["total_runs"] == 4
    assert (
        item["last_run"]["run_id"] == runs["runs"][3].run_id
        or item["last_run"]["run_id"] == runs["runs"][2].run_id
    )
    status, body = admin("/runs", experiment=exp.name)
    assert status == 200 and body["total_entries"] == 4, body
    assert {r["run_id"] for r in body["runs"]} == {r.run_id for r in runs["runs"]}
    summary = next(r for r in body["runs"] if r["run_id"] == first.run_id)
    assert (
        summary["is_pipeline"] is True and summary["status"] == "Finished" and summary["state"] == "success"
    )
    assert summary["experiment"] == exp.name and summary["parameters"] == {"n": 1}
    assert summary["duration_s"] > 0 and summary["start_date"] and summary["end_date"]
    assert summary["url"].startswith(f"dags/{first.dag_id}/runs/") and summary["url"].endswith(
        "/plugin/mlpipe-run"
    )
    status, body = admin("/runs", limit=200)  # every readable DAG's runs
    assert status == 200 and first.run_id in {r["run_id"] for r in body["runs"]}


def test_run_detail_has_every_step_with_status_durations_and_edges(apis, runs):
    admin, _ = apis
    first = runs["runs"][0]
    status, body = admin(f"/runs/{first.dag_id}/{first.run_id}")
    assert status == 200, body
    steps = {s["task_id"]: s for s in body["steps"]}
    assert set(steps) == {"prepare", "train"}
    assert body["edges"] == [["prepare", "train"]]
    for step in steps.values():
        assert step["status"] == "Finished" and step["state"] == "success" and step["duration_s"] >= 0
        assert step["kind"] == "PythonScriptStep" and step["try_number"] == 1 and step["reused"] is False
        assert step["reason"] == "ran: no committed result for this step yet", step
        assert step["log_url"] == log_url(first.dag_id, first.run_id, step["task_id"])
    assert body["pipeline_metrics"] == {"best_score": 2}
    assert body["is_pipeline"] is True and body["message"] is None
    assert body["airflow_url"].startswith(f"dags/{first.dag_id}/runs/")
    assert first.get_tracking()["steps"] == body["steps"]  # the client reads the same route


def test_a_second_submit_is_reused_from_the_first_and_a_changed_parameter_says_why_it_ran(apis, runs):
    admin, _ = apis
    first, second, third, _ = runs["runs"]
    status, body = admin(f"/runs/{second.dag_id}/{second.run_id}")
    assert status == 200, body
    for step in body["steps"]:
        assert step["reused"] is True, step
        assert step["reused_from"]["run_id"] == first.run_id and step["reused_from"]["dag_id"] == first.dag_id
        assert step["reused_from"]["task_id"] == step["task_id"]
        assert step["reused_from"]["url"].endswith("/plugin/mlpipe-run")
        assert step["reason"] == f"reused from {first.run_id}"
    status, body = admin(f"/runs/{third.dag_id}/{third.run_id}")
    reasons = {s["task_id"]: s["reason"] for s in body["steps"]}
    # the last committed result is the first run's, or the n=5 run's when it committed first
    assert reasons["prepare"].startswith("ran: parameter n: ") and "-> 3" in reasons["prepare"], reasons


def test_step_detail_has_metrics_a_table_an_image_and_outputs_that_download(apis, runs):
    admin, _ = apis
    third = runs["runs"][2]
    path = f"/runs/{third.dag_id}/{third.run_id}/steps/train"
    status, step = admin(path)
    assert status == 200, step
    assert step["metrics"]["accuracy"] == [0.5, 0.75] and step["metrics"]["score"] == 6
    assert step["metrics"]["loss"] == [0.9, 0.5, 0.25]
    assert step["tables"]["confusion"] == {"columns": ["label", "count"], "rows": [["cat", 30], ["dog", 3]]}
    assert step["tables"]["best"] == {"columns": ["model", "depth"], "rows": [["tree", 3]]}
    assert step["tags"] == {"trained": "yes"} and step["parameters"]["n"] == 3
    (image,) = step["images"]
    assert image["name"] == "curve" and image["description"] == "a red square"
    assert image["url"].startswith("mlpipe/tracking/v1/runs/") and image["url"].endswith(
        "/files/images/curve.png"
    )
    r = admin.raw(path + "/files/images/curve.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
    r = admin.raw(path + "/files/outputs/model.txt")  # a file of the script's ./outputs
    assert r.status_code == 200 and r.content == b"model n=3 rows=30\n"
    (output,) = step["outputs"]
    assert (
        output["name"] == "model"
        and output["files"] == 1
        and output["download_url"].endswith("/outputs/model")
    )
    status, prep = admin(f"/runs/{third.dag_id}/{third.run_id}/steps/prepare")
    assert prep["outputs"][0]["files"] == 2
    r = admin.raw(f"/runs/{third.dag_id}/{third.run_id}/steps/prepare/outputs/prepared")  # a folder: a zip
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == ["data.txt", "sub/more.txt"]
    assert archive.read("sub/more.txt") == b"n=3\n" and len(archive.read("data.txt").splitlines()) == 30


def test_compare_gives_parameters_and_metrics_of_three_runs(apis, runs):
    admin, _ = apis
    first, _, third, fourth = runs["runs"]
    params = [("dag_id", first.dag_id)] + [("run_id", r.run_id) for r in (first, third, fourth)]
    r = requests.get(admin.url + "/compare", headers=admin.header, params=params, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["run_id"] for x in body["runs"]] == [first.run_id, third.run_id, fourth.run_id]
    assert [x["parameters"]["n"] for x in body["runs"]] == [1, 3, 5]
    assert [x["metrics"]["train/score"] for x in body["runs"]] == [2, 6, 10]
    assert [x["metrics"]["train/accuracy"] for x in body["runs"]] == [0.5, 0.75, 0.8333]  # the last value
    assert [x["metrics"]["best_score"] for x in body["runs"]] == [2, 6, 10]  # a pipeline metric
    assert "prepare/rows" in body["metric_names"] and body["parameter_names"] == ["n"]
    assert body["total_entries"] == 3
    status, everything = admin("/compare", dag_id=first.dag_id, limit=2)
    assert status == 200 and everything["total_entries"] == 4 and len(everything["runs"]) == 2


def test_pagination(apis, runs, deployment, monkeypatch):
    admin, _ = apis
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the client finds the deployment here
    dag_id = runs["runs"][0].dag_id
    status, page1 = admin("/runs", dag_id=dag_id, limit=2, offset=0)
    status2, page2 = admin("/runs", dag_id=dag_id, limit=2, offset=2)
    status3, page3 = admin("/runs", dag_id=dag_id, limit=2, offset=4)
    assert (status, status2, status3) == (200, 200, 200)
    assert page1["total_entries"] == page2["total_entries"] == 4 and page3["runs"] == []
    ids = [r["run_id"] for r in page1["runs"] + page2["runs"]]
    assert sorted(ids) == sorted(r.run_id for r in runs["runs"])  # newest first, no run twice
    assert ids[-1] == runs["runs"][0].run_id
    status, body = admin("/experiments", limit=1)
    assert status == 200 and len(body["experiments"]) == 1 and body["total_entries"] >= 1
    exp = runs["experiment"]
    assert exp.get_tracked_runs(limit=1)["total_entries"] == 4  # the client's listing


def test_bad_parameters_and_unknown_ids_give_400_and_404_naming_them(apis, runs):
    admin, _ = apis
    first = runs["runs"][0]
    run = f"/runs/{first.dag_id}/{first.run_id}"
    for path, params, code, named in [
        ("/runs", {"limit": 0}, 400, "limit"),
        ("/runs", {"limit": 201}, 400, "limit"),
        ("/runs", {"offset": -1}, 400, "offset"),
        ("/runs", {"limit": "many"}, 400, "limit"),
        ("/experiments", {"limit": 500}, 400, "limit"),
        ("/compare", {}, 400, "dag_id"),
        ("/runs", {"dag_id": "no_such_dag"}, 404, "no_such_dag"),
        ("/runs/no_such_dag/some_run", {}, 404, "no_such_dag"),
        (f"/runs/{first.dag_id}/no_such_run", {}, 404, "no_such_run"),
        (f"{run}/steps/no_such_step", {}, 404, "no_such_step"),
        (f"{run}/steps/train/files/images/nope.png", {}, 404, "images/nope.png"),
        (f"{run}/steps/train/files/%2E%2E/%2E%2E/etc/passwd", {}, 400, "'..'"),
        (f"{run}/steps/train/files//etc/passwd", {}, 400, "absolute"),
        (f"{run}/steps/train/outputs/no_such_output", {}, 404, "no_such_output"),
        (f"{run}/steps/no_such_step/outputs/model", {}, 404, "no_such_step"),
        ("/compare", {"dag_id": first.dag_id, "run_id": "no_such_run"}, 404, "no_such_run"),
        ("/compare", {"dag_id": "no_such_dag"}, 404, "no_such_dag"),
    ]:
        status, body = admin(path, **params)
        assert status == code, (path, params, status, body)
        assert named in body["detail"], (path, body)


def test_a_dag_that_is_no_pipeline_says_so(apis, deployment, client):
    admin, _ = apis
    (Path(deployment.dags_folder) / f"{PLAIN_DAG}.py").write_text(PLAIN_SOURCE)
    client.wait_for_dag(PLAIN_DAG, timeout=180)
    client.set_paused(PLAIN_DAG, False)
    run = client.trigger(PLAIN_DAG)
    client.wait_for_run(PLAIN_DAG, run["dag_run_id"], timeout=300)
    status, body = admin(f"/runs/{PLAIN_DAG}/{run['dag_run_id']}")
    assert status == 200, body
    assert body["is_pipeline"] is False and body["steps"] == [] and body["edges"] == []
    assert "not an airflow-mlpipe pipeline" in body["message"]
    status, listed = admin("/runs", dag_id=PLAIN_DAG)
    assert listed["runs"][0]["is_pipeline"] is False and listed["runs"][0]["experiment"] is None


def test_published_pipelines_endpoints_and_schedules_lists(apis, runs, ws, deployment, monkeypatch):
    admin, viewer = apis
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    published = runs["pipeline"].publish(name=f"tracking-{uuid.uuid4().hex[:6]}", version="1.0")
    endpoint = PipelineEndpoint.publish(
        ws, name=f"tracking-ep-{uuid.uuid4().hex[:6]}", description="t", pipeline=published
    )
    status, body = admin("/pipelines", limit=200)
    assert status == 200, body
    item = next(p for p in body["pipelines"] if p["id"] == published.id)
    assert (
        item["status"] == "Active"
        and item["version"] == "1.0"
        and item["dag_id"] == f"published_{published.id}"
    )
    assert item["recent_runs"] == []
    status, body = admin("/endpoints", limit=200)
    ep = next(e for e in body["endpoints"] if e["id"] == endpoint.id)
    assert ep["default_version"] == "0" and ep["versions"] == [{"version": "0", "pipeline_id": published.id}]
    status, body = admin("/schedules")
    assert status == 200 and isinstance(body["schedules"], list) and "total_entries" in body
    assert viewer("/pipelines", limit=200)[0] == 200


def test_the_viewer_reads_and_no_token_gets_401(apis, runs, deployment):
    _, viewer = apis
    third = runs["runs"][2]
    status, body = viewer(f"/runs/{third.dag_id}/{third.run_id}/steps/train")
    assert status == 200 and body["metrics"]["score"] == 6, body
    status, body = viewer("/runs", experiment=runs["experiment"].name)
    assert status == 200 and body["total_entries"] == 4
    anonymous = Api(deployment, None)
    for path in ("/experiments", "/runs", f"/runs/{third.dag_id}/{third.run_id}", "/compare?dag_id=x"):
        status, body = anonymous(path)
        assert status == 401, (path, body)
    r = requests.get(anonymous.url + "/runs", headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    assert r.status_code == 401


WAIT_SCRIPT = """
import os, sys, time
flag = sys.argv[1]
open(flag + ".started", "w").close()
deadline = time.time() + 300
while os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.2)
"""


def test_a_running_steps_task_already_has_its_step_page_link(ws, deployment, client, tmp_path, monkeypatch):
    """The "ML step tracking" extra link is computed by the API server while the step runs (a
    plugin-wide link), not written when the task ends."""
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))  # the embedded deployment's workspace
    src = tmp_path / "src"
    src.mkdir()
    (src / "wait.py").write_text(WAIT_SCRIPT)
    flag = tmp_path / "hold"
    flag.write_text("")
    step = PythonScriptStep("wait.py", name="hold", source_directory=str(src), arguments=[str(flag)])
    run = Experiment(ws, f"tracking_link_{uuid.uuid4().hex[:8]}").submit(Pipeline(ws, [step]))
    try:
        deadline = time.monotonic() + 300
        while not Path(f"{flag}.started").exists():
            assert time.monotonic() < deadline, "the step's script did not start"
            time.sleep(0.5)
        ti = client.request(
            "GET", f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/hold"
        )
        assert ti["state"] == "running", ti
        links = client.request(
            "GET", f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/hold/links"
        )
        url = links["extra_links"]["ML step tracking"]
        assert url.endswith(
            f"/dags/{run.dag_id}/runs/{quote(run.run_id, safe='')}/tasks/hold/plugin/mlpipe-step"
        )
    finally:
        flag.unlink()
    assert run.wait_for_completion(show_output=False, timeout_seconds=600) == "Finished"
