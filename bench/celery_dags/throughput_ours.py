"""DAG "throughput_ours" of bench/celery_throughput.py: a Pipeline of N (``MLPIPE_BENCH_STEPS``)
independent PythonScriptSteps, as users write it. The PipelineParameter ``tag`` (new per run) is an
argument of every step, so no run reuses a step of another. ``MLPIPE_BENCH_REUSE_IN_TRIGGERER``:
the DAG's reuse_in_triggerer (unset: the deployment's, ``auto``). The same DAG settings as
throughput_baseline.py (max_active_tasks=N, the default queue and pool). DAG "throughput_warmup",
4 such steps through the triggerer, is run once before the measured runs, so that none of them pays
the deployment's first triggers, imports and Blob requests."""

import os
from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineParameter, PythonScriptStep, Workspace

N = int(os.environ.get("MLPIPE_BENCH_STEPS", "10"))

src = str(Path(__file__).resolve().parent / "throughput_src")
ws = Workspace.from_config()  # MLPIPE_CONFIG: the host's own config, naming Blob on Azurite


def steps(n: int) -> list[PythonScriptStep]:
    tag = PipelineParameter("tag", default_value="none")
    return [
        PythonScriptStep(
            "step.py", name=f"step_{i:03d}", arguments=["--tag", tag, "--index", i], source_directory=src
        )
        for i in range(n)
    ]


dag = Pipeline(ws, steps(N)).to_dag(
    "throughput_ours",
    reuse_in_triggerer=os.environ.get("MLPIPE_BENCH_REUSE_IN_TRIGGERER") or None,
    max_active_tasks=N,
    max_active_runs=1,
)
warmup = Pipeline(ws, steps(4)).to_dag("throughput_warmup", reuse_in_triggerer="on", max_active_runs=1)
