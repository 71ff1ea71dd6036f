"""v1's Schedule against real Airflow processes (the shared deployment):

- a one-minute recurrence that cron cannot say (RecurrenceTimetable in the real scheduler) runs the
  published pipeline at its next slot with its trigger-time expression evaluated, shows in
  ``mlpipe schedules``, stops when disabled, and ``update`` changes the recurrence of the live schedule;
- a schedule on an endpoint runs the new default version after ``set_default_version``;
- five files landing at once on a watched path (a local datastore, and Blob on Azurite) start
  exactly one pipeline run whose DataPath parameter names their folder; a second batch starts a
  second run; ``per_blob=True`` keeps v1's one run per file, as mapped submits of one schedule run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import until

from airflow_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PythonScriptStep,
    Schedule,
    ScheduleRecurrence,
    TimeZone,
    Workspace,
)

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).parent / "published_src")
LABEL = "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-ddTHH:mm:ss')"
EVERY_MINUTE_AT_30S = "every minute"


@pytest.fixture
def ws(deployment, client, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    ws = Workspace.from_config()
    ws.get_default_datastore().store.write_bytes("sched-data/seed/rows.csv", b"1\n2\n")
    return ws


@pytest.fixture
def blob_ws(deployment, client, azurite, blob_config, monkeypatch):
    """A workspace whose default datastore is a Blob container on Azurite (the deployment's
    workers reach it through the same Airflow connection)."""
    from conftest import wasb_connection

    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", wasb_connection(azurite))
    ws = Workspace.from_config(path=blob_config)
    ws.get_default_datastore().store.write_bytes("sched-data/seed/rows.csv", b"1\n2\n")
    return ws


def publish(ws: Workspace, name: str, scale: int = 2):
    ds = ws.get_default_datastore()
    data = PipelineParameter("input_data", default_value=DataPath(ds, "sched-data/seed"))
    p_scale = PipelineParameter("scale", default_value=scale)
    label = PipelineParameter("label", default_value="none")
    score = PipelineData("score", datastore=ds)
    binding = (data, DataPathComputeBinding(mode="download"))
    step = PythonScriptStep("score.py", name="score", source_directory=SRC, inputs=[binding], outputs=[score],
                            arguments=["--data", binding, "--scale", p_scale, "--label", label, "--out", score])  # fmt: skip
    return Pipeline(ws, [step]).publish(name=name)


def every_minute_at_30s() -> ScheduleRecurrence:
    """Every minute counted from :30 seconds, from a start in the past: no cron says it."""
    start = (datetime.now(timezone.utc) - timedelta(days=1)).replace(second=30, microsecond=0, tzinfo=None)
    return ScheduleRecurrence(frequency="Minute", interval=1, start_time=start)


def finished_run(schedule: Schedule, count: int = 1, timeout: float = 200):
    """The schedule's newest pipeline run once it has ``count`` runs, finished."""
    runs = until(
        lambda: (r := schedule.get_pipeline_runs()) and len(r) >= count and r, "the schedule's run", timeout
    )
    run = runs[0]
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300) == "Finished"
    return run


def mlpipe_schedules(deployment) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPIPE_")}
    env["MLPIPE_HOME"] = str(deployment.home)
    proc = subprocess.run([sys.executable, "-m", "airflow_mlpipe.cli", "schedules", "--all"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_one_minute_recurrence_fires_stops_when_disabled_and_updates_live(ws, client, deployment):
    published = publish(ws, "sched-recurrence")
    created = datetime.now(timezone.utc)
    schedule = Schedule.create(ws, name="every-minute", pipeline_id=published.id, experiment_name="sched",
                               recurrence=every_minute_at_30s(), pipeline_parameters={"label": LABEL, "scale": 3},
                               wait_for_provisioning=True, wait_timeout=180)  # fmt: skip
    assert client.get_dag(schedule.dag_id)["is_paused"] is False
    run = finished_run(schedule)
    assert run.dag_id == published.dag_id
    metrics = run.find_step_run("score")[0].get_metrics()
    scheduled = datetime.strptime(metrics["label"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert scheduled.second == 30 and scheduled > created  # the next slot after creation: no catch-up
    assert metrics["score"] == 2 * 3

    listing = mlpipe_schedules(deployment)
    line = next(x for x in listing.splitlines() if schedule.id in x)
    assert "every-minute" in line and "recurrence" in line and EVERY_MINUTE_AT_30S in line
    assert "Finished" in line  # the last run and its status

    schedule.disable()
    assert client.get_dag(schedule.dag_id)["is_paused"] is True
    stopped_at = len(schedule.get_pipeline_runs())
    time.sleep(75)  # more than one slot: a disabled schedule starts nothing
    assert len(schedule.get_pipeline_runs()) == stopped_at
    assert schedule.id not in {s.id for s in Schedule.list(ws)}
    assert "paused" in next(x for x in mlpipe_schedules(deployment).splitlines() if schedule.id in x)

    # the live schedule gets a new recurrence: daily at 09:00 UTC (Airflow's cron timetable)
    schedule.enable()
    schedule.update(recurrence=ScheduleRecurrence(frequency="Day", interval=1, time_of_day="09:00",
                                                  time_zone=TimeZone.UTC), wait_for_provisioning=True, wait_timeout=180)  # fmt: skip
    assert Schedule.get(ws, schedule.id).recurrence.frequency == "Day"
    after = until(lambda: (d := client.get_dag(schedule.dag_id))["next_dagrun_run_after"] and
                  d["next_dagrun_run_after"][11:19] == "09:00:00" and d, "the new recurrence's next run")  # fmt: skip
    assert after["timetable_summary"] != "" and after["is_paused"] is False
    schedule.disable()


def test_an_endpoint_schedule_runs_the_new_default_version(ws, client):
    first, second = publish(ws, "sched-ep-a", scale=2), publish(ws, "sched-ep-b", scale=5)
    endpoint = PipelineEndpoint.publish(
        ws, name=f"sched-ep-{uuid.uuid4().hex[:6]}", pipeline=first, description=""
    )
    schedule = Schedule.create_for_pipeline_endpoint(ws, name="ep-every-minute", pipeline_endpoint_id=endpoint.id,
                                                     experiment_name="sched", recurrence=every_minute_at_30s(),
                                                     wait_for_provisioning=True, wait_timeout=180)  # fmt: skip
    endpoint.add(second)
    endpoint.set_default_version("1")  # before the first slot: that run submits version "1"
    run = finished_run(schedule)
    assert run.dag_id == second.dag_id
    assert run.find_step_run("score")[0].get_metrics()["score"] == 2 * 5
    assert [s.id for s in Schedule.list(ws, pipeline_endpoint_id=endpoint.id)] == [schedule.id]
    schedule.disable()


def write_batch(store, prefix: str, names: list[str]) -> None:
    """Write files as one batch: each lands in one step (staged, then placed), all within ms."""
    for name in names:
        store.write_bytes(f"{prefix}/{name}", b"x\n")


def test_five_local_files_start_one_run_and_a_second_batch_a_second(ws, client):
    published = publish(ws, "sched-watch")
    store = Datastore(ws, "workspaceblobstore")
    schedule = Schedule.create(ws, name="on-new-data", pipeline_id=published.id, experiment_name="sched",
                               datastore=store, path_on_datastore="landing", polling_interval=0.05,
                               data_path_parameter_name="input_data", wait_for_provisioning=True,
                               wait_timeout=180)  # fmt: skip
    # no wait for the watch's first listing: files written after create() fire whenever it lists
    root = Path(store.spec["path"])
    stage = root / ".stage-landing"
    stage.mkdir(parents=True)
    for name in ("c.csv", "a.csv", "e.csv", "b.csv", "d.csv"):
        (stage / name).write_text("x\n")
    os.rename(stage, root / "landing")  # five files at once

    run = finished_run(schedule)
    assert run.find_step_run("score")[0].get_metrics()["score"] == 2 * 5  # all five files, one run
    conf = client.dag_run(run.dag_id, run.run_id)["conf"]
    assert conf["input_data"] == {"datastore": "workspaceblobstore", "path": "landing"}
    assert conf["mlpipe_submission"]["changed_paths"] == [f"landing/{n}.csv" for n in "abcde"]
    time.sleep(10)  # more polling windows: nothing else changed, nothing else starts
    assert len(schedule.get_pipeline_runs()) == 1

    write_batch(store.store, "landing", ["f.csv"])  # a second batch: a second run, naming the file
    second = finished_run(schedule, count=2)
    assert client.dag_run(second.dag_id, second.run_id)["conf"]["input_data"]["path"] == "landing/f.csv"

    schedule.update(per_blob=True)  # v1's one run per blob, as mapped submits of one schedule run
    stage = root / ".stage-more"
    stage.mkdir()
    for name in ("g.csv", "h.csv"):
        (stage / name).write_text("x\n")
        os.rename(stage / name, root / "landing" / name)
    until(lambda: len(schedule.get_pipeline_runs()) >= 4, "one run per new file")
    runs = schedule.get_pipeline_runs()[:2]
    paths = sorted(client.dag_run(r.dag_id, r.run_id)["conf"]["input_data"]["path"] for r in runs)
    assert paths == ["landing/g.csv", "landing/h.csv"]
    ids = sorted(r.run_id for r in runs)  # two mapped submits of ONE schedule run (one window)
    assert ids[0].endswith("__0") and ids[1].endswith("__1") and ids[0][:-3] == ids[1][:-3]
    schedule.disable()
    assert client.get_dag(schedule.dag_id)["is_paused"] is True


def test_five_blobs_on_azurite_start_one_run_and_a_second_batch_a_second(blob_ws, client):
    published = publish(blob_ws, "sched-watch-blob")
    path = f"landing-{uuid.uuid4().hex[:6]}"
    schedule = Schedule.create(blob_ws, name="on-new-blobs", pipeline_id=published.id, experiment_name="sched",
                               datastore="lake", path_on_datastore=path, polling_interval=0.1,
                               data_path_parameter_name="input_data", wait_for_provisioning=True,
                               wait_timeout=180)  # fmt: skip
    store = blob_ws.get_default_datastore().store
    write_batch(store, path, [f"{n}.csv" for n in "abcde"])  # ~0.1 s of a 6 s polling window
    run = finished_run(schedule)
    assert run.find_step_run("score")[0].get_metrics()["score"] == 2 * 5
    assert client.dag_run(run.dag_id, run.run_id)["conf"]["input_data"] == {"datastore": "lake", "path": path}

    write_batch(store, path, ["f.csv", "g.csv"])
    second = finished_run(schedule, count=2)
    assert client.dag_run(second.dag_id, second.run_id)["conf"]["mlpipe_submission"]["changed_paths"] == [
        f"{path}/f.csv",
        f"{path}/g.csv",
    ]
    assert second.find_step_run("score")[0].get_metrics()["score"] == 2 * 7  # the folder: all 7 files
    schedule.disable()
