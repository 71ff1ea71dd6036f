"""The client needs no folder of the deployment: a client process whose MLPIPE_HOME (and AIRFLOW_HOME)
is an empty temporary folder and whose workspace config gives only the API URL, a user (its password
in the environment) and a Blob datastore on Azurite submits a pipeline, publishes it, creates an
endpoint, submits through it, creates a schedule and lists them, all over HTTP; the CLI lists them too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from conftest import wasb_connection
from helpers import write_scripts

from airflow_mlpipe.deploy.local import USERNAME

pytestmark = pytest.mark.integration

CLIENT = r"""
import json, sys
from airflow_mlpipe import (Experiment, Pipeline, PipelineEndpoint, PipelineParameter, PublishedPipeline,
                            PythonScriptStep, Schedule, ScheduleRecurrence, Workspace)

config, src, tag = sys.argv[1:4]
ws = Workspace.from_config(path=config)
greeting = PipelineParameter("greeting", default_value="hello")
step = PythonScriptStep("hello.py", name="hello", source_directory=src, arguments=["--greeting", greeting])
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


def test_the_client_needs_only_the_api_url_credentials_and_the_datastore(
    deployment, client, azurite, tmp_path
):
    home, airflow_home = tmp_path / "home", tmp_path / "airflow"
    home.mkdir()
    airflow_home.mkdir()
    src = write_scripts(
        tmp_path / "src",
        ["hello.py"],
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--greeting')\n"
        "print(p.parse_args().greeting)\n",
    )
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
