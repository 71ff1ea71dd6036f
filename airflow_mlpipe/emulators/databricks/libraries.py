"""The cluster libraries of a task run: jars for Spark's classpath, eggs, wheels and PyPI packages.

Wheels and PyPI packages missing from the interpreter are installed once with pip --target into a
cache folder named by what was installed, so later runs reuse them; maven and cran cannot be had.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks.dbutils import TaskError

log = logging.getLogger("mlpipe.databricks.runtime")

DBFS_MOUNT = Path("/dbfs")


def _library_path(task: dict[str, Any], path: str) -> str:
    local = (task.get("local_libraries") or {}).get(path)
    if local is None:
        local = str(DBFS_MOUNT / path[len("dbfs:/") :]) if path.startswith("dbfs:/") else path
    if not Path(local).exists():
        raise TaskError(
            f"LibraryError: library {path} not found (looked at {local}); upload it to DBFS first"
        )
    return local


def _installer(target: Path, args: list[str]) -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--target",
            str(target),
            *args,
        ]
    if shutil.which("uv"):
        return ["uv", "pip", "install", "--python", sys.executable, "--target", str(target), *args]
    raise TaskError("LibraryError: neither pip nor uv is available to install libraries; install pip")


def pip_install(libs_dir: Path, args: list[str], key: str) -> Path:
    """Install args with pip --target into a folder of libs_dir named by key, once; return that folder."""
    target = libs_dir / hashlib.sha256(key.encode()).hexdigest()[:16]
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=libs_dir))
    sys.stdout.flush()
    done = subprocess.run(_installer(tmp, args), stdout=sys.stdout.fileno(), stderr=subprocess.STDOUT)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TaskError(
            f"LibraryError: pip install {' '.join(args)} failed with exit code {done.returncode}; see driver.log"
        )
    try:
        os.rename(tmp, target)
    except OSError:  # another run installed the same libraries meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _satisfied(spec: str) -> bool:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip and most environments
        return False
    try:
        req = Requirement(spec)
        version = importlib.metadata.version(req.name)
    except Exception:
        return False
    return req.url is None and req.specifier.contains(version, prereleases=True)


def use_python_path(path: Path | str) -> None:
    sys.path.insert(0, str(path))
    # Spark's Python workers (UDFs) start from the environment, not from this interpreter's sys.path
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))


def install_libraries(task: dict[str, Any]) -> list[str]:
    """Make the task's libraries importable (egg, whl, pypi) and return its jars' local paths."""
    libs_dir = Path(task.get("libs_dir") or Path(tempfile.gettempdir()) / "mlpipe-databricks-libs")
    libs_dir.mkdir(parents=True, exist_ok=True)
    jars = []
    for lib in task.get("libraries") or []:
        if "jar" in lib:
            jars.append(_library_path(task, lib["jar"]))
        elif "egg" in lib:
            use_python_path(_library_path(task, lib["egg"]))
        elif "whl" in lib:
            wheel = _library_path(task, lib["whl"])
            digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
            use_python_path(pip_install(libs_dir, [wheel], f"whl:{digest}"))
        elif "pypi" in lib:
            spec, repo = lib["pypi"]["package"], lib["pypi"].get("repo")
            if _satisfied(spec):
                log.info("library %s: already installed", spec)
                continue
            args = [spec, *(["--index-url", repo] if repo else [])]
            use_python_path(pip_install(libs_dir, args, f"pypi:{spec}:{repo}"))
        elif "maven" in lib:
            coords = lib["maven"].get("coordinates", "?")
            raise TaskError(
                f"LibraryError: maven library {coords}: maven libraries need Maven Central, which the emulator "
                "cannot reach; add the jar as a jar library (upload it to DBFS)"
            )
        elif "cran" in lib:
            raise TaskError(
                f"LibraryError: cran library {lib['cran'].get('package', '?')}: the emulator runs Python "
                "notebooks, Python scripts and jars only, not R"
            )
        else:
            raise TaskError(
                f"LibraryError: library {json.dumps(lib)} is of a kind the emulator does not know"
            )
    return jars
