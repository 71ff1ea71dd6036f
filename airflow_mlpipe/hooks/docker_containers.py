"""Step containers on a Docker engine: run one, stream its output, stop it, leave nothing behind.

``ContainerRunner`` is the container half of ``DockerEnvironmentHook`` (docker_env.py, which builds
the images); it uses the hook's ``client``, ``base_url``, ``image_python`` and ``_note_used``.
A container removes itself when it ends (auto-remove), is removed at the end of the run in any
case, and if the task process dies first, the reaper process removes it (docker_reaper.py).
"""

from __future__ import annotations

import codecs
import contextlib
import ssl
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow_mlpipe.hooks.docker_reaper import Reaper, stop_and_remove

PYTHON = "{python}"  # in run_container's command: replaced by the image's interpreter
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
STDERR_TAIL = 40


class ContainerRunner:
    """Runs step containers; mixed into the hook that owns the engine client."""

    client: Any  # the hook's: the engine's low-level client
    base_url: str
    image_python: Callable[[str], str]  # the hook's: the image's interpreter
    _note_used: Callable[[str], None]  # the hook's: records that a step used the image

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def run_container(
        self,
        image: str,
        command: Sequence[str] | str,
        *,
        mounts: Sequence[tuple[str, str, bool]] = (),
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        log,
        should_stop: Callable[[], bool] | None = None,
        poll: float = 2.0,
        step: str = "",
        shm_size: str | None = None,
        stderr_tail: list[str] | None = None,
    ) -> int:
        """Run ``command`` in a container of ``image``, stream its output to ``log``, return its exit code.

        ``PYTHON`` in ``command`` stands for the image's interpreter. The container removes itself
        when it ends (auto-remove), and is removed at the end in any case; if this process dies
        first, the reaper process removes it (docker_reaper.py), also before it started.
        ``stderr_tail`` (a list) receives the last lines of stderr.
        """
        import docker.errors
        from docker.types import Mount

        if isinstance(command, str):
            command = ["/bin/sh", "-c", command]
        if PYTHON in command:
            command = [self.image_python(image) if part == PYTHON else part for part in command]
        binds = [Mount(target, str(source), type="bind", read_only=ro) for source, target, ro in mounts]
        env = dict(env or {})
        cafile = ssl.get_default_verify_paths().cafile or CA_BUNDLE
        if Path(cafile).is_file():
            binds.append(Mount(CA_BUNDLE, cafile, type="bind", read_only=True))
            env.setdefault("REQUESTS_CA_BUNDLE", CA_BUNDLE)
            env.setdefault("SSL_CERT_FILE", CA_BUNDLE)
        host_config = self.client.create_host_config(
            mounts=binds, network_mode="host", shm_size=shm_size, auto_remove=True
        )
        # named before it exists, so that the reaper removes it even if this process dies between
        # the engine's create and start (docker_reaper.py)
        name = f"mlpipe-{uuid.uuid4().hex}"
        reaper = Reaper(self.base_url)
        try:
            reaper.watch(name)
            with self._lock:
                self._running.add(name)
            self._note_used(image)
            cid = self.client.create_container(
                image,
                command=list(command),
                environment=env,
                working_dir=workdir,
                user=user or "",
                labels={"mlpipe.step": step or "unknown"},
                host_config=host_config,
                name=name,
            )["Id"]
            stream = self.client.attach(cid, stream=True, stdout=True, stderr=True, logs=True, demux=True)
            tail = stderr_tail if stderr_tail is not None else []
            reader = threading.Thread(target=self._pump, args=(stream, log, tail), daemon=True)
            reader.start()
            # asked before start: an auto-removed container cannot be asked after
            waiter = _Waiter(self.client, cid)
            self.client.start(cid)
            code = self._wait(cid, waiter, should_stop, poll, log)
            reader.join(timeout=30)
            return code
        finally:
            with self._lock:
                self._running.discard(name)
            try:
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.remove_container(name, force=True)
                reaper.release(name)  # gone: nothing left for the reaper
            except docker.errors.APIError:
                pass  # the reaper tries again when the pipe ends
            finally:  # also when the engine cannot be reached: the reaper never outlives the run
                reaper.close()

    def _wait(self, cid: str, waiter: _Waiter, should_stop, poll: float, log) -> int:
        import docker.errors

        stopping = False
        while not waiter.done.wait(poll):
            if not stopping and should_stop is not None and should_stop():
                log.info("stopping the container of this step")
                stopping = True
                with contextlib.suppress(docker.errors.APIError):
                    self.client.stop(cid, timeout=10)
        return waiter.code

    @staticmethod
    def _pump(stream, log, tail: list[str]) -> None:
        """Log each output line; stderr lines get a ``[stderr] `` prefix (and the last 40 go to ``tail``)."""
        decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in range(2)]
        pending = ["", ""]
        prefix = ["", "[stderr] "]
        with contextlib.suppress(Exception):  # the stream ends abruptly when the container is killed
            for frame in stream:
                for i, data in enumerate(frame):
                    if data:
                        *lines, pending[i] = (pending[i] + decoders[i].decode(data)).split("\n")
                        for line in lines:
                            log.info("%s%s", prefix[i], line.rstrip("\r"))
                            if i == 1:
                                tail.append(line.rstrip("\r"))
                                del tail[:-STDERR_TAIL]
        for i in range(2):
            if pending[i]:
                log.info("%s%s", prefix[i], pending[i])

    def kill(self) -> None:
        """Stop and remove the containers this hook is running (``on_kill``, from another thread)."""
        with self._lock:
            running = list(self._running)
        for name in running:
            stop_and_remove(self.client, name, timeout=5)


class _Waiter:
    """One long wait on a container until it is removed. An auto-removed container's exit code is
    known only to a wait already registered when it went, so the wait is asked (its answer's headers
    received: the daemon has registered it) before the container starts; its body comes on a thread."""

    def __init__(self, client: Any, cid: str):
        self.code = 137  # gone without an answer: killed
        self.done = threading.Event()
        url = client._url("/containers/{0}/wait", cid)
        self._response = client._post(url, params={"condition": "removed"}, stream=True, timeout=10**7)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            self.code = int(self._response.json()["StatusCode"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            self.done.set()
