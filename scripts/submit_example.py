"""Submit the example pipeline to the running deployment with the Python client, twice.

The second submit finds every step's committed result and reuses it. Run by scripts/demo.sh.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from airflow_mlpipe import Experiment, Workspace
from airflow_mlpipe.cli import format_value

REPO = Path(__file__).resolve().parents[1]


def show(run) -> None:
    print(f"{'step':12} {'status':9} {'reuse':54} metrics")
    for step in run.get_steps():
        details = step.get_details()
        origin = details["reused_from"]
        reuse = f"reused from {origin['run_id']}" if origin else "ran"
        metrics = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(step.get_metrics().items()))
        print(f"{step.name:12} {details['status']:9} {reuse:54} {metrics}")
    print(
        "pipeline metrics:", ", ".join(f"{k}={format_value(v)}" for k, v in sorted(run.get_metrics().items()))
    )


def main() -> None:
    pipeline = runpy.run_path(str(REPO / "dags" / "compare_models.py"))["pipeline1"]
    ws = Workspace.from_config()
    experiment = Experiment(ws, "compare-models")
    for attempt in ("first", "second"):
        run = experiment.submit(pipeline, pipeline_parameters={"pipeline_arg": 10})
        print(f"\n== {attempt} submit: {run.id}")
        status = run.wait_for_completion(show_output=False, timeout_seconds=600)
        print(f"status: {status}")
        show(run)


if __name__ == "__main__":
    main()
