"""Published pipelines and pipeline endpoints against real Airflow processes.

Runs are submitted by the Python client and by ``requests.post`` with Azure ML's body to the
plugin's routes inside Airflow's API server; errors are checked to start nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from airflow_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PipelineRun,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import ConflictError, NotFoundError

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).parent / "published_src")
ROWS = {"published-data/a": 3, "published-data/b": 5}


@pytest.fixture
def ws(deployment, client, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    ws = Workspace.from_config()
    store = ws.get_default_datastore().store
    for prefix, n in ROWS.items():
        store.write_bytes(f"{prefix}/rows.csv", "".join(f"{i}\n" for i in range(n)).encode())
    return ws


def scoring_pipeline(ws: Workspace, label: str = "v1") -> Pipeline:
    ds = ws.get_default_datastore()
    data = PipelineParameter("input_data", default_value=DataPath(ds, "published-data/a"))
    scale = PipelineParameter("scale", default_value=2)
    score = PipelineData("score", datastore=ds)
    binding = (data, DataPathComputeBinding(mode="download"))
    s1 = PythonScriptStep(
        "score.py",
        name="score",
        source_directory=SRC,
        arguments=["--data", binding, "--scale", scale, "--label", label, "--out", score],
        inputs=[binding],
        outputs=[score],
    )
    s2 = PythonScriptStep(
        "report.py", name="report", source_directory=SRC, arguments=["--score", score], inputs=[score]
    )
    return Pipeline(ws, [s1, s2], description=f"scoring {label}")


def run_count(client: AirflowClient, dag_id: str) -> int:
    return client.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1})["total_entries"]


def auth(client: AirflowClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token()}"}


def finished_score(ws: Workspace, dag_id: str, run_id: str) -> tuple[int, str]:
    run = PipelineRun(ws, dag_id, run_id)
    assert run.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    metrics = run.find_step_run("score")[0].get_metrics()
    return metrics["score"], metrics["label"]


def test_publish_a_pipeline_and_submit_by_python_and_by_requests(ws, client, deployment):
    published = scoring_pipeline(ws).publish(name="scoring", description="rows x scale", version="1.0")
    assert published.status == "Active" and published.version == "1.0"
    assert published.dag_id == f"published_{published.id}"
    assert published.parameters["scale"] == {"type": "int", "default": 2}
    assert published.parameters["input_data"]["default"] == {
        "datastore": "workspaceblobstore",
        "path": "published-data/a",
    }
    assert len(published.snapshots) == 1 and published.total_run_steps == 2
    assert published.endpoint == (
        f"{deployment.url}/mlpipe/pipelines/v1.0/PipelineRuns/PipelineSubmit/{published.id}"
    )
    assert PublishedPipeline.get(ws, published.id) == published
    assert published in PublishedPipeline.list(ws)
    dag = client.get_dag(published.dag_id)  # its DAG is in Airflow, unpaused, with typed params
    assert dag["is_paused"] is False and "scoring v1.0" in dag["dag_display_name"]

    run = published.submit(ws, "published-python", pipeline_parameters={"scale": 3})
    assert run.dag_id == published.dag_id
    assert finished_score(ws, run.dag_id, run.run_id) == (ROWS["published-data/a"] * 3, "v1")

    # Azure ML's REST body, string values coerced, a DataPath reassigned; only URL and token changed
    r = requests.post(
        published.endpoint,
        headers=auth(client),
        json={
            "ExperimentName": "published-rest",
            "RunSource": "SDK",
            "Description": "from requests",
            "tags": {"team": "ml"},
            "ParameterAssignments": {"scale": "5"},
            "DataPathAssignments": {
                "input_data": {"DataStoreName": "workspaceblobstore", "RelativePath": "published-data/b"}
            },
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Status"] == "NotStarted" and body["PipelineId"] == published.id
    assert finished_score(ws, body["DagId"], body["Id"]) == (ROWS["published-data/b"] * 5, "v1")
    got = requests.get(
        f"{deployment.url}/mlpipe/pipelines/v1.0/PipelineRuns/{body['Id']}", headers=auth(client), timeout=30
    ).json()
    assert got["Status"] == "Finished" and got["ExperimentName"] == "published-rest"
    assert got["Tags"] == {"team": "ml"} and got["Description"] == "from requests"
    assert [(s["Name"], s["Status"]) for s in got["Steps"]] == [("score", "Finished"), ("report", "Finished")]
    conf = client.dag_run(body["DagId"], body["Id"])["conf"]
    assert conf["scale"] == 5 and conf["input_data"] == {
        "datastore": "workspaceblobstore",
        "path": "published-data/b",
    }

    # Airflow's own trigger runs the published DAG too, with Airflow's Param validation
    native = client.trigger(published.dag_id, {"scale": 20})
    assert finished_score(ws, published.dag_id, native["dag_run_id"]) == (ROWS["published-data/a"] * 20, "v1")
    bad = requests.post(
        f"{deployment.url}/api/v2/dags/{published.dag_id}/dagRuns",
        headers=auth(client),
        json={"logical_date": None, "conf": {"scale": "many"}},
        timeout=30,
    )
    assert bad.status_code == 400 and "scale" in bad.text


def test_publish_from_a_run_and_two_versions_behind_one_endpoint(ws, client, deployment):
    run = Experiment(ws, "published-source").submit(scoring_pipeline(ws, "v0"))
    assert run.wait_for_completion(show_output=False, timeout_seconds=300) == "Finished"
    v0 = run.publish_pipeline(name="scoring-from-run", description="published from a run", version="a")
    v1 = scoring_pipeline(ws, "v1").publish(name="scoring-from-run", version="b")
    assert v0.snapshots  # the run's own snapshot, fetched by hash on the workers

    name = f"scoring-{uuid.uuid4().hex[:6]}"
    ep = PipelineEndpoint.publish(ws, name=name, description="versioned scoring", pipeline=v0)
    with pytest.raises(ConflictError, match="already exists"):
        PipelineEndpoint.publish(ws, name=name, description="again", pipeline=v1)
    ep.add(v1)
    assert [(v.version, v.pipeline_id) for v in ep.list_versions()] == [("0", v0.id), ("1", v1.id)]
    assert ep.default_version == "0" and ep.get_pipeline() == v0 and ep.get_pipeline("1") == v1
    assert PipelineEndpoint.get(ws, name=name).id == ep.id and PipelineEndpoint.get(ws, id=ep.id).name == name
    assert ep.id in {e.id for e in PipelineEndpoint.list(ws)}
    assert ep.list_pipelines() == [v0, v1]
    with pytest.raises(NotFoundError, match="no version '7'"):
        ep.set_default_version("7")

    # by Python: the default version, then a pinned one
    r0 = ep.submit("endpoint-python")
    assert r0.dag_id == v0.dag_id
    r1 = ep.submit("endpoint-python", pipeline_parameters={"scale": 4}, pipeline_version="1")
    assert r1.dag_id == v1.dag_id
    assert finished_score(ws, r0.dag_id, r0.run_id) == (6, "v0")
    assert finished_score(ws, r1.dag_id, r1.run_id) == (12, "v1")

    # by requests: default, pinned by query, pinned by path, by name; then move the default
    h, body = auth(client), {"ExperimentName": "endpoint-rest"}
    by_query = requests.post(ep.endpoint, params={"pipelineVersion": "1"}, headers=h, json=body, timeout=30)
    by_path = requests.post(f"{ep.endpoint}/Versions/0", headers=h, json=body, timeout=30)
    ep.set_default_version("1")
    by_name = requests.post(
        f"{deployment.url}/mlpipe/pipelines/v1.0/PipelineRuns/PipelineEndpointSubmit/Name/{name}",
        headers=h,
        json=body,
        timeout=30,
    )
    ep.set_default(v0)
    default = requests.post(ep.endpoint, headers=h, json=body, timeout=30)
    for resp, pipeline, version in (
        (by_query, v1, "1"),
        (by_path, v0, "0"),
        (by_name, v1, "1"),
        (default, v0, "0"),
    ):
        assert resp.status_code == 200, resp.text
        assert (resp.json()["DagId"], resp.json()["PipelineVersion"]) == (pipeline.dag_id, version)
        assert resp.json()["PipelineEndpointId"] == ep.id
    ep.add_default(scoring_pipeline(ws, "v2"))  # a plain Pipeline is published first
    assert ep.default_version == "2" and ep.get_pipeline().name == name

    out = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "endpoints"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLPIPE_HOME": str(deployment.home)},
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith(name))
    assert "Active" in line and "2*=" in line and "0=scoring-from-run va" in line
    assert re.search(r"(NotStarted|Running|Finished) \d{4}-\d\d-\d\dT", line), line  # its last run
    out = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "pipelines"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLPIPE_HOME": str(deployment.home)},
    )
    line = next(x for x in out.stdout.splitlines() if v1.id in x)
    assert "scoring-from-run" in line and " b " in line and "scale=2" in line, line
    assert "input_data=workspaceblobstore:published-data/a" in line, line
    assert re.search(r"(NotStarted|Running|Finished) \d{4}-\d\d-\d\dT", line), line


def test_every_error_status_starts_nothing_and_disable_refuses_every_trigger(ws, client, deployment):
    published = scoring_pipeline(ws, "err").publish(name="scoring-errors")
    ep = PipelineEndpoint.publish(
        ws, name=f"errors-{uuid.uuid4().hex[:6]}", description=None, pipeline=published
    )
    url, base = published.endpoint, f"{deployment.url}/mlpipe/pipelines/v1.0/PipelineRuns"
    h, ok = auth(client), {"ExperimentName": "errors"}
    passwords = json.loads(Path(deployment.passwords_file).read_text())
    viewer = AirflowClient(deployment.url, "viewer", passwords["viewer"])
    before = run_count(client, published.dag_id)

    def post(target, body=ok, headers=h, **kw):
        return requests.post(target, json=body, headers=headers, timeout=30, **kw)

    cases = {
        "unknown parameter": (post(url, {**ok, "ParameterAssignments": {"sclae": "3"}}), 400, "sclae"),
        "wrong type": (post(url, {**ok, "ParameterAssignments": {"scale": "three"}}), 400, "scale"),
        "unknown datastore": (
            post(
                url,
                {**ok, "DataPathAssignments": {"input_data": {"DataStoreName": "nope", "RelativePath": "x"}}},
            ),
            400,
            "nope",
        ),
        "not a data path": (
            post(
                url,
                {
                    **ok,
                    "DataPathAssignments": {
                        "scale": {"DataStoreName": "workspaceblobstore", "RelativePath": "x"}
                    },
                },
            ),
            400,
            "scale",
        ),
        "unknown step": (post(url, {**ok, "ForceRerunSteps": ["scroe"]}), 400, "scroe"),
        "unknown field": (post(url, {**ok, "Parameters": {}}), 400, "Parameters"),
        "no experiment": (post(url, {}), 400, "ExperimentName"),
        "no token": (post(url, headers={}), 401, "Bearer"),
        "bad token": (post(url, headers={"Authorization": "Bearer not-a-jwt"}), 401, "token"),
        "viewer": (post(url, headers=auth(viewer)), 403, "viewer"),
        "unknown id": (post(f"{base}/PipelineSubmit/{uuid.uuid4()}"), 404, "no published pipeline"),
        "malformed id": (post(f"{base}/PipelineSubmit/not-an-id"), 404, "not-an-id"),
        "unknown endpoint": (post(f"{base}/PipelineEndpointSubmit/Id/{uuid.uuid4()}"), 404, "endpoint"),
        "unknown name": (
            post(f"{base}/PipelineEndpointSubmit/Name/no-such-endpoint"),
            404,
            "no-such-endpoint",
        ),
        "unknown version": (post(ep.endpoint, params={"pipelineVersion": "9"}), 404, "'9'"),
        "unknown version path": (post(f"{ep.endpoint}/Versions/9"), 404, "'9'"),
    }
    with pytest.raises(UserErrorException, match="sclae"):
        published.submit(ws, "errors", {"sclae": 1})

    published.disable()
    assert PublishedPipeline.get(ws, published.id).status == "Disabled"
    assert client.get_dag(published.dag_id)["is_paused"] is True
    cases["disabled pipeline"] = (post(url), 409, "disabled")
    cases["disabled, via endpoint"] = (post(ep.endpoint), 409, "disabled")
    native = requests.post(
        f"{deployment.url}/api/v2/dags/{published.dag_id}/dagRuns",
        headers=h,
        json={"logical_date": None, "conf": {}},
        timeout=30,
    )
    cases["disabled, native trigger"] = (native, 409, "disabled")
    assert published.id not in {p.id for p in PublishedPipeline.list(ws)}
    assert published.id in {p.id for p in PublishedPipeline.list(ws, active_only=False)}
    published.enable()
    ep.disable()
    cases["disabled endpoint"] = (post(ep.endpoint), 409, "disabled")
    ep.archive()
    cases["archived endpoint"] = (post(ep.endpoint), 409, "archived")
    cases["archived, by name"] = (
        post(f"{base}/PipelineEndpointSubmit/Name/{ep.name}"),
        404,
        ep.name,
    )
    for what, (resp, status, needle) in cases.items():
        assert resp.status_code == status, f"{what}: {resp.status_code} {resp.text}"
        assert needle in resp.json()["detail"], f"{what}: {resp.text}"
    assert run_count(client, published.dag_id) == before  # nothing was started

    ep.reactivate(ep.name)
    assert ep.status == "Active"
    resp = post(ep.endpoint)
    assert resp.status_code == 200, resp.text
    assert run_count(client, published.dag_id) == before + 1
