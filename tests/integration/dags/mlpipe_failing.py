"""Test DAG: a step that writes an output and then fails; its consumer must never run."""

from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineData, PythonScriptStep, Workspace

src = str(Path(__file__).resolve().parent / "scripts")
ws = Workspace.from_config()
half = PipelineData("half")
boom = PythonScriptStep(
    "boom.py", name="boom", arguments=["--out", half], outputs=[half], source_directory=src
)
never = PythonScriptStep(
    "consume.py", name="never", arguments=["--data", half], inputs=[half], source_directory=src
)
dag = Pipeline(ws, [boom, never]).to_dag("failing")
