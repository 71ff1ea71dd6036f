"""Reuse decided in the triggerer (issue 17) through real Airflow processes: a reused step ends
without a worker, and a triggerer killed (SIGKILL) between its reuse decision and the outcome
neither loses the run nor runs a step twice.

Runs its own small deployment (no Docker, no Databricks): the shared one cannot restart just its
triggerer. ``MLPIPE_TEST_REUSE_PAUSE`` (triggers/reuse.py) holds a decided trigger while a file
exists.
"""

from __future__ import annotations

import pytest
from helpers import restart_triggerer, running, until

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

pytestmark = pytest.mark.integration

DAG_ID = "reuse_in_triggerer"
DAG_FILE = """
import os

from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace

src = os.environ["MLPIPE_TEST_SRC"]
out_a = PipelineData("out_a")
a = PythonScriptStep("a.py", name="a", arguments=["--out", out_a], outputs=[out_a], source_directory=src)
b = PythonScriptStep("b.py", name="b", arguments=["--inp", out_a], inputs=[out_a], source_directory=src)
dag = Pipeline(Workspace.from_config(), [a, b]).to_dag("reuse_in_triggerer", reuse_in_triggerer="on")
"""
# each script counts its runs in MLPIPE_TEST_COUNTS/<name>
A = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--out"); args = p.parse_args()
open(os.path.join(os.environ["MLPIPE_TEST_COUNTS"], "a"), "a").write("ran\\n")
open(os.path.join(args.out, "a.txt"), "w").write("from a")
"""
B = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--inp"); args = p.parse_args()
assert open(os.path.join(args.inp, "a.txt")).read() == "from a"
open(os.path.join(os.environ["MLPIPE_TEST_COUNTS"], "b"), "a").write("ran\\n")
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    home = tmp_path_factory.mktemp("reuse-triggerer")
    (home / "dags").mkdir()
    (home / "dags" / "reuse_in_triggerer.py").write_text(DAG_FILE)
    src, counts = home / "src", home / "counts"
    src.mkdir()
    counts.mkdir()
    (src / "a.py").write_text(A)
    (src / "b.py").write_text(B)
    dep = LocalDeployment(
        home=home / "mlpipe",
        dags_folder=home / "dags",
        extra_env={
            "MLPIPE_TEST_SRC": str(src),
            "MLPIPE_TEST_COUNTS": str(counts),
            "MLPIPE_TEST_REUSE_PAUSE": str(home / "pause"),
            # a new triggerer takes over the dead one's triggers once its heartbeat is this old
            # (heartbeats every second, so a live one always looks healthy)
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        },
    )
    with running(dep, echo=lambda *_: None):
        yield dep, home


def counts(home) -> dict[str, int]:
    return {
        n: len((home / "counts" / n).read_text().splitlines())
        for n in ("a", "b")
        if (home / "counts" / n).exists()
    }


def step_results(client: AirflowClient, run_id: str) -> dict[str, dict]:
    tis = {t["task_id"]: t for t in client.task_instances(DAG_ID, run_id)}
    return {task: {**ti, "result": client.xcom(DAG_ID, run_id, task)} for task, ti in tis.items()}


def run_killing_the_triggerer_at(dep: LocalDeployment, home, client: AirflowClient, task: str) -> dict:
    """A run in which the triggerer is SIGKILLed once ``task``'s trigger has decided, before it acts
    on the decision; a new triggerer takes the trigger over and the run goes on."""
    pause, mark = home / "pause", home / f"pause.{task}"
    pause.write_text("")
    mark.unlink(missing_ok=True)
    try:
        run = client.trigger(DAG_ID)
        until(mark.exists, f"the trigger of step {task} to decide", timeout=180, poll=0.2)
        restart_triggerer(dep)
        # the new triggerer takes the dead one's trigger over and decides again, for the same run
        until(
            lambda: mark.read_text().splitlines() == [run["dag_run_id"]] * 2,
            f"the new triggerer to run step {task}'s trigger again",
            timeout=180,
            poll=0.2,
        )
    finally:
        pause.unlink()
    done = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=300)
    assert done["state"] == "success", done
    return step_results(client, run["dag_run_id"])


def test_a_killed_triggerer_neither_loses_the_run_nor_runs_a_step_twice(deployment):
    dep, home = deployment
    client = AirflowClient(dep.url, USERNAME, dep.password())
    client.wait_for_dag(DAG_ID, timeout=180)

    # first run: nothing committed, so a's trigger hands a over to a worker; killed before that
    first = run_killing_the_triggerer_at(dep, home, client, "a")
    assert {t: r["result"]["reused_from"] for t, r in first.items()} == {"a": None, "b": None}
    assert counts(home) == {"a": 1, "b": 1}
    assert all(r["try_number"] == 1 and r["queued_when"] for r in first.values())

    # second run: a's trigger decides to reuse; killed before it pushes the result and ends the task
    second = run_killing_the_triggerer_at(dep, home, client, "a")
    for task, r in second.items():
        assert r["result"]["reused_from"]["run_id"] == first[task]["dag_run_id"], task
        assert r["result"]["outputs"] == first[task]["result"]["outputs"], task
        # ended in the triggerer: never queued for a worker, in its first try
        assert r["try_number"] == 1 and not r["queued_when"], r
    assert counts(home) == {"a": 1, "b": 1}  # no script ran again
    log = "\n".join(client.task_log(DAG_ID, second["b"]["dag_run_id"], "b", 1))
    assert f"reusing the result of task b in run {first['b']['dag_run_id']}" in log
