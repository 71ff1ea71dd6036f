"""``mlpipe up --executor celery``: the embedded deployment scaled out the way docker-compose.yaml
runs it, on one machine.

It adds to the LocalDeployment (deploy/local.py) a private PostgreSQL (metadata database and
Celery result backend) and a private Redis (Celery broker) under ``$MLPIPE_HOME``, runs the
api-server, scheduler, dag-processor and triggerer with the CeleryExecutor, and one Celery worker
serving ``default`` plus one queue per AmlCompute target of the workspace (the translator gives a
step on cluster ``c`` ``queue=c`` and ``pool=c``). ``down`` is LocalDeployment's: every process
carries the deployment's id. Workers on other machines join with ``worker_environment``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_mlpipe.deploy.local import DeploymentError, LocalDeployment
from airflow_mlpipe.deploy.processes import free_port
from airflow_mlpipe.deploy.servers import broker_url, database_url, start_postgres, start_redis

DEFAULT_QUEUE = "default"
WORKER_CONCURRENCY = 8
# [core] parallelism caps the tasks running at once across ALL workers (the embedded deployment's 8
# is one machine's); scaled out it must cover the workers' slots: Airflow's default, 4 workers of 8
PARALLELISM = 32
# Over a network, and on busy machines, Airflow's defaults (1 s to hand a task to the broker, 5 s
# for a worker's call to the execution API) fail tasks that a little patience runs
TIMEOUTS = {"AIRFLOW__CELERY__OPERATION_TIMEOUT": "10", "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30"}


def compute_queues(config: str | Path | None = None) -> list[str]:
    """The Celery queue of every AmlCompute target (an Airflow pool) of the workspace."""
    from airflow_mlpipe.definitions.compute import is_pool
    from airflow_mlpipe.definitions.workspace import Workspace

    targets = Workspace.from_config(config).compute_targets
    return sorted(name for name, target in targets.items() if is_pool(target.spec))


def celery_settings(host: str, db_port: int, broker_port: int, secrets: dict[str, str]) -> dict[str, str]:
    """The Airflow settings every component of a Celery deployment shares: executor, database,
    broker, result backend (docker-compose.yaml sets the same keys)."""
    db = secrets["db_password"]
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(host, db_port, db),
        "AIRFLOW__CELERY__RESULT_BACKEND": database_url(host, db_port, db, driver="db+postgresql"),
        "AIRFLOW__CELERY__BROKER_URL": broker_url(host, broker_port, secrets["broker_password"]),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        # workers import what steps need once; each task process inherits it (deploy/celery_preload.py)
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "airflow_mlpipe.deploy.celery_preload.CELERY_CONFIG",
        **TIMEOUTS,
    }


def worker_command(airflow: list[str], queues: list[str]) -> list[str]:
    """``airflow celery worker`` serving ``queues`` (mingle and gossip off: workers need not know
    of each other, and they slow the start)."""
    return [
        *airflow,
        "celery",
        "worker",
        "--queues",
        ",".join(queues),
        "--without-mingle",
        "--without-gossip",
    ]


class CeleryDeployment(LocalDeployment):
    """Airflow with the CeleryExecutor, PostgreSQL and Redis under ``home``.

    ``queues``: what this machine's worker serves (default: ``default`` plus the workspace's
    compute targets); an empty list starts no worker (the workers run on other machines).
    """

    def __init__(self, *args: Any, queues: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.queues = [DEFAULT_QUEUE, *compute_queues()] if queues is None else list(queues)

    def _celery_secrets(self) -> dict[str, str]:
        import secrets

        return self._secrets(
            db_password=lambda: secrets.token_urlsafe(24), broker_password=lambda: secrets.token_urlsafe(24)
        )

    def state_extra(self) -> dict[str, Any]:
        return {"executor": "CeleryExecutor", "queues": self.queues, "ports": getattr(self, "ports", {})}

    def start_services(self, env: dict[str, str], echo: Any, started: Any) -> dict[str, int]:
        sec = self._celery_secrets()
        self.ports = {"postgres": free_port(self.host), "redis": free_port(self.host)}
        env.update(celery_settings(self.host, self.ports["postgres"], self.ports["redis"], sec))
        echo(
            f"starting PostgreSQL on {self.host}:{self.ports['postgres']}, Redis on {self.host}:{self.ports['redis']}"
        )
        pids = {}
        for name, start, password in (
            ("postgres", start_postgres, sec["db_password"]),
            ("redis", start_redis, sec["broker_password"]),
        ):
            pids[name] = start(self.home / name, self.host, self.ports[name], password, self._spawn, env)
            started(name, pids[name])
        return pids

    def component_commands(self, airflow: list[str]) -> dict[str, list[str]]:
        commands = super().component_commands(airflow)
        if self.queues:
            commands["celery-worker"] = worker_command(airflow, self.queues)
        return commands

    def worker_environment(self) -> dict[str, str]:
        """The Airflow settings a Celery worker on another machine needs to join this running
        deployment: this one's, with the API, database and broker at this deployment's address
        (secrets included: hand them over as you would any credential)."""
        st = self.state()
        if st is None or "ports" not in st:
            raise DeploymentError(
                f"no Celery deployment runs under {self.home}; start one with `mlpipe up --executor celery`"
            )
        # a worker serves its task logs on the port the api-server asks every worker host at
        env = self.environment(st["port"], st["deployment_id"], tuple(st.get("log_ports") or (0, 0)))
        env.update(
            celery_settings(self.host, st["ports"]["postgres"], st["ports"]["redis"], self._celery_secrets())
        )
        env["AIRFLOW__CORE__DAGS_FOLDER"] = st["dags_folder"]
        local = "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"  # the triggerer runs on this machine
        return {k: v for k, v in env.items() if k.startswith("AIRFLOW__") and k != local}
