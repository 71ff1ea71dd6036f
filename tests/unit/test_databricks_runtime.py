"""The Databricks emulator's job runtime: notebook formats, dbutils, and real task runs in a mount namespace.

Task runs start the runtime exactly as the emulator's server does (command() + a new process group);
the tests marked integration start a JVM (local Spark or spark-submit), each costing seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from airflow_mlpipe.emulators.databricks.dbutils import DBUtils, InputWidgetNotDefined, NotebookExit
from airflow_mlpipe.emulators.databricks.notebooks import detect_language, parse_notebook, render
from airflow_mlpipe.emulators.databricks.runtime import check_isolation, command, write_result

REPO = Path(__file__).resolve().parents[2]

SOURCE = b"""# Databricks notebook source
# MAGIC %md
# MAGIC # Daily load
# MAGIC
# MAGIC Reads the raw files.

# COMMAND ----------

# DBTITLE 1,Parameters
dbutils.widgets.text("day", "2024-01-01")
day = dbutils.widgets.get("day")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT 1 AS one;
# MAGIC SELECT 2 AS two

# COMMAND ----------

# MAGIC %run ./shared/setup

# COMMAND ----------

# MAGIC %pip install six==1.16.0
"""

SOURCE_CELLS = [
    {"magic": "md", "source": "# Daily load\n\nReads the raw files."},
    {
        "magic": "python",
        "source": 'dbutils.widgets.text("day", "2024-01-01")\nday = dbutils.widgets.get("day")',
        "title": "Parameters",
    },
    {"magic": "sql", "source": "SELECT 1 AS one;\nSELECT 2 AS two"},
    {"magic": "run", "source": "./shared/setup"},
    {"magic": "pip", "source": "install six==1.16.0"},
]


# ---- notebook formats ----------------------------------------------------------------------------


def test_source_format_parses_into_cells_and_renders_back_byte_for_byte():
    cells = parse_notebook(SOURCE, "SOURCE")
    assert cells == SOURCE_CELLS
    assert render(cells, "SOURCE", "PYTHON") == SOURCE
    assert parse_notebook(SOURCE, "AUTO") == SOURCE_CELLS


def test_sql_notebook_uses_sql_comments_and_its_own_language_for_plain_cells():
    data = b"-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\n-- MAGIC %python\n-- MAGIC x = 1\n"
    assert detect_language(data) == "SQL"
    cells = parse_notebook(data, "SOURCE")
    assert cells == [{"magic": "sql", "source": "SELECT 1"}, {"magic": "python", "source": "x = 1"}]
    assert render(cells, "SOURCE", "SQL") == data


def test_plain_python_file_without_header_is_one_python_cell():
    data = b"import sys\n\n# COMMAND ----------\nprint(sys.argv)\n"
    assert parse_notebook(data, "AUTO") == [
        {"magic": "python", "source": "import sys\n\n# COMMAND ----------\nprint(sys.argv)"}
    ]


def test_jupyter_code_cells_with_magic_first_lines_and_markdown_cells():
    doc = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["x = 1\n", "x"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": "%sql\nSELECT 1"},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["%%sh\n", "ls"]},
            {"cell_type": "raw", "metadata": {}, "source": ["ignored"]},
        ],
        "metadata": {"application/vnd.databricks.v1+notebook": {"language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    data = json.dumps(doc).encode()
    cells = parse_notebook(data, "AUTO")
    assert cells == [
        {"magic": "md", "source": "# Title\ntext"},
        {"magic": "python", "source": "x = 1\nx"},
        {"magic": "sql", "source": "SELECT 1"},
        {"magic": "sh", "source": "ls"},
    ]
    assert parse_notebook(render(cells, "JUPYTER", "PYTHON"), "JUPYTER") == cells


def test_jupyter_render_round_trips_every_cell_kind_and_title():
    rendered = render(SOURCE_CELLS, "JUPYTER", "PYTHON")
    doc = json.loads(rendered)
    assert doc["nbformat"] == 4
    assert [c["cell_type"] for c in doc["cells"]] == ["markdown", "code", "code", "code", "code"]
    assert "".join(doc["cells"][2]["source"]).startswith("%sql\n")
    assert parse_notebook(rendered, "AUTO") == SOURCE_CELLS
    # and on to SOURCE again: the same file
    assert render(parse_notebook(rendered, "AUTO"), "SOURCE", "PYTHON") == SOURCE


def test_unknown_formats_are_refused_with_what_to_use():
    with pytest.raises(ValueError, match="SOURCE, JUPYTER or AUTO"):
        parse_notebook(SOURCE, "DBC")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_notebook(b"{not json", "JUPYTER")


# ---- dbutils -----------------------------------------------------------------------------------------


def test_widgets_parameters_win_over_defaults_and_unknown_names_fail_like_databricks():
    dbutils = DBUtils({"day": "2024-05-01"})
    dbutils.widgets.text("day", "2024-01-01")
    dbutils.widgets.dropdown("mode", "fast", ["fast", "slow"])
    assert dbutils.widgets.get("day") == "2024-05-01"
    assert dbutils.widgets.get("mode") == "fast"
    assert dbutils.widgets.getArgument("missing", "fallback") == "fallback"
    assert dbutils.widgets.getAll() == {"day": "2024-05-01", "mode": "fast"}
    with pytest.raises(InputWidgetNotDefined, match="No input widget named missing is defined"):
        dbutils.widgets.get("missing")
    with pytest.raises(ValueError, match="not one of its choices"):
        dbutils.widgets.dropdown("bad", "medium", ["fast", "slow"])
    dbutils.widgets.removeAll()
    with pytest.raises(InputWidgetNotDefined):
        dbutils.widgets.get("mode")


def test_fs_commands_on_dbfs_paths(tmp_path):
    root = tmp_path / "dbfs"
    root.mkdir()
    fs = DBUtils({}, root).fs
    assert fs.put("dbfs:/data/a.txt", "hello") is True
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fs.put("/data/a.txt", "again")
    fs.put("/data/a.txt", "hello world", overwrite=True)
    assert fs.head("dbfs:/data/a.txt", 5) == "hello"
    fs.mkdirs("/data/sub")
    listing = fs.ls("dbfs:/data")
    assert [(f.path, f.name, f.size) for f in listing] == [
        ("dbfs:/data/a.txt", "a.txt", 11),
        ("dbfs:/data/sub/", "sub/", 0),
    ]
    assert listing[0].modificationTime > 0
    fs.cp("dbfs:/data/a.txt", "dbfs:/copy/b.txt")
    with pytest.raises(IsADirectoryError, match="recurse=True"):
        fs.cp("/data", "/data2")
    fs.cp("/data", "/data2", recurse=True)
    fs.mv("/copy/b.txt", "/moved/c.txt")
    assert (root / "data2" / "a.txt").read_text() == "hello world"
    assert (root / "moved" / "c.txt").exists() and not (root / "copy" / "b.txt").exists()
    assert fs.rm("/data2", recurse=True) is True and not (root / "data2").exists()
    local = tmp_path / "local.txt"
    local.write_text("local")
    fs.cp(f"file:{local}", "dbfs:/from_local.txt")
    assert (root / "from_local.txt").read_text() == "local"
    with pytest.raises(ValueError, match=r"'\.\.'"):
        fs.ls("dbfs:/../etc")


def test_notebook_exit_and_unsupported_modules():
    dbutils = DBUtils({})
    with pytest.raises(NotebookExit) as stopped:
        dbutils.notebook.exit(42)
    assert stopped.value.value == "42"
    with pytest.raises(NotImplementedError, match="own DatabricksStep"):
        dbutils.notebook.run("./other", 60)
    with pytest.raises(NotImplementedError, match="dbutils.secrets.get is not available"):
        dbutils.secrets.get("scope", "key")


# ---- task runs in a mount namespace -----------------------------------------------------------------


class Runner:
    """Starts task runs as the emulator's server does, and kills what is left at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "emulator"
        self.dbfs = self.root / "dbfs"
        self.dbfs.mkdir(parents=True)
        self.procs: list[subprocess.Popen] = []
        self.count = 0

    def start(self, task: dict, rootless: bool | None = None) -> tuple[Path, subprocess.Popen]:
        self.count += 1
        run_dir = self.root / "runs" / str(self.count)
        run_dir.mkdir(parents=True)
        task = {"run_id": self.count, "libs_dir": str(self.root / "libs"), "libraries": [], **task}
        (run_dir / "task.json").write_text(json.dumps(task))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with (run_dir / "driver.log").open("wb") as log:
            proc = subprocess.Popen(
                command(run_dir, self.dbfs, rootless=rootless),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        self.procs.append(proc)
        return run_dir, proc

    def run(self, task: dict, rootless: bool | None = None, timeout: float = 120) -> tuple[int, dict, str]:
        run_dir, proc = self.start(task, rootless)
        code = proc.wait(timeout)
        log = (run_dir / "driver.log").read_text()
        assert (run_dir / "result.json").exists(), log
        assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []
        return code, json.loads((run_dir / "result.json").read_text()), log

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def runner(tmp_path):
    started = Runner(tmp_path)
    yield started
    started.stop()


def notebook(*cells: tuple[str, str]) -> dict:
    return {"language": "PYTHON", "cells": [{"magic": m, "source": s} for m, s in cells]}


def test_isolation_check_passes_here_in_both_modes():
    check_isolation(rootless=False)
    check_isolation(rootless=True)


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "user-namespace"])
def test_notebook_with_widgets_dbfs_files_and_exit(runner, rootless):
    task = {
        "kind": "notebook",
        "notebook": notebook(
            ("md", "# not run"),
            (
                "python",
                'dbutils.widgets.text("n", "1")\ndbutils.widgets.text("unset", "dflt")\nn = int(getArgument("n"))',
            ),
            ("python", 'with open("/dbfs/out/n.txt", "w") as f:\n    f.write(str(n * 2))'),
            ("sh", "cat /dbfs/out/n.txt; echo; echo cwd=$(pwd)"),
            ("python", "dbutils.notebook.exit(f\"{n}:{dbutils.widgets.get('unset')}\")"),
            ("python", 'raise AssertionError("cells after exit must not run")'),
        ),
        "widgets": {"n": "21"},
        "spark_env_vars": {"MY_FLAG": "on"},
        "spark_version": "10.4.x-scala2.12",
    }
    (runner.dbfs / "out").mkdir()
    code, result, log = runner.run(task, rootless=rootless)
    assert (code, result["state"], result["notebook_result"], result["error"]) == (
        0,
        "SUCCESS",
        "21:dflt",
        None,
    )
    assert (runner.dbfs / "out" / "n.txt").read_text() == "42"
    assert "42" in log and "/runs/1/driver" in log


def test_environment_of_a_run_has_spark_env_vars_runtime_version_and_fast_jvm_options(runner):
    cell = "import os\ndbutils.notebook.exit(';'.join(os.environ.get(k, '') for k in ['MY_FLAG', 'DATABRICKS_RUNTIME_VERSION', 'SPARK_LOCAL_IP', 'JAVA_TOOL_OPTIONS']))"
    task = {
        "kind": "notebook",
        "notebook": notebook(("python", cell)),
        "spark_env_vars": {"MY_FLAG": "on"},
        "spark_version": "10.4.x-scala2.12",
    }
    _, result, _ = runner.run(task)
    assert result["notebook_result"] == "on;10.4;127.0.0.1;-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def test_failing_cell_reports_error_and_the_users_traceback_with_cell_numbers(runner):
    task = {
        "kind": "notebook",
        "notebook": notebook(
            ("python", "def load(name):\n    return {'a': 1}[name]"),
            ("md", "text"),
            ("python", "x = 1\nload('missing')"),
        ),
    }
    code, result, log = runner.run(task)
    assert (code, result["state"], result["error"]) == (1, "FAILED", "KeyError: 'missing'")
    trace = result["error_trace"]
    assert 'File "<notebook cell 3>", line 2, in <module>' in trace
    assert 'File "<notebook cell 1>", line 2, in load' in trace
    assert "return {'a': 1}[name]" in trace  # the user's source line is shown
    assert "runtime.py" not in trace and "cells.py" not in trace
    assert "KeyError: 'missing'" in log


def test_unsupported_magic_fails_before_any_cell_runs(runner):
    task = {
        "kind": "notebook",
        "notebook": notebook(("python", "open('/dbfs/ran.txt', 'w').close()"), ("scala", "val x = 1")),
    }
    code, result, _ = runner.run(task)
    assert code == 1 and result["state"] == "FAILED"
    assert result["error"].startswith("UnsupportedMagic: cell 2 is a %scala cell")
    assert "Python notebooks only" in result["error"]
    assert not (runner.dbfs / "ran.txt").exists()


def test_shell_cell_that_fails_fails_the_run(runner):
    task = {"kind": "notebook", "notebook": notebook(("sh", "echo before; exit 3"), ("python", "x = 1"))}
    code, result, log = runner.run(task)
    assert code == 1
    assert result["error"] == "ShellCommandError: the %sh cell 1 exited with code 3"
    assert "before" in log


def test_python_script_gets_argv_and_writes_dbfs_with_open(runner, tmp_path):
    script = runner.dbfs / "jobs" / "etl.py"
    script.parent.mkdir()
    script.write_text(
        "import os, sys\n"
        "from pyspark.dbutils import DBUtils\n"
        "assert __name__ == '__main__'\n"
        "os.makedirs('/dbfs/results', exist_ok=True)\n"
        "with open('/dbfs/results/args.json', 'w') as f:\n"
        "    f.write(repr((sys.argv, os.path.basename(os.getcwd()))))\n"
        "DBUtils(None).fs.put('/results/put.txt', 'via dbutils', overwrite=True)\n"
        "if '--fail' in sys.argv:\n"
        "    sys.exit(3)\n"
    )
    task = {"kind": "python", "script": str(script), "parameters": ["--day", "2024-01-01"]}
    code, result, _ = runner.run(task)
    assert (code, result["state"]) == (0, "SUCCESS"), result
    written = (runner.dbfs / "results" / "args.json").read_text()
    assert written == repr(([str(script), "--day", "2024-01-01"], "driver"))
    assert (runner.dbfs / "results" / "put.txt").read_text() == "via dbutils"

    code, result, _ = runner.run({**task, "parameters": ["--fail"]})
    assert (code, result["state"], result["error"]) == (1, "FAILED", "SystemExit: 3")


def test_pypi_library_already_installed_is_used_without_installing(runner):
    task = {
        "kind": "notebook",
        "notebook": notebook(("python", "import packaging\ndbutils.notebook.exit('ok')")),
        "libraries": [{"pypi": {"package": "packaging>=20"}}],
    }
    code, result, _ = runner.run(task)
    assert (code, result["notebook_result"]) == (0, "ok")
    assert not any((runner.root / "libs").iterdir())


def _wheel(path: Path) -> Path:
    """A minimal pure-Python wheel, mlpipe_demo_lib 1.0 (VALUE = 7)."""
    files = {
        "mlpipe_demo_lib/__init__.py": b"VALUE = 7\n",
        "mlpipe_demo_lib-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mlpipe-demo-lib\nVersion: 1.0\n",
        "mlpipe_demo_lib-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    files["mlpipe_demo_lib-1.0.dist-info/RECORD"] = (
        "\n".join([*record, "mlpipe_demo_lib-1.0.dist-info/RECORD,,"]) + "\n"
    ).encode()
    wheel = path / "mlpipe_demo_lib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def test_whl_library_on_dbfs_is_installed_once_into_the_libs_cache(runner):
    (runner.dbfs / "libs").mkdir()
    _wheel(runner.dbfs / "libs")
    task = {
        "kind": "notebook",
        "notebook": notebook(
            ("python", "import mlpipe_demo_lib\ndbutils.notebook.exit(mlpipe_demo_lib.VALUE)")
        ),
        "libraries": [{"whl": "dbfs:/libs/mlpipe_demo_lib-1.0-py3-none-any.whl"}],
    }
    code, result, log = runner.run(task)
    assert (code, result["notebook_result"]) == (0, "7"), log
    cached = list((runner.root / "libs").iterdir())
    assert len(cached) == 1 and (cached[0] / "mlpipe_demo_lib" / "__init__.py").exists()
    code, result, _ = runner.run(task)
    assert (code, result["notebook_result"]) == (0, "7")
    assert list((runner.root / "libs").iterdir()) == cached


def test_maven_and_cran_libraries_are_refused_with_what_to_do(runner):
    maven = {"maven": {"coordinates": "com.example:lib:1.0"}}
    code, result, _ = runner.run(
        {"kind": "notebook", "notebook": notebook(("python", "x = 1")), "libraries": [maven]}
    )
    assert code == 1
    assert result["error"].startswith(
        "LibraryError: maven library com.example:lib:1.0: maven libraries need Maven Central"
    )
    assert "add the jar as a jar library" in result["error"]
    code, result, _ = runner.run(
        {
            "kind": "notebook",
            "notebook": notebook(("python", "x = 1")),
            "libraries": [{"cran": {"package": "dplyr"}}],
        }
    )
    assert code == 1 and "not R" in result["error"]


def test_a_killed_run_leaves_no_result(runner):
    task = {
        "kind": "notebook",
        "notebook": notebook(("python", "import time\nopen('/dbfs/started', 'w').close()\ntime.sleep(120)")),
    }
    run_dir, proc = runner.start(task)
    deadline = time.monotonic() + 30
    while not (runner.dbfs / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, (run_dir / "driver.log").read_text()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(15) != 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["driver", "driver.log", "task.json"]


def test_write_result_replaces_the_file_whole(tmp_path):
    (tmp_path / "result.json").write_text("old")
    write_result(tmp_path, {"state": "SUCCESS", "notebook_result": "x" * 100_000})
    assert json.loads((tmp_path / "result.json").read_text())["notebook_result"] == "x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


# ---- with a JVM ----------------------------------------------------------------------------------------


@pytest.mark.integration
def test_notebook_reads_csv_from_dbfs_runs_sql_and_writes_parquet_with_local_spark(runner):
    (runner.dbfs / "raw").mkdir()
    (runner.dbfs / "raw" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,5\nnorth,7\n")
    task = {
        "kind": "notebook",
        "notebook": notebook(
            (
                "python",
                "assert 'started on first use' in repr(spark)\ndf = spark.read.csv('dbfs:/raw/sales.csv', header=True, inferSchema=True)",
            ),
            ("python", "df.createOrReplaceTempView('sales')"),
            ("sql", "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"),
            (
                "python",
                "totals = _sqldf\ntotals.write.mode('overwrite').parquet('dbfs:/curated/totals')\nassert sc.master == 'local[2]'",
            ),
            ("python", "dbutils.notebook.exit(spark.read.parquet('dbfs:/curated/totals').count())"),
        ),
        "num_workers": 4,
        "spark_conf": {"spark.sql.session.timeZone": "UTC"},
    }
    code, result, log = runner.run(task, timeout=300)
    assert (code, result["state"], result["notebook_result"]) == (0, "SUCCESS", "2"), log
    assert list((runner.dbfs / "curated" / "totals").glob("part-*.parquet"))
    assert "north" in log and "17" in log  # the sql cell's table went to the driver log


JAVA_MAIN = """
package demo;

import java.nio.file.Files;
import java.nio.file.Paths;

public class Main {
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("fail")) {
            throw new IllegalStateException("asked to fail");
        }
        Files.write(Paths.get("/dbfs/jar-out.txt"), String.join(",", args).getBytes("UTF-8"));
    }
}
"""


@pytest.mark.integration
def test_jar_task_runs_its_main_class_with_spark_submit(runner, tmp_path):
    if shutil.which("javac") is None:
        pytest.skip("javac (a JDK) is needed to build the test jar")
    src = tmp_path / "java" / "demo" / "Main.java"
    src.parent.mkdir(parents=True)
    src.write_text(JAVA_MAIN)
    classes = tmp_path / "classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), str(src)], check=True)
    (runner.dbfs / "jars").mkdir()
    jar = runner.dbfs / "jars" / "demo.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.write(classes / "demo" / "Main.class", "demo/Main.class")
    task = {
        "kind": "jar",
        "main_class_name": "demo.Main",
        "parameters": ["a", "b c"],
        "libraries": [{"jar": "dbfs:/jars/demo.jar"}],
        "local_libraries": {"dbfs:/jars/demo.jar": str(jar)},
    }
    code, result, log = runner.run(task, timeout=180)
    assert (code, result["state"]) == (0, "SUCCESS"), log
    assert (runner.dbfs / "jar-out.txt").read_text() == "a,b c"

    code, result, log = runner.run({**task, "parameters": ["fail"]}, timeout=180)
    assert (code, result["state"]) == (1, "FAILED")
    assert result["error"] == "java.lang.IllegalStateException: asked to fail"
    assert "at demo.Main.main" in result["error_trace"]
