"""Data and models (v1 style): three steps chained through OutputFileDatasetConfig, outputs
registered on completion and read back by name and version, a one-file dataset that arrives as a
file, and a model registered from a step and found by a later step and by Model.list.

Written as Azure ML SDK v1 code; the test runs `mlpipe migrate` on a copy and then runs it.
"""

import os

from azureml.core import Dataset, Experiment, Model, Workspace
from azureml.data import OutputFileDatasetConfig
from azureml.exceptions import UserErrorException
from azureml.pipeline.core import Pipeline
from azureml.pipeline.steps import PythonScriptStep

here = os.path.dirname(os.path.abspath(__file__))
ws = Workspace.from_config()
def_blob_store = ws.get_default_datastore()
print("default datastore:", def_blob_store.name, def_blob_store.datastore_type)
def_blob_store.upload_files(
    [os.path.join(here, "data", "iris.csv")], target_path="iris-data", overwrite=True, show_progress=False
)
iris = Dataset.File.from_files(path=[(def_blob_store, "iris-data/iris.csv")])

# step 1 writes prepped data to a destination of its own; step 2 reads it and writes features,
# read as a table; step 3 trains on the table and registers a model; step 4 scores with it
prepped = OutputFileDatasetConfig(
    name="prepped", destination=(def_blob_store, "prepped/{run-id}/{output-name}")
).register_on_complete(name="iris_prepped", description="cleaned iris rows", tags={"stage": "prep"})
features = (
    OutputFileDatasetConfig(name="features")
    .as_upload(overwrite=False, source_globs=["*.csv"])
    .read_delimited_files()
    .register_on_complete(name="iris_features")
)
scores = OutputFileDatasetConfig(name="scores")

src = os.path.join(here, "scripts")
prep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--raw", iris.as_named_input("raw").as_mount(), "--out", prepped],
    source_directory=src,
    allow_reuse=True,
)
featurize = PythonScriptStep(
    name="featurize",
    script_name="featurize.py",
    arguments=["--prepped", prepped.as_input(name="prepped_in"), "--out", features],
    source_directory=src,
)
train = PythonScriptStep(
    name="train",
    script_name="train.py",
    arguments=["--features", features.as_input(name="features_in")],
    source_directory=src,
)
score = PythonScriptStep(
    name="score",
    script_name="score.py",
    arguments=["--features", features.as_input(name="features_in"), "--out", scores],
    source_directory=src,
)
score.run_after(train)

pipeline = Pipeline(workspace=ws, steps=[score])  # the other steps come in through their outputs
run = Experiment(ws, "data_and_models").submit(pipeline)
run.wait_for_completion(show_output=False)
print("status:", run.get_status())
steps = {s.name: s for s in run.get_steps()}
print("order:", sorted(steps))
print("raw arrived as a file:", steps["prep"].get_metrics()["raw_is_file"])
print("featurize saw:", steps["featurize"].get_metrics()["prepped_files"])
print(
    "train rows:",
    steps["train"].get_metrics()["rows"],
    "model version:",
    steps["train"].get_metrics()["model_version"],
)
print(
    "score accuracy ok:",
    steps["score"].get_metrics()["accuracy"] > 0.8,
    steps["score"].get_metrics()["model_path_name"],
)

prepped_ds = Dataset.get_by_name(ws, name="iris_prepped", version=1)
print("prepped:", prepped_ds.name, prepped_ds.version, prepped_ds.tags, prepped_ds.description)
print("prepped files:", prepped_ds.to_path())
features_ds = Dataset.get_by_name(ws, "iris_features")
frame = features_ds.to_pandas_dataframe()
print("features:", type(features_ds).__name__, features_ds.version, frame.shape, list(frame.columns)[:2])
print("by id:", Dataset.get_by_id(ws, features_ds.id).name)
print("workspace datasets:", sorted(ws.datasets))

models = Model.list(ws, name="iris_model")
print("models:", [(m.name, m.version) for m in models], "framework:", models[0].model_framework)
model = Model(ws, "iris_model")
print("model run:", model.run_id.split("/")[-1], "tags:", model.tags)
path = model.download(target_dir=os.path.join(here, "downloaded"), exist_ok=True)
print("downloaded:", os.path.basename(path))

# a second run reuses every step: no new dataset or model version
run2 = Experiment(ws, "data_and_models").submit(pipeline)
run2.wait_for_completion(show_output=False)
print(
    "second run:",
    run2.get_status(),
    "versions:",
    Dataset.get_by_name(ws, "iris_prepped").version,
    len(Model.list(ws, name="iris_model")),
)

for label, call in (
    ("unknown dataset", lambda: Dataset.get_by_name(ws, "no_such_dataset")),
    ("unknown version", lambda: Dataset.get_by_name(ws, "iris_features", version=99)),
    ("unknown model", lambda: Model(ws, "iris_model", version=42)),
):
    try:
        call()
        print(label, "found?!")
    except UserErrorException as exc:
        print(label + ":", str(exc).split(";")[0])
print("DONE")
