"""Test DAG file that must fail to parse: two steps share one name."""

from pathlib import Path

from airflow_mlpipe import Pipeline, PythonScriptStep, Workspace

src = str(Path(__file__).resolve().parent / "scripts")
a = PythonScriptStep("after.py", name="twin", source_directory=src)
b = PythonScriptStep("consume.py", name="twin", source_directory=src)
dag = Pipeline(Workspace.from_config(), [a, b]).to_dag("invalid")
