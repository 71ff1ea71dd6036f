"""Test DAG of the Celery fault tests (tests/integration/test_celery_faults.py): a slow step whose
output the next step reads, both on the default queue (which both worker hosts serve), one retry
each. ``tag`` makes each run's fingerprints new, so every run computes instead of reusing."""

from datetime import timedelta
from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace

src = str(Path(__file__).resolve().parent / "fault_src")
ws = Workspace.from_config()  # MLPIPE_CONFIG: the host's own config, naming Blob on Azurite
tag = PipelineParameter("tag", default_value="none")
partial = PipelineData("partial")

slow = PythonScriptStep(
    "slow.py",
    name="slow",
    arguments=["--tag", tag, "--out", partial],
    outputs=[partial],
    source_directory=src,
)
after = PythonScriptStep(
    "after.py",
    name="after",
    arguments=["--tag", tag, "--data", partial],
    inputs=[partial],
    source_directory=src,
)
dag = Pipeline(ws, [slow, after]).to_dag(
    "celery_faults", default_args={"retries": 1, "retry_delay": timedelta(seconds=1)}
)
