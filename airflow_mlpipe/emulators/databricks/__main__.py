"""``python -m airflow_mlpipe.emulators.databricks``: serve the Databricks emulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_mlpipe.emulators.http import (
    configure_logging,
    load_callable,
    missing_token,
    serve_until_signalled,
)

log = logging.getLogger("airflow_mlpipe.emulators.databricks")


def _pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"{what} {text!r} must look like KEY=VALUE")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_mlpipe.emulators.databricks",
        description="A local Databricks REST API (DBFS, Workspace, Clusters, Jobs runs) running jobs on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--root", required=True, type=Path, help="folder holding dbfs/, workspace/ and runs/")
    parser.add_argument(
        "--token", default=os.environ.get("MLPIPE_DATABRICKS_TOKEN"), help="the accepted bearer token"
    )
    parser.add_argument(
        "--mount", action="append", default=[], metavar="/mnt/NAME=DIR", help="mount a local folder in DBFS"
    )
    parser.add_argument(
        "--cluster", action="append", default=[], metavar="ID=STATE", help="a cluster, RUNNING or TERMINATED"
    )
    parser.add_argument("--ready-file", type=Path, help="write the bound port here (atomically) once serving")
    parser.add_argument(
        "--job-command",
        metavar="MODULE:FUNCTION",
        help="a command builder (run_dir, dbfs_root) -> argv replacing runtime.command (for tests)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop, 2 on bad arguments or a failed start."""
    args = _parser().parse_args(argv)
    configure_logging()
    if not args.token:
        return missing_token("--token", "MLPIPE_DATABRICKS_TOKEN")
    try:
        mounts = dict(_pair(m, "--mount") for m in args.mount)
        clusters = dict(_pair(c, "--cluster") for c in args.cluster) or None
        from airflow_mlpipe.emulators.databricks.server import DatabricksEmulator

        command = load_callable(args.job_command, "--job-command", SystemExit) if args.job_command else None
        emulator = DatabricksEmulator(
            args.root,
            args.token,
            host=args.host,
            port=args.port,
            mounts=mounts,
            clusters=clusters,
            command=command,
        )
        emulator.start()
    except (argparse.ArgumentTypeError, ValueError, RuntimeError, OSError, ImportError) as exc:
        print(f"error: the Databricks emulator could not start: {exc}", file=sys.stderr)
        return 2
    return serve_until_signalled(
        emulator, f"Databricks emulator on {emulator.url}", args.ready_file, log, "Databricks emulator"
    )


if __name__ == "__main__":
    sys.exit(main())
