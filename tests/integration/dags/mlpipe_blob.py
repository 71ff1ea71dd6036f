"""Test DAG on a workspace whose default datastore is Azure Blob (Azurite in the tests)."""

import os
from pathlib import Path

from airflow_mlpipe import Dataset, Pipeline, PipelineData, PythonScriptStep, Workspace

here = Path(__file__).resolve().parent
ws = Workspace.from_config(path=os.environ["MLPIPE_TEST_BLOB_CONFIG"])
lake = ws.get_default_datastore()
lake.upload_files([str(here / "data" / "iris.csv")], target_path="raw", overwrite=True, show_progress=False)
files = Dataset.File.from_files([(lake, "raw/iris.csv")]).as_named_input("raw")
table = Dataset.Tabular.from_delimited_files([(lake, "raw/*.csv")]).as_named_input("table")
counts = PipelineData("counts")

count = PythonScriptStep(
    "blob_count.py",
    name="count",
    arguments=["--raw", files, "--out", counts],
    inputs=[files],
    outputs=[counts],
    source_directory=str(here / "scripts"),
)
check = PythonScriptStep(
    "blob_check.py",
    name="check",
    arguments=["--counts", counts],
    inputs=[counts, table],
    source_directory=str(here / "scripts"),
)
dag = Pipeline(ws, [count, check]).to_dag("blob_pipeline")
