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
