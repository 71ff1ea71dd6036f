"""Start the Databricks emulator CLI for a test, in its own process group, and stop it completely.

with start_emulator(tmp_path / "dbx", token="t0ken") as emu:
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_EMU", emu.conn_uri)
    hook = DatabricksHook("databricks_emu")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


class Emulator:
    """A running emulator process: where it listens, its token, and how to stop it."""

    def __init__(
        self, proc: subprocess.Popen, host: str, port: int, token: str, root: Path, log: Path
    ) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.token = token
        self.root = root
        self.log = log

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def conn_uri(self) -> str:
        """An Airflow connection (JSON form) for AIRFLOW_CONN_<ID> pointing the Databricks hook here."""
        return json.dumps(
            {
                "conn_type": "databricks",
                "host": self.host,
                "port": self.port,
                "schema": "http",
                "password": self.token,
            }
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM the process group (the emulator kills its jobs), SIGKILL it if it lingers, reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in the group
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(
    root: Path,
    token: str,
    mounts: dict[str, str] | None = None,
    clusters: dict[str, str] | None = None,
    *,
    job_command: str | None = None,
    pythonpath: list[str] | None = None,
) -> Emulator:
    """Run ``python -m airflow_mlpipe.emulators.databricks`` on a free loopback port and wait until it serves.

    ``job_command`` (MODULE:FUNCTION, importable with ``pythonpath``) replaces runtime.command.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    ready = root / "emulator.port"
    ready.unlink(missing_ok=True)
    log = root / "emulator.log"
    argv = [sys.executable, "-m", "airflow_mlpipe.emulators.databricks", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--root", str(root), "--token", token, "--ready-file", str(ready)]
    for mount, local in (mounts or {}).items():
        argv += ["--mount", f"{mount}={local}"]
    for cluster_id, state in (clusters or {}).items():
        argv += ["--cluster", f"{cluster_id}={state}"]
    if job_command:
        argv += ["--job-command", job_command]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *(pythonpath or []), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    emulator = Emulator(proc, "127.0.0.1", 0, token, root, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(
                f"the Databricks emulator exited with {proc.returncode}:\n{emulator.log_text()}"
            )
        if time.monotonic() > deadline:
            emulator.stop()
            raise RuntimeError(
                f"the Databricks emulator did not serve within {START_TIMEOUT} s:\n{emulator.log_text()}"
            )
        time.sleep(0.05)
    emulator.port = int(ready.read_text())
    return emulator


def import_notebook(url: str, token: str, path: str, source: bytes, language: str = "PYTHON") -> None:
    """Put a notebook into the emulator's workspace (its folder made first, as Databricks needs),
    as a user's existing workspace notebook."""
    import base64
    import posixpath

    import requests

    auth = {"Authorization": f"Bearer {token}"}
    made = requests.post(
        f"{url}/api/2.0/workspace/mkdirs", headers=auth, json={"path": posixpath.dirname(path)}, timeout=30
    )
    if made.status_code != 200:
        raise RuntimeError(f"workspace/mkdirs {posixpath.dirname(path)}: {made.text}")
    body = {
        "path": path,
        "format": "SOURCE",
        "language": language,
        "content": base64.b64encode(source).decode(),
        "overwrite": True,
    }
    got = requests.post(f"{url}/api/2.0/workspace/import", headers=auth, json=body, timeout=30)
    if got.status_code != 200:
        raise RuntimeError(f"workspace/import {path}: {got.text}")
