"""Test DAG file that must fail to parse: a DatabricksStep given both a notebook and a script."""

from airflow_mlpipe import DatabricksStep, Pipeline, Workspace

step = DatabricksStep(
    name="both_tasks",
    notebook_path="/Users/ml@contoso.com/hello",
    python_script_path="dbfs:/scripts/run.py",
    num_workers=1,
    compute_target="dbx",
)
dag = Pipeline(Workspace.from_config(), [step]).to_dag("invalid_databricks")
