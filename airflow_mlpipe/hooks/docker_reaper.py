"""Remove a task's step containers when the task process dies before it could.

The Docker engine creates a container and starts it in two calls, and removes an auto-remove
container only after it has run. A task process killed between the two (SIGKILL, the OOM killer, a
worker host's shutdown) would leave a container in state "created" that nothing removes: the
lifeline (``_launch.py``) works only once the container runs, and ``on_kill`` only when Airflow
stops the task. So each ``run_container`` starts this process, in a session of its own, and names
the container to it on a pipe *before* asking the engine to create it (``+name``) and after
removing it (``-name``). When the pipe ends, however the task process ended, the containers still
named are stopped (SIGTERM to the launcher, SIGKILL after 10 s) and removed.
A task that ends normally has named none by then, and this process exits without contacting the
engine.

``python -m airflow_mlpipe.hooks.docker_reaper <engine url>``, lines on standard input.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Any

STOP_TIMEOUT = 10


class Reaper:
    """The task side: starts the reaper process and tells it which containers to look after."""

    def __init__(self, base_url: str):
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the task's process group does not reach it
            text=True,
        )

    def _say(self, line: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def watch(self, name: str) -> None:
        """Before the container is created: if this process dies from now on, it is removed."""
        self._say(f"+{name}")

    def release(self, name: str) -> None:
        """After the container is removed (a reaper that is gone has nothing left to do)."""
        with contextlib.suppress(OSError):
            self._say(f"-{name}")

    def close(self) -> None:
        """End the pipe and wait for the reaper (it removes what is still watched, then exits)."""
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def stop_and_remove(client: Any, name: str, timeout: int, ignore: tuple[type[Exception], ...] = ()) -> None:
    """Stop a container (SIGTERM, SIGKILL after ``timeout`` s) and remove it; one that is gone
    already, or was never created, is fine (NotFound is an APIError), as are ``ignore``'s errors."""
    import docker.errors

    with contextlib.suppress(docker.errors.APIError, *ignore):
        client.stop(name, timeout=timeout)
    with contextlib.suppress(docker.errors.APIError, *ignore):
        client.remove_container(name, force=True)


def reap(base_url: str, names: list[str]) -> None:
    """Stop and remove the named containers."""
    import requests

    import docker

    client = docker.APIClient(base_url=base_url, timeout=STOP_TIMEOUT + 30)
    for name in names:
        # an engine that cannot be reached has nothing this process could remove either
        stop_and_remove(client, name, STOP_TIMEOUT, ignore=(requests.RequestException,))


def main(argv: list[str] | None = None) -> None:
    (base_url,) = sys.argv[1:] if argv is None else argv
    watched: dict[str, None] = {}
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("+"):
            watched[line[1:]] = None
        elif line.startswith("-"):
            watched.pop(line[1:], None)
    if watched:
        reap(base_url, list(watched))


if __name__ == "__main__":
    main()
