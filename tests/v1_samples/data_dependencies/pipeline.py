"""Data dependencies between steps (v1 style): DataReference, PipelineData, a DataPath parameter,
get_outputs and get_port_data_reference. Written as Azure ML SDK v1 code."""

import os
import tempfile

from azureml.core import Datastore, Experiment, Workspace
from azureml.data.data_reference import DataReference
from azureml.data.datapath import DataPath, DataPathComputeBinding
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
def_blob_store = Datastore(ws, "workspaceblobstore")
print(f"Blobstore's name: {def_blob_store.name}")

here = os.path.dirname(os.path.abspath(__file__))
local = tempfile.mkdtemp()
for name, text in (("raw/a.csv", "x\n1\n2\n3\n"), ("raw/b.csv", "x\n10\n20\n"), ("alt/c.csv", "x\n100\n")):
    os.makedirs(os.path.dirname(os.path.join(local, name)), exist_ok=True)
    with open(os.path.join(local, name), "w") as fh:
        fh.write(text)
def_blob_store.upload(
    src_dir=os.path.join(local, "raw"), target_path="samples/raw", overwrite=True, show_progress=True
)
def_blob_store.upload(
    src_dir=os.path.join(local, "alt"), target_path="samples/alt", overwrite=True, show_progress=True
)

raw_data = DataReference(
    datastore=def_blob_store, data_reference_name="raw_data", path_on_datastore="samples/raw"
)
cleaned = PipelineData("cleaned", datastore=def_blob_store)
totals = PipelineData("totals", datastore=def_blob_store)

extra_path = PipelineParameter(
    name="extra_data", default_value=DataPath(datastore=def_blob_store, path_on_datastore="samples/raw")
)
extra_input = (extra_path, DataPathComputeBinding(mode="mount"))

clean_step = PythonScriptStep(
    script_name="clean.py",
    arguments=["--input", raw_data, "--output", cleaned],
    inputs=[raw_data],
    outputs=[cleaned],
    source_directory=os.path.join(here, "scripts"),
    allow_reuse=True,
)
sum_step = PythonScriptStep(
    script_name="total.py",
    arguments=["--cleaned", cleaned, "--extra", extra_input, "--output", totals],
    inputs=[cleaned, extra_input],
    outputs=[totals],
    source_directory=os.path.join(here, "scripts"),
)

pipeline = Pipeline(workspace=ws, steps=[clean_step, sum_step])
experiment = Experiment(ws, "data_dependencies")

for label, params in (("default", {}), ("alt", {"extra_data": DataPath(def_blob_store, "samples/alt")})):
    run = experiment.submit(pipeline, pipeline_parameters=params)
    run.wait_for_completion(show_output=False)
    step_run = run.find_step_run("total.py")[0]
    outputs = step_run.get_outputs()
    print(label, "outputs:", sorted(outputs))
    port_data_reference = step_run.get_output("totals").get_port_data_reference()
    print(
        label,
        "datastore:",
        port_data_reference.datastore_name,
        "name:",
        port_data_reference.data_reference_name,
    )
    target = tempfile.mkdtemp()
    count = port_data_reference.download(local_path=target)
    with open(os.path.join(target, port_data_reference.path_on_datastore, "total.txt")) as fh:
        print(label, "files:", count, "total:", fh.read().strip())
print("DONE")
