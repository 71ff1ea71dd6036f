"""The step broker: a real step script (a subprocess, with the environment the operator gives it)
registers and fetches models through the operator's broker, backed by a real local datastore."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_mlpipe import Model, Workspace
from airflow_mlpipe.operators.broker import ModelRequests, StepBroker
from airflow_mlpipe.operators.python_script import script_environment
from airflow_mlpipe.step_calls import ENV_BROKER, ENV_TOKEN

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "train_dag/manual__2025-01-01/train"

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from airflow_mlpipe.v1.core import Model, Run
    from airflow_mlpipe.v1.exceptions import UserErrorException
    from airflow_mlpipe.storage.models import ModelNotFoundException, ModelPathNotFoundException

    run = Run.get_context()
    out = {}
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.pkl", "w") as fh:
        fh.write("trained-weights")
    from airflow_mlpipe.v1.core import Dataset, Datastore
    rows = Dataset.File.from_files((Datastore.get(run.experiment.workspace, "workspaceblobstore"), "train"),
                                   validate=False)
    m = run.register_model("trained", "outputs/model.pkl", tags={"auc": "0.91"}, properties={"data": "v3"},
                           model_framework=Model.Framework.SCIKITLEARN, description="from the step",
                           datasets=[("training data", rows)])
    out["registered"] = [m.id, m.run_id, m.experiment_name, m.tags, m.properties, m.description]
    out["datasets"] = m.datasets
    os.makedirs("outputs/bundle", exist_ok=True)
    with open("outputs/bundle/a.txt", "w") as fh:
        fh.write("A")
    out["folder"] = run.register_model("bundle", "outputs/bundle").id
    with open("notes.txt", "w") as fh:
        fh.write("uploaded")
    run.upload_file("reports/notes.txt", "notes.txt")
    out["uploaded"] = run.register_model("notes", "reports/notes.txt").id

    base = Model.get_model_path("base")
    out["base_path"] = [os.path.relpath(base, os.getcwd()), open(base).read()]
    out["base_v1"] = open(Model.get_model_path("base", version=1)).read()
    ws = run.experiment.workspace
    got = Model(ws, "trained")
    out["got"] = [got.id, got.tags]
    out["listed"] = [x.id for x in Model.list(ws, tags=[["auc", "0.91"]])]
    got.add_tags({"stage": "candidate"})
    out["tags_after"] = Model(ws, "trained").tags
    out["download"] = open(got.download("dl")).read()
    os.makedirs("local_model", exist_ok=True)
    with open("local_model/w.bin", "w") as fh:
        fh.write("W")
    direct = Model.register(ws, "local_model", "direct")
    out["direct"] = [direct.id, direct.run_id]

    errors = {}
    for key, call, kind in [
        ("missing_path", lambda: run.register_model("x", "outputs/nothing.pkl"), ModelPathNotFoundException),
        ("escape", lambda: run.register_model("x", "../secrets.txt"), UserErrorException),
        ("unknown_model", lambda: Model.get_model_path("ghost"), ModelNotFoundException),
        ("unknown_version", lambda: Model(ws, "trained", version=9), ModelNotFoundException),
        ("property", lambda: got.add_properties({"data": "v4"}), UserErrorException),
        ("unsupported", lambda: run.register_model("x", "outputs/model.pkl", resource_configuration=1),
         UserErrorException),
    ]:
        try:
            call()
            errors[key] = "no error"
        except kind as exc:
            errors[key] = str(exc)
    out["errors"] = errors
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture
def ws():
    return Workspace.from_config()


def _step(tmp_path: Path, ws: Workspace, script: str) -> tuple[Path, Path, dict]:
    """The folders and run context JSON PythonScriptStepOperator.run_step makes for a script."""
    workdir = tmp_path / "work"
    snapshot = workdir / "snapshot"
    snapshot.mkdir(parents=True)
    (snapshot / "script.py").write_text(script)
    files_dir = workdir / "run_files" / "files"
    context = {
        "run_id": RUN_ID,
        "step": "train",
        "experiment": "churn-exp",
        "parent_run_id": "train_dag/manual__2025-01-01",
        "input_datasets": {},
        "output_datasets": {},
        "parameters": {},
        "metrics_file": str(workdir / "metrics.jsonl"),
        "files_dir": str(files_dir),
        "parent_files_dir": str(workdir / "run_files" / "parent_files"),
        "workspace": {
            "datastores": {n: ws.datastore_spec(n) for n in ws.datastores},
            "default_datastore": ws.get_default_datastore().name,
        },
    }
    (workdir / "run_context.json").write_text(json.dumps(context))
    return snapshot, files_dir, context


def _requests(ws: Workspace, snapshot: Path, files_dir: Path) -> ModelRequests:
    return ModelRequests(
        lambda: ws.get_default_datastore().store,
        run_id=RUN_ID,
        experiment_name="churn-exp",
        cwd=snapshot,
        files_dir=files_dir,
    )


def _run_script(snapshot: Path, broker_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = script_environment(dict(os.environ))
    env.update(broker_env)
    env["MLPIPE_RUN_CONTEXT"] = str(snapshot.parent / "run_context.json")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-u", "script.py"],
        cwd=snapshot,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_step_script_registers_and_fetches_models_through_the_broker(ws, tmp_path):
    (tmp_path / "base.pkl").write_text("base-1")
    Model.register(ws, str(tmp_path / "base.pkl"), "base")
    (tmp_path / "base.pkl").write_text("base-2")
    Model.register(ws, str(tmp_path / "base.pkl"), "base")
    snapshot, files_dir, _ = _step(tmp_path, ws, SCRIPT)

    with StepBroker(_requests(ws, snapshot, files_dir).handlers()) as broker_env:
        socket_path = Path(broker_env[ENV_BROKER])
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        proc = _run_script(snapshot, broker_env)
    assert not socket_path.parent.exists()  # stopped and removed with the script's end
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])

    assert out["registered"] == [
        "trained:1",
        RUN_ID,
        "churn-exp",
        {"auc": "0.91"},
        {"data": "v3"},
        "from the step",
    ]
    assert out["datasets"] == {
        "training data": [{"type": "file", "paths": [{"datastore": "workspaceblobstore", "path": "train"}]}]
    }
    assert out["folder"] == "bundle:1" and out["uploaded"] == "notes:1"
    assert out["base_path"] == [os.path.join("azureml-models", "base", "2", "base.pkl"), "base-2"]
    assert out["base_v1"] == "base-1"
    assert out["got"] == ["trained:1", {"auc": "0.91"}]
    assert out["listed"] == ["trained:1"]
    assert out["tags_after"] == {"auc": "0.91", "stage": "candidate"}
    assert out["download"] == "trained-weights"
    assert out["direct"] == ["direct:1", None]  # Model.register in a step: no run, as v1
    errors = out["errors"]
    assert "could not locate model_path 'outputs/nothing.pkl' in the files of run" in errors["missing_path"]
    assert "outputs/model.pkl" in errors["missing_path"]  # it lists the run's files
    assert "without '..'" in errors["escape"]
    assert "no model named 'ghost' is registered" in errors["unknown_model"]
    assert "model 'trained' has no version 9" in errors["unknown_version"]
    assert "already has the properties ['data']" in errors["property"]
    assert "resource_configuration is not supported" in errors["unsupported"]

    # what the script registered is in the workspace's registry, with the run's identity and files
    trained = Model(ws, "trained")
    assert (trained.run_id, trained.experiment_name, trained.tags["stage"]) == (
        RUN_ID,
        "churn-exp",
        "candidate",
    )
    assert Path(trained.download(str(tmp_path / "check"))).read_text() == "trained-weights"
    bundle = Path(Model(ws, "bundle").download(str(tmp_path / "check")))
    # a folder of one file downloads to that file (v1 returned the common path of what it downloaded)
    assert bundle.relative_to(tmp_path / "check").as_posix() == "bundle/a.txt" and bundle.read_text() == "A"
    assert Path(Model(ws, "notes").download(str(tmp_path / "check"))).read_text() == "uploaded"
    assert [m.id for m in Model.list(ws, run_id=RUN_ID)] == ["notes:1", "bundle:1", "trained:1"]


def test_the_broker_is_removed_when_the_script_fails(ws, tmp_path):
    snapshot, files_dir, _ = _step(tmp_path, ws, "raise SystemExit('boom')\n")
    broker = StepBroker(_requests(ws, snapshot, files_dir).handlers())
    with pytest.raises(RuntimeError, match="the operator failed"):
        with broker as broker_env:
            proc = _run_script(snapshot, broker_env)
            assert proc.returncode == 1
            raise RuntimeError("the operator failed while the script ran")
    assert not Path(broker_env[ENV_BROKER]).parent.exists()
    broker.stop()  # a second stop is harmless


def _ask(env: dict[str, str], request: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(env[ENV_BROKER])
        sock.sendall(request)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def test_requests_are_checked_and_internal_errors_stay_in_the_operator(tmp_path):
    def leaky() -> None:
        raise RuntimeError("DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0")

    with StepBroker({"echo": lambda value: {"value": value}, "leaky": leaky}) as env:

        def req(op: str, token: str | None = None, **args) -> bytes:
            body = {"op": op, "token": env[ENV_TOKEN] if token is None else token, "args": args}
            return json.dumps(body).encode() + b"\n"

        assert _ask(env, req("echo", value=[1, "a"])) == {"result": {"value": [1, "a"]}}
        assert "wrong token" in _ask(env, req("echo", token="guess", value=1))["error"]
        assert "unknown broker request 'nope'" in _ask(env, req("nope"))["error"]
        assert "malformed broker request" in _ask(env, b"not json\n")["error"]
        reply = _ask(env, req("leaky"))
        assert reply["error"] == "leaky failed in the step operator (RuntimeError); see the step's task log"
        assert "AccountKey" not in json.dumps(reply)


def test_step_calls_outside_a_step_say_so(monkeypatch):
    from airflow_mlpipe import UserErrorException, step_calls

    monkeypatch.delenv(ENV_BROKER, raising=False)
    assert not step_calls.in_step()
    with pytest.raises(UserErrorException, match="not a pipeline step"):
        step_calls.call("model_get", name="m")
    monkeypatch.setenv(ENV_BROKER, "/nonexistent/mlpipe-broker-socket")
    with pytest.raises(UserErrorException, match="cannot reach the step operator's broker"):
        step_calls.call("model_get", name="m")
