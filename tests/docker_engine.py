"""A real, private Docker engine for the tests: Debian's dockerd in its own process group.

``docker_engine(tmp)`` starts dockerd on a short unix socket under /tmp, imports the Debian
rootfs that ``scripts/setup.sh python-base`` builds (``.tools/python-base.tar``) as
``mlpipe-python:3.11``, yields the engine's base URL, and on exit removes every container and
stops dockerd with its containerd children, asserting that none of its processes is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE_TAR = REPO / ".tools" / "python-base.tar"
BASE_IMAGE = "mlpipe-python:3.11"


def ensure_base_tar() -> Path:
    """The Debian bookworm rootfs with python3/venv/pip, built once by setup.sh's own step."""
    if not BASE_TAR.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "python-base"], check=True)
    return BASE_TAR


def _pids_mentioning(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (dockerd, containerd and shims of one engine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _unmount_under(root: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _wait_socket(sock: Path, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import docker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if sock.exists():
            try:
                if docker.APIClient(base_url=f"unix://{sock}", timeout=5).ping():
                    return
            except Exception:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not answer on {sock} after {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def docker_engine(tmp: Path | str | None = None) -> Iterator[str]:
    """Start a private dockerd, import the base image, yield ``unix://...``; stop everything on exit.

    ``tmp`` holds dockerd's log; its data, exec root and socket live in a short /tmp folder
    (unix socket paths are limited to ~100 bytes).
    """
    import docker

    assert shutil.which("dockerd"), "dockerd is not installed: run scripts/setup.sh"
    tar = ensure_base_tar()
    root = Path(tempfile.mkdtemp(prefix="mlpd-", dir="/tmp"))
    log = Path(tmp or root) / "dockerd.log"
    sock = root / "docker.sock"
    url = f"unix://{sock}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root", str(root / "data"),
                "--exec-root", str(root / "exec"),
                "--pidfile", str(root / "pid"),
                "-H", url,
                # steps use the host network: no bridge, so several test engines can run at once
                "--bridge", "none", "--iptables=false",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )  # fmt: skip
    try:
        _wait_socket(sock, proc, log)
        client = docker.APIClient(base_url=url, timeout=300)
        subprocess.run(
            ["docker", "-H", url, "import", str(tar), BASE_IMAGE], check=True, stdout=subprocess.DEVNULL
        )
        assert client.inspect_image(BASE_IMAGE)["Id"]
        yield url
    finally:
        try:
            client = docker.APIClient(base_url=url, timeout=60)
            for c in client.containers(all=True):
                client.remove_container(c["Id"], force=True)
        except Exception:
            pass  # dockerd may not have started; the process checks below still run
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _pids_mentioning(str(root)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _pids_mentioning(str(root))
        for pid in left:  # never leave an engine behind, even when the assertion below fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _unmount_under(root)  # dockerd leaves its netns bind mount behind
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes of the test dockerd were left running: {left}"
