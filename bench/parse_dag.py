"""Benchmark: translating and parsing a generated 1,000-step pipeline vs 1,000 EmptyOperators.

    .venv/bin/python bench/parse_dag.py [--steps 1000] [--repeats 7] [--write]

The pipeline fans out from one step to N-2 parallel steps and back into one (fan-in), with three
PipelineParameters in every parallel step's arguments. The baseline is a hand-written DAG file of
EmptyOperators with exactly the same edges. Each DAG file is parsed by Airflow's DagBag in a fresh
interpreter that has already imported Airflow (as the dag-processor has), alternating the two files,
and the median is reported. --write puts the table into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

PIPELINE_FILE = """
from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace

N = {steps}
src = {src!r}
ws = Workspace.from_config()
lr = PipelineParameter("learning_rate", default_value=0.1)
epochs = PipelineParameter("epochs", default_value=10)
mode = PipelineParameter("mode", default_value="fast")
seed_out = PipelineData("seed_out")
first = PythonScriptStep("step.py", name="fan_out", arguments=["--out", seed_out], outputs=[seed_out], source_directory=src)
parts, middle = [], []
for i in range(N - 2):
    out = PipelineData(f"part_{{i}}")
    parts.append(out)
    middle.append(PythonScriptStep(
        "step.py", name=f"work_{{i}}",
        arguments=["--in", seed_out, "--lr", lr, "--epochs", epochs, "--mode", mode, "--out", out],
        inputs=[seed_out], outputs=[out], source_directory=src))
last = PythonScriptStep("step.py", name="fan_in", inputs=parts, source_directory=src)
dag = Pipeline(ws, [first, *middle, last]).to_dag("bench_pipeline")
"""

HAND_FILE = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

N = {steps}
with DAG("bench_hand", schedule=None) as dag:
    first = EmptyOperator(task_id="fan_out")
    last = EmptyOperator(task_id="fan_in")
    for i in range(N - 2):
        t = EmptyOperator(task_id=f"work_{{i}}")
        first >> t >> last
"""

PARSE = """
import json, sys, time
import airflow.sdk  # noqa: F401  (the dag-processor has Airflow imported before it parses)
from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
assert not bag.import_errors, bag.import_errors
(dag,) = bag.dags.values()
print(json.dumps({"seconds": elapsed, "tasks": len(dag.tasks)}))
"""

TRANSLATE = """
import json, runpy, sys, time
t0 = time.perf_counter()
ns = runpy.run_path(sys.argv[1])
build = time.perf_counter() - t0
t0 = time.perf_counter()
spec = ns["dag"].mlpipe_spec
from airflow_mlpipe.translator import build_dag
build_dag(spec, "again")
translate = time.perf_counter() - t0
print(json.dumps({"module": build, "translate_spec_to_dag": translate}))
"""


def run(code: str, path: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = ap.parse_args()
    import os

    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-") as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "src"
        src.mkdir()
        (src / "step.py").write_text("print('step')\n")
        ours, hand = tmp_path / "pipeline_dag.py", tmp_path / "hand_dag.py"
        ours.write_text(textwrap.dedent(PIPELINE_FILE.format(steps=args.steps, src=str(src))))
        hand.write_text(textwrap.dedent(HAND_FILE.format(steps=args.steps)))
        env = {**os.environ, "MLPIPE_HOME": str(tmp_path / "home"), "AIRFLOW_HOME": str(tmp_path / "airflow")}
        env.pop("MLPIPE_CONFIG", None)
        ours_t, hand_t = [], []
        for i in range(args.repeats):
            a = run(PARSE, ours, env)
            b = run(PARSE, hand, env)
            assert a["tasks"] == b["tasks"] == args.steps
            ours_t.append(a["seconds"])
            hand_t.append(b["seconds"])
            print(
                f"  repeat {i + 1}/{args.repeats}: pipeline {a['seconds']:.3f}s, hand-written {b['seconds']:.3f}s",
                flush=True,
            )
        tr = [run(TRANSLATE, ours, env) for _ in range(3)]
    o, h = statistics.median(ours_t), statistics.median(hand_t)
    translate = statistics.median(t["translate_spec_to_dag"] for t in tr)
    ratio = o / h
    ok = ratio <= 1.5 and o < 1.0
    rows = [
        (
            "DAG file parse (DagBag), generated pipeline",
            f"{o:.3f} s",
            f"min {min(ours_t):.3f} / max {max(ours_t):.3f}",
        ),
        (
            "DAG file parse (DagBag), hand-written EmptyOperators",
            f"{h:.3f} s",
            f"min {min(hand_t):.3f} / max {max(hand_t):.3f}",
        ),
        ("ratio pipeline / hand-written", f"{ratio:.2f}x", "target <= 1.5x"),
        ("spec -> DAG translation alone", f"{translate:.3f} s", "build_dag() on the stored spec"),
    ]
    table = [
        f"{args.steps} steps (1 -> {args.steps - 2} -> 1), 3 parameters; median of {args.repeats} parses each, "
        "alternated, each in a fresh interpreter with Airflow imported.",
        "",
        "| measurement | median | notes |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Targets (ratio <= 1.5x and pipeline parse < 1 s): **{'met' if ok else 'NOT met'}**.",
        "",
        "Where the time goes: building the definitions (1,000 steps) and encoding and validating the spec",
        "take about 0.1 s and 0.07 s; creating the tasks and edges costs about what the baseline's",
        "EmptyOperators do. Two things keep it there: the translator attaches the DAG's Params after the",
        "tasks exist (Airflow deep-copies a DAG's Params into every operator created inside it, then merges",
        "them into the task's params again when it runs, so those copies only cost parse time: 2x here), and",
        "`StepOperator` has no `__init__` of its own (Airflow wraps each `__init__` in an operator's class",
        "chain with `apply_defaults`).",
    ]
    print("\n".join(table))
    if args.write:
        write_section(
            "Parsing a 1,000-step pipeline DAG (`bench/parse_dag.py`)",
            "\n".join(table),
            "python bench/parse_dag.py --write",
        )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
