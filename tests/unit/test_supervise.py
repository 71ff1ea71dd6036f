"""deploy/supervise.py: a component that exits is started again; one that fails while starting is
reported, not restarted; stopping the group stops both and starts nothing more."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

SUPERVISE = [sys.executable, "-m", "airflow_mlpipe.deploy.supervise"]


def test_a_start_failure_ends_the_supervisor_with_the_components_code(tmp_path):
    proc = subprocess.run(
        [*SUPERVISE, "scheduler", "--grace", "30", "--", sys.executable, "-c", "raise SystemExit(4)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4
    assert "[mlpipe supervise] scheduler exited with 4 while starting" in proc.stdout


def test_a_component_that_exits_is_started_again_until_the_group_is_stopped(tmp_path):
    runs = tmp_path / "runs"
    child = (
        "import os, sys, time\n"
        f"open({str(runs)!r}, 'a').write(f'{{os.getpid()}} {{os.getpgrp()}}\\n')\n"
        "time.sleep(0.6)\n"
        "sys.exit(3)\n"
    )
    proc = subprocess.Popen(
        [*SUPERVISE, "triggerer", "--grace", "0.3", "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not runs.exists() or len(runs.read_text().splitlines()) < 2):
            time.sleep(0.1)
        lines = runs.read_text().splitlines()
        assert len(lines) >= 2, lines
        pids = {line.split()[0] for line in lines}
        assert len(pids) == len(lines)  # a new process each time
        assert {line.split()[1] for line in lines} == {str(proc.pid)}  # all in the supervisor's group
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert re.search(
        r"\[mlpipe supervise\] triggerer exited with 3 after \d+s; starting it again in 2s", out
    ), out
    count = len(runs.read_text().splitlines())
    time.sleep(2.5)  # longer than the pause: a stopped supervisor starts nothing more
    assert len(runs.read_text().splitlines()) == count
