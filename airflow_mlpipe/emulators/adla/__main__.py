"""``python -m airflow_mlpipe.emulators.adla`` (and ``mlpipe adla serve``): serve the ADLA job API
until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("airflow_mlpipe.emulators.adla")
TOKEN_ENV = "MLPIPE_ADLA_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The service's options (shared with ``mlpipe adla serve``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--root",
        required=True,
        type=Path,
        help="the data root: the folder of the datastore the ADLA account reads and writes; "
        "script paths '/a/b.csv' and 'adl://<account>/a/b.csv' are files under it",
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


def _load_runner(spec: str):
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"--runner {spec!r} must look like MODULE:FUNCTION")
    return getattr(importlib.import_module(module), name)


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop, 2 on bad arguments or a failed start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.token:
        print(f"error: --token (or {TOKEN_ENV}) is required", file=sys.stderr)
        return 2
    try:
        from airflow_mlpipe.emulators.adla.server import AdlaService

        runner = _load_runner(args.runner) if args.runner else None
        service = AdlaService(args.root, args.token, host=args.host, port=args.port, runner=runner).start()
    except (ValueError, OSError, ImportError, AttributeError) as exc:
        print(f"error: the ADLA job service could not start: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"ADLA job service on {service.url} (data root {service.root})", flush=True)
    if args.ready_file:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(str(service.port))
        os.replace(tmp, args.ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
    log.info("ADLA job service stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_mlpipe.emulators.adla",
        description="A local Azure Data Lake Analytics job API (2016-11-01) running U-SQL jobs on this machine.",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
