"""The plugin's registry routes (/mlpipe/registry/v1) in a real Airflow API server, called with
``requests``: each route's success path, 400 naming the field, 404 on unknown ids, and 403 for a
user who may only read DAGs (the simple auth manager's viewer), after which nothing was written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from airflow_mlpipe import Pipeline, PythonScriptStep, ScheduleRecurrence, Workspace
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.client.run import upload_snapshots

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).parent / "published_src")
BASE = "/mlpipe/registry/v1"
UNKNOWN = "8d3c1c6e-0000-4000-8000-000000000000"


class Api:
    """One user's calls of the routes: (status, JSON body)."""

    def __init__(self, deployment, user: str, password: str):
        self.url = deployment.url + BASE
        self.header = {"Authorization": f"Bearer {AirflowClient(deployment.url, user, password).token()}"}

    def __call__(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        r = requests.request(method, self.url + path, headers=self.header, timeout=60, **kwargs)
        return r.status_code, r.json() if r.content else None


@pytest.fixture(scope="module")
def apis(deployment, client):
    passwords = json.loads(Path(deployment.passwords_file).read_text())
    return Api(deployment, "admin", passwords["admin"]), Api(deployment, "viewer", passwords["viewer"])


@pytest.fixture(scope="module")
def spec(deployment, client):
    import os

    old = os.environ.get("MLPIPE_HOME")
    os.environ["MLPIPE_HOME"] = str(deployment.home)
    try:
        ws = Workspace.from_config()
        step = PythonScriptStep("report.py", name="report", source_directory=SRC, arguments=["--score", "x"])
        built = Pipeline(ws, [step]).to_spec()
        upload_snapshots(built)
        return built
    finally:
        if old is None:
            os.environ.pop("MLPIPE_HOME")
        else:
            os.environ["MLPIPE_HOME"] = old


def refused(answer: tuple[int, object], dag_id: str | None) -> None:
    status, body = answer
    assert status == 403, body
    assert "'viewer'" in body["detail"] and (dag_id is None or dag_id in body["detail"]), body


def test_experiment_entries(apis, spec):
    admin, viewer = apis
    name = f"routes_{uuid.uuid4().hex[:8]}"
    dag_id = f"experiment_{name}"
    body = {"spec": spec, "meta": {"experiment": name, "continue_on_step_failure": False}}

    refused(viewer("PUT", f"/entries/{dag_id}", json=body), dag_id)
    assert admin("GET", f"/entries/{dag_id}")[0] == 404  # the refused write wrote nothing

    status, entry = admin("PUT", f"/entries/{dag_id}", json=body)
    assert (
        status == 200
        and entry["dag_id"] == dag_id
        and entry["spec"] == spec
        and entry["kind"] == "experiment"
    )
    again = admin("PUT", f"/entries/{dag_id}", json=body)[1]
    assert again["created"] == entry["created"]  # the same spec again: left as it is
    status, read = viewer("GET", f"/entries/{dag_id}")  # reading is allowed
    assert status == 200 and read["spec"] == spec
    assert admin("GET", f"/entries/{dag_id}/status") == (200, {"dag_id": dag_id, "error": None})

    status, err = admin("PUT", f"/entries/{dag_id}", json={**body, "spec": {**spec, "format": "nope"}})
    assert status == 400 and "spec.format" in err["detail"]
    status, err = admin("PUT", f"/entries/{dag_id}", json={**body, "extra": 1})
    assert status == 400 and "extra" in err["detail"]
    status, err = admin("PUT", "/entries/experiment_other", json=body)
    assert status == 400 and "experiment_other" in err["detail"]
    assert admin("GET", "/entries/experiment_never_submitted")[0] == 404


def test_published_pipelines(apis, spec):
    admin, viewer = apis
    before = len(admin("GET", "/published")[1])
    body = {"spec": spec, "name": "routes-published", "version": "1", "description": "d"}

    refused(viewer("POST", "/published", json=body), None)
    assert len(admin("GET", "/published")[1]) == before

    status, record = admin("POST", "/published", json=body)
    assert status == 201 and record["name"] == "routes-published" and record["status"] == "Active"
    assert record["dag_id"] == f"published_{record['id']}" and record["steps"] == ["report"]
    assert admin("GET", f"/published/{record['id']}") == (200, record)
    assert record["id"] in {r["id"] for r in viewer("GET", "/published")[1]}

    refused(viewer("PATCH", f"/published/{record['id']}", json={"status": "Disabled"}), record["dag_id"])
    assert admin("GET", f"/published/{record['id']}")[1]["status"] == "Active"
    status, changed = admin("PATCH", f"/published/{record['id']}", json={"status": "Disabled"})
    assert status == 200 and changed["status"] == "Disabled"
    assert record["id"] not in {
        r["id"] for r in admin("GET", "/published", params={"active_only": "true"})[1]
    }

    status, err = admin("POST", "/published", json={"spec": spec})
    assert status == 400 and "name" in err["detail"]
    status, err = admin("PATCH", f"/published/{record['id']}", json={"status": "Gone"})
    assert status == 400 and "status" in err["detail"]
    assert admin("GET", f"/published/{UNKNOWN}")[0] == 404
    assert admin("GET", "/published/not-a-uuid")[0] == 404


def test_pipeline_endpoints(apis, spec):
    admin, viewer = apis
    first = admin("POST", "/published", json={"spec": spec, "name": "routes-ep-1"})[1]
    second = admin("POST", "/published", json={"spec": spec, "name": "routes-ep-2"})[1]
    name = f"routes-ep-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "description": "an endpoint", "pipeline_id": first["id"]}

    refused(viewer("POST", "/endpoints", json=body), first["dag_id"])
    assert admin("GET", "/endpoints", params={"name": name})[1] == []

    status, ep = admin("POST", "/endpoints", json=body)
    assert status == 201 and ep["default_version"] == "0" and ep["versions"][0]["pipeline_id"] == first["id"]
    status, err = admin("POST", "/endpoints", json=body)
    assert status == 409 and name in err["detail"]
    assert admin("GET", f"/endpoints/{ep['id']}") == (200, ep)
    assert [r["id"] for r in viewer("GET", "/endpoints", params={"name": name})[1]] == [ep["id"]]

    refused(viewer("PATCH", f"/endpoints/{ep['id']}", json={"add_pipeline": second["id"]}), first["dag_id"])
    assert len(admin("GET", f"/endpoints/{ep['id']}")[1]["versions"]) == 1
    status, ep = admin(
        "PATCH", f"/endpoints/{ep['id']}", json={"add_pipeline": second["id"], "make_default": True}
    )
    assert status == 200 and ep["default_version"] == "1" and len(ep["versions"]) == 2
    assert (
        admin("PATCH", f"/endpoints/{ep['id']}", json={"default_version": "0"})[1]["default_version"] == "0"
    )
    status, err = admin("PATCH", f"/endpoints/{ep['id']}", json={"default_version": "7"})
    assert status == 404 and "'7'" in err["detail"]
    renamed = name + "-renamed"
    assert admin("PATCH", f"/endpoints/{ep['id']}", json={"name": renamed})[1]["name"] == renamed
    for status_value in ("Disabled", "Active", "Archived"):
        assert (
            admin("PATCH", f"/endpoints/{ep['id']}", json={"status": status_value})[1]["status"]
            == status_value
        )
    status, err = admin("PATCH", f"/endpoints/{ep['id']}", json={"status": "Active"})
    assert status == 409 and "archived" in err["detail"]
    status, ep = admin(
        "PATCH", f"/endpoints/{ep['id']}", json={"status": "Active", "name": name}
    )  # reactivate
    assert status == 200 and (ep["status"], ep["name"]) == ("Active", name)

    status, err = admin("PATCH", f"/endpoints/{ep['id']}", json={"status": "Sleeping"})
    assert status == 400 and "status" in err["detail"]
    status, err = admin("POST", "/endpoints", json={"name": "x"})
    assert status == 400 and "pipeline_id" in err["detail"]
    assert admin("GET", f"/endpoints/{UNKNOWN}")[0] == 404
    assert admin("POST", "/endpoints", json={**body, "name": "other", "pipeline_id": UNKNOWN})[0] == 404


def test_schedules(apis, spec):
    admin, viewer = apis
    published = admin("POST", "/published", json={"spec": spec, "name": "routes-sched"})[1]
    settings = {
        "name": "routes-hourly",
        "description": None,
        "recurrence": ScheduleRecurrence(frequency="Hour", interval=1).to_spec(),
        "pipeline_parameters": {},
        "first_run": "next_slot",
        "catchup": False,
        "recursive": False,
        "per_blob": False,
    }
    body = {"pipeline_id": published["id"], "experiment_name": "routes", "settings": settings}
    listed = {"pipeline_id": published["id"]}

    refused(viewer("POST", "/schedules", json=body), None)
    assert admin("GET", "/schedules", params=listed)[1] == []

    status, record = admin("POST", "/schedules", json=body)
    assert status == 201, record
    assert record["dag_id"] == f"schedule_{record['id']}" and record["status"] == "Active"
    assert admin("GET", f"/schedules/{record['id']}") == (200, record)
    assert [r["id"] for r in viewer("GET", "/schedules", params=listed)[1]] == [record["id"]]

    change = {"changes": {"status": "Disabled"}}
    refused(viewer("PATCH", f"/schedules/{record['id']}", json=change), record["dag_id"])
    assert admin("GET", f"/schedules/{record['id']}")[1]["status"] == "Active"
    status, changed = admin("PATCH", f"/schedules/{record['id']}", json=change)
    assert status == 200 and changed["status"] == "Disabled"
    assert record["id"] not in {r["id"] for r in admin("GET", "/schedules")[1]}  # active only by default

    status, err = admin("PATCH", f"/schedules/{record['id']}", json={"changes": {"dag_id": "x"}})
    assert status == 400 and "dag_id" in err["detail"]
    bad = {**settings, "recurrence": {"frequency": "Fortnight", "interval": 1}}
    status, err = admin("POST", "/schedules", json={**body, "settings": bad})
    assert status == 400 and "recurrence" in err["detail"] and "Fortnight" in err["detail"]
    status, err = admin("POST", "/schedules", json={**body, "pipeline_endpoint_id": UNKNOWN})
    assert status == 400 and "exactly one" in err["detail"]
    status, err = admin("POST", "/schedules", json={k: v for k, v in body.items() if k != "experiment_name"})
    assert status == 400 and "experiment_name" in err["detail"]
    assert admin("POST", "/schedules", json={**body, "pipeline_id": UNKNOWN})[0] == 404
    assert admin("GET", f"/schedules/{UNKNOWN}")[0] == 404


def test_registered_assets(apis, deployment, azurite):
    """Datasets, environments and models on a Blob datastore the client names by its spec: a
    compare-and-add (409 on a stale latest), reads by name, version and id, a PATCH of mutable
    fields only, a model's files listed before its record is written, a folder the deployment
    has no datastore on refused, and a viewer refused a registration, which then wrote nothing."""
    from azure.storage.blob import BlobServiceClient

    admin, viewer = apis
    container = f"assets-{uuid.uuid4().hex[:8]}"
    blobs = BlobServiceClient.from_connection_string(azurite).get_container_client(container)
    blobs.create_container()
    lake = {
        "datastore": json.dumps(
            {"type": "azure_blob", "conn_id": "azurite", "container": container, "name": "lake"}
        )
    }
    name = f"features-{uuid.uuid4().hex[:6]}"
    versions = f"/assets/datasets/{name}/versions"

    status, body = viewer("POST", versions, params=lake, json={"record": {"v": 1}, "expect_latest": 0})
    assert status == 403 and "'viewer'" in body["detail"] and "register registered datasets" in body["detail"]
    assert admin("GET", versions, params=lake) == (200, [])  # the refused registration wrote nothing

    status, first = admin("POST", versions, params=lake, json={"record": {"v": 1}, "expect_latest": 0})
    assert status == 201 and first["version"] == 1 and first["name"] == name and first["v"] == 1
    status, body = admin("POST", versions, params=lake, json={"record": {"v": 2}, "expect_latest": 0})
    assert status == 409 and "version 1 was registered after version 0" in body["detail"]
    status, second = admin("POST", versions, params=lake, json={"record": {"v": 2}, "expect_latest": 1})
    assert status == 201 and second["version"] == 2
    assert admin("GET", versions, params=lake) == (200, [1, 2])
    assert admin("GET", f"{versions}/latest", params=lake)[1]["v"] == 2
    assert admin("GET", f"/assets/datasets/by-id/{first['id']}", params=lake)[1]["version"] == 1
    assert viewer("GET", f"{versions}/1", params=lake)[1]["id"] == first["id"]  # a viewer may read
    listed = admin("GET", "/assets/datasets", params={**lake, "latest": "true"})[1]
    assert [(r["name"], r["version"]) for r in listed] == [(name, 2)]
    stored = sorted(b.name for b in blobs.list_blobs(name_starts_with="mlpipe/registry/datasets/"))
    assert f"mlpipe/registry/datasets/{name}/versions/00000002.json" in stored

    status, body = admin("PATCH", f"{versions}/1", params=lake, json={"changes": {"tags": {"a": "b"}}})
    assert status == 200 and body["tags"] == {"a": "b"} and body["v"] == 1
    status, body = admin("PATCH", f"{versions}/1", params=lake, json={"changes": {"v": 9}})
    assert status == 400 and "['v'] cannot be changed" in body["detail"]
    status, body = admin("GET", f"{versions}/7", params=lake)
    assert status == 404 and "has no version '7'" in body["detail"]
    assert admin("GET", "/assets/datasets/unknown/versions/latest", params=lake)[0] == 404

    # an environment is read and written as DAGs are: the viewer may read, not register
    env_versions = f"/assets/environments/{name}/versions"
    assert viewer("POST", env_versions, params=lake, json={"record": {}, "expect_latest": 0})[0] == 403
    assert (
        admin("POST", env_versions, params=lake, json={"record": {"hash": "h"}, "expect_latest": 0})[0] == 201
    )

    # a model's record names files under its own prefix, all stored with the sizes it gives
    model = f"/assets/models/{name}/versions"
    prefix = f"mlpipe/registry/models/{name}/files/20261128-abc"
    blobs.upload_blob(f"{prefix}/model.pkl", b"12345")
    half = {"files": {"prefix": prefix, "sizes": {"model.pkl": 5, "vocab.txt": 3}}}
    status, body = admin("POST", model, params=lake, json={"record": half, "expect_latest": 0})
    assert (
        status == 400
        and "holds 1 files, not the 2" in body["detail"]
        and "nothing was registered" in body["detail"]
    )
    elsewhere = {"files": {"prefix": "data/other", "sizes": {}}}
    status, body = admin("POST", model, params=lake, json={"record": elsewhere, "expect_latest": 0})
    assert status == 400 and "not under the model's files root" in body["detail"]
    whole = {"files": {"prefix": prefix, "sizes": {"model.pkl": 5}}}
    assert admin("POST", model, params=lake, json={"record": whole, "expect_latest": 0})[0] == 201

    # the datastore must be one the deployment can open: not a folder of the client's, no secret
    laptop = {"datastore": json.dumps({"type": "local", "path": "/laptop/data", "name": "mine"})}
    status, body = admin("GET", versions, params=laptop)
    assert (
        status == 400
        and "'mine' is a folder (/laptop/data) this deployment has no datastore on" in body["detail"]
    )
    secret = {
        "datastore": json.dumps(
            {"type": "azure_blob", "conn_id": "azurite", "container": container, "account_key": "k"}
        )
    }
    status, body = admin("GET", versions, params=secret)
    assert status == 400 and "account_key" in body["detail"]
    status, body = admin("GET", versions)
    assert status == 400 and "datastore" in body["detail"]


def test_a_request_without_a_token_is_refused(deployment, client):
    r = requests.get(deployment.url + BASE + "/published", timeout=30)
    assert r.status_code == 401 and "token" in r.json()["detail"]


def test_the_routes_are_in_the_openapi_schema(deployment, client):
    schema = requests.get(deployment.url + "/mlpipe/openapi.json", timeout=30).json()
    paths = {p for p in schema["paths"] if p.startswith("/registry/v1")}
    assert {"/registry/v1/entries/{dag_id}", "/registry/v1/published", "/registry/v1/endpoints/{endpoint_id}",
            "/registry/v1/schedules/{schedule_id}", "/registry/v1/assets/{kind}/{name}/versions"} <= paths  # fmt: skip
    publish = schema["paths"]["/registry/v1/published"]["post"]
    assert publish["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PublishBody")
    assert {"400", "403", "404"} <= set(publish["responses"])
