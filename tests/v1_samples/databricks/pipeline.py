"""Azure ML pipelines with Databricks (v1 style, after Microsoft's aka.ms/pl-databricks sample).

A PythonScriptStep writes a table; a DatabricksStep runs a workspace notebook on it with Spark; a
second DatabricksStep runs a Python script uploaded from source_directory; a last PythonScriptStep
reads its output. The notebooks are in the Databricks workspace already, as in the original sample.
Written as Azure ML SDK v1 code; the test runs `mlpipe migrate` on a copy and then runs it.
"""

import os

from azureml.core import Experiment, Workspace
from azureml.core.compute import ComputeTarget, DatabricksCompute
from azureml.core.compute_target import ComputeTargetException
from azureml.core.databricks import PyPiLibrary
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import DatabricksStep, PythonScriptStep

ws = Workspace.from_config()
here = os.path.dirname(os.path.abspath(__file__))

db_compute_name = os.getenv("DATABRICKS_COMPUTE_NAME", "<my-databricks-compute-name>")
db_resource_group = os.getenv("DATABRICKS_RESOURCE_GROUP", "<my-db-resource-group>")
db_workspace_name = os.getenv("DATABRICKS_WORKSPACE_NAME", "<my-db-workspace-name>")
db_access_token = os.getenv("DATABRICKS_ACCESS_TOKEN", "<my-access-token>")

try:
    databricks_compute = DatabricksCompute(workspace=ws, name=db_compute_name)
    print(f"Compute target {db_compute_name} already exists")
except ComputeTargetException:
    print("Compute not found, will use below parameters to attach new one")
    config = DatabricksCompute.attach_configuration(
        resource_group=db_resource_group, workspace_name=db_workspace_name, access_token=db_access_token
    )
    databricks_compute = ComputeTarget.attach(ws, db_compute_name, config)
    databricks_compute.wait_for_completion(True)
print("compute type:", databricks_compute.type)

# --- the pipeline: PythonScriptStep -> notebook -> python_script_name -> PythonScriptStep ---
def_blob_store = ws.get_default_datastore()  # mounted in the Databricks workspace
file_store = ws.datastores["workspacefilestore"]  # not mounted: staged through DBFS
threshold = PipelineParameter(name="threshold", default_value=3)

raw = PipelineData("raw", datastore=def_blob_store)
counted = PipelineData("counted", datastore=def_blob_store)
scored = PipelineData("scored", datastore=file_store)

prep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--out", raw],
    outputs=[raw],
    source_directory=os.path.join(here, "scripts"),
)
count_rows = DatabricksStep(
    name="count_rows",
    inputs=[raw],
    outputs=[counted],
    num_workers=1,
    notebook_path="/Users/ml@contoso.com/count_rows",
    notebook_params={"threshold": threshold},
    run_name="count rows",
    compute_target=databricks_compute,
    allow_reuse=True,
)
score = DatabricksStep(
    name="score",
    inputs=[counted],
    outputs=[scored],
    num_workers=1,
    python_script_name="score.py",
    source_directory=os.path.join(here, "dbscripts"),
    python_script_params=["--threshold", threshold],
    pypi_libraries=[PyPiLibrary(package="pyyaml")],
    compute_target=databricks_compute,
    allow_reuse=True,
)
report = PythonScriptStep(
    name="report",
    script_name="report.py",
    arguments=["--scored", scored],
    inputs=[scored],
    source_directory=os.path.join(here, "scripts"),
)
pipeline = Pipeline(workspace=ws, steps=[prep, count_rows, score, report])
pipeline.validate()

experiment = Experiment(ws, "databricks_sample")
first = experiment.submit(pipeline)
first.wait_for_completion(show_output=False)
print("first run:", first.get_status())
for step_run in sorted(first.get_children(), key=lambda r: r.name):
    print("step", step_run.name, step_run.get_status(), "metrics", step_run.get_metrics())

second = experiment.submit(pipeline)
second.wait_for_completion(show_output=False)
print("second run:", second.get_status())
print(
    "second run reused:",
    sorted(r.name for r in second.get_children() if r.get_details()["reused_from"] is not None),
)

# --- the DatabricksStep of v1's reference page, as it is written there ---
dbNbStep = DatabricksStep(
    name="DBNotebookInWS",
    num_workers=1,
    notebook_path="/Users/ml@contoso.com/hello",
    notebook_params={"myparam": "testparam"},
    run_name="DB_Notebook_demo",
    compute_target=databricks_compute,
    allow_reuse=False,
)
hello = Experiment(ws, "databricks_hello").submit(Pipeline(workspace=ws, steps=[dbNbStep]))
hello.wait_for_completion(show_output=False)
print("hello run:", hello.get_status())
print("hello metrics:", hello.find_step_run("DBNotebookInWS")[0].get_metrics())
print("DONE")
