"""Small real pipelines for the tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace


def write_scripts(folder: Path, names: list[str], body: str = "print('ok')\n") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_text(body)
    return str(folder)


def fan_pipeline(ws: Workspace, src: str, width: int = 3) -> Pipeline:
    """prep -> width parallel steps -> merge, with one parameter."""
    prepared = PipelineData("prepared")
    p = PipelineParameter("alpha", default_value=0.5)
    prep = PythonScriptStep(
        "prep.py", name="prep", outputs=[prepared], arguments=["--out", prepared], source_directory=src
    )
    mids, outs = [], []
    for i in range(width):
        out = PipelineData(f"part{i}")
        outs.append(out)
        mids.append(
            PythonScriptStep(
                "work.py",
                name=f"work{i}",
                arguments=["--in", prepared, "--alpha", p, "--out", out],
                inputs=[prepared],
                outputs=[out],
                source_directory=src,
            )
        )
    merge = PythonScriptStep("merge.py", name="merge", inputs=outs, source_directory=src)
    return Pipeline(ws, [prep, *mids, merge])


def until(check: Callable[[], Any], what: str, timeout: float = 240.0, poll: float = 1.0) -> Any:
    """``check()``'s first truthy value, polled every ``poll`` seconds; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def restart_triggerer(dep: Any) -> None:
    """Kill a LocalDeployment's triggerer and its supervisor (SIGKILL to the group: no clean
    shutdown, no restart by the supervisor) and start a new one with the same settings."""
    import os
    import signal
    import sys

    from airflow_mlpipe.definitions.workspace import write_json_atomic
    from airflow_mlpipe.deploy.local import free_port, pid_alive

    state = dep.state()
    old = state["pids"]["triggerer"]
    os.killpg(old, signal.SIGKILL)
    until(lambda: not pid_alive(old), "the killed triggerer to exit", timeout=30, poll=0.2)
    env = dep.environment(state["port"], state["deployment_id"], (free_port(), free_port()))
    command = [sys.executable, "-m", "airflow", "triggerer"]
    state["pids"]["triggerer"] = dep.spawn_component("triggerer", command, env)  # as `up` does
    write_json_atomic(dep.state_file, state)


@contextmanager
def running(dep: Any, echo: Any = print, **up: Any) -> Iterator[Any]:
    """A LocalDeployment started on a free port (``up``: more of ``LocalDeployment.up``'s
    arguments) and stopped afterwards, with no process of it left."""
    from airflow_mlpipe.deploy.local import free_port, tagged_pids

    dep.up(port=free_port(), timeout=240, echo=echo, **up)
    try:
        yield dep
    finally:
        state = dep.state()
        if state is not None:
            dep.down(echo=echo)
            assert tagged_pids(state["deployment_id"]) == []
