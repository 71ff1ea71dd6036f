"""The client needs no folder of the deployment: a client process whose MLPIPE_HOME (and AIRFLOW_HOME)
is an empty temporary folder and whose workspace config gives only the API URL, a user (its password
in the environment) and a Blob datastore on Azurite submits a pipeline, publishes it, creates an
endpoint, submits through it, creates a schedule and lists them, all over HTTP; the CLI lists them too.
It registers a dataset, an environment and a model: their records are written by the API server on the
client's Blob datastore (a viewer, refused by Airflow's auth manager, registers nothing), and the step
reads the registered dataset on the worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from azure.storage.blob import BlobServiceClient
from conftest import wasb_connection
from helpers import write_scripts

from airflow_mlpipe.deploy.local import USERNAME

pytestmark = pytest.mark.integration

CLIENT = r"""
import json, sys
from airflow_mlpipe import (Dataset, Environment, Experiment, Model, Pipeline, PipelineEndpoint, PipelineParameter,
                            PublishedPipeline, PythonScriptStep, Schedule, ScheduleRecurrence, Workspace)
from airflow_mlpipe.definitions.registered import registry

config, src, tag = sys.argv[1:4]
ws = Workspace.from_config(path=config)
lake = ws.get_default_datastore()
lake.upload_files([src + "/features.csv"], target_path=f"data/{tag}", show_progress=False)
features = Dataset.File.from_files((lake, f"data/{tag}/features.csv")).register(ws, f"features-{tag}")
again = Dataset.File.from_files((lake, f"data/{tag}/features.csv")).register(ws, f"features-{tag}")
env = Environment(f"env-{tag}")
env.python.conda_dependencies.add_pip_package("pandas")
env = env.register(ws)
model = Model.register(ws, src + "/features.csv", f"model-{tag}", tags={"stage": "test"})
model.add_tags({"checked": "yes"})
assets = {
    "via": type(registry(ws)).__name__,
    "dataset": [features.version, again.version, Dataset.get_by_name(ws, f"features-{tag}").id == features.id],
    "environment": [env.version, Environment.get(ws, f"env-{tag}").version],
    "model": [model.version, Model(ws, f"model-{tag}").tags],
}
greeting = PipelineParameter("greeting", default_value="hello")
step = PythonScriptStep("hello.py", name="hello", source_directory=src,
                        arguments=["--greeting", greeting, "--features",
                                   Dataset.get_by_name(ws, f"features-{tag}").as_named_input("features").as_download()])
pipeline = Pipeline(ws, [step])

run = Experiment(ws, f"http_only_{tag}").submit(pipeline, pipeline_parameters={"greeting": "hi"})
submitted = run.wait_for_completion(show_output=False, timeout_seconds=300)
published = pipeline.publish(name=f"http-only-{tag}", version="1")
republished = run.publish_pipeline(name=f"http-only-{tag}-from-run")
endpoint = PipelineEndpoint.publish(ws, f"http-only-{tag}", "over HTTP", published)
endpoint.add_default(republished)
through_endpoint = endpoint.submit(f"http_only_{tag}").wait_for_completion(show_output=False, timeout_seconds=300)
schedule = Schedule.create(ws, name=f"http-only-{tag}", pipeline_id=published.id, experiment_name="http_only",
                           recurrence=ScheduleRecurrence(frequency="Hour", interval=1),
                           wait_for_provisioning=True, wait_timeout=180)
schedule.disable()
published.disable()
print(json.dumps({
    "assets": assets,
    "submitted": submitted,
    "through_endpoint": through_endpoint,
    "published": [p.id for p in PublishedPipeline.list(ws, active_only=False)],
    "published_id": published.id,
    "published_status": PublishedPipeline.get(ws, published.id).status,
    "endpoint": [e.id for e in PipelineEndpoint.list(ws)],
    "endpoint_id": endpoint.id,
    "endpoint_by_name": PipelineEndpoint.get(ws, name=f"http-only-{tag}").default_version,
    "schedules": [s.id for s in Schedule.list(ws, pipeline_id=published.id)],
    "schedule_id": schedule.id,
    "schedule_status": Schedule.get(ws, schedule.id).status,
}))
"""


REFUSED = r"""
import json, sys
from airflow_mlpipe import Dataset, Workspace
from airflow_mlpipe.client.rest import AirflowApiError

config, tag = sys.argv[1:3]
ws = Workspace.from_config(path=config)
try:
    Dataset.File.from_files((ws.get_default_datastore(), f"data/{tag}/features.csv")).register(ws, f"viewer-{tag}")
    said = "registered"
except AirflowApiError as exc:
    said = f"HTTP {exc.status}: {exc.detail}"
print(json.dumps({"register": said, "read": Dataset.get_by_name(ws, f"features-{tag}").version}))
"""


def viewer_password(deployment) -> str:
    return json.loads(deployment.passwords_file.read_text())["viewer"]


def test_the_client_needs_only_the_api_url_credentials_and_the_datastore(
    deployment, client, azurite, tmp_path
):
    home, airflow_home = tmp_path / "home", tmp_path / "airflow"
    home.mkdir()
    airflow_home.mkdir()
    src = write_scripts(
        tmp_path / "src",
        ["hello.py"],
        "import argparse, os\np = argparse.ArgumentParser()\np.add_argument('--greeting')\n"
        "p.add_argument('--features')\nargs = p.parse_args()\nprint(args.greeting)\n"
        "found = [os.path.join(d, f) for d, _, fs in os.walk(args.features) for f in fs] "
        "if os.path.isdir(args.features) else [args.features]\n"
        "assert [open(f).read() for f in found] == ['a,b\\n1,2\\n'], found\n",
    )
    (tmp_path / "src" / "features.csv").write_text("a,b\n1,2\n")
    config = tmp_path / "client.json"
    config.write_text(
        json.dumps(
            {
                "workspace_name": "laptop",
                "default_datastore": "lake",
                "datastores": {
                    "lake": {"type": "azure_blob", "conn_id": "azurite", "container": "http-only"}
                },
                "api": {"url": deployment.url, "username": USERNAME},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPIPE_", "AIRFLOW_"))}
    env.update(
        MLPIPE_HOME=str(home),
        AIRFLOW_HOME=str(airflow_home),
        MLPIPE_API_PASSWORD=deployment.password(),
        AIRFLOW_CONN_AZURITE=wasb_connection(azurite),  # the datastore's own credentials
    )
    tag = uuid.uuid4().hex[:8]
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, str(config), src, tag],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["submitted"] == "Finished" and out["through_endpoint"] == "Finished"
    assert out["published_id"] in out["published"] and out["published_status"] == "Disabled"
    assert out["endpoint_id"] in out["endpoint"] and out["endpoint_by_name"] == "1"
    assert out["schedules"] == [out["schedule_id"]] and out["schedule_status"] == "Disabled"
    assert not (home / "registry").exists()  # nothing was written to a registry folder of the client's
    assert out["assets"] == {
        "via": "AssetApi",
        "dataset": [1, 1, True],  # the same data registered again is the same version
        "environment": ["1", "1"],  # v1 gives environment versions as strings
        "model": [1, {"stage": "test", "checked": "yes"}],
    }
    blobs = BlobServiceClient.from_connection_string(azurite).get_container_client("http-only")
    records = {b.name for b in blobs.list_blobs(name_starts_with="mlpipe/registry/")}
    for kind, name in (
        ("datasets", f"features-{tag}"),
        ("environments", f"env-{tag}"),
        ("models", f"model-{tag}"),
    ):
        assert f"mlpipe/registry/{kind}/{name}/versions/00000001.json" in records, sorted(records)

    # a user Airflow's auth manager lets read assets but not register them: refused, nothing written
    viewer_env = {**env, "MLPIPE_API_USERNAME": "viewer", "MLPIPE_API_PASSWORD": viewer_password(deployment)}
    refused = subprocess.run(
        [sys.executable, "-c", REFUSED, str(config), tag],
        env=viewer_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 0, refused.stderr[-4000:]
    assert json.loads(refused.stdout.strip().splitlines()[-1]) == {
        "register": "HTTP 403: user 'viewer' may not register registered datasets",
        "read": 1,
    }
    assert not [b for b in blobs.list_blobs(name_starts_with=f"mlpipe/registry/datasets/viewer-{tag}")]

    for command, expected in (("pipelines", out["published_id"]), ("endpoints", out["endpoint_id"])):
        listing = subprocess.run(
            [sys.executable, "-m", "airflow_mlpipe.cli", command, "--all", "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listing.returncode == 0 and expected in listing.stdout, listing.stderr[-2000:]
    listing = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipe.cli", "schedules", "--all", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0 and out["schedule_id"] in listing.stdout, listing.stderr[-2000:]
