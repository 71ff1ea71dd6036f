"""Several "hosts" on one machine for multi-host tests (root only).

Each host is a Linux network namespace with its own address on a private 10.x LAN, plus its own
mount and UTS namespaces: a private tmpfs over /tmp (its MLPIPE_HOME, AIRFLOW_HOME and temp files
live there, so no host sees another's files), its own hostname, and an /etc/hosts naming every
host. The package, the venv and the read-only DAG folder are "installed software" every host sees,
as in an image; anything else crosses only over the network.

The LAN is a bridge inside a "switch" namespace (the machine's own firewall, e.g. Docker's FORWARD
DROP, never sees the traffic); the machine itself joins it as ``OBSERVER_IP`` so a test can call
the hosts' HTTP APIs. Names carry the test process's pid; ``stop()`` kills every process in every
namespace and removes the namespaces (their veths go with them), even after a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# pytestmark of every test module that starts a topology
NETNS_TEST_MARKS = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network and mount namespaces need root"),
]
HOST_TMP = "/tmp"  # each host's private tmpfs
HOST_HOME = f"{HOST_TMP}/mlpipe"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _subnet(pid: int) -> str:
    """A /24 of 10.0.0.0/8 picked from the pid (distinct for concurrent runs, away from 10.0.x)."""
    return f"10.{200 + pid % 50}.{(pid // 50) % 256}"


@dataclass
class Host:
    name: str
    netns: str
    ip: str
    holder: subprocess.Popen | None = None
    inner_pid: int = 0  # a process inside the host's mount/UTS namespaces, for nsenter
    env: dict[str, str] = field(default_factory=dict)

    def command(self, cmd: list[str]) -> list[str]:
        # nsenter keeps our working folder, which is the machine's: start in the host's /tmp
        return ["nsenter", "-t", str(self.inner_pid), "-m", "-u", "-n", "--", "env", "-C", HOST_TMP, *cmd]

    def popen(self, cmd: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
        """Start ``cmd`` on this host in its own process group."""
        return subprocess.Popen(
            self.command(cmd),
            env={**self.env, **(env or {})},
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            **kw,
        )

    def run(
        self, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(cmd),
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"on host {self.name}: {' '.join(cmd[:4])} ... exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def python(self, code: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        return self.run([sys.executable, "-c", code], env, timeout).stdout


class Topology:
    """Hosts ``names`` on one LAN; ``shared_ro`` folders are bind-mounted read-only in every host."""

    def __init__(self, names: list[str], shared_ro: list[Path] = ()):
        pid = os.getpid()
        self.tag = f"mlp{pid}"
        self.net = _subnet(pid)
        self.switch = f"{self.tag}-switch"
        self.observer_link = f"{self.tag}o"
        self.shared_ro = [Path(p).resolve() for p in shared_ro]
        self.hosts = {
            name: Host(name, f"{self.tag}-{name}", f"{self.net}.{i + 1}") for i, name in enumerate(names)
        }

    OBSERVER = 254

    @property
    def observer_ip(self) -> str:
        return f"{self.net}.{self.OBSERVER}"

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    # --- start ---------------------------------------------------------------------------------

    def start(self) -> Topology:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "lan", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "lan", "up")
        # the machine itself on the LAN (the test observes the hosts' APIs from here)
        self._plug(self.observer_link, None, f"{self.observer_ip}/24")
        hosts_file = "".join(f"{h.ip} {h.name}\n" for h in self.hosts.values())
        for i, host in enumerate(self.hosts.values()):
            _ip("netns", "add", host.netns)
            _ip("-n", host.netns, "link", "set", "lo", "up")
            self._plug(f"{self.tag}h{i}", host.netns, f"{host.ip}/24")
            host.env = self._host_env()
            host.holder, host.inner_pid = self._hold(host, hosts_file)

    def _plug(self, link: str, netns: str | None, address: str) -> None:
        """A veth from the switch's bridge to ``netns`` (None: this machine), named eth0 there."""
        _ip("link", "add", link, "type", "veth", "peer", "name", f"{link}s")
        _ip("link", "set", f"{link}s", "netns", self.switch)
        _ip("-n", self.switch, "link", "set", f"{link}s", "master", "lan", "up")
        if netns is None:
            _ip("addr", "add", address, "dev", link)
            _ip("link", "set", link, "up")
            return
        _ip("link", "set", link, "netns", netns)
        _ip("-n", netns, "link", "set", link, "name", "eth0")
        _ip("-n", netns, "addr", "add", address, "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")

    def _host_env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL")
        return {
            **{k: os.environ[k] for k in keep if k in os.environ},
            "HOME": f"{HOST_TMP}/home",
            "TMPDIR": HOST_TMP,
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MLPIPE_HOME": HOST_HOME,
            "AIRFLOW_HOME": f"{HOST_HOME}/airflow",
        }

    def _hold(self, host: Host, hosts_file: str) -> tuple[subprocess.Popen, int]:
        """A process that keeps the host's mount and UTS namespaces, set up as the module says."""
        ro = "".join(
            f'mount --bind "{p}" "{p}" && mount -o remount,bind,ro "{p}" && ' for p in self.shared_ro
        )
        # software that lives under /tmp (a checkout or venv there, as a CI clone may be) stays
        # visible: bound to a stash first, moved back onto the same path once the tmpfs is over /tmp
        stash = f"/dev/shm/{self.tag}-{host.name}"
        keep = [p for p in self.kept_software() if p.is_relative_to(HOST_TMP)]
        save = "".join(
            f'mkdir -p "{stash}/{i}" && mount --bind "{p}" "{stash}/{i}" && ' for i, p in enumerate(keep)
        )
        back = "".join(
            f'mkdir -p "{p}" && mount --move "{stash}/{i}" "{p}" && rmdir "{stash}/{i}" && '
            for i, p in enumerate(keep)
        ) + (f'rmdir "{stash}" && ' if keep else "")
        script = (
            f"{save}mount -t tmpfs -o mode=1777 tmpfs {HOST_TMP} && {back}hostname {host.name} && "
            f"mkdir -p {HOST_TMP}/home {HOST_HOME} && printf '127.0.0.1 localhost\\n{hosts_file}' > {HOST_TMP}/hosts && "
            f"mount --bind {HOST_TMP}/hosts /etc/hosts && {ro}"
            'echo "ready $$" && exec sleep infinity'
        )
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "--fork", "sh", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            proc.kill()
            raise RuntimeError(f"host {host.name} did not start: {proc.stderr.read()[-2000:]}")
        return proc, int(line[1])

    def kept_software(self) -> list[Path]:
        """The folders every host must still see: this checkout and the Python environment
        running it (outermost first, nested ones dropped)."""
        found: list[Path] = []
        for p in sorted({REPO.resolve(), Path(sys.prefix).resolve()}, key=lambda q: len(q.parts)):
            if not any(p.is_relative_to(q) for q in found):
                found.append(p)
        return found

    # --- stop ----------------------------------------------------------------------------------

    def namespace_pids(self) -> list[int]:
        pids = []
        for ns in [h.netns for h in self.hosts.values()] + [self.switch]:
            out = _ip("netns", "pids", ns, check=False).stdout
            pids += [int(p) for p in out.split()]
        return pids

    def commands(self, name: str) -> list[str]:
        """The command lines of the processes running on host ``name``."""
        out = _ip("netns", "pids", self.hosts[name].netns, check=False).stdout
        found = []
        for pid in out.split():
            try:
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
            except OSError:
                continue
        return found

    def stop(self, timeout: float = 20) -> None:
        """Kill every process of every host (process groups first), then remove the namespaces."""
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, timeout)):
            for pid in self.namespace_pids():
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
            deadline = time.monotonic() + wait
            while self.namespace_pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        for host in self.hosts.values():
            if host.holder is not None:
                try:
                    host.holder.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                for stream in (host.holder.stdout, host.holder.stderr):
                    if stream:
                        stream.close()
        for ns in [h.netns for h in self.hosts.values()] + [self.switch]:
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.observer_link, check=False)
        for stash in Path("/dev/shm").glob(f"{self.tag}-*"):  # a host that failed half-way set up
            # rmdir only, never a recursive delete: a stash may be a bind mount of the checkout
            for sub in [*stash.iterdir(), stash]:
                try:
                    sub.rmdir()
                except OSError:
                    pass

    def leftovers(self) -> list[str]:
        """Namespaces, links and processes of this topology that still exist (none after stop)."""
        found = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if self.tag in line]
        found += [
            line.split(":")[1].strip()
            for line in _ip("-o", "link").stdout.splitlines()
            if self.tag in line.split(":")[1]
        ]
        alive = [h.name for h in self.hosts.values() if h.holder is not None and h.holder.poll() is None]
        found += [str(p) for p in Path("/dev/shm").glob(f"{self.tag}-*")]
        return found + [f"process of {name}" for name in alive]
