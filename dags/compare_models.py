"""The compare-models example: train two models on iris, extract their scores, compare them.

Azure ML SDK v1 code with only its import lines changed. Run it through Airflow with the README's
first command (scripts/demo.sh), or trigger the DAG ``compare_models`` with ``{"pipeline_arg": 20}``.
"""

from pathlib import Path

from airflow_mlpipe import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    Dataset,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)

here = Path(__file__).resolve().parent
project_folder = str(here / "compare_models_src")

ws = Workspace.from_config()
try:
    compute_target = ComputeTarget(workspace=ws, name="cpu-cluster")
except ComputeTargetException:
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=2)
    compute_target = ComputeTarget.create(ws, "cpu-cluster", config)
    compute_target.wait_for_completion(show_output=False)

def_blob_store = Datastore(ws, "workspaceblobstore")
def_blob_store.upload_files(
    [str(here / "data" / "iris.csv")], target_path="train-dataset", overwrite=True, show_progress=False
)
iris_files = Dataset.File.from_files([(def_blob_store, "train-dataset/iris.csv")])
iris_table = Dataset.Tabular.from_delimited_files([(def_blob_store, "train-dataset/iris.csv")])

output_data1 = PipelineData("output_data1", datastore=def_blob_store, output_name="output_data1")
output_data2 = PipelineData("output_data2", datastore=def_blob_store, output_name="output_data2")

ds_input = iris_files.as_named_input("input1")
trainStep = PythonScriptStep(
    script_name="train.py",
    arguments=["--input", ds_input.as_download(), "--output", output_data1],
    inputs=[ds_input],
    outputs=[output_data1],
    compute_target=compute_target,
    source_directory=project_folder,
    allow_reuse=True,
)
extractStep = PythonScriptStep(
    script_name="extract.py",
    arguments=["--models", output_data1, "--output", output_data2],
    inputs=[output_data1],
    outputs=[output_data2],
    compute_target=compute_target,
    source_directory=project_folder,
)
# compare.py reads Run.get_context().input_datasets["iris_data"].to_pandas_dataframe()
compareStep = PythonScriptStep(
    script_name="compare.py",
    arguments=["--models", output_data1, "--param1", PipelineParameter("pipeline_arg", default_value=10)],
    inputs=[output_data1, iris_table.as_named_input("iris_data")],
    compute_target=compute_target,
    source_directory=project_folder,
)
compareStep.run_after(extractStep)

pipeline1 = Pipeline(workspace=ws, steps=[trainStep, extractStep, compareStep])
dag = pipeline1.to_dag("compare_models", tags=["example"])
