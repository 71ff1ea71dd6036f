"""One task run of the Databricks emulator: a notebook, a Python script or a jar on local PySpark.

The server starts `command(run_dir, dbfs_root)`: this module in a private mount namespace where DBFS is
bound at /dbfs, as on a Databricks driver. It reads RUN_DIR/task.json, runs the task with the output
going to driver.log, and writes RUN_DIR/result.json atomically before it exits (0 success, 1 failure).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
import traceback
import types
import zipfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks import cells
from airflow_mlpipe.emulators.databricks.cells import run_notebook, stop_spark
from airflow_mlpipe.emulators.databricks.dbutils import DBUtils, NotebookExit, TaskError
from airflow_mlpipe.emulators.databricks.libraries import install_libraries, pip_install, use_python_path

log = logging.getLogger("mlpipe.databricks.runtime")

MODULE = "airflow_mlpipe.emulators.databricks.runtime"
DBFS_MOUNT = Path("/dbfs")
JAVA_TOOL_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# binds DBFS at /dbfs inside the new mount namespace, then becomes the runtime ($1 = the DBFS folder)
_BIND_AND_EXEC = 'mount --bind "$1" /dbfs && shift && exec "$@"'


# ---- the mount namespace -------------------------------------------------------------------------


def _unshare(rootless: bool) -> list[str]:
    # as root, a private mount namespace; otherwise a user namespace that maps us to root in it
    return ["unshare", "-rm"] if rootless else ["unshare", "--mount", "--propagation", "private"]


def _ensure_mount_point() -> None:
    if DBFS_MOUNT.is_dir():
        return
    try:
        DBFS_MOUNT.mkdir()
    except OSError as exc:
        raise RuntimeError(
            f"the Databricks emulator binds DBFS at {DBFS_MOUNT} but cannot create that empty folder ({exc}); "
            f"create it once as root (sudo mkdir {DBFS_MOUNT}) and start the emulator again"
        ) from exc


def command(run_dir: Path, dbfs_root: Path, *, rootless: bool | None = None) -> list[str]:
    """The argv that runs the task in run_dir with dbfs_root bind-mounted at /dbfs in its own namespace."""
    _ensure_mount_point()
    if rootless is None:
        rootless = os.geteuid() != 0
    return [
        *_unshare(rootless),
        "sh",
        "-c",
        _BIND_AND_EXEC,
        "mlpipe-dbfs",
        str(Path(dbfs_root).resolve()),
        sys.executable,
        "-m",
        MODULE,
        str(Path(run_dir).resolve()),
    ]


def check_isolation(rootless: bool | None = None) -> None:
    """Raise RuntimeError now if task runs could not get their own /dbfs mount (no unshare, no permission)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        raise RuntimeError(
            "the Databricks emulator needs the unshare and mount commands (util-linux) to give each run "
            "its own /dbfs; install util-linux"
        )
    _ensure_mount_point()
    if rootless is None:
        rootless = os.geteuid() != 0
    with tempfile.TemporaryDirectory(prefix="mlpipe-dbfs-probe-") as probe:
        argv = [*_unshare(rootless), "sh", "-c", _BIND_AND_EXEC, "mlpipe-dbfs", probe, "true"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(
            f"the Databricks emulator cannot bind DBFS at /dbfs in a private mount namespace "
            f"({' '.join(argv[:4])} ...: {done.stderr.strip() or done.returncode}); run it as root, or allow "
            "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        )


# ---- results -------------------------------------------------------------------------------------


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Write result.json through a temporary file and a rename, so readers never see half of it."""
    tmp = run_dir / f".result.json.{os.getpid()}.tmp"
    with tmp.open("w") as handle:
        json.dump(result, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, run_dir / "result.json")


def _user_trace(exc: BaseException) -> str:
    """The traceback of exc without the runtime's own frames (runpy, this module)."""
    te = traceback.TracebackException.from_exception(exc)
    internal = (__file__, runpy.__file__, cells.__file__)
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename not in internal])
    return "".join(te.format())


# ---- environment ----------------------------------------------------------------------------------


def _master(task: dict[str, Any]) -> str:
    workers = int(task.get("num_workers") or 0)
    return f"local[{min(workers, 2) if workers > 0 else 1}]"


def _spark_conf(task: dict[str, Any]) -> dict[str, str]:
    conf = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.host": "127.0.0.1",
    }
    conf.update({str(k): str(v) for k, v in (task.get("spark_conf") or {}).items()})
    return conf


def prepare_environment(task: dict[str, Any], jars: list[str]) -> None:
    """Environment variables of the cluster, and Spark's settings for any session this process starts."""
    os.environ.update({str(k): str(v) for k, v in (task.get("spark_env_vars") or {}).items()})
    version = re.match(r"\d+\.\d+", str(task.get("spark_version") or ""))
    if version:
        os.environ["DATABRICKS_RUNTIME_VERSION"] = version.group(0)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["JAVA_TOOL_OPTIONS"] = f"{os.environ.get('JAVA_TOOL_OPTIONS', '')} {JAVA_TOOL_OPTIONS}".strip()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    args = ["--master", _master(task), "--name", "Databricks Shell"]
    for key, value in _spark_conf(task).items():
        args += ["--conf", f"{key}={value}"]
    if jars:
        args += ["--jars", ",".join(jars), "--driver-class-path", os.pathsep.join(jars)]
    # pyspark's launcher reads these arguments when a session starts (notebook or user script alike)
    os.environ["PYSPARK_SUBMIT_ARGS"] = shlex.join([*args, "pyspark-shell"])
    sys.modules.setdefault("pyspark.dbutils", _dbutils_module())
    sys.meta_path.insert(0, _DbfsPathsOnImport())


# ---- dbfs:/ paths in Spark's readers and writers ------------------------------------------------


def dbfs_uri(value: Any) -> Any:
    """file:///dbfs/x for dbfs:/x (the emulator's stand-in for DBFS's Hadoop filesystem); others as they are."""
    if isinstance(value, str) and value.startswith("dbfs:"):
        return "file:///dbfs/" + value[len("dbfs:") :].lstrip("/")
    if isinstance(value, (list, tuple)):
        return type(value)(dbfs_uri(v) for v in value)
    return value


def patch_dbfs_paths(readwriter: types.ModuleType) -> None:
    """Let DataFrameReader/DataFrameWriter load and save take dbfs:/ paths."""
    for cls in (readwriter.DataFrameReader, readwriter.DataFrameWriter):
        for name in ("load", "save", "csv", "json", "parquet", "text", "orc"):
            original = getattr(cls, name, None)
            if original is None or getattr(original, "_mlpipe_dbfs", False):
                continue

            def wrapper(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                args = tuple(dbfs_uri(a) for a in args)
                kwargs = {k: dbfs_uri(v) if k in ("path", "paths") else v for k, v in kwargs.items()}
                return __original(self, *args, **kwargs)

            wrapper.__name__, wrapper.__doc__ = original.__name__, original.__doc__
            wrapper._mlpipe_dbfs = True  # type: ignore[attr-defined]
            setattr(cls, name, wrapper)


class _DbfsPathsOnImport:
    """Patches pyspark.sql.readwriter when it is first imported, so scripts pay no pyspark import up front."""

    name = "pyspark.sql.readwriter"

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def patched(module: types.ModuleType, __exec: Any = exec_module) -> None:
                    __exec(module)
                    patch_dbfs_paths(module)

                spec.loader.exec_module = patched
                return spec
        return None


def _dbutils_module() -> types.ModuleType:
    """A `pyspark.dbutils` module so scripts can write `DBUtils(spark)` as on Databricks."""
    module = types.ModuleType("pyspark.dbutils")

    class ScriptDBUtils(DBUtils):
        def __init__(self, spark: Any = None) -> None:
            super().__init__({}, DBFS_MOUNT)

    ScriptDBUtils.__name__ = ScriptDBUtils.__qualname__ = "DBUtils"
    module.DBUtils = ScriptDBUtils  # type: ignore[attr-defined]
    return module


# ---- scripts and jars -----------------------------------------------------------------------------


def run_script(task: dict[str, Any]) -> None:
    """Run a spark_python_task's file as __main__ with its parameters as sys.argv."""
    script = str(task["script"])
    sys.argv = [script, *(str(p) for p in task.get("parameters") or [])]
    sys.path.insert(0, str(Path(script).parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise TaskError(f"SystemExit: {exc.code}", _user_trace(exc)) from exc


def _main_jar(jars: list[str], main_class: str) -> str:
    entry = main_class.replace(".", "/") + ".class"
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            if entry in archive.namelist():
                return jar
    raise TaskError(f"ClassNotFoundException: main class {main_class} is in none of the jar libraries {jars}")


def run_jar(task: dict[str, Any], jars: list[str]) -> None:
    """Run a spark_jar_task's main class with pyspark's own spark-submit."""
    main_class = task["main_class_name"]
    main_jar = _main_jar(jars, main_class)
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("RuntimeError: pyspark is not installed; install airflow-mlpipe[databricks-local]")
    submit = Path(list(spec.submodule_search_locations)[0]) / "bin" / "spark-submit"
    argv = ["bash", str(submit), "--class", main_class, "--master", _master(task), "--name", main_class]
    for key, value in _spark_conf(task).items():
        argv += ["--conf", f"{key}={value}"]
    others = [j for j in jars if j != main_jar]
    if others:
        argv += ["--jars", ",".join(others)]
    argv += [main_jar, *(str(p) for p in task.get("parameters") or [])]
    sys.stdout.flush()
    tail: collections.deque[str] = collections.deque(maxlen=80)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:  # copy to driver.log, keeping the end for the error trace
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            tail.append(raw.decode(errors="replace"))
    if proc.returncode != 0:
        text = "".join(tail)
        thrown = re.findall(r'Exception in thread "main" ([\w.$]+)(?::\s*(.*))?', text)
        error = (
            f"{thrown[-1][0]}: {thrown[-1][1]}"
            if thrown
            else f"SparkSubmitError: {main_class} exited with code {proc.returncode}"
        )
        raise TaskError(error, text)


# ---- entry point ------------------------------------------------------------------------------------


def run_task(task: dict[str, Any], run_dir: Path) -> str | None:
    """Run one task of task.json; the notebook's exit value (None for scripts, jars, or no exit)."""
    jars = install_libraries(task)
    prepare_environment(task, jars)
    scratch = run_dir / "driver"  # the working folder, like /databricks/driver
    scratch.mkdir(exist_ok=True)
    os.chdir(scratch)
    kind = task.get("kind")
    if kind == "notebook":
        libs_dir = Path(task.get("libs_dir") or tempfile.gettempdir())
        return run_notebook(
            task, lambda args: use_python_path(pip_install(libs_dir, args, "pip:" + " ".join(args)))
        )
    if kind == "python":
        run_script(task)
    elif kind == "jar":
        run_jar(task, jars)
    else:
        raise TaskError(f"ValueError: task kind {kind!r} is not one of notebook, python, jar")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run RUN_DIR's task.json and write result.json; 0 on success, 1 on failure."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {MODULE} RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0]).resolve()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s databricks-emulator: %(message)s"
    )
    result: dict[str, Any] = {"state": "SUCCESS", "notebook_result": None, "error": None, "error_trace": None}
    try:
        task = json.loads((run_dir / "task.json").read_text())
        result["notebook_result"] = run_task(task, run_dir)
    except NotebookExit as exc:  # dbutils.notebook.exit in a script, as in a notebook: success
        result["notebook_result"] = exc.value
    except TaskError as exc:
        result.update(state="FAILED", error=exc.error, error_trace=exc.trace)
    except Exception as exc:  # the user's code failed: report it as Databricks does
        result.update(state="FAILED", error=f"{type(exc).__name__}: {exc}", error_trace=_user_trace(exc))
    if result["error"]:
        log.error("run failed: %s", result["error"])
        if result["error_trace"]:
            print(result["error_trace"], file=sys.stderr)
    write_result(run_dir, result)
    stop_spark()
    return 0 if result["state"] == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
