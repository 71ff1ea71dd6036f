"""Keep one component of ``mlpipe up`` running, as docker-compose.yaml's ``restart: always`` does:

    python -m airflow_mlpipe.deploy.supervise <name> [--grace SECONDS] -- <command...>

Airflow's scheduler, dag-processor and triggerer exit when they lose the metadata database (a
PostgreSQL restart, for instance); without a supervisor a run would stay "running" until someone
started them again. The supervisor runs the command, and when it exits starts it again after a
pause that doubles (1 s up to 30 s) while it keeps exiting within a minute. A first run that exits
within ``--grace`` seconds is a start failure, not a crash: the supervisor exits with its code, so
``mlpipe up`` reports the component's log instead of restarting a wrong configuration forever.

The supervisor leads the component's process group; ``mlpipe down`` stops the group (SIGTERM, then
SIGKILL), and a SIGTERM or SIGINT to the supervisor stops it after the component exits.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

FIRST_PAUSE, MAX_PAUSE, STABLE = 1.0, 30.0, 60.0


def supervise(name: str, command: list[str], grace: float) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True  # the group's signal reaches the component too: wait for it to exit

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause, runs = FIRST_PAUSE, 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        runs += 1
        ran = time.monotonic() - started
        if stopping:
            return code
        if runs == 1 and ran < grace:
            print(f"[mlpipe supervise] {name} exited with {code} while starting ({ran:.0f}s)", flush=True)
            return code or 1
        pause = FIRST_PAUSE if ran >= STABLE else min(pause * 2, MAX_PAUSE)
        print(
            f"[mlpipe supervise] {name} exited with {code} after {ran:.0f}s; starting it again in {pause:.0f}s",
            flush=True,
        )
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m airflow_mlpipe.deploy.supervise", usage="%(prog)s name [--grace S] -- command..."
    )
    parser.add_argument("name", help="the component's name, for the log")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="a first run shorter than this is a start failure"
    )
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command to run after --")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    return supervise(args.name, argv[split + 1 :], args.grace)


if __name__ == "__main__":
    sys.exit(main())
