"""Getting started with Azure ML pipelines (v1 style): three steps, run_after, get_children.

Written as Azure ML SDK v1 code; the test runs `mlpipe migrate` on a copy and then runs it.
"""

import os

import azureml.core
from azureml.core import Experiment, Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.compute_target import ComputeTargetException
from azureml.core.run import Run
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep
from azureml.widgets import RunDetails

print("SDK version:", azureml.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
print("Workspace details:", sorted(ws.get_details()))

aml_compute_target = "cpu-cluster"
try:
    aml_compute = AmlCompute(ws, aml_compute_target)
    print("found existing compute target.")
except ComputeTargetException:
    print("creating new compute target")
    provisioning_config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=4
    )
    aml_compute = ComputeTarget.create(ws, aml_compute_target, provisioning_config)
    aml_compute.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
print("Azure Machine Learning Compute attached")
print("compute status:", aml_compute.get_status().serialize()["provisioningState"])

source_directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")

step1 = PythonScriptStep(
    name="train_step",
    script_name="train.py",
    compute_target=aml_compute,
    source_directory=source_directory,
    allow_reuse=True,
)
step2 = PythonScriptStep(
    name="compare_step",
    script_name="compare.py",
    compute_target=aml_compute,
    source_directory=source_directory,
    allow_reuse=True,
)
step3 = PythonScriptStep(
    name="Extract results (v1)",
    script_name="extract.py",
    compute_target=aml_compute,
    source_directory=source_directory,
)
step2.run_after(step1)
step3.run_after(step2)

pipeline1 = Pipeline(workspace=ws, steps=[step1, step2, step3])
print("Pipeline is built")
pipeline1.validate()
print("Pipeline validation complete")

pipeline_run1 = Experiment(ws, "Hello_World1").submit(
    pipeline1, regenerate_outputs=False, tags={"sample": "hello"}
)
print("Pipeline is submitted for execution")

RunDetails(pipeline_run1).show()
pipeline_run1.wait_for_completion(show_output=True)

step_runs = pipeline_run1.get_children()
for step_run in step_runs:
    status = step_run.get_status()
    print("Script:", step_run.name, "status:", status)
    joblog = step_run.get_job_log()
    with open("logs-" + step_run.name + ".txt", "w") as f:
        f.write(joblog)
        print("Job log written to logs-" + step_run.name + ".txt")
    print("metrics:", step_run.get_metrics())

train = pipeline_run1.find_step_run("train_step")[0]
print("train details status:", train.get_details()["status"])
print("train files:", train.get_file_names())
print("train images:", train.download_files(prefix="images", output_directory="downloads"))
print("train stderr:", train.get_stderr_log())
print(
    "train logs in details:",
    "training in" in train.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"],
)
print("run files:", pipeline_run1.get_file_names())
print("cluster pool:", aml_compute.get_status().serialize()["airflowPool"])
train.download_file("outputs/model.txt", "downloaded_model.txt")
print("downloaded model:", open("downloaded_model.txt").read())
print("train tags:", train.get_tags())
pipeline_run1.tag("reviewed", "yes")
pipeline_run1.add_properties({"owner": "data-team"})
print("run tags:", sorted(pipeline_run1.get_tags().items()))
print("run properties owner:", pipeline_run1.get_properties()["owner"])
print("portal url:", pipeline_run1.get_portal_url())
print("order:", [s.name for s in sorted(step_runs, key=lambda s: s.get_details()["startTimeUtc"])])

again = Run.get(ws, pipeline_run1.id)
print("Run.get status:", again.get_status())
runs = list(Experiment(ws, "Hello_World1").get_runs())
print("experiment has the run:", any(r.id == pipeline_run1.id for r in runs))
print("experiments:", "Hello_World1" in ws.experiments)
print("DONE", pipeline_run1.get_status())
