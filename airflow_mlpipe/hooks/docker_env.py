"""Docker runtime for per-step environments: one image per environment definition, built once.

The tag is ``mlpipe-env:<first 20 hex of environment_hash(definition)>``; the image installs the
definition's conda and pip packages on top of its base image (``/opt/mlpipe/bin/python`` is the
environment's interpreter, recorded in the ``mlpipe.env.python`` label). Steps run in containers
with host networking and the host's CA bundle (docker_containers.py, mixed into the hook). All
engine traffic of the package lives in these two modules and the reaper (docker_reaper.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_mlpipe.definitions.workspace import DEFAULT_BASE_IMAGE
from airflow_mlpipe.hooks.docker_build import (
    INSTALL_SH,
    PIP_KEYS,
    EnvironmentBuildError,
    conda_to_pip,
    host_pip_settings,
    missing_packages,
    name_last_stage,
)
from airflow_mlpipe.hooks.docker_containers import CA_BUNDLE, PYTHON, ContainerRunner

__all__ = ["DEFAULT_BASE_IMAGE", "PYTHON", "DockerEnvironmentHook", "EnvironmentBuildError"]

IMAGE_REPO = "mlpipe-env"
ENV_PYTHON = "/opt/mlpipe/bin/python"
LABEL_HASH, LABEL_NAME, LABEL_PYTHON = "mlpipe.env.hash", "mlpipe.env.name", "mlpipe.env.python"

_STATS_LOCK = threading.Lock()


@dataclass
class EnvironmentStats:
    """How many images this hook built and how many it found already built."""

    builds: int = 0
    reuses: int = 0

    def count(self, key: str) -> None:
        with _STATS_LOCK:
            setattr(self, key, getattr(self, key) + 1)


class DockerEnvironmentHook(ContainerRunner):
    """Builds environment images on a Docker engine and runs step containers on it."""

    def __init__(
        self,
        docker_conn_id: str | None = None,
        base_url: str | None = None,
        default_base_image: str | None = None,
        timeout: int = 900,
    ):
        self.docker_conn_id = docker_conn_id
        self.base_url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.default_base_image = default_base_image or DEFAULT_BASE_IMAGE
        self.timeout = timeout
        self.stats = EnvironmentStats()
        self._client: Any = None
        super().__init__()
        self._engine_id: str | None = None

    # -- engine ---------------------------------------------------------------------------------
    @property
    def client(self):
        """The engine's low-level client; logged in to ``docker_conn_id``'s registry when set."""
        with self._lock:
            if self._client is None:
                if self.docker_conn_id:
                    from airflow.providers.docker.hooks.docker import DockerHook

                    hook = DockerHook(docker_conn_id=self.docker_conn_id, base_url=self.base_url)
                    self._client = hook.get_conn()  # pings the engine and logs in
                else:
                    import docker

                    self._client = docker.APIClient(base_url=self.base_url, timeout=self.timeout)
            return self._client

    def _state_dir(self) -> Path:
        from airflow_mlpipe.definitions.workspace import mlpipe_home

        if self._engine_id is None:
            self._engine_id = re.sub(r"[^A-Za-z0-9]", "", str(self.client.info().get("ID", "engine")))[:24]
        return mlpipe_home() / "docker" / self._engine_id

    @contextlib.contextmanager
    def _flock(self, name: str) -> Iterator[None]:
        home = os.environ.get("MLPIPE_HOME")
        folder = Path(home) / "locks" / "docker" if home else Path(tempfile.gettempdir()) / "mlpipe-locks"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{name}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _index(self, update: dict[str, float | None] | None = None) -> dict[str, float]:
        """Read (and with ``update``, change) the engine's {tag: last_used} index."""
        from airflow_mlpipe.definitions.workspace import write_json_atomic

        path = self._state_dir() / "images.json"
        with self._flock(f"index-{self._engine_id}"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = {}
            if update:
                data = {tag: when for tag, when in {**data, **update}.items() if when is not None}
                write_json_atomic(path, data)
            return data

    def _labels(self, image: str) -> dict | None:
        """The image's labels ({} when it has none), or None when the engine does not have it."""
        import docker.errors

        try:
            return (self.client.inspect_image(image).get("Config") or {}).get("Labels") or {}
        except docker.errors.ImageNotFound:
            return None

    def _available(self, image: str, log) -> bool:
        """Whether the engine has ``image`` or could pull it (through the registry login, if any)."""
        import docker.errors
        from docker.utils import parse_repository_tag

        if self._labels(image) is not None:
            return True
        repo, tag = parse_repository_tag(image)
        try:
            self.client.pull(repo, tag=tag or "latest")
        except docker.errors.DockerException as exc:
            reason = (str(exc).splitlines() or [""])[0][:200]
            log.info("base image %s is not on the Docker engine and cannot be pulled: %s", image, reason)
            return False
        return self._labels(image) is not None

    def _base_image(self, wanted: str | None, step: str, log) -> str:
        """``wanted`` if the engine has it or can pull it, else the default base image (with a note)."""
        if wanted and self._available(wanted, log):
            return wanted
        if wanted:
            log.info("using the default base image %s instead of %s", self.default_base_image, wanted)
        if self._available(self.default_base_image, log):
            return self.default_base_image
        raise EnvironmentBuildError(
            f"step {step}: the default base image {self.default_base_image} is not on the Docker engine "
            "and cannot be pulled: load it into the engine or pass default_base_image",
            step=step,
        )

    # -- images ---------------------------------------------------------------------------------
    def ensure_image(self, definition: dict, step: str, log) -> str:
        """The environment's image tag, building it first unless the engine already has it."""
        from airflow_mlpipe.definitions.environment import environment_hash

        full = environment_hash(definition)
        tag = f"{IMAGE_REPO}:{full[:20]}"
        if self._built(tag, full):
            self.stats.count("reuses")
            log.info("environment image %s is already built: reused", tag)
        else:
            with self._flock(f"build-{full[:20]}"):
                if self._built(tag, full):  # another step built it while this one waited
                    self.stats.count("reuses")
                    log.info("environment image %s was built by another step: reused", tag)
                else:
                    self._build(definition, step, tag, full, log)
                    self.stats.count("builds")
        self._index({tag: time.time()})
        return tag

    def _built(self, tag: str, full: str) -> bool:
        return (self._labels(tag) or {}).get(LABEL_HASH) == full

    def _build(self, definition: dict, step: str, tag: str, full: str, log) -> None:
        python = definition.get("python") or {}
        docker_def = definition.get("docker") or {}
        conda = python.get("conda") or {}
        managed = bool(python.get("user_managed_dependencies"))
        interpreter = (python.get("interpreter_path") or "python") if managed else ENV_PYTHON
        if docker_def.get("base_dockerfile"):
            first, base = name_last_stage(docker_def["base_dockerfile"])
        else:
            first, base = f"FROM {self._base_image(docker_def.get('base_image'), step, log)}", "mlpipe-base"
            first += " AS mlpipe-base"
        lines = [first]
        settings = host_pip_settings()
        with tempfile.TemporaryDirectory(prefix="mlpipe-build-") as ctx:
            if managed:
                if interpreter == "python":  # Debian-like images only have python3
                    lines.append(
                        'RUN command -v python >/dev/null 2>&1 || ln -s "$(command -v python3)" '
                        "/usr/local/bin/python || true"
                    )
            else:
                # installs happen in a stage of their own: the tagged image gets /opt/mlpipe only,
                # never a layer holding the build's pip configuration
                self._write_context(Path(ctx), conda, settings)
                lines += [
                    f"FROM {base} AS mlpipe-deps",
                    "COPY mlpipe-build /tmp/mlpipe-build",
                    "RUN sh /tmp/mlpipe-build/install.sh",
                    f"FROM {base}",
                    "COPY --from=mlpipe-deps /opt/mlpipe /opt/mlpipe",
                    'ENV PATH="/opt/mlpipe/venv/bin:/opt/mlpipe/conda/bin:$PATH"',
                ]
            (Path(ctx) / "Dockerfile").write_text("\n".join(lines) + "\n")
            labels = {
                LABEL_HASH: full,
                LABEL_NAME: str(definition.get("name") or ""),
                LABEL_PYTHON: interpreter,
            }
            log.info("building environment image %s for step %s", tag, step)
            self._stream_build(ctx, tag, labels, step, conda, settings, log)

    @staticmethod
    def _write_context(ctx: Path, conda: dict, settings: dict[str, str]) -> None:
        build = ctx / "mlpipe-build"
        build.mkdir()
        (build / "install.sh").write_text(INSTALL_SH)
        conda_pkgs = [str(p) for p in conda.get("conda_packages") or []]
        (build / "conda.txt").write_text("".join(f"{p}\n" for p in conda_pkgs))
        as_pip = [s for s in map(conda_to_pip, conda_pkgs) if s]
        (build / "conda_as_pip.txt").write_text("".join(f"{p}\n" for p in as_pip))
        pip_lines = [*(conda.get("pip_options") or []), *(conda.get("pip_packages") or [])]
        (build / "pip.txt").write_text("".join(f"{p}\n" for p in pip_lines))
        (build / "channels.txt").write_text("".join(f"{c}\n" for c in conda.get("channels") or []))
        (build / "python_version").write_text(str(conda.get("python_version") or ""))
        index = {k: v for k, v in settings.items() if k in PIP_KEYS}
        if index:
            (build / "pip.conf").write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in index.items()))
        cert = settings.get("cert") or ssl.get_default_verify_paths().cafile or CA_BUNDLE
        if cert and Path(cert).is_file():
            shutil.copyfile(cert, build / "ca.crt")

    def _stream_build(self, ctx: str, tag: str, labels: dict, step: str, conda: dict, settings, log) -> None:
        secrets = [v for k, v in settings.items() if k in PIP_KEYS]
        for url in [u for v in secrets for u in v.split() if "://" in u]:
            parts = urlsplit(url)
            secrets += [parts.netloc, parts.hostname or "", f"{parts.hostname}:{parts.port}"]
        secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

        def clean(line: str) -> str:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # the builder colours RUN's stderr
            for s in secrets:
                line = line.replace(s, "***")
            return line

        tail: list[str] = []
        error = None
        pending = ""
        for chunk in self.client.build(
            path=ctx, tag=tag, labels=labels, decode=True, network_mode="host", rm=True, forcerm=True
        ):
            if "error" in chunk:
                error = chunk.get("error") or str(chunk.get("errorDetail"))
            text = pending + str(chunk.get("stream") or "")
            *done, pending = text.split("\n")
            for line in done:
                if line.strip() and not line.startswith(("Looking in indexes:", "Looking in links:")):
                    line = clean(line.rstrip())
                    log.info("%s", line)
                    tail = [*tail[-39:], line]
        if pending.strip():
            log.info("%s", clean(pending))
            tail = [*tail[-39:], clean(pending)]
        if error is None and self._built(tag, labels[LABEL_HASH]):
            return
        missing = missing_packages(tail)
        if missing:
            message = f"step {step}: the environment's packages cannot be installed: {', '.join(missing)}"
        else:
            message = f"step {step}: building the environment image {tag} failed: {clean(str(error))}"
        raise EnvironmentBuildError(message, step=step, packages=missing, tail=tail[-20:])

    def image_python(self, image: str) -> str:
        """The interpreter the image's environment runs (its ``mlpipe.env.python`` label)."""
        return (self._labels(image) or {}).get(LABEL_PYTHON) or "python"

    def images(self) -> list[dict]:
        """The engine's environment images with their size, creation and last use (epoch seconds)."""
        used = self._index()
        found = []
        for img in self.client.images(filters={"label": LABEL_HASH}):
            labels = img.get("Labels") or {}
            for tag in [t for t in img.get("RepoTags") or [] if t.startswith(f"{IMAGE_REPO}:")]:
                found.append(
                    {
                        "tag": tag,
                        "name": labels.get(LABEL_NAME, ""),
                        "hash": labels.get(LABEL_HASH, ""),
                        "id": img["Id"],
                        "size": img.get("Size", 0),
                        "created": float(img.get("Created", 0)),
                        "last_used": float(used.get(tag) or img.get("Created", 0)),
                    }
                )
        return sorted(found, key=lambda i: i["last_used"], reverse=True)

    def prune(self, older_than_seconds: float) -> list[str]:
        """Remove environment images unused for ``older_than_seconds`` and used by no container."""
        import docker.errors

        cutoff = time.time() - older_than_seconds
        removed = []
        for img in self.images():
            if img["last_used"] > cutoff or self.client.containers(all=True, filters={"ancestor": img["id"]}):
                continue
            try:
                self.client.remove_image(img["tag"])
            except docker.errors.APIError:
                continue  # a container started meanwhile: keep it
            removed.append(img["tag"])
        if removed:
            self._index(dict.fromkeys(removed))
        return removed

    def _note_used(self, image: str) -> None:
        """Record in the engine's index that a step used ``image`` now (``mlpipe images``)."""
        if image.startswith(f"{IMAGE_REPO}:"):
            self._index({image: time.time()})
