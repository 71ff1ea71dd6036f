"""Steps in container environments through Airflow: a killed task leaves no container.

(The v1 program tests/v1_samples/environments runs three environments, metrics from containers,
reuse by environment hash and a failing build; test_docker_env.py tests the hook on its own.)
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import explain, task_states

import docker

pytestmark = pytest.mark.integration


def step_containers(engine: docker.DockerClient) -> list:
    return engine.containers.list(all=True, filters={"label": "mlpipe.step=sleepy"})


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def gone(engine: docker.DockerClient, what: str) -> None:
    """Wait until the step's container is gone; else fail with its state, logs and who holds its lifeline."""
    try:
        wait_for(lambda: not step_containers(engine), 120, what)
    except AssertionError:
        detail, holders = [], []
        for c in step_containers(engine):
            env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
            detail.append((c.status, env.get("MLPIPE_TASK_PID"), c.logs()[-1500:]))
            for pid in os.listdir("/proc"):
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == env.get("MLPIPE_LIFELINE"):
                            holders.append(
                                (pid, open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:200])
                            )
                except OSError:
                    pass
        raise AssertionError(f"{what}: {detail}; lifeline holders: {holders}") from None


@pytest.mark.parametrize("how", ["marked failed", "SIGKILL"])
def test_a_killed_task_leaves_no_container(client, docker_url, how):
    engine = docker.DockerClient(base_url=docker_url)
    client.wait_for_dag("env_kill", timeout=180)
    run = client.trigger("env_kill")
    (container,) = wait_for(lambda: step_containers(engine), 600, "the step's container never started")
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    assert "AIRFLOW" not in " ".join(env)  # the worker's settings and secrets stay outside
    if how == "SIGKILL":  # the task process dies at once: no on_kill; the lifeline stops the container
        os.kill(int(env["MLPIPE_TASK_PID"]), signal.SIGKILL)
    else:  # Airflow stops the task: on_kill stops the container
        client.request(
            "PATCH",
            f"/api/v2/dags/env_kill/dagRuns/{run['dag_run_id']}/taskInstances/sleepy",
            json={"new_state": "failed"},
        )
    gone(engine, f"a container outlived its task ({how})")
    done = client.wait_for_run("env_kill", run["dag_run_id"], timeout=300)
    assert done["state"] == "failed", explain(client, "env_kill", done)
    assert task_states(client, "env_kill", done)["sleepy"] == "failed"


def test_a_timed_out_step_leaves_no_container(client, docker_url):
    engine = docker.DockerClient(base_url=docker_url)
    client.wait_for_dag("env_timeout", timeout=180)
    run = client.trigger("env_timeout")
    wait_for(lambda: step_containers(engine), 600, "the step's container never started")
    done = client.wait_for_run("env_timeout", run["dag_run_id"], timeout=600)
    assert done["state"] == "failed", explain(client, "env_timeout", done)
    log = "\n".join(client.task_log("env_timeout", done["dag_run_id"], "sleepy", 1))
    assert "Timeout" in log or "timed out" in log, log[-2000:]
    gone(engine, "a container outlived its timed-out task")


def test_mlpipe_images_lists_and_prunes_environment_images(client, deployment, docker_url):
    import subprocess
    import sys
    from pathlib import Path

    client.wait_for_dag("env_kill", timeout=180)
    run = client.trigger("env_kill")  # makes sure the environment's image exists and was used
    engine = docker.DockerClient(base_url=docker_url)
    wait_for(lambda: step_containers(engine), 600, "the step's container never started")
    client.request(
        "PATCH",
        f"/api/v2/dags/env_kill/dagRuns/{run['dag_run_id']}/taskInstances/sleepy",
        json={"new_state": "failed"},
    )
    mlpipe = str(Path(sys.executable).parent / "mlpipe")
    env = {**os.environ, "DOCKER_HOST": docker_url, "MLPIPE_HOME": str(deployment.home)}
    listed = subprocess.run([mlpipe, "images"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith("mlpipe-env:")]
    assert rows and all(" MB" in row for row in rows), listed.stdout
    assert any("ago" in row for row in rows), listed.stdout  # last used, from the workers' index
    pruned = subprocess.run(
        [mlpipe, "images", "prune", "--older-than", "30d"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert pruned.returncode == 0 and "removed 0 image(s)" in pruned.stdout, pruned.stdout + pruned.stderr
    assert len(engine.images.list(filters={"label": "mlpipe.env.hash"})) >= len(rows)
