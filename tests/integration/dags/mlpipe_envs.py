"""Test DAG: a step in a container environment that the test kills (env_kill)."""

from pathlib import Path

from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace
from airflow_mlpipe.definitions.conda import CondaDependencies
from airflow_mlpipe.definitions.runconfig import RunConfiguration

here = Path(__file__).parent
ws = Workspace.from_config()
config = RunConfiguration()
config.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"])
sleepy = PythonScriptStep(
    "container_sleep.py",
    name="sleepy",
    source_directory=str(here / "scripts"),
    runconfig=config,
    allow_reuse=False,
)
kill_dag = Pipeline(ws, [sleepy]).to_dag("env_kill")

# env_timeout: the same step under an execution_timeout, which stops and removes its container
timeout_dag = Pipeline(ws, [sleepy]).to_dag(
    "env_timeout", default_args={"execution_timeout": __import__("datetime").timedelta(seconds=45)}
)
