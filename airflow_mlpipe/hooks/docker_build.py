"""What an environment image's build runs and how its output is read: the install script (conda when
the base image has it, else a venv and pip), conda specs as pip requirements, the worker's pip
settings (passed to the build, never logged), and the packages a failed build could not install."""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence

from airflow_mlpipe.exceptions import StepFailedError, UserErrorException

PIP_KEYS = ("index-url", "extra-index-url", "trusted-host")

# Runs inside the build: conda when the base image has it, else a venv from its python3.
INSTALL_SH = r"""set -e
B=/tmp/mlpipe-build
[ -f $B/pip.conf ] && export PIP_CONFIG_FILE=$B/pip.conf
if [ -f $B/ca.crt ]; then
  export PIP_CERT=$B/ca.crt SSL_CERT_FILE=$B/ca.crt REQUESTS_CA_BUNDLE=$B/ca.crt CONDA_SSL_VERIFY=$B/ca.crt
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
PYVER=$(cat $B/python_version)
mkdir -p /opt/mlpipe/bin
if command -v conda >/dev/null 2>&1; then
  CH=""; for c in $(cat $B/channels.txt); do CH="$CH -c $c"; done
  [ -n "$PYVER" ] || PYVER=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
  echo "conda is in the base image: creating the conda environment /opt/mlpipe/conda (python=$PYVER)"
  conda create -y -q -p /opt/mlpipe/conda $CH --file $B/conda.txt "python=$PYVER" pip
  TARGET=/opt/mlpipe/conda/bin/python
else
  PY=$(command -v python3 || command -v python) || { echo "ERROR: the base image has neither conda nor python3"; exit 3; }
  HAVE=$($PY -c 'import platform; print(platform.python_version())')
  case "$HAVE" in "$PYVER"|"$PYVER".*) ;; *) [ -z "$PYVER" ] ||
    echo "python_version $PYVER was asked for, but conda is not in the base image: the image's Python $HAVE is used";;
  esac
  $PY -m venv /opt/mlpipe/venv
  TARGET=/opt/mlpipe/venv/bin/python
  if [ -s $B/conda_as_pip.txt ]; then
    echo "conda is not in the base image: installing conda packages $(tr '\n' ' ' < $B/conda_as_pip.txt)with pip"
    $TARGET -m pip install -r $B/conda_as_pip.txt
  fi
fi
# a wrapper, not a symlink: Python finds its venv/conda prefix from the path it was started by
printf '#!/bin/sh\nexec %s "$@"\n' "$TARGET" > /opt/mlpipe/bin/python && chmod 755 /opt/mlpipe/bin/python
if [ -s $B/pip.txt ]; then $TARGET -m pip install -r $B/pip.txt; fi
"""


class EnvironmentBuildError(StepFailedError):
    """A step's environment image could not be built; names the packages and the step."""

    def __init__(self, message: str, *, step: str, packages: Sequence[str] = (), tail: Sequence[str] = ()):
        self.step, self.packages, self.tail = step, list(packages), list(tail)
        last = "\n".join(f"  | {line}" for line in self.tail)
        super().__init__(f"{message}\nlast build output:\n{last}" if last else message)


def conda_to_pip(spec: str) -> str | None:
    """``numpy=1.24`` -> ``numpy==1.24``; channel prefixes and build strings dropped; python/pip skipped."""
    spec = spec.strip().split("::")[-1]
    if re.fullmatch(r"[A-Za-z0-9_.\-]+ +[^ ]+.*", spec):  # "numpy 1.24" or "numpy 1.24 py_0"
        spec = "=".join(spec.split()[:2])
    m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)=([^=<>!~]+?)(=[^=]*)?", spec)
    if m:
        spec = f"{m.group(1)}=={m.group(2)}"
    name = re.split(r"[=<>!~\[ ]", spec, maxsplit=1)[0].lower()
    return None if name in ("python", "pip", "") else spec


def name_last_stage(dockerfile: str) -> tuple[str, str]:
    """The Dockerfile with its last stage named (``AS mlpipe-base`` unless it has a name) and that name."""
    lines = dockerfile.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        m = re.match(r"\s*FROM\s+(?:--\S+\s+)*\S+(?:\s+AS\s+(\S+))?\s*$", lines[i], re.IGNORECASE)
        if m:
            if m.group(1):
                return "\n".join(lines), m.group(1)
            lines[i] = lines[i].rstrip() + " AS mlpipe-base"
            return "\n".join(lines), "mlpipe-base"
    raise UserErrorException("docker.base_dockerfile has no FROM line: it must start from a base image")


def missing_packages(lines: Sequence[str]) -> list[str]:
    """Package names pip or conda reported as not installable in build output."""
    found: list[str] = []
    conda_block = False
    for line in lines:
        for pattern in (r"No matching distribution found for (\S+)", r"Invalid requirement: '?([^'\s]+)"):
            found += re.findall(pattern, line)
        if "PackagesNotFoundError" in line:
            conda_block = True
        elif conda_block and line.strip().lower().startswith("current channels"):
            conda_block = False
        elif conda_block and (m := re.match(r"\s*- (\S+)\s*$", line)):
            found.append(m.group(1))
    return list(dict.fromkeys(found))


def host_pip_settings() -> dict[str, str]:
    """The worker's pip index settings (env vars first, then ``pip config list``). Never logged."""
    found: dict[str, str] = {}
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        exe = shutil.which("pip3") or shutil.which("pip")
        pip = [exe] if exe else []
    if pip:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([*pip, "config", "list"], capture_output=True, text=True, timeout=30).stdout
            for line in out.splitlines():
                key, _, raw = line.partition("=")
                section, _, name = key.partition(".")
                if name in (*PIP_KEYS, "cert") and section in ("global", "install") and raw:
                    with contextlib.suppress(ValueError, SyntaxError):
                        value = ast.literal_eval(raw)
                        if section == "install" or name not in found:
                            found[name] = " ".join(str(value).split())
    for name in (*PIP_KEYS, "cert"):
        value = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if value:
            found[name] = " ".join(value.split())
    return found
