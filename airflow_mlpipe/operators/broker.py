"""The step broker: what a running step script asks of its operator.

A step script runs without Airflow's secrets, so it cannot reach the datastores. While it runs, the
operator serves a Unix socket in a private (0700) temporary folder on a daemon thread; the script
finds it through ``MLPIPE_BROKER`` (step_calls.py) and sends one JSON request per connection:
``{"op": ..., "token": ..., "args": {...}}``. The reply is ``{"result": ...}`` or
``{"error": message, "type": exception name}``. Replies hold records and paths, never connection data:
an unexpected error is reported by its type only (its text stays in the task log).

Imports nothing from Airflow, so it can be tested and reused without a task.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import MlpipeError, UserErrorException
from airflow_mlpipe.step_calls import ENV_BROKER, ENV_TOKEN
from airflow_mlpipe.storage.models import ModelPathNotFoundException, ModelRegistry

MAX_REQUEST = 1024 * 1024
MAX_SOCKET_PATH = 100  # sun_path holds 104-108 bytes depending on the OS

log = logging.getLogger(__name__)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False  # a script killed mid-request must not hold up the end of its step
    broker: StepBroker


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        raw = self.rfile.readline(MAX_REQUEST + 1)
        reply = self.server.broker.dispatch(raw)  # type: ignore[attr-defined]
        try:
            self.wfile.write(json.dumps(reply).encode() + b"\n")
        except OSError:  # the script went away
            pass


def _socket_dir() -> str:
    folder = tempfile.mkdtemp(prefix="mlb-")  # mode 0700: only this user reaches the socket
    if len(folder) + 2 <= MAX_SOCKET_PATH or not os.path.isdir("/tmp"):
        return folder
    os.rmdir(folder)  # a long TMPDIR: fall back to the short system folder
    return tempfile.mkdtemp(prefix="mlb-", dir="/tmp")


class StepBroker:
    """Serve ``handlers`` (op name -> function of the request's arguments) while a script runs::

    with StepBroker(handlers) as env:   # env: the variables the script needs
        run the script with env
    """

    def __init__(self, handlers: dict[str, Callable[..., Any]], logger: Any = None):
        self.handlers = dict(handlers)
        self.log = logger or log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dir: str | None = None
        self._token = ""

    def start(self) -> dict[str, str]:
        self._dir = _socket_dir()
        path = os.path.join(self._dir, "s")
        self._token = secrets.token_hex(16)
        try:
            self._server = _Server(path, _Handler)
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._server.broker = self
        os.chmod(path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="mlpipe-broker",
            daemon=True,
        )
        self._thread.start()
        return {ENV_BROKER: path, ENV_TOKEN: self._token}

    def stop(self) -> None:
        """Stop serving and remove the socket folder (safe to call twice)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def dispatch(self, raw: bytes) -> dict[str, Any]:
        """One request -> its reply."""
        if len(raw) > MAX_REQUEST:
            return {"error": f"request larger than {MAX_REQUEST} bytes", "type": "UserErrorException"}
        try:
            request = json.loads(raw)
            op, args, token = request["op"], request.get("args") or {}, str(request.get("token", ""))
            if not isinstance(op, str) or not isinstance(args, dict):
                raise ValueError("op must be a string and args an object")
        except (ValueError, KeyError, TypeError) as exc:
            return {"error": f"malformed broker request ({exc})", "type": "UserErrorException"}
        if not hmac.compare_digest(token, self._token):
            return {"error": "broker request refused: wrong token", "type": "UserErrorException"}
        handler = self.handlers.get(op)
        if handler is None:
            return {
                "error": f"unknown broker request {op!r}; known: {sorted(self.handlers)}",
                "type": "UserErrorException",
            }
        try:
            result = handler(**args)
            json.dumps(result)
            return {"result": result}
        except MlpipeError as exc:
            self.log.info("broker: %s refused: %s", op, exc)
            return {"error": str(exc), "type": type(exc).__name__}
        except Exception as exc:  # reported to the script by its type only
            self.log.exception("broker: %s failed", op)
            return {
                "error": f"{op} failed in the step operator ({type(exc).__name__}); see the step's task log",
                "type": "UserErrorException",
            }


class ModelRequests:
    """The model registry as the step's script sees it: registered on the pipeline's default
    datastore, with the step's run id and experiment for ``Run.register_model``."""

    def __init__(
        self,
        open_store: Callable[[], Any],
        *,
        run_id: str,
        experiment_name: str,
        cwd: Path,
        files_dir: Path,
    ):
        self._open_store = open_store
        self._registry: ModelRegistry | None = None
        self.run_id = run_id
        self.experiment_name = experiment_name
        self.cwd = Path(cwd)
        self.files_dir = Path(files_dir)

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:  # opened on the first request: most scripts never ask
            self._registry = ModelRegistry(self._open_store())
        return self._registry

    def _local(self, path: str) -> str:
        return str(self.cwd / path) if not os.path.isabs(path) else path

    def handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "model_get": lambda **kw: self.registry.get(**kw),
            "model_list": lambda **kw: self.registry.list(**kw),
            "model_register": lambda model_path, model_name, **kw: self.registry.register(
                self._local(model_path), model_name, **kw
            ),
            "model_update": lambda **kw: self.registry.update(**kw),
            "model_download": lambda target_dir, **kw: self.registry.download(
                target_dir=self._local(target_dir), **kw
            ),
            "model_path": self.model_path,
            "register_model": self.register_model,
        }

    def model_path(self, name: str, version: int | None = None, root: str | None = None) -> str:
        """Download a model into <root or the script's cwd/azureml-models>/<name>/<version>/."""
        record = self.registry.get(name=name, version=version)
        base = Path(self._local(root)) if root else self.cwd / "azureml-models"
        target = base / name / str(record["version"])
        return self.registry.download(name, record["version"], str(target), exist_ok=True)

    def register_model(self, model_name: str, model_path: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Register a file or folder of the run: one it uploaded (run.upload_file) or wrote under its
        working folder (./outputs/model.pkl), as v1's Run.register_model."""
        where = f"Run.register_model({model_name!r})"
        rel = Path(model_path)
        if rel.is_absolute() or ".." in rel.parts:
            raise UserErrorException(
                f"{where}: model_path {model_path!r} must be a path among the run's files, such as "
                "'outputs/model.pkl' (relative, without '..'); register other files with Model.register"
            )
        for base in (self.files_dir, self.cwd):
            if (base / rel).exists():
                return self.registry.register(
                    str(base / rel),
                    model_name,
                    fields=fields,
                    run_id=self.run_id,
                    experiment_name=self.experiment_name,
                    where=where,
                )
        raise ModelPathNotFoundException(
            f"{where}: could not locate model_path {model_path!r} in the files of run {self.run_id}: "
            f"{self._run_files()}; write the model under ./outputs or upload it with run.upload_file first"
        )

    def _run_files(self) -> list[str]:
        found = []
        for base, sub in ((self.files_dir, ""), (self.cwd, "outputs"), (self.cwd, "logs")):
            folder = base / sub if sub else base
            if folder.is_dir():
                found += [p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file()]
        return sorted(set(found))[:30]
