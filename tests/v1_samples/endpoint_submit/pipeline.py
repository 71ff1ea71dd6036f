"""Submit a pipeline endpoint through Experiment.submit (v1 style), with parameters, tags and a
pinned version; then find the run again by id. Written as Azure ML SDK v1 code."""

import os

from azureml.core import Experiment, Workspace
from azureml.core.run import Run
from azureml.pipeline.core import Pipeline, PipelineEndpoint, PipelineParameter
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")

greeting = PipelineParameter(name="greeting", default_value="hello")
step = PythonScriptStep(
    name="greet", script_name="greet.py", arguments=["--greeting", greeting], source_directory=src
)
published = Pipeline(workspace=ws, steps=[step]).publish(name="greeter", description="says hello")
endpoint = PipelineEndpoint.publish(
    workspace=ws, name="GreeterEndpoint", pipeline=published, description="greets"
)

experiment = Experiment(workspace=ws, name="endpoint_submit")
pipeline_run = experiment.submit(
    endpoint, pipeline_parameters={"greeting": "bonjour"}, tags={"team": "ml"}, pipeline_version="0"
)
pipeline_run.wait_for_completion(show_output=True)
print("status:", pipeline_run.get_status())
print("tags:", pipeline_run.get_tags())
print("said:", pipeline_run.find_step_run("greet")[0].get_metrics()["said"])

same = Run.get(ws, pipeline_run.id)
print("found again:", same.id == pipeline_run.id, same.get_status())
print("experiment lists it:", [r.id for r in experiment.get_runs()] == [pipeline_run.id])
try:
    experiment.submit(endpoint, pipeline_version="7")
except Exception as exc:
    print("unknown version:", type(exc).__name__, "7" in str(exc))
print("DONE")
