"""Run a step script in a container of its environment's image (docs/environments.md).

The image is built once per engine from the environment's definition (hooks/docker_env.py). The
container sees the step's work folder at the same path as the worker (snapshot, inputs, outputs, run
context, metrics, the broker's socket), and this package's own code read-only, so that
``Run.get_context()`` works without Airflow in the image. It gets only the step's variables, never
the worker's environment (which holds Airflow's settings and secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import airflow_mlpipe
from airflow_mlpipe.definitions.workspace import DEFAULT_BASE_IMAGE

LIB = "/opt/mlpipe/lib"  # where the container finds airflow_mlpipe (PYTHONPATH)


def docker_hook(pipeline: dict[str, Any]) -> Any:
    from airflow_mlpipe.hooks.docker_env import DockerEnvironmentHook

    settings = pipeline.get("docker") or {}
    return DockerEnvironmentHook(
        docker_conn_id=settings.get("conn_id"),
        base_url=settings.get("base_url"),
        # the workspace's choice, else the worker's (MLPIPE_DEFAULT_BASE_IMAGE), else python:3.11-slim
        default_base_image=settings.get("default_base_image")
        or os.environ.get("MLPIPE_DEFAULT_BASE_IMAGE")
        or DEFAULT_BASE_IMAGE,
    )


def run_in_container(
    op: Any,
    context: Any,
    environment: dict[str, Any],
    script: list[str],
    snapshot: Path,
    step_env: dict[str, str],
) -> tuple[int, list[str], list[str]]:
    """Build (or find) the image, run ``python -u <script...>`` in it; returns the exit code, the
    tail of stderr and the failed sibling steps that stopped it (continue_on_step_failure=False)."""
    hook = docker_hook(op.pipeline)
    op._container_hook = hook  # for on_kill
    image = hook.ensure_image(environment, step=op.task_id, log=op.log)
    workdir = snapshot.parent
    package = Path(airflow_mlpipe.__file__).resolve().parent
    mounts = [(str(workdir), str(workdir), False), (str(package), f"{LIB}/airflow_mlpipe", True)]
    broker = step_env.get("MLPIPE_BROKER")
    if broker:
        mounts.append((str(Path(broker).parent), str(Path(broker).parent), False))
    env = {**step_env, "PYTHONPATH": LIB, "HOME": "/tmp"}
    stopped_by: list[str] = []

    def should_stop() -> bool:
        failed = op.failed_siblings(context)
        if failed:
            op.log.info("step(s) %s failed: stopping the container", ", ".join(failed))
            stopped_by.extend(failed)
        return bool(failed)

    # the lifeline: while this task process lives it holds the FIFO open; if it dies (even by
    # SIGKILL, when on_kill never runs) the launcher in the container reads end-of-file and stops
    lifeline = workdir / "lifeline"
    os.mkfifo(lifeline, 0o600)
    held = os.open(lifeline, os.O_RDWR)  # does not block; not inherited by child processes
    env["MLPIPE_LIFELINE"] = str(lifeline)
    env["MLPIPE_TASK_PID"] = str(os.getpid())  # which worker process runs it (seen in docker inspect)
    python = hook.image_python(image)
    op.log.info("running %s in image %s", " ".join(script), image)
    tail: list[str] = []
    try:
        rc = hook.run_container(
            image,
            [python, "-m", "airflow_mlpipe._launch", python, "-u", *script],
            mounts=mounts,
            env=env,
            workdir=str(snapshot),
            user=f"{os.getuid()}:{os.getgid()}",
            log=op.log,
            should_stop=should_stop,
            step=op.task_id,
            shm_size=(environment.get("docker") or {}).get("shm_size"),
            stderr_tail=tail,
        )
    finally:
        os.close(held)
    return rc, tail, stopped_by
