"""``mlpipe up``, ``down`` and ``status``: the embedded deployment (deploy/local.py), or with
``--executor celery`` PostgreSQL, Redis and Celery workers (deploy/celery.py).

cli.py registers them with ``add_deploy_parsers(sub)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_up(args: argparse.Namespace) -> int:
    from airflow_mlpipe.deploy.local import LocalDeployment

    dags = args.dags_folder or ("dags" if Path("dags").is_dir() else None)
    if args.executor == "local":
        dep = LocalDeployment(dags_folder=dags, host=args.host)
    else:  # PostgreSQL, Redis and Celery workers (deploy/celery.py)
        from airflow_mlpipe.deploy.celery import CeleryDeployment

        queues = None if args.queues is None else [q for q in args.queues.split(",") if q]
        dep = CeleryDeployment(dags_folder=dags, host=args.host, queues=queues)
    dep.up(port=args.port, timeout=args.timeout, databricks=args.databricks)
    if args.executor == "celery":
        from airflow_mlpipe.cli import _client, sync_pools

        sync_pools(_client(dep))  # a cluster's steps wait for its pool: make them now
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from airflow_mlpipe.deploy.local import LocalDeployment

    LocalDeployment().down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from airflow_mlpipe.deploy.local import LocalDeployment

    st = LocalDeployment().status()
    if not st["running"]:
        print("not running (start it with `mlpipe up`)")
        return 1
    print(f"url: {st['url']}")
    for name, alive in st["processes"].items():
        health = (st["health"] or {}).get(name.replace("-", "_"), {}) or {}
        print(f"  {name:14} {'running' if alive else 'stopped'}  {health.get('status') or ''}")
    return 0 if all(st["processes"].values()) else 1


def add_deploy_parsers(sub: Any) -> None:
    up = sub.add_parser(
        "up", help="start the embedded Airflow deployment (SQLite and LocalExecutor, or --executor celery)"
    )
    up.add_argument("--port", type=int, default=None, help="API server port (default 28080)")
    up.add_argument("--dags-folder", default=None, help="DAG folder (default ./dags if present)")
    up.add_argument("--timeout", type=float, default=180)
    up.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="celery: PostgreSQL, Redis, the CeleryExecutor and a Celery worker (docs/deployment.md)",
    )
    up.add_argument("--host", default="127.0.0.1", help="address the servers listen on (default 127.0.0.1)")
    up.add_argument(
        "--queues",
        default=None,
        help="celery: the queues this machine's worker serves, comma-separated; '' starts no worker "
        "(default: default plus one per AmlCompute target of the workspace)",
    )
    up.add_argument(
        "--databricks",
        action="store_true",
        help="also start the local Databricks emulator (Databricks workspace 'local' of the embedded workspace)",
    )
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop every process of the embedded deployment")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="say what runs")
    status.set_defaults(func=cmd_status)
