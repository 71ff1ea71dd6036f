"""``mlpipe adla serve``: the local ADLA job service (the 2016-11-01 job API) running U-SQL jobs
with the package's U-SQL engine on DuckDB, for pipelines with AdlaSteps and for existing ADLA callers.

cli.py registers it with ``add_adla_parser(sub)`` next to ``add_databricks_parser(sub)``.
"""

from __future__ import annotations

import argparse
from typing import Any


def cmd_adla_serve(args: argparse.Namespace) -> int:
    from airflow_mlpipe.emulators.adla.__main__ import serve

    return serve(args)


def add_adla_parser(sub: Any) -> None:
    from airflow_mlpipe.emulators.adla.__main__ import add_arguments

    adla = sub.add_parser("adla", help="the local Azure Data Lake Analytics job service")
    asub = adla.add_subparsers(dest="adla_command", required=True)
    serve = asub.add_parser(
        "serve",
        help="serve the ADLA job API (PUT/GET jobs/{id}, POST jobs/{id}/CancelJob) on loopback; runs U-SQL on DuckDB",
    )
    add_arguments(serve)
    serve.set_defaults(func=cmd_adla_serve)
