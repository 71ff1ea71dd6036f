"""Benchmark: our layer's overhead on a run. A submitted 10-step pipeline whose steps are all
reused, from ``submit()`` to finished, against DAGs with the same edges (1 -> 8 -> 1) triggered over
REST on the same deployment: 10 EmptyOperators (the issue's baseline) and 10 no-op PythonOperators.

    .venv/bin/python bench/submit_overhead.py [--runs 5] [--write]

All three are timed with the same REST polling (every 0.2 s). One warm-up submit commits the
steps' results first.
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

HAND = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator

def noop():
    return None

for kind in ("empty", "python"):
    with DAG(f"hand_{kind}", schedule=None) as dag:
        make = (lambda i: EmptyOperator(task_id=f"s{i}")) if kind == "empty" else (
            lambda i: PythonOperator(task_id=f"s{i}", python_callable=noop))
        first, last = make(0), make(9)
        for i in range(1, 9):
            first >> make(i) >> last
    globals()[f"dag_{kind}"] = dag
"""

STEP = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--out"); p.add_argument("--inp", nargs="*")
a = p.parse_args()
open(os.path.join(a.out, "x.txt"), "w").write("x")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-submit-") as tmp:
        home = Path(tmp)
        import os

        os.environ["MLPIPE_HOME"] = str(home / "mlpipe")
        from airflow_mlpipe import Experiment, Pipeline, PipelineData, PythonScriptStep, Workspace
        from airflow_mlpipe.client.rest import AirflowClient
        from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment, free_port

        (home / "dags").mkdir()
        (home / "dags" / "hand.py").write_text(textwrap.dedent(HAND))
        src = home / "src"
        src.mkdir()
        (src / "step.py").write_text(textwrap.dedent(STEP))
        dep = LocalDeployment(home=home / "mlpipe", dags_folder=home / "dags")
        dep.up(port=free_port(), timeout=240)
        try:
            client = AirflowClient(dep.url, USERNAME, dep.password())
            for d in ("hand_empty", "hand_python"):
                client.wait_for_dag(d, timeout=180)
            ws = Workspace.from_config()
            first_out = PipelineData("first_out")
            first = PythonScriptStep(
                "step.py",
                name="s0",
                arguments=["--out", first_out],
                outputs=[first_out],
                source_directory=str(src),
            )
            middle, outs = [], []
            for i in range(1, 9):
                out = PipelineData(f"o{i}")
                outs.append(out)
                middle.append(
                    PythonScriptStep(
                        "step.py",
                        name=f"s{i}",
                        arguments=["--out", out, "--inp", first_out],
                        inputs=[first_out],
                        outputs=[out],
                        source_directory=str(src),
                    )
                )
            last_out = PipelineData("last_out")
            last = PythonScriptStep(
                "step.py",
                name="s9",
                arguments=["--out", last_out, "--inp", *outs],
                inputs=outs,
                outputs=[last_out],
                source_directory=str(src),
            )
            pipeline = Pipeline(ws, [first, *middle, last])
            exp = Experiment(ws, "bench")
            warm = exp.submit(pipeline)
            client.wait_for_run(exp.dag_id, warm.run_id, poll=0.2)
            samples: dict[str, list[float]] = {
                "submitted pipeline (all reused)": [],
                "submit() call": [],
                "hand_empty": [],
                "hand_python": [],
            }
            for i in range(args.runs):
                t0 = time.perf_counter()
                run = exp.submit(pipeline)
                t1 = time.perf_counter()
                done = client.wait_for_run(exp.dag_id, run.run_id, poll=0.2)
                t2 = time.perf_counter()
                assert done["state"] == "success"
                assert all(s.get_details()["reused_from"] for s in run.get_steps()), "a step was not reused"
                samples["submitted pipeline (all reused)"].append(t2 - t0)
                samples["submit() call"].append(t1 - t0)
                for d in ("hand_empty", "hand_python"):
                    t0 = time.perf_counter()
                    r = client.trigger(d)
                    assert client.wait_for_run(d, r["dag_run_id"], poll=0.2)["state"] == "success"
                    samples[d].append(time.perf_counter() - t0)
                print(
                    f"  run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in samples.items()),
                    flush=True,
                )
        finally:
            dep.down(echo=lambda *_: None)
    med = {k: statistics.median(v) for k, v in samples.items()}
    ours = med["submitted pipeline (all reused)"]
    r_empty, r_py = ours / med["hand_empty"], ours / med["hand_python"]
    table = "\n".join(
        [
            f"Median of {args.runs} runs after one warm-up submit; each from the call to seeing the run finished.",
            "",
            "| what | median |",
            "|---|---|",
            f"| `submit()` of a 10-step pipeline to Finished, every step reused | {ours:.2f} s |",
            f"| of which the `submit()` call (snapshots checked, registry, DAG version, trigger) | {med['submit() call']:.2f} s |",
            f"| 10 EmptyOperators, same edges, triggered over REST | {med['hand_empty']:.2f} s |",
            f"| 10 no-op PythonOperators, same edges, triggered over REST | {med['hand_python']:.2f} s |",
            "",
            f"Ratio against EmptyOperators: **{r_empty:.2f}x** (target <= 1.3x: **{'met' if r_empty <= 1.3 else 'NOT met'}**); "
            f"against no-op PythonOperators: **{r_py:.2f}x**.",
            "",
            f"Where the time goes: the `submit()` call itself takes {med['submit() call']:.2f} s (snapshots "
            "already stored, registry entry unchanged, DAG version already serialized, then the trigger). "
            "The rest is Airflow scheduling three waves of dependencies (1 -> 8 -> 1), which costs the "
            "EmptyOperator DAG about the same: its tasks are never started (the scheduler marks them "
            "successful), yet each wave still waits for a scheduler loop. A reused step is a short worker "
            "task (about 0.2 s: process start, DAG parse, fingerprint, cache lookup) that finishes within "
            "those loops.",
        ]
    )
    print(table)
    if args.write:
        write_section(
            "Submit overhead (`bench/submit_overhead.py`)", table, "python bench/submit_overhead.py --write"
        )


if __name__ == "__main__":
    main()
