"""Benchmark: an all-reused pipeline run against EmptyOperators with the same edges (issue 17).

    .venv/bin/python bench/reuse_run.py [--runs 3] [--widths 98,8] [--write]

Starts the embedded Airflow deployment in a temporary home (SQLite, LocalExecutor) with one DAG
folder holding, per width W (1 -> W -> 1, so W + 2 tasks):
- ``steps_W``: the pipeline built by the translator (reused steps decided in the triggerer on
  Airflow >= 3.3);
- ``worker_W``: the same pipeline with ``start_from_trigger`` cleared on every task, which is what
  ``[mlpipe] reuse_in_triggerer = off`` (and Airflow < 3.3) builds: every step starts a worker task;
- ``empty_W`` and ``python_W``: EmptyOperators and no-op PythonOperators with the same edges.

All are triggered over REST and timed from the trigger call to seeing the run finished, with the
same 0.2 s polling. The first run of ``steps_W`` computes every step; it is timed once, and then
``--runs`` more computing runs are timed with ``regenerate_outputs`` in the run's conf (every step
runs again). The runs of each kind are interleaved, so drift of the machine hits them alike.
For every all-reused run, the bench checks that every step was reused and counts the task
instances that went to a worker (``queued_when`` set): 0 is the point of issue 17.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

from airflow_mlpipe.client.rest import AirflowClient  # noqa: E402
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment, free_port  # noqa: E402

# one file per DAG: a worker parses only the file of its own DAG
DAG_FILE = """
import os

import pendulum
from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace

SRC, KIND, WIDTH = {src!r}, {kind!r}, {width!r}


def noop():
    return None


class EndInTrigger(BaseOperator):
    # Airflow's own floor for a task that ends in the triggerer: a trigger that fires at once
    start_from_trigger = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            trigger_kwargs={{"moment": pendulum.datetime(2020, 1, 1, tz="UTC"), "end_from_trigger": True}},
            next_method="execute",
            timeout=None,
        )

    def execute(self, context, event=None):
        return None


def pipeline(width):
    first_out = PipelineData("first_out")
    first = PythonScriptStep("step.py", name="s0", arguments=["--out", first_out], outputs=[first_out],
                             source_directory=SRC)
    middle, outs = [], []
    for i in range(1, width + 1):
        out = PipelineData(f"o{{i}}")
        outs.append(out)
        middle.append(PythonScriptStep("step.py", name=f"s{{i}}", arguments=["--out", out, "--inp", first_out],
                                       inputs=[first_out], outputs=[out], source_directory=SRC))
    last_out = PipelineData("last_out")
    last = PythonScriptStep("step.py", name=f"s{{width + 1}}", arguments=["--out", last_out, "--inp", *outs],
                            inputs=outs, outputs=[last_out], source_directory=SRC)
    return Pipeline(Workspace.from_config(), [first, *middle, last])


def hand(dag_id, make, width):
    with DAG(dag_id, schedule=None) as dag:
        first, last = make(0), make(width + 1)
        for i in range(1, width + 1):
            first >> make(i) >> last
    return dag


dag_id = f"{{KIND}}_{{WIDTH}}"
if KIND in ("steps", "worker"):
    # steps: reused steps decided in the triggerer ([mlpipe] reuse_in_triggerer = on);
    # worker: every step on a worker (= off, and what Airflow < 3.3 builds)
    os.environ["AIRFLOW__MLPIPE__REUSE_IN_TRIGGERER"] = "on" if KIND == "steps" else "off"
    dag = pipeline(WIDTH).to_dag(dag_id)
elif KIND == "empty":
    dag = hand(dag_id, lambda i: EmptyOperator(task_id=f"s{{i}}"), WIDTH)
elif KIND == "python":
    dag = hand(dag_id, lambda i: PythonOperator(task_id=f"s{{i}}", python_callable=noop), WIDTH)
else:
    dag = hand(dag_id, lambda i: EndInTrigger(task_id=f"s{{i}}"), WIDTH)
"""
KINDS = ("steps", "worker", "empty", "python", "trigger")

STEP = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--out"); p.add_argument("--inp", nargs="*")
a = p.parse_args()
open(os.path.join(a.out, "x.txt"), "w").write("x")
"""


def timed_run(client: AirflowClient, dag_id: str, conf: dict | None = None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    run = client.trigger(dag_id, conf)
    done = client.wait_for_run(dag_id, run["dag_run_id"], timeout=1800, poll=0.2)
    elapsed = time.perf_counter() - t0
    assert done["state"] == "success", f"{dag_id} {run['dag_run_id']}: {done['state']}"
    return elapsed, done


def check_reused(client: AirflowClient, dag_id: str, run: dict) -> int:
    """Every step reused (else an AssertionError); returns how many task instances a worker ran."""
    tis = client.task_instances(dag_id, run["dag_run_id"])
    for ti in tis:
        res = client.xcom(dag_id, run["dag_run_id"], ti["task_id"])
        assert res["reused_from"], f"{dag_id}: step {ti['task_id']} was not reused"
    return sum(1 for ti in tis if ti.get("queued_when"))


def measure(client: AirflowClient, widths: list[int], runs: int) -> dict:
    out: dict = {}
    for w in widths:
        for kind in KINDS:
            client.wait_for_dag(f"{kind}_{w}", timeout=300)
        first, _ = timed_run(client, f"steps_{w}")
        print(f"[W={w}] first (computing) run {first:.2f}s", flush=True)
        s: dict[str, list[float]] = {k: [] for k in (*KINDS, "computing", "computing_worker")}
        queued = {"steps": [], "worker": []}
        timed_run(client, f"worker_{w}")  # its first run: reuses what steps_W committed, warms its parse
        for i in range(runs):
            for kind in KINDS:
                t, done = timed_run(client, f"{kind}_{w}")
                s[kind].append(t)
                if kind in queued:
                    queued[kind].append(check_reused(client, f"{kind}_{w}", done))
            for kind, key in (("steps", "computing"), ("worker", "computing_worker")):
                t, _ = timed_run(client, f"{kind}_{w}", {"regenerate_outputs": True})
                s[key].append(t)
            print(
                f"[W={w}] round {i + 1}/{runs}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in s.items())
                + f"; worker tasks: triggerer path {queued['steps'][-1]}, worker path {queued['worker'][-1]}",
                flush=True,
            )
        med = {k: statistics.median(v) for k, v in s.items()}
        med["first"] = first
        med["queued_steps"] = max(queued["steps"])
        med["queued_worker"] = min(queued["worker"])
        out[w] = med
    return out


def verdict(value: float, target: float, at_most: bool = True) -> str:
    ok = value <= target if at_most else value >= target
    return f"{value:.2f}x ({'met' if ok else 'NOT met'}, target {'<=' if at_most else '>='} {target}x)"


def table(res: dict, runs: int, parallelism: int = 8) -> str:
    rows = [
        f"Median of {runs} interleaved runs per DAG after one warm-up; each timed from the REST trigger to "
        "seeing the run finished (0.2 s polling), on the embedded deployment (LocalExecutor, "
        f"parallelism {parallelism}). The pipeline 1 -> W -> 1, built twice: `triggerer` with "
        "`[mlpipe] reuse_in_triggerer = on` (a reused step ends in the triggerer), `worker` with `off` "
        "(every step starts on a worker, as on Airflow < 3.3). `trigger floor`: the same edges of tasks "
        "that Airflow starts in the triggerer and that end at once (`DateTimeTrigger` in the past, "
        "`end_from_trigger`), the least any task ending in the triggerer costs on Airflow 3.3.",
        "",
        "| steps | all reused: triggerer | all reused: worker | EmptyOperators | no-op PythonOperators "
        "| trigger floor | first run (triggerer) | computing: triggerer / worker | worker tasks in a reused "
        "run: triggerer / worker |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w, m in res.items():
        rows.append(
            f"| {w + 2} | {m['steps']:.2f} s | {m['worker']:.2f} s | {m['empty']:.2f} s | {m['python']:.2f} s "
            f"| {m['trigger']:.2f} s | {m['first']:.2f} s | {m['computing']:.2f} s / {m['computing_worker']:.2f} s "
            f"| {m['queued_steps']} / {m['queued_worker']} |"
        )
    rows.append("")
    for w, m in res.items():
        n = w + 2
        best = min(m["steps"], m["worker"])
        auto = "triggerer" if w > parallelism else "worker"
        rows += [
            f"- **{n} steps** (`auto` picks the {auto} path: the widest stage has {w} steps, "
            f"parallelism {parallelism}):",
            f"  - all reused / EmptyOperators: triggerer {m['steps'] / m['empty']:.2f}x, worker "
            f"{m['worker'] / m['empty']:.2f}x; the better path "
            + verdict(best / m["empty"], 1.5 if n >= 100 else 1.1),
            f"  - the trigger floor / EmptyOperators: {m['trigger'] / m['empty']:.2f}x; all reused (triggerer) / "
            f"trigger floor: {m['steps'] / m['trigger']:.2f}x; no-op PythonOperators / EmptyOperators: "
            f"{m['python'] / m['empty']:.2f}x",
            "  - first run / all-reused run (triggerer): "
            + (
                verdict(m["first"] / m["steps"], 4, at_most=False)
                if n >= 100
                else f"{m['first'] / m['steps']:.2f}x"
            )
            + f"; computing run / all-reused run, triggerer: {m['computing'] / m['steps']:.2f}x, worker: "
            f"{m['computing_worker'] / m['worker']:.2f}x",
        ]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--widths", default="98,8", help="middle widths W of 1 -> W -> 1, comma-separated")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-reuse-run-") as tmp:
        home = Path(tmp)
        (home / "src").mkdir()
        (home / "src" / "step.py").write_text(textwrap.dedent(STEP))
        (home / "dags").mkdir()
        for w in widths:
            for kind in KINDS:
                (home / "dags" / f"{kind}_{w}.py").write_text(
                    textwrap.dedent(DAG_FILE.format(src=str(home / "src"), kind=kind, width=w))
                )
        dep = LocalDeployment(home=home / "mlpipe", dags_folder=home / "dags")
        dep.up(port=free_port(), timeout=240)
        try:
            client = AirflowClient(dep.url, USERNAME, dep.password())
            res = measure(client, widths, args.runs)
        finally:
            dep.down(echo=lambda *_: None)
    text = table(res, args.runs)
    print(text)
    if args.write:
        write_section("An all-reused run (`bench/reuse_run.py`)", text, "python bench/reuse_run.py --write")


if __name__ == "__main__":
    main()
