"""Test DAG of the Celery namespace topology (tests/integration/test_celery_netns.py): a step on the
AmlCompute cluster ``cpu-cluster`` (queue and pool ``cpu-cluster``) between steps on the default
queue, every output on the workspace's Blob default datastore (no host shares a folder)."""

from pathlib import Path

from airflow_mlpipe import AmlCompute, ComputeTarget, Pipeline, PipelineData, PythonScriptStep, Workspace
from airflow_mlpipe.exceptions import ComputeTargetException

src = str(Path(__file__).resolve().parent / "celery_src")
ws = Workspace.from_config()  # MLPIPE_CONFIG: the host's own config, naming Blob on Azurite
# v1's get-or-create: every host parses this file (the DAG processor, and each worker before it
# runs a step), and each keeps compute target definitions in its own workspace folder
try:
    cluster = ComputeTarget(ws, "cpu-cluster")
except ComputeTargetException:
    cluster = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=2))
numbers, model = PipelineData("numbers"), PipelineData("model")

prepare = PythonScriptStep(
    "prepare.py", name="prepare", arguments=["--out", numbers], outputs=[numbers], source_directory=src
)
train = PythonScriptStep(
    "train.py",
    name="train",
    arguments=["--numbers", numbers, "--out", model],
    inputs=[numbers],
    outputs=[model],
    compute_target=cluster,
    source_directory=src,
)
report = PythonScriptStep(
    "report.py", name="report", arguments=["--model", model], inputs=[model], source_directory=src
)
dag = Pipeline(ws, [prepare, train, report]).to_dag("celery_topology")
