"""Publish a pipeline and call its REST endpoint (v1 style), authenticated with
InteractiveLoginAuthentication().get_authentication_header(). Written as Azure ML SDK v1 code."""

import os

import requests
from azureml.core import Experiment, Workspace
from azureml.core.authentication import InteractiveLoginAuthentication
from azureml.pipeline.core import Pipeline, PipelineParameter, PipelineRun, PublishedPipeline
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")

pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
step = PythonScriptStep(
    name="scale",
    script_name="scale.py",
    arguments=["--factor", pipeline_param],
    source_directory=src,
)
pipeline1 = Pipeline(workspace=ws, steps=[step])

published_pipeline1 = pipeline1.publish(
    name="My_New_Pipeline", description="My Published Pipeline Description", version="1.0"
)
print("published:", published_pipeline1.name, published_pipeline1.version, published_pipeline1.status)

interactive_auth = InteractiveLoginAuthentication()
auth_header = interactive_auth.get_authentication_header()
print("header:", sorted(auth_header))

response = requests.post(
    published_pipeline1.endpoint,
    headers=auth_header,
    json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 20}},
)
response.raise_for_status()
run_id = response.json()["Id"]
print("submitted over REST, status code", response.status_code)

published_pipeline_run = PipelineRun(ws.experiments["My_Pipeline"], run_id)
published_pipeline_run.wait_for_completion(show_output=False)
scale = published_pipeline_run.find_step_run("scale")[0]
print("rest run:", published_pipeline_run.get_status(), scale.get_metrics()["scaled"])

# the URL shape v1 gave, with the workspace's path in it, reaches the same route
v1_url = published_pipeline1.endpoint.replace(
    "/pipelines/v1.0/",
    f"/pipelines/v1.0/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers/Microsoft.MachineLearningServices/workspaces/{ws.name}/",
)
response = requests.post(
    v1_url,
    headers=auth_header,
    json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 1}},
)
print("v1 url shape:", response.status_code, response.json()["PipelineId"] == published_pipeline1.id)

bad = requests.post(published_pipeline1.endpoint, json={"ExperimentName": "My_Pipeline"})
print("without a token:", bad.status_code)

same = PublishedPipeline.get(ws, id=published_pipeline1.id)
run2 = same.submit(ws, "My_Pipeline", pipeline_parameters={"pipeline_arg": 3})
run2.wait_for_completion(show_output=False)
print("python run:", run2.get_status(), run2.find_step_run("scale")[0].get_metrics()["scaled"])
print("experiment runs:", len(list(Experiment(ws, "My_Pipeline").get_runs())) >= 2)
print("DONE")
