"""The step script's side of the operator's broker (operators/broker.py).

A step script cannot reach the datastores (Airflow's secrets are not in its environment), so calls
that need them (registering and fetching models) are requests to the operator that runs the script:
one JSON line per connection on a Unix socket named by ``MLPIPE_BROKER``. Imports nothing from
Airflow; ``Run`` and ``Model`` import it lazily.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException

ENV_BROKER = "MLPIPE_BROKER"  # the socket's path
ENV_TOKEN = "MLPIPE_BROKER_TOKEN"  # proves a request comes from the step's own script
MAX_REPLY = 64 * 1024 * 1024


def in_step() -> bool:
    """Whether this process is a step script with a broker to ask."""
    return bool(os.environ.get(ENV_BROKER))


def _error_class(name: str | None) -> type[Exception]:
    from airflow_mlpipe.storage import models

    return {
        "ModelNotFoundException": models.ModelNotFoundException,
        "ModelPathNotFoundException": models.ModelPathNotFoundException,
    }.get(name or "", UserErrorException)


def call(op: str, **args: Any) -> Any:
    """Ask the operator to do ``op``; its error comes back as an exception with its message."""
    path = os.environ.get(ENV_BROKER)
    if not path:
        raise UserErrorException(f"{op}: this is not a pipeline step run by airflow-mlpipe (no {ENV_BROKER})")
    request = {"op": op, "token": os.environ.get(ENV_TOKEN, ""), "args": args}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            raise UserErrorException(
                f"{op}: cannot reach the step operator's broker at {path} ({exc}); is the step still running?"
            ) from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks, size = [], 0
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REPLY:
                raise UserErrorException(f"{op}: the broker's reply is larger than {MAX_REPLY} bytes")
    raw = b"".join(chunks)
    if not raw.strip():
        raise UserErrorException(f"{op}: the step operator's broker closed the connection without a reply")
    reply = json.loads(raw)
    if "error" in reply:
        raise _error_class(reply.get("type"))(reply["error"])
    return reply["result"]


class BrokeredModels:
    """The ``ModelRegistry`` methods (storage/models.py), served by the operator."""

    def get(self, **kwargs: Any) -> dict[str, Any]:
        return call("model_get", **kwargs)

    def list(self, **kwargs: Any) -> list[dict[str, Any]]:
        return call("model_list", **kwargs)

    def register(self, model_path: str, model_name: str, **kwargs: Any) -> dict[str, Any]:
        return call("model_register", model_path=model_path, model_name=model_name, **kwargs)

    def update(self, name: str, version: int, changes: dict[str, Any]) -> dict[str, Any]:
        return call("model_update", name=name, version=version, changes=changes)

    def download(self, name: str, version: int, target_dir: str, exist_ok: bool = False) -> str:
        return call("model_download", name=name, version=version, target_dir=target_dir, exist_ok=exist_ok)

    def model_path(self, name: str, version: int | None, root: str) -> str:
        return call("model_path", name=name, version=version, root=root)

    def register_from_run(self, model_name: str, model_path: str, fields: dict[str, Any]) -> dict[str, Any]:
        return call("register_model", model_name=model_name, model_path=model_path, fields=fields)
