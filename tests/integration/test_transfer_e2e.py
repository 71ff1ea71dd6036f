"""DataTransferStep end to end through real Airflow 3: Blob (Azurite) -> ADLS Gen2 -> Azure Files ->
Blob directory copies (the DFS and Files emulators behind the official SDK clients), a PostgreSQL query
-> CSV on Blob -> a PythonScriptStep, a file -> a MariaDB table; an unchanged rerun copies nothing; a
transfer killed midway leaves no destination and its retry completes; a wrong key fails naming the
datastore; no secret reaches a log, a spec or an XCom."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ADLS_ACCOUNT = "devaccount"
ADLS_KEY = base64.b64encode(b"dfs-emulator-key-for-transfer-tests-0001").decode()
WRONG_KEY = base64.b64encode(b"not-the-key-of-the-dfs-emulator-0002").decode()
CONNS = ("t_adls", "t_adls_wrong", "t_files", "t_pg", "t_maria")
TIMEOUT = 300


@pytest.fixture(scope="module")
def dfs(tmp_path_factory):
    """The ADLS Gen2 (DFS) emulator in its own process group; gone with the test run."""
    from storage_emulators.dfs import start_dfs_emulator

    emu = start_dfs_emulator(tmp_path_factory.mktemp("dfs"), ADLS_KEY, account=ADLS_ACCOUNT)
    yield emu.url
    emu.stop()


@pytest.fixture(scope="module")
def files_emulator(tmp_path_factory):
    from storage_emulators.files import start_file_emulator

    emu = start_file_emulator(tmp_path_factory.mktemp("files"))
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def pg():
    from sql_servers import postgres_server

    with postgres_server(database="sales") as server:
        yield server


@pytest.fixture(scope="module")
def maria():
    from sql_servers import mariadb_server

    with mariadb_server(database="warehouse") as server:
        yield server


def _conn_bodies(dfs, files_emulator, pg, maria) -> dict[str, dict]:
    adls = {"conn_type": "adls", "host": ADLS_ACCOUNT, "extra": json.dumps({"account_url": dfs})}
    return {
        "t_adls": {**adls, "password": ADLS_KEY},
        "t_adls_wrong": {**adls, "password": WRONG_KEY},
        "t_files": {
            "conn_type": "azure_fileshare",
            "extra": json.dumps({"connection_string": files_emulator.connection_string}),
        },
        "t_pg": json.loads(pg.conn_json()),
        "t_maria": json.loads(maria.conn_json()),
    }


@pytest.fixture(scope="module")
def connections(client, dfs, files_emulator, pg, maria):
    """The datastores' Airflow connections, created over REST API v2 (the workers read them there)."""
    from airflow_mlpipe.client.rest import AirflowApiError

    bodies = _conn_bodies(dfs, files_emulator, pg, maria)
    for conn_id, body in bodies.items():
        try:
            client.request("DELETE", f"/api/v2/connections/{conn_id}")
        except AirflowApiError:
            pass
        client.request("POST", "/api/v2/connections", json={"connection_id": conn_id, **body})
    yield bodies
    for conn_id in bodies:
        client.request("DELETE", f"/api/v2/connections/{conn_id}")


@pytest.fixture
def ws(deployment, connections, tmp_path, monkeypatch, azurite):
    """A v1 workspace on the embedded deployment with the five datastores registered (each names
    its existing connection) and a Data Factory target; the test process reaches the same services
    through the same connections."""
    from conftest import wasb_connection

    from airflow_mlpipe.v1.core import Datastore, Workspace
    from airflow_mlpipe.v1.core.compute import ComputeTarget, DataFactoryCompute

    monkeypatch.setenv("MLPIPE_HOME", str(deployment.home))
    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", wasb_connection(azurite))
    for conn_id, body in connections.items():
        body = {**body, "extra": json.loads(body["extra"])} if "extra" in body else body
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    config = tmp_path / "mlpipe.json"
    config.write_text(json.dumps({"workspace_name": "transfer", "root": str(deployment.home / "workspace")}))
    monkeypatch.setenv("MLPIPE_CONFIG", str(config))
    w = Workspace.from_config()
    Datastore.register_azure_blob_container(
        w, "tblob", "transfer", "devstoreaccount1", conn_id="azurite", overwrite=True
    )
    Datastore.register_azure_data_lake_gen2(
        w, "tadls", "lake", ADLS_ACCOUNT, conn_id="t_adls", overwrite=True
    )
    Datastore.register_azure_data_lake_gen2(
        w, "tadls_wrong", "lake", ADLS_ACCOUNT, conn_id="t_adls_wrong", overwrite=True
    )
    Datastore.register_azure_file_share(
        w, "tfiles", "share", "devstoreaccount1", conn_id="t_files", overwrite=True
    )
    Datastore.register_azure_postgre_sql(w, "tpg", "127.0.0.1", "sales", conn_id="t_pg", overwrite=True)
    Datastore.register_azure_my_sql(w, "tmaria", "127.0.0.1", "warehouse", conn_id="t_maria", overwrite=True)
    ComputeTarget.create(w, "adf", DataFactoryCompute.provisioning_configuration(max_concurrent_transfers=2))
    return w


def store(w, name: str):
    from airflow_mlpipe.storage import open_store

    return open_store(w.datastores[name].spec)


def put_files(blob, prefix: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        blob.write_bytes(f"{prefix}/{rel}", data)


def contents(st, prefix: str) -> dict[str, str]:
    """Relative path -> MD5 of every file below ``prefix``."""
    out = {}
    for info in st.list(prefix):
        data = b"".join(st.open_read(info.path))
        out[info.path[len(prefix) + 1 :]] = hashlib.md5(data).hexdigest()
    return out


def submit(w, steps, experiment: str):
    from airflow_mlpipe.v1.core import Experiment
    from airflow_mlpipe.v1.pipeline.core import Pipeline

    return Experiment(w, experiment).submit(Pipeline(workspace=w, steps=steps))


def results(client, run) -> dict[str, dict]:
    return {
        t["task_id"]: client.xcom(run.dag_id, run.run_id, t["task_id"])
        for t in client.task_instances(run.dag_id, run.run_id)
    }


def logs(client, run) -> str:
    parts = []
    for t in client.task_instances(run.dag_id, run.run_id):
        for attempt in range(1, max(1, t["try_number"]) + 1):
            parts += client.task_log(run.dag_id, run.run_id, t["task_id"], attempt)
    return "\n".join(parts)


def finished(run, client, want: str = "Finished") -> None:
    got = run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=TIMEOUT)
    assert got == want, logs(client, run)[-4000:]


def test_blob_adls_files_blob_copies_and_an_unchanged_rerun_copies_nothing(ws, client, connections):
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep

    blob, adls, files = store(ws, "tblob"), store(ws, "tadls"), store(ws, "tfiles")
    tag = uuid.uuid4().hex[:8]
    data = {f"part-{i}.csv": os.urandom(5000 + i) for i in range(6)}
    data["nested/deep/notes.txt"] = b"relative paths are kept"
    data["empty.bin"] = b""
    put_files(blob, f"raw-{tag}", data)
    raw = DataReference(ws.datastores["tblob"], "raw", f"raw-{tag}")

    def pipeline():
        to_adls = DataTransferStep(
            "blob_to_adls", raw, DataReference(ws.datastores["tadls"], "a", f"copies-{tag}"), "adf",
            destination_reference_type="directory",
        )  # fmt: skip
        to_files = DataTransferStep(
            "adls_to_files",
            to_adls.get_output(),
            DataReference(ws.datastores["tfiles"], "f", f"copies-{tag}"),
            "adf",
        )
        back = DataTransferStep(
            "files_to_blob",
            to_files.get_output(),
            DataReference(ws.datastores["tblob"], "b", f"back-{tag}"),
            "adf",
        )
        return [back]

    first = submit(ws, pipeline(), "transfer_chain")
    finished(first, client)
    want = {rel: hashlib.md5(d).hexdigest() for rel, d in data.items()}
    assert contents(adls, f"copies-{tag}") == want
    assert contents(files, f"copies-{tag}") == want
    assert contents(blob, f"back-{tag}") == want
    got = results(client, first)
    assert {k: v["reused_from"] for k, v in got.items()} == dict.fromkeys(got)
    # the DFS and Files emulators fetch from a read-only SAS themselves; Azurite copies only within
    # itself, so the last leg streams through the worker
    assert got["blob_to_adls"]["transfer"] == {
        **got["blob_to_adls"]["transfer"],
        "files": 8,
        "server_side": 8,
    }
    assert got["adls_to_files"]["transfer"]["server_side"] == 8
    assert got["files_to_blob"]["transfer"]["streamed"] == 8
    assert got["files_to_blob"]["outputs"]  # the destination, for a later step
    text = logs(client, first)
    assert "transfer: done: 8 file(s)" in text and "server-side" in text
    for name in ("tadls", "tfiles", "tblob"):
        assert store(ws, name).list(".mlpipe-transfer") == []  # no staging left

    again = submit(ws, pipeline(), "transfer_chain")
    finished(again, client)
    reused = results(client, again)
    assert all(r["reused_from"] is not None for r in reused.values()), reused
    assert "transfer: done" not in logs(client, again)  # nothing was copied

    blob.write_bytes(f"raw-{tag}/part-0.csv", b"new data")  # a changed source is copied again
    third = submit(ws, pipeline(), "transfer_chain")
    finished(third, client)
    assert results(client, third)["blob_to_adls"]["reused_from"] is None
    assert contents(blob, f"back-{tag}")["part-0.csv"] == hashlib.md5(b"new data").hexdigest()


SCRIPT = """
import argparse, csv, os
from airflow_mlpipe.v1.core import Run
p = argparse.ArgumentParser(); p.add_argument("--report"); a = p.parse_args()
rows = list(csv.DictReader(open(a.report)))
run = Run.get_context()
run.log("regions", len(rows))
run.log("total", sum(float(r["total"]) for r in rows))
"""


def test_a_postgres_query_to_csv_on_blob_feeds_a_python_step(ws, client, pg, tmp_path):
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.data.sql_data_reference import SqlDataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep, PythonScriptStep

    conn = pg.connect()
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS orders")
    cur.execute("CREATE TABLE orders (region text, amount numeric(10,2))")
    cur.executemany("INSERT INTO orders VALUES (%s, %s)", [("north", 10.5), ("south", 4), ("north", 1.5)])
    conn.commit()
    conn.close()
    src = tmp_path / "src"
    src.mkdir()
    (src / "report.py").write_text(SCRIPT)
    query = SqlDataReference(
        ws.datastores["tpg"], "orders_by_region",
        sql_query="SELECT region, SUM(amount) AS total FROM orders GROUP BY region ORDER BY region",
    )  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    export = DataTransferStep(
        "export", query, DataReference(ws.datastores["tblob"], "r", f"exports-{tag}/by_region.csv"), "adf",
        destination_reference_type="file",
    )  # fmt: skip
    report = export.get_output()
    use = PythonScriptStep(
        "report.py",
        source_directory=str(src),
        arguments=["--report", report],
        inputs=[report],
        allow_reuse=True,
    )
    run = submit(ws, [use], "transfer_sql")
    finished(run, client)
    assert run.find_step_run("report.py")[0].get_metrics() == {"regions": 2, "total": 16.0}
    text = b"".join(store(ws, "tblob").open_read(f"exports-{tag}/by_region.csv")).decode()
    assert text.splitlines() == ["region,total", "north,12.00", "south,4.00"]

    again = submit(ws, [use], "transfer_sql")  # unchanged rows: the export is reused
    finished(again, client)
    assert results(client, again)["export"]["reused_from"] is not None


def test_a_csv_file_loads_into_a_mariadb_table_once(ws, client, maria):
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.data.sql_data_reference import SqlDataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep

    tag = uuid.uuid4().hex[:8]
    store(ws, "tblob").write_bytes(f"people-{tag}/people.csv", b"name,age\nada,36\ngrace,45\n")
    table = f"people_{tag}"

    def step():
        return DataTransferStep(
            "load", DataReference(ws.datastores["tblob"], "p", f"people-{tag}/people.csv"),
            SqlDataReference(ws.datastores["tmaria"], "people", sql_table=table), "adf",
        )  # fmt: skip

    finished(submit(ws, [step()], "transfer_table"), client)
    again = submit(ws, [step()], "transfer_table")
    finished(again, client)
    assert results(client, again)["load"]["reused_from"] is not None
    conn = maria.connect()
    cur = conn.cursor()
    cur.execute(f"SELECT name, age FROM `{table}` ORDER BY name")
    assert [tuple(map(str, r)) for r in cur.fetchall()] == [("ada", "36"), ("grace", "45")]  # appended once
    conn.close()

    store(ws, "tblob").write_bytes(f"people-{tag}/people.csv", b"name,years\nalan,41\n")
    bad = submit(ws, [step()], "transfer_table")
    finished(bad, client, "Failed")
    assert "years" in logs(client, bad)  # the header check names the mismatched column


def test_a_killed_transfer_leaves_no_destination_and_its_retry_completes(ws, client):
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep

    blob = store(ws, "tblob")
    tag = uuid.uuid4().hex[:8]
    chunk = os.urandom(1 << 20)
    names = [f"f{i:03d}.bin" for i in range(160)]
    for name in names:
        blob.write_bytes(f"big-{tag}/{name}", chunk)
    step = DataTransferStep(
        "big", DataReference(ws.datastores["tblob"], "big", f"big-{tag}"),
        DataReference(ws.datastores["tblob"], "out", f"big-out-{tag}"), "adf", allow_reuse=False,
    )  # fmt: skip
    run = submit(ws, [step], "transfer_kill")
    deadline = time.monotonic() + TIMEOUT
    while len(blob.list(".mlpipe-transfer")) < 5:  # copies are being staged
        assert time.monotonic() < deadline, "the transfer never started staging"
        time.sleep(0.1)
    ti = next(t for t in client.task_instances(run.dag_id, run.run_id) if t["task_id"] == "big")
    os.kill(ti["pid"], signal.SIGKILL)  # the task process, midway
    finished(run, client, "Failed")
    assert blob.list(f"big-out-{tag}") == []  # nothing of it is visible at the destination
    client.request(
        "POST",
        f"/api/v2/dags/{run.dag_id}/clearTaskInstances",
        json={"dag_run_id": run.run_id, "task_ids": ["big"], "only_failed": True, "dry_run": False},
    )
    deadline = time.monotonic() + TIMEOUT
    while client.dag_run(run.dag_id, run.run_id)["state"] != "success":
        assert time.monotonic() < deadline, logs(client, run)[-3000:]
        time.sleep(1)
    assert len(blob.list(f"big-out-{tag}")) == len(names)
    assert "removed" in logs(client, run) and blob.list(".mlpipe-transfer") == []


def test_a_wrong_key_names_the_datastore_and_no_secret_leaks(ws, client, connections, deployment, pg, maria):
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep

    tag = uuid.uuid4().hex[:8]
    store(ws, "tblob").write_bytes(f"w-{tag}/a.txt", b"a")
    step = DataTransferStep(
        "wrong", DataReference(ws.datastores["tblob"], "w", f"w-{tag}"),
        DataReference(ws.datastores["tadls_wrong"], "x", f"w-{tag}"), "adf",
    )  # fmt: skip
    run = submit(ws, [step], "transfer_wrong_key")
    finished(run, client, "Failed")
    text = logs(client, run)
    assert "tadls_wrong" in text and ("AuthenticationFailed" in text or "403" in text), text[-3000:]

    secrets = [ADLS_KEY, WRONG_KEY, pg.password, maria.password]
    secrets.append(connections["t_files"]["extra"].split("AccountKey=")[1].split(";")[0])
    # every task log and XCom of the transfer DAGs, and every file the workspace wrote
    seen = []
    for dag in client.collection("/api/v2/dags", "dags"):
        if not dag["dag_id"].startswith("transfer_"):
            continue
        for dag_run in client.collection(f"/api/v2/dags/{dag['dag_id']}/dagRuns", "dag_runs"):
            for t in client.task_instances(dag["dag_id"], dag_run["dag_run_id"]):
                for attempt in range(1, max(1, t["try_number"]) + 1):
                    seen += client.task_log(dag["dag_id"], dag_run["dag_run_id"], t["task_id"], attempt)
                seen.append(json.dumps(client.xcom(dag["dag_id"], dag_run["dag_run_id"], t["task_id"])))
    for path in Path(deployment.home / "workspace").rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            seen.append(path.read_bytes().decode("utf-8", "replace"))
    blob_text = "\n".join(seen)
    assert len(seen) > 20
    for secret in secrets:
        assert secret not in blob_text
    assert "sig=" not in blob_text


COUNT_SCRIPT = """
import argparse, pathlib
from airflow_mlpipe.v1.core import Run
p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
Run.get_context().log("files", sorted(x.name for x in pathlib.Path(a.data).rglob("*") if x.is_file()))
"""


def test_a_file_dataset_into_an_output_dataset_config_and_onto_a_file_dataset(ws, client, tmp_path):
    """Beyond v1, which rejected them: an OutputFileDatasetConfig with a named destination and a
    FileDataset as destinations; a FileDataset (a glob) as the source."""
    from airflow_mlpipe.v1.core.dataset import Dataset
    from airflow_mlpipe.v1.data import OutputFileDatasetConfig
    from airflow_mlpipe.v1.data.data_reference import DataReference
    from airflow_mlpipe.v1.pipeline.steps import DataTransferStep, PythonScriptStep

    blob, files = store(ws, "tblob"), store(ws, "tfiles")
    tag = uuid.uuid4().hex[:8]
    put_files(blob, f"mixed-{tag}", {"a.csv": b"a", "b.csv": b"bb", "skip.txt": b"no", "sub/c.csv": b"c"})
    blob.write_bytes(f"published-{tag}/stale.csv", b"replaced by the publish")
    csvs = Dataset.File.from_files(path=(ws.datastores["tblob"], f"mixed-{tag}/*.csv"))
    curated = OutputFileDatasetConfig("curated", destination=(ws.datastores["tblob"], f"published-{tag}"))
    pick = DataTransferStep("pick", csvs, curated.as_upload(overwrite=True), "adf")
    src = tmp_path / "src"
    src.mkdir()
    (src / "count.py").write_text(COUNT_SCRIPT)
    count = PythonScriptStep(
        "count.py", source_directory=str(src), arguments=["--data", curated.as_input("curated_in")]
    )
    onto = DataTransferStep(
        "onto_files", DataReference(ws.datastores["tblob"], "pub", f"published-{tag}"),
        Dataset.File.from_files(path=(ws.datastores["tfiles"], f"ds-{tag}"), validate=False), "adf",
    )  # fmt: skip
    onto.run_after(pick)
    run = submit(ws, [count, onto], "transfer_datasets")
    finished(run, client)
    assert run.find_step_run("count.py")[0].get_metrics() == {"files": ["a.csv", "b.csv"]}
    want = {"a.csv": hashlib.md5(b"a").hexdigest(), "b.csv": hashlib.md5(b"bb").hexdigest()}
    assert contents(blob, f"published-{tag}") == want  # published whole; the stale file is gone
    assert contents(files, f"ds-{tag}") == want
