"""``python -m airflow_mlpipe.emulators.adla`` (and ``mlpipe adla serve``): serve the ADLA job API
until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_mlpipe.emulators.http import (
    configure_logging,
    load_callable,
    missing_token,
    serve_until_signalled,
)
from airflow_mlpipe.exceptions import MlpipeError

if TYPE_CHECKING:
    from airflow_mlpipe.emulators.adla.paths import StoreRoot

log = logging.getLogger("airflow_mlpipe.emulators.adla")
TOKEN_ENV = "MLPIPE_ADLA_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's options (shared with ``mlpipe adla serve``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--root",
        type=Path,
        help="the data root: the folder of the datastore the ADLA account reads and writes; "
        "script paths '/a/b.csv' and 'adl://<account>/a/b.csv' are files under it",
    )
    data.add_argument(
        "--datastore",
        metavar="NAME",
        help="instead of --root: a datastore of the workspace config (Blob, ADLS Gen2, Azure Files or a "
        "folder), read and written through its storage backend and Airflow connection",
    )
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV), help=f"the accepted bearer token (or ${TOKEN_ENV})"
    )
    parser.add_argument("--ready-file", type=Path, help="write the bound port here (atomically) once serving")
    parser.add_argument(
        "--runner",
        metavar="MODULE:FUNCTION",
        help="a runner (script, JobContext) -> None replacing the U-SQL engine on DuckDB (for tests)",
    )


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop, 2 on bad arguments or a failed start."""
    configure_logging()
    if not args.token:
        return missing_token("--token", TOKEN_ENV)
    try:
        from airflow_mlpipe.emulators.adla.server import AdlaService

        runner = load_callable(args.runner, "--runner") if args.runner else None
        datastore = workspace_datastore(args.datastore) if args.datastore else None
        service = AdlaService(
            args.root, args.token, host=args.host, port=args.port, runner=runner, datastore=datastore
        ).start()
    except (ValueError, OSError, ImportError, AttributeError, MlpipeError) as exc:
        print(f"error: the ADLA job service could not start: {exc}", file=sys.stderr)
        return 2
    banner = f"ADLA job service on {service.url} (data root {service.data})"
    return serve_until_signalled(service, banner, args.ready_file, log, "ADLA job service")


def workspace_datastore(name: str) -> StoreRoot:
    """The workspace config's datastore ``name`` (this machine's config, as ``mlpipe`` finds it)."""
    from airflow_mlpipe.definitions.workspace import Workspace
    from airflow_mlpipe.emulators.adla.paths import StoreRoot
    from airflow_mlpipe.storage import open_store

    store = open_store(Workspace.from_config().datastore_spec(name))
    store.list("")  # reachable and authorized: fail at start, not in the first job
    return StoreRoot(store, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_mlpipe.emulators.adla",
        description="A local Azure Data Lake Analytics job API (2016-11-01) running U-SQL jobs on this machine.",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
