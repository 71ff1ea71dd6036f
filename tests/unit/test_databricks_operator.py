"""DatabricksStepOperator's parts that need no Airflow task instance, against the real emulator:
cluster checks (permit_cluster_restart), what reuse fingerprints of remote code, the run it submits.
The whole protocol runs through Airflow in tests/integration/test_databricks_e2e.py."""

from __future__ import annotations

import json

import pytest
from databricks_emulator import import_notebook, start_emulator

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.hooks.databricks import DatabricksStepHook, dbfs_uri, fuse_path
from airflow_mlpipe.operators.databricks import DatabricksStepOperator

TOKEN = "operator-test-token"
RUNNING, STOPPED = "0101-000000-running", "0101-000000-stopped"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with start_emulator(
        tmp_path_factory.mktemp("dbx"), TOKEN, clusters={RUNNING: "RUNNING", STOPPED: "TERMINATED"}
    ) as emu:
        yield emu


@pytest.fixture
def conn(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DBX_UNIT", emulator.conn_uri)
    return "dbx_unit"


def operator(conn: str, settings: dict, name: str = "step") -> DatabricksStepOperator:
    """The operator the translator would build for a step named ``name``."""
    from airflow_mlpipe.spec import task_id_for

    base = {
        "notebook_params": {},
        "python_script_params": [],
        "jar_params": [],
        "cluster": {"existing_cluster_id": RUNNING},
        "libraries": [],
        "run_name": None,
        "timeout_seconds": None,
        "permit_cluster_restart": False,
    }
    step = {
        "name": name,
        "kind": "databricks",
        "inputs": [],
        "outputs": [],
        "arguments": [],
        "compute_target": "dbx",
        "settings": {**base, **settings},
    }
    pipeline = {
        "compute_targets": {"dbx": {"name": "dbx", "type": "Databricks", "conn_id": conn, "mounts": {}}}
    }
    return DatabricksStepOperator(task_id=task_id_for(name), step=step, pipeline=pipeline)


def put_notebook(emulator, path: str, source: str) -> None:
    import_notebook(emulator.url, emulator.token, path, source.encode())


def test_a_terminated_cluster_is_started_only_with_permit_cluster_restart(conn):
    task = {"task": {"notebook_path": "/Shared/nb"}}
    refused = operator(conn, {**task, "cluster": {"existing_cluster_id": STOPPED}})
    with pytest.raises(
        StepFailedError, match="cluster 0101-000000-stopped is TERMINATED.*permit_cluster_restart=True"
    ):
        refused._check_cluster(refused.hook)
    permitted = operator(
        conn, {**task, "cluster": {"existing_cluster_id": STOPPED}, "permit_cluster_restart": True}
    )
    permitted._check_cluster(permitted.hook)
    assert permitted.hook.get_cluster_state(STOPPED).is_running
    operator(conn, task)._check_cluster(operator(conn, task).hook)  # a running cluster: nothing to do


def test_the_code_digest_follows_the_notebook_and_the_dbfs_script_and_jars(emulator, conn):
    put_notebook(emulator, "/Shared/nb", "# Databricks notebook source\nprint(1)\n")
    nb = operator(conn, {"task": {"notebook_path": "/Shared/nb"}})
    first = nb.remote_code_digest()
    assert nb.remote_code_digest() == first  # the same source: the same digest
    put_notebook(emulator, "/Shared/nb", "# Databricks notebook source\nprint(2)\n")
    assert nb.remote_code_digest() != first  # v1 reused a changed notebook's old results

    hook = DatabricksStepHook(conn)
    hook.dbfs_put_bytes("/code/main.py", b"print('a')\n")
    hook.dbfs_put_bytes("/code/lib.jar", b"jar-1")
    script = operator(
        conn,
        {"task": {"python_script_path": "dbfs:/code/main.py"}, "libraries": [{"jar": "dbfs:/code/lib.jar"}]},
    )
    before = script.remote_code_digest()
    hook.dbfs_put_bytes("/code/lib.jar", b"jar-2")
    assert script.remote_code_digest() != before
    missing = operator(conn, {"task": {"python_script_path": "dbfs:/code/absent.py"}})
    with pytest.raises(StepFailedError, match="dbfs:/code/absent.py is not a file on DBFS"):
        missing.remote_code_digest()


def test_the_submitted_run_carries_cluster_libraries_timeout_and_token(conn):
    settings = {
        "task": {"main_class_name": "com.contoso.Main"},
        "jar_params": [{"literal": "--n"}, {"parameter": "n"}],
        "cluster": {
            "new_cluster": {
                "spark_version": "10.4.x-scala2.12",
                "node_type_id": "Standard_D3_v2",
                "num_workers": 1,
            }
        },
        "libraries": [{"jar": "dbfs:/code/lib.jar"}],
        "timeout_seconds": 600,
        "run_name": "nightly jar",
    }
    op = operator(conn, settings, name="my step")
    spec = op._run_spec({"task": settings["task"], "args": ["--n", "3"], "outputs": {}}, "tok")
    assert spec["run_name"] == "nightly jar" and spec["idempotency_token"] == "tok"
    assert spec["timeout_seconds"] == 600
    (task,) = spec["tasks"]
    assert task["task_key"] == "my_step" and task["timeout_seconds"] == 600
    assert task["spark_jar_task"] == {"main_class_name": "com.contoso.Main", "parameters": ["--n", "3"]}
    assert task["new_cluster"]["num_workers"] == 1 and task["libraries"] == [{"jar": "dbfs:/code/lib.jar"}]
    json.dumps(spec)


def test_dbfs_paths_in_both_forms():
    assert dbfs_uri("/mnt/x/y") == "dbfs:/mnt/x/y" and dbfs_uri("dbfs:/a") == "dbfs:/a"
    assert fuse_path("dbfs:/mnt/x") == "/dbfs/mnt/x" and fuse_path("/a/b") == "/dbfs/a/b"


def test_streamed_upload_and_download_round_trip(conn, tmp_path):
    hook = DatabricksStepHook(conn)
    data = bytes(range(256)) * 9000  # 2.3 MB: three 1 MB blocks
    (tmp_path / "big.bin").write_bytes(data)
    seen = []
    assert hook.dbfs_upload(tmp_path / "big.bin", "/stage/big.bin", seen.append) == len(data)
    assert seen == [1024 * 1024, 1024 * 1024, len(data) - 2 * 1024 * 1024]
    assert hook.dbfs_files("/stage") == {"big.bin": len(data)}
    hook.dbfs_download("/stage/big.bin", len(data), tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert hook.dbfs_files("/nothing/here") == {}
    hook.dbfs_delete("/stage")
    assert hook.dbfs_status("/stage") is None


def test_a_hand_written_operator_takes_databricks_step_arguments(tmp_path, monkeypatch):
    from airflow_mlpipe.definitions.compute import ComputeTarget
    from airflow_mlpipe.definitions.databricks_compute import DatabricksCompute
    from airflow_mlpipe.definitions.workspace import Workspace

    config = tmp_path / "mlpipe.json"
    config.write_text(json.dumps({"databricks": {"shop": {"conn_id": "dbx_unit"}}}))
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    ws = Workspace.from_config()
    ComputeTarget.attach(
        ws, "dbx", DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="shop")
    )
    op = DatabricksStepOperator(
        task_id="count",
        notebook_path="/Shared/nb",
        notebook_params={"n": 3},
        num_workers=1,
        compute_target="dbx",
        retries=2,
    )
    assert op.step["name"] == "count" and op.step["settings"]["task"] == {"notebook_path": "/Shared/nb"}
    assert op.step["settings"]["notebook_params"] == {"n": {"literal": 3}}
    assert op.retries == 2 and op.pool == "default_pool"  # a Databricks target is no pool
    assert op.pipeline["compute_targets"]["dbx"]["conn_id"] == "dbx_unit"
    with pytest.raises(Exception, match="step 'bad': Exactly one of notebook_path"):
        DatabricksStepOperator(task_id="bad", num_workers=1, compute_target="dbx")


def test_the_last_attempt_of_a_task_is_found_from_its_dbfs_markers(conn):
    op = operator(conn, {"task": {"notebook_path": "/Shared/nb"}})
    hook, root = op.hook, "/mlpipe/runs/dag/run/attempts"
    assert op._last_attempt(hook, root) == (1, None)  # no try of this task yet
    hook.dbfs_put_bytes(f"{root}/g1/inputs/raw/part-0.csv", b"a,b\n")
    hook.dbfs_put_bytes(f"{root}/g1/plan.json", b"{}")
    assert op._last_attempt(hook, root) == (1, None)  # staged, perhaps not submitted: submit again
    hook.dbfs_put_bytes(f"{root}/g1/run_id", b"41")
    assert op._last_attempt(hook, root) == (1, 41)  # submitted: a retry looks at run 41
    hook.dbfs_put_bytes(f"{root}/g2/plan.json", b"{}")
    hook.dbfs_put_bytes(f"{root}/g2/run_id", b"42")
    assert op._last_attempt(hook, root) == (2, 42)  # the newest attempt counts
    hook.dbfs_put_bytes(f"{root}/g2/done", b"")
    assert op._last_attempt(hook, root) == (3, None)  # its result was stored: a cleared task runs anew
