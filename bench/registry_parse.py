"""Benchmark: the registry DAG file with 100 registered pipelines of 10 steps each.

    .venv/bin/python bench/registry_parse.py [--pipelines 100] [--repeats 5] [--write]

Each pipeline is a chain of 10 PythonScriptSteps with PipelineData between them and one
parameter. The registry DAG file is parsed with Airflow's DagBag in a fresh interpreter that has
Airflow imported (as the dag-processor has); the median of --repeats parses is reported, against
a DAG file of the same number of EmptyOperators and edges built by hand. Target: <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

PARSE = """
import json, sys, time
import airflow.sdk  # noqa: F401
from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""

HAND = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
for p in range({pipelines}):
    with DAG(f"hand_{{p}}", schedule=None) as dag:
        prev = None
        for s in range(10):
            t = EmptyOperator(task_id=f"step_{{s}}")
            if prev is not None:
                prev >> t
            prev = t
    globals()[f"dag_{{p}}"] = dag
"""


def parse(folder: Path, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PARSE, str(folder)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipelines", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-registry-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "MLPIPE_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow")}
        os.environ["MLPIPE_HOME"] = str(home)
        from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace
        from airflow_mlpipe.registry import Registry
        from airflow_mlpipe.registry.dagfile import write_dag_file

        src = home / "src"
        src.mkdir()
        (src / "step.py").write_text("print('step')\n")
        ws = Workspace.from_config()
        registry = Registry()
        for p in range(args.pipelines):
            prev, steps = None, []
            lr = PipelineParameter("learning_rate", default_value=0.1)
            for s in range(10):
                out = PipelineData(f"out_{s}")
                inputs = [prev] if prev is not None else []
                steps.append(
                    PythonScriptStep(
                        "step.py",
                        name=f"step_{s}",
                        arguments=["--lr", lr, "--out", out, *(["--in", prev] if prev is not None else [])],
                        inputs=inputs,
                        outputs=[out],
                        source_directory=str(src),
                    )
                )
                prev = out
            registry.put(f"pipeline_{p:03d}", Pipeline(ws, steps).to_spec())
        ours_dir, hand_dir = home / "registry_dags", home / "hand_dags"
        write_dag_file(ours_dir)
        hand_dir.mkdir()
        (hand_dir / "hand.py").write_text(HAND.format(pipelines=args.pipelines))
        ours, hand = [], []
        for i in range(args.repeats):
            a, b = parse(ours_dir, env), parse(hand_dir, env)
            assert a["dags"] == b["dags"] == args.pipelines and a["tasks"] == b["tasks"]
            ours.append(a["seconds"])
            hand.append(b["seconds"])
            print(
                f"  repeat {i + 1}: registry {a['seconds']:.3f}s, hand-written {b['seconds']:.3f}s",
                flush=True,
            )
    o, h = statistics.median(ours), statistics.median(hand)
    table = "\n".join(
        [
            f"{args.pipelines} registered pipelines x 10 steps; median of {args.repeats} DagBag parses each, alternated.",
            "",
            "| DAG file | median | target |",
            "|---|---|---|",
            f"| registry DAG file ({args.pipelines} DAGs from their specs) | {o:.3f} s | <= 2 s: **{'met' if o <= 2 else 'NOT met'}** |",
            f"| hand-written EmptyOperators, same DAGs and edges | {h:.3f} s | baseline |",
            f"| ratio | {o / h:.2f}x | |",
        ]
    )
    print(table)
    if args.write:
        write_section(
            "The registry DAG file (`bench/registry_parse.py`)",
            table,
            "python bench/registry_parse.py --write",
        )
    if o > 2:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
