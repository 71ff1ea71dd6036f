"""Keeps docs/performance.md current: each benchmark owns one section, replaced on --write."""

from __future__ import annotations

import platform
import re
import subprocess
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
HEADER = """# Performance

Every number here comes from a benchmark in `bench/`, measured against a baseline in the same run on
the same machine. Re-run one with the command in its section; `--write` replaces that section.
"""


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}"


def write_section(title: str, body: str, command: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = time.strftime("%Y-%m-%d")
    section = f"## {title}\n\nCommand: `{command}`. Measured {stamp} on {machine()}.\n\n{body}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")
