"""Test DAG written by hand with PythonScriptStepOperator, next to a plain Airflow operator."""

from pathlib import Path

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_mlpipe import PipelineData, PipelineParameter, PythonScriptStepOperator

src = str(Path(__file__).resolve().parent / "scripts")
numbers = PipelineData("numbers")
count = PipelineParameter("count", default_value=4)

with DAG("handwritten", schedule=None, params={"count": 4}):
    start = EmptyOperator(task_id="start")
    make = PythonScriptStepOperator(
        task_id="make",
        script_name="make_numbers.py",
        source_directory=src,
        arguments=["--out", numbers, "--count", count],
        outputs=[numbers],
    )
    total = PythonScriptStepOperator(
        task_id="sum",
        script_name="sum.py",
        source_directory=src,
        arguments=["--numbers", numbers],
        inputs=[numbers],
    )
    start >> make >> total
