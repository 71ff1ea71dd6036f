"""``mlpipe databricks serve``: the local Databricks emulator (Jobs, DBFS, Clusters and Workspace
APIs, running notebooks, scripts and jars with local Spark) for pipelines with DatabricksSteps."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_databricks_serve(args: argparse.Namespace) -> int:
    from airflow_mlpipe.emulators.databricks.__main__ import main

    argv = ["--host", args.host, "--port", str(args.port), "--root", args.root, "--token", args.token]
    for mount in args.mount:
        argv += ["--mount", mount]
    for cluster in args.cluster:
        argv += ["--cluster", cluster]
    return main(argv)


def add_databricks_parser(sub: Any) -> None:
    databricks = sub.add_parser("databricks", help="the local Databricks emulator")
    dsub = databricks.add_subparsers(dest="databricks_command", required=True)
    serve = dsub.add_parser(
        "serve",
        help="serve the Jobs 2.1/2.2, DBFS, Clusters and Workspace APIs on loopback; runs with local Spark",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--root", required=True, help="folder for DBFS, workspace notebooks and run logs")
    serve.add_argument("--token", required=True, help="the bearer token clients must send")
    serve.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="/mnt/NAME=DIR",
        help="a datastore folder mounted in the workspace (as dbutils.fs.mount would); repeatable",
    )
    serve.add_argument(
        "--cluster", action="append", default=[], metavar="ID=STATE", help="an existing cluster; repeatable"
    )
    serve.set_defaults(func=cmd_databricks_serve)
