"""The embedded deployment: Airflow 3 processes on loopback, SQLite, LocalExecutor.

Each component runs in its own process group, and every process (and anything it starts) carries
``MLPIPE_DEPLOYMENT_ID`` in its environment, so ``down()`` finds and stops all of them, including
a step script that left its parent's process group. Airflow's own ``standalone`` leaves children
behind when it stops; this does not.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from airflow_mlpipe.definitions.workspace import mlpipe_home, write_json_atomic
from airflow_mlpipe.deploy.processes import free_port, pid_alive, port_is_free, tagged_pids
from airflow_mlpipe.exceptions import MlpipeError

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# how `up` starts each component: under deploy/supervise.py, which starts it again when it exits
SUPERVISE = [sys.executable, "-m", "airflow_mlpipe.deploy.supervise"]
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
DEFAULT_PORT = 28080
USERNAME = "admin"
# `mlpipe up --databricks`: the emulator's Airflow connection and its Databricks workspace name
DATABRICKS_CONN_ID = "mlpipe_databricks_local"
DATABRICKS_WORKSPACE = "local"


class DeploymentError(MlpipeError):
    pass


__all__ = ["DeploymentError", "LocalDeployment", "free_port", "pid_alive", "port_is_free", "tagged_pids"]


def database_commands(airflow: list[str], env: dict[str, str]) -> list[list[str]]:
    """What prepares the metadata database before the components start: the migration, and in
    multi-team mode (``[core] multi_team``) the teams the DAG bundles name, which must exist before
    the DAG processor assigns the bundles to them (``airflow teams sync``)."""
    commands = [[*airflow, "db", "migrate"]]
    if env.get("AIRFLOW__CORE__MULTI_TEAM", "").strip().lower() in ("true", "t", "1"):
        commands.append([*airflow, "teams", "sync"])
    return commands


class LocalDeployment:
    """Start, stop and inspect the embedded Airflow deployment under ``home``."""

    def __init__(
        self,
        home: str | Path | None = None,
        dags_folder: str | Path | None = None,
        extra_env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ):
        """``extra_env`` adds variables to every component or overrides the deployment's, e.g.
        ``AIRFLOW_CONN_<ID>`` connections, or multi-team mode and DAG bundles of teams (the teams
        are created at ``up``); ``host`` is the address the API server (and any server of the
        deployment) listens on."""
        self.extra_env = dict(extra_env or {})
        self.host = host
        self.home = Path(home).resolve() if home else mlpipe_home()
        self.airflow_home = self.home / "airflow"
        self.state_file = self.home / "deployment.json"
        self.passwords_file = self.airflow_home / "simple_auth_manager_passwords.json"
        self.registry_dags = self.home / "registry" / "dags"
        self.dags_folder = Path(dags_folder).resolve() if dags_folder else None

    # --- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None

    @property
    def url(self) -> str:
        st = self.state()
        if st is None:
            raise DeploymentError(f"no embedded deployment under {self.home}; start one with `mlpipe up`")
        return st["url"]

    def password(self) -> str:
        return json.loads(self.passwords_file.read_text())[USERNAME]

    def _secrets(self, **more: Any) -> dict[str, str]:
        """The deployment's secrets (secrets.json, mode 600): Airflow's JWT secret and Fernet key,
        plus any of ``more`` (name -> a function making the value) not made yet."""
        path = self.home / "secrets.json"
        values = json.loads(path.read_text()) if path.exists() else {}

        def fernet_key() -> str:
            from cryptography.fernet import Fernet

            return Fernet.generate_key().decode()

        makers = {
            "jwt_secret": lambda: secrets.token_urlsafe(48),
            "api_secret_key": lambda: secrets.token_urlsafe(48),
            "fernet_key": fernet_key,
            **more,
        }
        missing = {name: make() for name, make in makers.items() if name not in values}
        if missing:
            values.update(missing)
            write_json_atomic(path, values)
            path.chmod(0o600)
        return values

    def environment(self, port: int, deployment_id: str, log_ports: tuple[int, int]) -> dict[str, str]:
        sec = self._secrets()
        base = f"http://{self.host}:{port}"
        dags = self.dags_folder or (self.home / "dags")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "MLPIPE_HOME": str(self.home),
                "MLPIPE_DEPLOYMENT_ID": deployment_id,
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_home / 'airflow.db'}",
                "AIRFLOW__API__HOST": self.host,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": base,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
                # signs the api-server's requests for task logs, which each worker's log server checks
                "AIRFLOW__API__SECRET_KEY": sec["api_secret_key"],
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_ports[0]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_ports[1]),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
                # one machine: the triggerer sees the workers' source folders, so a step built from
                # a local folder may decide its reuse in the triggerer too (operators/reuse_steps.py)
                "AIRFLOW__MLPIPE__TRIGGERER_SHARES_SOURCE": "True",
                "PYTHONUNBUFFERED": "1",
                # two DAG bundles: the project's DAG folder and the registry's DAG file
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                    [
                        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                        {
                            "name": "mlpipe-registry",
                            "classpath": LOCAL_BUNDLE,
                            "kwargs": {"path": str(self.registry_dags)},
                        },
                    ]
                ),
            }
        )
        env.update(self.extra_env)
        return env

    # --- lifecycle -------------------------------------------------------------------------

    def running(self) -> dict[str, bool]:
        st = self.state() or {}
        return {name: pid_alive(pid) for name, pid in st.get("pids", {}).items()}

    def up(
        self, port: int | None = None, timeout: float = 180, echo: Any = print, databricks: bool = False
    ) -> dict[str, Any]:
        """Start Airflow (and, with ``databricks``, the local Databricks emulator; see
        ``start_databricks``)."""
        alive = self.running()
        if alive and all(alive.values()):
            echo(f"already running at {self.url}")
            return self.state() or {}
        if alive:
            self.down(echo=lambda *_: None)  # a partial deployment is restarted whole
        port = port or DEFAULT_PORT
        if not port_is_free(port, self.host):
            raise DeploymentError(
                f"port {port} on {self.host} is already in use; stop what uses it or pass --port to `mlpipe up`"
            )
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        if not self.passwords_file.exists():
            write_json_atomic(self.passwords_file, {USERNAME: secrets.token_urlsafe(12)})
            self.passwords_file.chmod(0o600)
        from airflow_mlpipe.registry.dagfile import write_dag_file

        write_dag_file(self.registry_dags)
        deployment_id = uuid.uuid4().hex
        log_ports = (free_port(), free_port())  # where workers and the triggerer serve their logs
        env = self.environment(port, deployment_id, log_ports)
        emulator = self.databricks_settings() if databricks else None
        if emulator is not None:  # Airflow's workers and triggerer reach it through this connection
            env[f"AIRFLOW_CONN_{DATABRICKS_CONN_ID.upper()}"] = json.dumps(
                {
                    "conn_type": "databricks",
                    "host": "127.0.0.1",
                    "port": emulator["port"],
                    "schema": "http",
                    "password": self._databricks_token(),
                }
            )
        airflow = [sys.executable, "-m", "airflow"]
        state: dict[str, Any] = {
            "url": f"http://{self.host}:{port}",
            "port": port,
            "pids": {},
            "deployment_id": deployment_id,
            "dags_folder": env["AIRFLOW__CORE__DAGS_FOLDER"],
            "log_ports": list(log_ports),
            "started": time.time(),
        }

        def started(name: str, pid: int) -> None:  # recorded at once, so `down` can stop it
            state["pids"][name] = pid
            write_json_atomic(self.state_file, state)

        try:  # from here on, a failure stops whatever has started
            self.start_services(env, echo, started)
            state.update(self.state_extra())
            echo(f"migrating the metadata database under {self.airflow_home}")
            for cmd in database_commands(airflow, env):
                done = subprocess.run(cmd, env=env, cwd=Path.cwd(), capture_output=True, text=True)
                if done.returncode != 0:
                    what = " ".join(cmd[len(airflow) :])
                    raise DeploymentError(f"`airflow {what}` failed:\n{done.stderr[-3000:]}")
            commands = self.component_commands(airflow)
            for name, cmd in commands.items():
                state["pids"][name] = self.spawn_component(name, cmd, env)
            if emulator is not None:
                state["pids"]["databricks"] = self._start_emulator(env, emulator)
                state["databricks"] = {**emulator, "conn_id": DATABRICKS_CONN_ID}
            write_json_atomic(self.state_file, state)
            echo(f"starting {', '.join(commands)} (logs in {self.home / 'logs'})")
            self.wait_healthy(timeout)
        except BaseException:
            if self.state_file.exists():
                self.down(echo=lambda *_: None)
            raise
        echo(f"Airflow is up: {state['url']}  (user {USERNAME}, password in {self.passwords_file})")
        if emulator is not None:
            echo(
                f"Databricks emulator: http://127.0.0.1:{emulator['port']} (Databricks workspace "
                f"'{DATABRICKS_WORKSPACE}', connection {DATABRICKS_CONN_ID})"
            )
        return state

    # --- what a deployment with another executor changes (deploy/celery.py) ---------------------

    def state_extra(self) -> dict[str, Any]:
        """More of deployment.json: what ``status`` and tests may want to know."""
        return {"executor": "LocalExecutor"}

    def start_services(self, env: dict[str, str], echo: Any, started: Any) -> dict[str, int]:
        """Servers the components need before ``airflow db migrate`` (name -> pid), with their
        settings added to ``env``; ``started(name, pid)`` records each at once for ``down``."""
        return {}

    def component_commands(self, airflow: list[str]) -> dict[str, list[str]]:
        return {name: [*airflow, name] for name in COMPONENTS}

    # --- the local Databricks emulator ----------------------------------------------------------

    def databricks_settings(self) -> dict[str, Any]:
        """Where ``mlpipe up --databricks`` serves the emulator, and what it mounts: the embedded
        workspace's datastores at /mnt/<name>, as a Databricks workspace mounts its storage."""
        from airflow_mlpipe.definitions.workspace import BUILTIN_DATASTORES

        datastores = self.home / "workspace" / "datastores"
        return {
            "port": free_port(),
            "root": str(self.home / "databricks"),
            "mounts": {ds: f"/mnt/{ds}" for ds in BUILTIN_DATASTORES},
            "mount_dirs": {f"/mnt/{ds}": str(datastores / ds) for ds in BUILTIN_DATASTORES},
        }

    def _databricks_token(self) -> str:
        return self._secrets(databricks_token=lambda: "dapi" + secrets.token_hex(16))["databricks_token"]

    def _start_emulator(self, env: dict[str, str], emulator: dict[str, Any]) -> int:
        for folder in emulator["mount_dirs"].values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "airflow_mlpipe.emulators.databricks",
            "--host",
            "127.0.0.1",
            "--port",
            str(emulator["port"]),
            "--root",
            emulator["root"],
            "--token",
            self._databricks_token(),
        ]
        for mount, folder in emulator["mount_dirs"].items():
            cmd += ["--mount", f"{mount}={folder}"]
        own_env = {k: v for k, v in env.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        return self._spawn("databricks", cmd, own_env)

    def spawn_component(self, name: str, cmd: list[str], env: dict[str, str]) -> int:
        """Start an Airflow component under deploy/supervise.py, which starts it again when it exits
        (as compose's `restart: always`); returns the supervisor's pid, its process group's leader."""
        return self._spawn(name, [*SUPERVISE, name, "--", *cmd], env)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str], user: str | None = None) -> int:
        """Start one component in its own process group, its output in logs/<name>.log."""
        with open(self.home / "logs" / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=Path.cwd() if user is None else "/",
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=user,
            )
        return proc.pid

    def health(self) -> dict[str, Any] | None:
        import requests

        try:
            return requests.get(f"{self.url}/api/v2/monitor/health", timeout=3).json()
        except (requests.RequestException, ValueError):
            return None

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, ok in self.running().items() if not ok]
            if dead:
                tail = (self.home / "logs" / f"{dead[0]}.log").read_text(errors="replace")[-2000:]
                raise DeploymentError(f"Airflow {dead[0]} exited while starting; end of its log:\n{tail}")
            h = self.health()
            if h and all(
                (h.get(c) or {}).get("status") == "healthy"
                for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")
            ):
                return
            time.sleep(1)
        raise DeploymentError(
            f"Airflow did not become healthy within {timeout:.0f}s; see logs in {self.home / 'logs'}"
        )

    def down(self, timeout: float = 30, echo: Any = print) -> list[int]:
        """Stop every process of the deployment; returns the pids that had to be killed."""
        st = self.state()
        if st is None:
            echo("nothing to stop")
            return []
        for pid in st["pids"].values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(pid_alive(p) for p in st["pids"].values()) and not tagged_pids(st["deployment_id"]):
                break
            time.sleep(0.3)
        killed = []
        for pid in tagged_pids(st["deployment_id"]):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        for pid in st["pids"].values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.state_file.unlink(missing_ok=True)
        echo("stopped" + (f" (killed {len(killed)} stuck process(es))" if killed else ""))
        return killed

    def status(self) -> dict[str, Any]:
        st = self.state()
        if st is None:
            return {"running": False}
        return {"running": True, "url": st["url"], "processes": self.running(), "health": self.health()}
