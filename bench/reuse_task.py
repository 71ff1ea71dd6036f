"""Benchmark: a reused step's task against an EmptyOperator task in the same DAG runs.

    .venv/bin/python bench/reuse_task.py [--runs 5] [--write]

Starts the embedded Airflow deployment in a temporary home (SQLite, LocalExecutor), runs a DAG
holding one pipeline step plus an EmptyOperator and a no-op PythonOperator (no edges), once to
commit the step's result and then --runs times with the step reused. Per task it reports the
median of (end - start) and of (end - run start) from the REST API. Airflow 3's scheduler marks
EmptyOperator tasks successful without starting them, so a no-op PythonOperator is measured too:
the cheapest task that runs on a worker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import pendulum

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

from airflow_mlpipe.client.rest import AirflowClient  # noqa: E402
from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment, free_port  # noqa: E402

DAG_FILE = """
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace

out = PipelineData("out")
step = PythonScriptStep("work.py", name="reused_step", arguments=["--out", out], outputs=[out], source_directory={src!r})
dag = Pipeline(Workspace.from_config(), [step]).to_dag("bench_reuse")
with dag:
    EmptyOperator(task_id="empty")
    PythonOperator(task_id="noop_python", python_callable=lambda: None)
"""

WORK = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
open(os.path.join(a.out, "x.txt"), "w").write("x")
"""


def seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (pendulum.parse(b) - pendulum.parse(a)).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-reuse-") as tmp:
        home = Path(tmp)
        (home / "src").mkdir()
        (home / "src" / "work.py").write_text(textwrap.dedent(WORK))
        (home / "dags").mkdir()
        (home / "dags" / "bench_reuse.py").write_text(textwrap.dedent(DAG_FILE.format(src=str(home / "src"))))
        dep = LocalDeployment(home=home / "mlpipe", dags_folder=home / "dags")
        dep.up(port=free_port(), timeout=240)
        try:
            client = AirflowClient(dep.url, USERNAME, dep.password())
            client.wait_for_dag("bench_reuse", timeout=180)
            samples: dict[str, dict[str, list[float]]] = {}
            for i in range(args.runs + 1):
                run = client.trigger("bench_reuse")
                run = client.wait_for_run("bench_reuse", run["dag_run_id"], timeout=300)
                assert run["state"] == "success", run
                reused = client.xcom("bench_reuse", run["dag_run_id"], "reused_step")["reused_from"]
                if i == 0:
                    assert reused is None
                    print("warm-up run committed the step's result", flush=True)
                    continue
                assert reused is not None, "the step was not reused"
                for ti in client.task_instances("bench_reuse", run["dag_run_id"]):
                    s = samples.setdefault(ti["task_id"], {"task": [], "from_run_start": []})
                    s["task"].append(seconds(ti["start_date"], ti["end_date"]) or 0.0)
                    s["from_run_start"].append(seconds(run["start_date"], ti["end_date"]) or 0.0)
                print(
                    f"  run {i}: "
                    + ", ".join(f"{t} {v['task'][-1]:.2f}s" for t, v in sorted(samples.items())),
                    flush=True,
                )
        finally:
            dep.down(echo=lambda *_: None)
    med = {t: {k: statistics.median(v) for k, v in s.items()} for t, s in samples.items()}
    r, py, em = med["reused_step"], med["noop_python"], med["empty"]
    ratio_py = r["task"] / py["task"] if py["task"] else float("inf")
    rows = [
        f"Median of {args.runs} DAG runs after one warm-up run that committed the step's result.",
        "",
        "| task | start -> end | run start -> end |",
        "|---|---|---|",
        f"| reused pipeline step | {r['task']:.2f} s | {r['from_run_start']:.2f} s |",
        f"| no-op PythonOperator | {py['task']:.2f} s | {py['from_run_start']:.2f} s |",
        f"| EmptyOperator | {em['task']:.2f} s | {em['from_run_start']:.2f} s |",
        "",
        f"Reused step / no-op PythonOperator (start -> end): **{ratio_py:.2f}x** (target <= 1.1x: "
        f"**{'met' if ratio_py <= 1.1 else 'NOT met'}**). A one-step pipeline keeps its step on a worker "
        "(`[mlpipe] reuse_in_triggerer = auto`: no stage is wider than the worker slots), so this is the "
        "worker path. Airflow 3 never starts an EmptyOperator task (the scheduler marks it successful): "
        f"the reused step ends {r['from_run_start']:.2f} s after its run started, the EmptyOperator "
        f"{em['from_run_start']:.2f} s.",
    ]
    table = "\n".join(rows)
    print(table)
    if args.write:
        write_section(
            "A reused step's task (`bench/reuse_task.py`)", table, "python bench/reuse_task.py --write"
        )


if __name__ == "__main__":
    main()
