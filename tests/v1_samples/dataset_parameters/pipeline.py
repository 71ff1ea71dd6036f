"""Dataset parameters and web data (v1 style): a PipelineParameter whose default is a registered
dataset, swapped per run from Python and from a published pipeline's REST body; a dataset read
from a web URL, fetched per run, whose consumer reruns only when the URL's content changes.

Written as Azure ML SDK v1 code; the test runs `mlpipe migrate` on a copy and then runs it. It
serves the web data on loopback and passes its URL and folder in WEB_DATA_URL and WEB_DATA_DIR.
"""

import os

import requests
from azureml.core import Dataset, Experiment, Workspace
from azureml.core.authentication import InteractiveLoginAuthentication
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.exceptions import UserErrorException
from azureml.pipeline.core import Pipeline, PipelineParameter, PipelineRun
from azureml.pipeline.steps import PythonScriptStep

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "scripts")
ws = Workspace.from_config()
store = ws.get_default_datastore()
for name, rows in (("small", 3), ("large", 5)):
    folder = os.path.join(here, "upload", name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "rows.csv"), "w") as fh:
        fh.write("x\n" + "".join(f"{i}\n" for i in range(rows)))
    store.upload(src_dir=folder, target_path=f"param-data/{name}", overwrite=True, show_progress=False)
small = Dataset.File.from_files(path=(store, "param-data/small/rows.csv")).register(ws, "rows_data")
large = Dataset.File.from_files(path=(store, "param-data/large/rows.csv")).register(
    ws, "rows_data", create_new_version=True
)
print("versions:", small.version, large.version)

data_param = PipelineParameter(name="input_rows", default_value=small)
count = PythonScriptStep(
    name="count",
    script_name="count.py",
    arguments=["--data", DatasetConsumptionConfig("rows_in", data_param).as_mount()],
    source_directory=src,
)
pipeline = Pipeline(workspace=ws, steps=[count])
experiment = Experiment(ws, "dataset_params")


def rows_of(run):
    run.wait_for_completion(show_output=False)
    return run.get_status(), run.find_step_run("count")[0].get_metrics()["rows"]


print("default run:", *rows_of(experiment.submit(pipeline)))
print("python run:", *rows_of(experiment.submit(pipeline, pipeline_parameters={"input_rows": large})))
print(
    "by name and version:",
    *rows_of(
        experiment.submit(
            pipeline, pipeline_parameters={"input_rows": Dataset.get_by_name(ws, "rows_data", 1)}
        )
    ),
)

published = pipeline.publish(name="count_rows", description="rows of a dataset", version="1")
auth_header = InteractiveLoginAuthentication().get_authentication_header()
for label, value in (
    ("rest by id", {"SavedDataSetReference": {"Id": large.id}}),
    (
        "rest by path",
        {"DataPath": {"DataStoreName": store.name, "RelativePath": "param-data/small/rows.csv"}},
    ),
):
    response = requests.post(
        published.endpoint,
        headers=auth_header,
        json={"ExperimentName": "dataset_params", "DataSetDefinitionValueAssignments": {"input_rows": value}},
    )
    response.raise_for_status()
    print(label + ":", *rows_of(PipelineRun(experiment, response.json()["Id"])))
# Airflow's own trigger takes the same values in its conf (an addition: v1 had no such API)
native = requests.post(
    published.endpoint.split("/mlpipe/")[0] + f"/api/v2/dags/{published.dag_id}/dagRuns",
    headers=auth_header,
    json={"logical_date": None, "conf": {"input_rows": {"name": "rows_data", "version": 2}}},
)
native.raise_for_status()
native_run = PipelineRun(experiment, f"{published.dag_id}/{native.json()['dag_run_id']}")
print("airflow conf:", *rows_of(native_run))
bad = requests.post(
    published.endpoint,
    headers=auth_header,
    json={
        "ExperimentName": "dataset_params",
        "DataSetDefinitionValueAssignments": {"input_rows": {"Bogus": 1}},
    },
)
print("bad assignment:", bad.status_code, "is not a dataset" in bad.json()["detail"])
missing = requests.post(
    published.endpoint,
    headers=auth_header,
    json={
        "ExperimentName": "dataset_params",
        "DataSetDefinitionValueAssignments": {"input_rows": {"SavedDataSetReference": {"Id": "no-such-id"}}},
    },
)
missing_run = PipelineRun(experiment, missing.json()["Id"])
missing_run.wait_for_completion(show_output=False, raise_on_error=False)
log = "\n".join(missing_run.find_step_run("count")[0].get_details_with_logs()["logFiles"].values())
print("unknown id run:", missing_run.get_status(), "no dataset with id 'no-such-id'" in log)
try:
    experiment.submit(pipeline, pipeline_parameters={"input_rows": 7})
except UserErrorException as exc:
    print("wrong type:", "is not a dataset" in str(exc))

# web data: fetched per run, fingerprinted by its ETag; the consumer reruns only when it changes
web = Dataset.Tabular.from_delimited_files(path=os.environ["WEB_DATA_URL"])
web_step = PythonScriptStep(
    name="web_rows",
    script_name="web_rows.py",
    arguments=["--data", web.as_named_input("web_in")],
    source_directory=src,
)
web_pipeline = Pipeline(workspace=ws, steps=[web_step])
web_experiment = Experiment(ws, "web_data")
for label in ("first", "unchanged", "changed"):
    if label == "changed":
        with open(os.path.join(os.environ["WEB_DATA_DIR"], "table.csv"), "a") as fh:
            fh.write("7,8\n")
    run = web_experiment.submit(web_pipeline)
    run.wait_for_completion(show_output=False)
    step = run.find_step_run("web_rows")[0]
    print(
        f"web {label}:",
        run.get_status(),
        step.get_metrics()["rows"],
        "reused:",
        step.get_details()["reused_from"] is not None,
    )
print("DONE")
