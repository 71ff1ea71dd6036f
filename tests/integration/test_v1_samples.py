"""Azure ML SDK v1 programs run unchanged but for their imports.

Each program under tests/v1_samples/ is v1 code (it imports ``azureml.*``), written in the style
of Azure ML's public pipeline samples. The test copies it, runs ``mlpipe migrate`` on the copy
(the only change), and runs it against the live embedded deployment to its end. The six programs
run at once, as six users would, and each test reads its program's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[1] / "v1_samples"
NAMES = sorted(p.name for p in SAMPLES.iterdir() if (p / "pipeline.py").is_file())
# while working on one sample: MLPIPE_TEST_SAMPLES=databricks,environments runs only those
if os.environ.get("MLPIPE_TEST_SAMPLES"):
    NAMES = [n for n in NAMES if n in os.environ["MLPIPE_TEST_SAMPLES"].split(",")]
MLPIPE = str(Path(sys.executable).parent / "mlpipe")
# samples whose workspace keeps its datastores (and so its registered datasets and models) on Blob
# Storage (Azurite), not on the embedded local folder
ON_BLOB = {"data_and_models"}


# Programs running at once: the embedded deployment's SQLite takes one writer at a time, so more
# users than this mostly wait on its lock (the client retries what a locked database answers).
AT_ONCE = 3


class SampleRun:
    """One migrated program, started when a place among AT_ONCE frees up."""

    def __init__(self, copy: Path, report: str, env: dict[str, str]):
        self.copy, self.report, self.env = copy, report, env
        self.out = copy / "output.txt"
        self.proc: subprocess.Popen | None = None
        self.started = threading.Event()

    def start(self) -> None:
        with open(self.out, "w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "pipeline.py"],
                cwd=self.copy,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        self.started.set()


def _run_all(runs: list[SampleRun], stop: threading.Event) -> None:
    for run in runs:
        while (
            not stop.is_set() and sum(r.proc is not None and r.proc.poll() is None for r in runs) >= AT_ONCE
        ):
            time.sleep(0.5)
        if stop.is_set():
            return
        run.start()


@pytest.fixture(scope="module")
def web_data(tmp_path_factory):
    """A folder served over HTTP on loopback (ETags on), for the web dataset sample."""
    from web_server import serve_folder

    folder = tmp_path_factory.mktemp("web")
    (folder / "table.csv").write_text("a,b\n1,2\n3,4\n")
    with serve_folder(folder) as server:
        yield folder, server.url("table.csv")


@pytest.fixture(scope="module")
def sample_runs(
    deployment,
    client,
    tmp_path_factory,
    web_data,
    azurite,
    blob_config,
    databricks_emulator,
    databricks_config,
):
    """Migrate each sample's copy, then run them, AT_ONCE at a time; yields name -> SampleRun."""
    from conftest import wasb_connection

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPIPE_", "AIRFLOW_"))}
    env["MLPIPE_HOME"] = str(deployment.home)  # the embedded deployment's workspace and credentials
    env["WEB_DATA_DIR"], env["WEB_DATA_URL"] = str(web_data[0]), web_data[1]
    env["SCHEDULE_POLL_MINUTES"] = "0.05"  # the datastore schedule lists every 3 s, not every 5 min
    runs = {}
    for name in NAMES:
        copy = tmp_path_factory.mktemp("v1") / name
        shutil.copytree(SAMPLES / name, copy)
        migrated = subprocess.run([MLPIPE, "migrate", str(copy)], capture_output=True, text=True, env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        own = dict(env)
        if name in ON_BLOB:  # the client reaches Azurite through the same Airflow connection as the workers
            own.update(MLPIPE_CONFIG=str(blob_config), AIRFLOW_CONN_AZURITE=wasb_connection(azurite))
        if name == "databricks":  # the emulator as the Databricks workspace the program attaches
            own.update(
                MLPIPE_CONFIG=str(databricks_config),
                DATABRICKS_COMPUTE_NAME="dbx-sample",
                DATABRICKS_RESOURCE_GROUP="rg-databricks",
                DATABRICKS_WORKSPACE_NAME="emu",
                DATABRICKS_ACCESS_TOKEN=databricks_emulator.token,
            )
        runs[name] = SampleRun(copy, migrated.stdout, own)
    stop = threading.Event()
    launcher = threading.Thread(target=_run_all, args=(list(runs.values()), stop), daemon=True)
    launcher.start()
    yield runs
    stop.set()
    launcher.join(timeout=5)
    for run in runs.values():
        if run.proc is not None and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def finished(sample_runs, name: str) -> str:
    run = sample_runs[name]
    deadline = time.monotonic() + 900
    run.started.wait(timeout=900)
    try:
        run.proc.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        run.proc.kill()
        pytest.fail(f"{name} did not finish:\n{run.out.read_text()[-3000:]}")
    proc, text = run.proc, run.out.read_text()
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{text[-4000:]}"
    assert "DONE" in text
    return text


def test_migrate_changed_only_imports_and_is_idempotent(sample_runs):
    for name, run in sample_runs.items():
        copy, report = run.copy, run.report
        assert "finding" in report, report  # the summary line
        for original in (SAMPLES / name).rglob("*.py"):
            migrated = (copy / original.relative_to(SAMPLES / name)).read_text()
            before = original.read_text()
            assert "azureml." not in migrated.replace("airflow_mlpipe.v1.", "")
            assert migrated.replace("airflow_mlpipe.v1", "azureml") == before, original
        check = subprocess.run([MLPIPE, "migrate", "--check", str(copy / "pipeline.py")], capture_output=True)
        assert check.returncode == 0, check.stdout


def test_getting_started(sample_runs):
    text = finished(sample_runs, "getting_started")
    assert "SDK version:" in text and "mlpipe-local" in text  # the embedded workspace's identity
    assert "compute status: Succeeded" in text
    # a v1 step name with spaces and brackets: an Airflow task id of its own, shown by its name
    for step in ("train_step", "compare_step", "Extract results (v1)"):
        assert f"Script: {step} status: Finished" in text
    # run_after orders the steps though no data flows between them
    assert "order: ['train_step', 'compare_step', 'Extract results (v1)']" in text
    # v1-style streaming of wait_for_completion(show_output=True), and the RunDetails text table
    assert (
        "Streaming train_step azureml-logs/70_driver_log.txt" in text and "training in Hello_World1" in text
    )
    assert "StepRun(train_step) Execution Summary" in text and "PipelineRun Execution Summary" in text
    assert "'accuracy': 0.91" in text and "'datastore': 'workspaceblobstore'" in text
    assert "'outputs/model.txt'" in text and "downloaded model: weights=42" in text
    # run files: the driver log, ./outputs, log_image and upload_file, each listed and downloadable
    for name in ("azureml-logs/70_driver_log.txt", "images/loss_curve.png", "notes/summary.txt"):
        assert f"'{name}'" in text
    assert "train images: ['downloads/images/loss_curve.png']" in text
    assert "'loss_curve': {'image': 'images/loss_curve.png', 'description': 'training loss'}" in text
    assert "train stderr: a warning on stderr" in text and "train logs in details: True" in text
    assert "run files: ['logs/azureml/executionlogs.txt']" in text
    assert "cluster pool: cpu-cluster" in text
    assert "train tags: {'framework': 'none'}" in text
    assert "('reviewed', 'yes')" in text and "('sample', 'hello')" in text
    assert "run properties owner: data-team" in text
    assert "/dags/experiment_Hello_World1/runs/" in text
    assert "Run.get status: Finished" in text and "experiment has the run: True" in text
    assert "experiments: True" in text and "DONE Finished" in text


def test_data_dependencies(sample_runs):
    text = finished(sample_runs, "data_dependencies")
    assert "default outputs: ['totals']" in text
    assert "default datastore: workspaceblobstore name: totals" in text
    assert "default files: 1 total: 72" in text  # raw data (36) twice: the DataPath default
    assert "alt files: 1 total: 136" in text  # the DataPath parameter swapped for this run


def test_failing_step_under_both_settings(sample_runs):
    text = finished(sample_runs, "failing_step")
    assert "stop: raised PipelineRunFailed" in text and "stop: status Failed" in text
    # the step that needs the failed one's output never starts; the independent one is stopped
    assert (
        "stop: steps [('after_broken', 'NotStarted'), ('broken', 'Failed'), ('independent', 'Canceled')]"
        in text
    )
    assert "stop: broken log has the error: True" in text
    assert "continue: status Failed" in text
    assert (
        "continue: steps [('after_broken', 'NotStarted'), ('broken', 'Failed'), ('independent', 'Finished')]"
        in text
    )


def test_publish_and_call_the_rest_endpoint(sample_runs):
    text = finished(sample_runs, "publish_rest")
    assert "published: My_New_Pipeline 1.0 Active" in text
    assert "header: ['Authorization']" in text
    assert "submitted over REST, status code 200" in text
    assert "rest run: Finished 100" in text  # pipeline_arg 20 from ParameterAssignments
    assert "without a token: 401" in text
    assert "v1 url shape: 200 True" in text
    assert "python run: Finished 15" in text and "experiment runs: True" in text


def test_versioned_endpoints(sample_runs):
    text = finished(sample_runs, "endpoint_versions")
    assert "default version: 1" in text
    assert "versions: [('0', 'versioned_v1'), ('1', 'versioned_v2')]" in text
    assert "default run: v-two" in text and "pinned run: v-one" in text
    assert "rest by name: 200 0" in text
    assert "default now: 0" in text


def test_submit_an_endpoint_through_experiment_submit(sample_runs):
    text = finished(sample_runs, "endpoint_submit")
    assert "status: Finished" in text and "tags: {'team': 'ml'}" in text and "said: bonjour" in text
    assert "bonjour world" in text  # the step's log, streamed by wait_for_completion(show_output=True)
    assert "found again: True Finished" in text and "experiment lists it: True" in text
    assert "unknown version: NotFoundError True" in text


def test_data_and_models(sample_runs):
    text = finished(sample_runs, "data_and_models")
    assert "default datastore: lake AzureBlob" in text  # the registry lives on Blob Storage (Azurite)
    assert "status: Finished" in text and "order: ['featurize', 'prep', 'score', 'train']" in text
    assert "raw arrived as a file: True" in text
    assert "featurize saw: ['clean.csv']" in text
    assert "train rows: 60 model version: 1" in text
    assert "score accuracy ok: True model.pkl" in text  # get_model_path in a later step
    assert "prepped: iris_prepped 1 {'stage': 'prep'} cleaned iris rows" in text
    assert "prepped files: ['/clean.csv']" in text
    # registered as a table (read_delimited_files); source_globs kept only the CSV
    assert "features: TabularDataset 1 (60, 6) ['sepal_length', 'sepal_width']" in text
    assert "by id: iris_features" in text and "workspace datasets: ['iris_features', 'iris_prepped']" in text
    assert "models: [('iris_model', 1)] framework: ScikitLearn" in text
    assert "model run: train tags: {'algo': 'tree'}" in text and "downloaded: model.pkl" in text
    assert "second run: Finished versions: 1 1" in text  # reused: no new dataset or model version
    assert "unknown dataset: no dataset named 'no_such_dataset'" in text
    assert "unknown version: dataset 'iris_features' has no version 99" in text
    assert "unknown model: " in text and "'iris_model'" in text.split("unknown model: ")[1].splitlines()[0]


def test_dataset_parameters_and_web_data(sample_runs):
    text = finished(sample_runs, "dataset_parameters")
    assert "versions: 1 2" in text
    assert "default run: Finished 3" in text  # the parameter's default: version 1
    assert "python run: Finished 5" in text  # swapped from Python for this run
    assert "by name and version: Finished 3" in text
    assert "rest by id: Finished 5" in text  # DataSetDefinitionValueAssignments, SavedDataSetReference
    assert "rest by path: Finished 3" in text  # ... and the DataPath form
    assert "airflow conf: Finished 5" in text  # Airflow's own trigger, by name and version
    assert "bad assignment: 400 True" in text
    assert "unknown id run: Failed True" in text
    assert "wrong type: True" in text
    assert "web first: Finished 2 reused: False" in text
    assert "web unchanged: Finished 2 reused: True" in text
    assert "web changed: Finished 3 reused: False" in text  # a new ETag reruns the consumer


def test_environments_run_in_containers(sample_runs):
    text = finished(sample_runs, "environments")
    lines = [line.strip() for line in text.splitlines()]
    assert "first status: Finished" in lines
    # the worker's Python, an image with pip packages, and the getting-started sample's conda
    # packages (resolved with pip: the base image has no conda); metrics arrive from the containers
    assert any(
        line.startswith("first plain: Finished reused=False") and "('in_container', False)" in line
        for line in lines
    )
    assert (
        "first with_pip: Finished reused=False [('greeting', 'hello from pip-env'), ('in_container', True), ('six', '1.16.0')]"
        in lines
    )
    assert "first with_conda: Finished reused=False [('accuracy_ok', True), ('in_container', True)]" in lines
    # a changed package reruns only its step
    assert any(line.startswith("changed plain: Finished reused=True") for line in lines)
    assert any(
        line.startswith("changed with_pip: Finished reused=False") and "('six', '1.17.0')" in line
        for line in lines
    )
    assert any(line.startswith("changed with_conda: Finished reused=True") for line in lines)
    # the same environment under another name is the same environment
    assert sum(line.startswith("renamed ") and "reused=True" in line for line in lines) == 3
    # a package that cannot be installed fails its step, naming the package
    assert "broken status: Failed" in lines and "broken log names the package: True" in lines
    # the experiment's DAG changed to the one-step pipeline: only that step is a step of its run
    assert [line.split(":")[0] for line in lines if line.startswith("broken ") and "reused=" in line] == [
        "broken broken"
    ]


def test_databricks_pipeline_runs_reuses_and_starts_no_second_databricks_run(
    sample_runs, databricks_emulator
):
    import requests

    text = finished(sample_runs, "databricks")
    assert "Compute not found, will use below parameters to attach new one" in text
    assert "compute type: Databricks" in text
    assert "first run: Finished" in text
    # the notebook counted prep's 6 rows with Spark and exited with the count: a step metric
    assert "step count_rows Finished metrics {'notebook_exit_value': 6}" in text
    # the uploaded script read the notebook's CSV with open() and logged through Run.get_context()
    assert "step score Finished metrics {'rows_scored': 6}" in text
    assert "step report Finished metrics {'report_lines': 5}" in text
    assert "second run: Finished" in text
    assert "second run reused: ['count_rows', 'prep', 'report', 'score']" in text
    # v1's reference example: a notebook with a literal parameter, allow_reuse=False
    assert "hello run: Finished" in text and "hello metrics: {'notebook_exit_value': 'testparam'}" in text
    runs = requests.get(
        f"{databricks_emulator.url}/api/2.2/jobs/runs/list",
        params={"limit": 25},
        headers={"Authorization": f"Bearer {databricks_emulator.token}"},
        timeout=30,
    ).json()["runs"]
    names = sorted(
        r["run_name"] for r in runs if r["run_name"] in ("count rows", "score", "DB_Notebook_demo")
    )
    assert names == ["DB_Notebook_demo", "count rows", "score"]  # the second pipeline run started none


def test_schedules(sample_runs):
    text = finished(sample_runs, "schedules")
    assert "listed: True" in text and "status: Disabled" in text
    assert "Updated schedule: My_Updated_Schedule Active Hour" in text
    assert "New status is: Disabled" in text and "runs of the time-based schedule: 0" in text
    assert "both: Can not specify both a Recurrence and a Datastore" in text
    # three files uploaded together: ONE run, given their folder (v1 started one run per blob)
    assert "triggered run: Finished" in text and "rows counted: 9" in text
    assert "runs of the datastore schedule: 1" in text
