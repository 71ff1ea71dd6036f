"""A real scheduler runs a DAG on a RecurrenceTimetable: the first slot after creation, no earlier run.

It starts its own small embedded deployment (no Azurite, no Docker) whose plugins folder holds a
test plugin listing ``TIMETABLES``, until the package's plugin lists them itself.
"""

from __future__ import annotations

import textwrap
import time

import pendulum
import pytest

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment, free_port, tagged_pids
from airflow_mlpipe.timetables import RecurrenceTimetable

pytestmark = pytest.mark.integration

DAG_ID = "schedule_every_minute"
PLUGIN = """
from airflow.plugins_manager import AirflowPlugin
from airflow_mlpipe.timetables import TIMETABLES


class MlpipeTestTimetables(AirflowPlugin):
    name = "mlpipe_test_timetables"
    timetables = TIMETABLES
"""
DAG_FILE = """
from airflow.sdk import DAG, task
from airflow_mlpipe.timetables import dag_start_date, timetable_for

SPEC = {{"frequency": "Minute", "interval": 1, "start_time": "{start}"}}
CREATED = "{created}"

with DAG(
    "{dag_id}",
    schedule=timetable_for(SPEC, now=CREATED),
    start_date=dag_start_date(SPEC, now=CREATED),
    catchup=False,
):

    @task
    def tick():
        return "tick"

    tick()
"""


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    """A deployment whose one DAG runs every minute, counted from a start_time with seconds (so
    cron cannot say it and RecurrenceTimetable is used); yields (client, timetable)."""
    home = tmp_path_factory.mktemp("timetable-e2e")
    (home / "dags").mkdir()
    (home / "plugins").mkdir()
    (home / "plugins" / "mlpipe_test_timetables.py").write_text(PLUGIN)
    dep = LocalDeployment(
        home=home / "mlpipe",
        dags_folder=home / "dags",
        extra_env={"AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins")},
    )
    dep.up(port=free_port(), timeout=240)
    try:
        created = pendulum.now("UTC").replace(microsecond=0)  # the schedule is created now
        start = created.subtract(days=1).replace(second=30)  # in the past: first run is the next slot
        spec = {"frequency": "Minute", "interval": 1, "start_time": start.isoformat()}
        dag_file = DAG_FILE.format(start=start.isoformat(), created=created.isoformat(), dag_id=DAG_ID)
        (home / "dags" / f"{DAG_ID}.py").write_text(textwrap.dedent(dag_file))
        client = AirflowClient(dep.url, USERNAME, dep.password())
        yield client, RecurrenceTimetable(spec, created=created)
    finally:
        state = dep.state()
        if state is not None:
            dep.down()
            assert tagged_pids(state["deployment_id"]) == []


def test_scheduler_creates_the_runs_of_a_recurrence_timetable(scheduled):
    client, timetable = scheduled
    dag = client.wait_for_dag(DAG_ID, timeout=180)
    assert dag["timetable_summary"] == timetable.summary
    deadline = time.monotonic() + 240
    runs: list[dict] = []
    while time.monotonic() < deadline and len(runs) < 2:
        runs = client.collection(f"/api/v2/dags/{DAG_ID}/dagRuns", "dag_runs", {"run_type": "scheduled"})
        time.sleep(2)
    assert len(runs) >= 2, f"the scheduler created {len(runs)} scheduled run(s) of {DAG_ID} in 240s"
    slots = sorted(pendulum.parse(r["logical_date"]) for r in runs)
    # no run at creation and none of the past day's slots; later only if the DAG was parsed late
    assert slots[0] >= timetable.first_run_at > timetable.created
    assert slots[1] == timetable.slots.next_after(slots[0])
    assert {t.second for t in slots} == {30}
