"""v1's Schedule against real Airflow processes: a recurrence that cron cannot say runs the
published pipeline at its next slot (RecurrenceTimetable in the real scheduler), with its
trigger-time expression evaluated; a datastore schedule starts ONE pipeline run for files that
land in one polling window, and the run gets their folder; disable() pauses the schedule."""

from __future__ import annotations

import os
import time
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
    PipelineParameter,
    PythonScriptStep,
    Schedule,
    ScheduleRecurrence,
    Workspace,
)

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).parent / "published_src")
LABEL = "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-ddTHH:mm:ss')"


@pytest.fixture
def ws(deployment, client, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    ws = Workspace.from_config()
    ws.get_default_datastore().store.write_bytes("sched-data/seed/rows.csv", b"1\n2\n")
    return ws


def publish(ws: Workspace, name: str):
    ds = ws.get_default_datastore()
    data = PipelineParameter("input_data", default_value=DataPath(ds, "sched-data/seed"))
    scale = PipelineParameter("scale", default_value=2)
    label = PipelineParameter("label", default_value="none")
    score = PipelineData("score", datastore=ds)
    binding = (data, DataPathComputeBinding(mode="download"))
    step = PythonScriptStep("score.py", name="score", source_directory=SRC, inputs=[binding], outputs=[score],
                            arguments=["--data", binding, "--scale", scale, "--label", label, "--out", score])  # fmt: skip
    return Pipeline(ws, [step]).publish(name=name)


def test_a_recurrence_runs_the_pipeline_at_its_next_slot(ws, client):
    published = publish(ws, "sched-recurrence")
    # every minute, counted from :30 seconds: cron cannot say it, so RecurrenceTimetable runs it
    start = (datetime.now(timezone.utc) - timedelta(days=1)).replace(second=30, microsecond=0, tzinfo=None)
    recurrence = ScheduleRecurrence(frequency="Minute", interval=1, start_time=start)
    created = datetime.now(timezone.utc)
    schedule = Schedule.create(ws, name="every-minute", pipeline_id=published.id, experiment_name="sched",
                               recurrence=recurrence, pipeline_parameters={"label": LABEL, "scale": 3},
                               wait_for_provisioning=True, wait_timeout=180)  # fmt: skip
    assert client.get_dag(schedule.dag_id)["is_paused"] is False
    run = until(schedule.get_last_pipeline_run, "the schedule's first pipeline run", timeout=200)
    assert run.dag_id == published.dag_id
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300) == "Finished"
    metrics = run.find_step_run("score")[0].get_metrics()
    scheduled = datetime.strptime(metrics["label"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert scheduled.second == 30 and scheduled > created  # the next slot after creation, no catch-up
    assert metrics["score"] == 2 * 3

    schedule.disable()
    assert client.get_dag(schedule.dag_id)["is_paused"] is True
    assert Schedule.get(ws, schedule.id).status == "Disabled"
    assert schedule.id not in {s.id for s in Schedule.list(ws)}
    assert schedule.id in {s.id for s in Schedule.list(ws, pipeline_id=published.id)}


def test_files_landing_in_one_window_start_one_run_with_their_folder(ws, client, deployment):
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
    for name, rows in (("c.csv", 1), ("a.csv", 2), ("b.csv", 3)):
        (stage / name).write_text("x\n" * rows)
    os.rename(stage, root / "landing")  # three files in one window

    run = until(schedule.get_last_pipeline_run, "the pipeline run of the change", timeout=180)
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=300) == "Finished"
    assert run.find_step_run("score")[0].get_metrics()["score"] == 2 * 6  # all three files, one run
    conf = client.dag_run(run.dag_id, run.run_id)["conf"]
    assert conf["input_data"] == {"datastore": "workspaceblobstore", "path": "landing"}
    time.sleep(10)  # more polling windows: nothing else changed, nothing else starts
    assert len(schedule.get_pipeline_runs()) == 1

    schedule.update(per_blob=True)  # v1's one run per blob, as mapped submits of one schedule run
    stage = root / ".stage-more"
    stage.mkdir()
    for name in ("d.csv", "e.csv"):
        (stage / name).write_text("x\n")
        os.rename(stage / name, root / "landing" / name)
    runs = until(lambda: [r for r in schedule.get_pipeline_runs() if r.run_id != run.run_id][:2] if len(
        schedule.get_pipeline_runs()) >= 3 else None, "one run per new file")  # fmt: skip
    paths = sorted(client.dag_run(r.dag_id, r.run_id)["conf"]["input_data"]["path"] for r in runs)
    assert paths == ["landing/d.csv", "landing/e.csv"]
    ids = sorted(r.run_id for r in runs)  # two mapped submits of ONE schedule run (one window)
    assert ids[0].endswith("__0") and ids[1].endswith("__1") and ids[0][:-3] == ids[1][:-3]
    schedule.disable()
    assert client.get_dag(schedule.dag_id)["is_paused"] is True
