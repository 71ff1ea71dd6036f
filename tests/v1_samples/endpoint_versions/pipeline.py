"""Versioned pipeline endpoints (v1 style): publish two pipelines behind one PipelineEndpoint,
move the default, run pinned versions from Python and over REST. Written as Azure ML SDK v1 code."""

import os

import requests
from azureml.core import Workspace
from azureml.core.authentication import InteractiveLoginAuthentication
from azureml.pipeline.core import Pipeline, PipelineEndpoint, PipelineParameter
from azureml.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


def pipeline(version):
    step = PythonScriptStep(
        name="report",
        script_name="report.py",
        arguments=["--version", version, "--n", PipelineParameter("n", default_value=1)],
        source_directory=src,
    )
    return Pipeline(workspace=ws, steps=[step])


first = pipeline("v-one").publish(name="versioned_v1", description="first")
second = pipeline("v-two").publish(name="versioned_v2", description="second")

pipeline_endpoint = PipelineEndpoint.publish(
    workspace=ws, name="VersionedEndpoint", pipeline=first, description="an endpoint with versions"
)
pipeline_endpoint.add_default(second)
print("default version:", pipeline_endpoint.get_default_version())
print("versions:", [(v.version, v.pipeline.name) for v in pipeline_endpoint.list_versions()])

endpoint_by_name = PipelineEndpoint.get(workspace=ws, name="VersionedEndpoint")
run = endpoint_by_name.submit("endpoint_versions", pipeline_parameters={"n": 2})
run.wait_for_completion(show_output=False)
print("default run:", run.find_step_run("report")[0].get_metrics()["version"])
run = endpoint_by_name.submit("endpoint_versions", pipeline_version="0")
run.wait_for_completion(show_output=False)
print("pinned run:", run.find_step_run("report")[0].get_metrics()["version"])

auth_header = InteractiveLoginAuthentication().get_authentication_header()
rest_base = pipeline_endpoint.endpoint.split("/PipelineRuns/")[0]
response = requests.post(
    rest_base + "/PipelineRuns/PipelineEndpointSubmit/Name",
    params={"name": "VersionedEndpoint", "pipelineVersion": "0"},
    headers=auth_header,
    json={"ExperimentName": "endpoint_versions", "ParameterAssignments": {"n": 4}},
)
print("rest by name:", response.status_code, response.json().get("PipelineVersion"))

pipeline_endpoint.set_default_version("0")
print("default now:", PipelineEndpoint.get(workspace=ws, name="VersionedEndpoint").get_default_version())
print("DONE")
