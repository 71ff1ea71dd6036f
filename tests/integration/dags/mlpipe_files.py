"""Test DAGs: single-file outputs, path_on_compute, and a step stopped by execution_timeout."""

from datetime import timedelta
from pathlib import Path

from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace

src = str(Path(__file__).resolve().parent / "scripts")
ws = Workspace.from_config()

model_file = PipelineData("model_file", is_directory=False)
deep = PipelineData("deep", output_path_on_compute="sub/dir")
write = PythonScriptStep(
    "write_file.py",
    name="write",
    arguments=["--model", model_file, "--deep", deep],
    outputs=[model_file, deep],
    source_directory=src,
)
read = PythonScriptStep(
    "read_file.py",
    name="read",
    arguments=["--model", model_file.as_download(path_on_compute="here/in"), "--deep", deep],
    inputs=[model_file.as_download(path_on_compute="here/in"), deep],
    source_directory=src,
)
files_dag = Pipeline(ws, [write, read]).to_dag("files")

sleeper = PythonScriptStep(
    "sleeper.py",
    name="sleeper",
    arguments=["--pid-file", PipelineParameter("pid_file", "/nonexistent")],
    source_directory=src,
)
timeout_dag = Pipeline(ws, [sleeper]).to_dag(
    "timeout", default_args={"execution_timeout": timedelta(seconds=8), "retries": 0}
)
