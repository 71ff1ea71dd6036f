"""CPU seconds spent by the processes of a benchmark, by role, from /proc (Linux).

A process's CPU is its own user + system time plus that of its children it has waited for
(``cutime``/``cstime``): a Celery worker's pool process counts the task processes it forked and
reaped, and a task process counts the step scripts it ran. ``snapshot()`` reads every process;
``delta(before, after)`` is what each role used between two snapshots (a process that started and
ended in between is counted by its parent's children times). A process without a role of its own
takes its nearest ancestor's. ``machine_busy()`` is the whole
machine's busy CPU seconds (/proc/stat), the total the roles should add up to.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")

# role: words of the command line that mark it, first match wins
ROLES = [
    ("azurite", ("azurite",)),
    ("postgresql", ("postgres",)),
    ("redis", ("redis-server",)),
    ("celery worker", ("celery", "worker")),
    ("scheduler", ("scheduler",)),
    ("triggerer", ("triggerer",)),
    ("dag-processor", ("dag-processor",)),
    ("api-server", ("api-server",)),
]


def role_of(cmdline: str) -> str | None:
    for role, words in ROLES:
        if all(word in cmdline for word in words):
            return role
    return None


def snapshot() -> dict[int, tuple[str, float, float]]:
    """pid -> (role, own CPU seconds, waited-for children's CPU seconds) of every process with a role:
    its command line's, else its nearest ancestor's (a Celery pool process or a task process
    renames itself; it is counted as its worker)."""
    procs: dict[int, tuple[int, str, float, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text()
        except OSError:
            continue  # ended while read
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        procs[int(proc.name)] = (int(fields[1]), cmdline, (utime + stime) / TICKS, (cutime + cstime) / TICKS)
    out: dict[int, tuple[str, float, float]] = {}
    for pid, (_, _, own, children) in procs.items():
        role, up = None, pid
        while role is None and up in procs:
            role = role_of(procs[up][1])
            up = procs[up][0]
        if role is not None:
            out[pid] = (role, own, children)
    return out


def delta(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per role between two snapshots. A process in both counts its growth; a new one
    counts all it used; one that ended is lost unless its parent (with a role) reaped it."""
    used: dict[str, float] = {}
    for pid, (role, own, children) in after.items():
        if pid in before and before[pid][0] == role:
            grown = own - before[pid][1] + children - before[pid][2]
        else:
            grown = own + children
        used[role] = used.get(role, 0.0) + grown
    return used


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot: all of /proc/stat's cpu line but idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS
