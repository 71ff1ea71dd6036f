"""DAG "throughput_ours" of bench/celery_throughput.py: a Pipeline of N (``MLPIPE_BENCH_STEPS``)
independent PythonScriptSteps, as users write it. The PipelineParameter ``tag`` (new per run) is an
argument of every step, so no run reuses a step of another. ``MLPIPE_BENCH_REUSE_IN_TRIGGERER``:
the DAG's reuse_in_triggerer (unset: the deployment's, ``auto``). The same DAG settings as
throughput_baseline.py (max_active_tasks=N, the default queue and pool)."""

import os
from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineParameter, PythonScriptStep, Workspace

N = int(os.environ.get("MLPIPE_BENCH_STEPS", "10"))

src = str(Path(__file__).resolve().parent / "throughput_src")
ws = Workspace.from_config()  # MLPIPE_CONFIG: the host's own config, naming Blob on Azurite
tag = PipelineParameter("tag", default_value="none")
steps = [
    PythonScriptStep(
        "step.py", name=f"step_{i:03d}", arguments=["--tag", tag, "--index", i], source_directory=src
    )
    for i in range(N)
]
dag = Pipeline(ws, steps).to_dag(
    "throughput_ours",
    reuse_in_triggerer=os.environ.get("MLPIPE_BENCH_REUSE_IN_TRIGGERER") or None,
    max_active_tasks=N,
    max_active_runs=1,
)
