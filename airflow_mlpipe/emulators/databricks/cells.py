"""Runs a Databricks notebook's cells in one namespace with spark, sc, dbutils, display and getArgument.

Python cells run as code, sql cells through spark.sql, sh cells in bash, `%pip install` through the
runtime's installer; the SparkSession starts only when a cell first uses it (a JVM start takes seconds).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import linecache
import logging
import os
import shlex
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_mlpipe.emulators.databricks.dbutils import DBUtils, NotebookExit, TaskError

log = logging.getLogger("mlpipe.databricks.runtime")

DBFS_MOUNT = Path("/dbfs")
SUPPORTED_CELLS = ("python", "md", "md-sandbox", "sql", "sh", "pip", "fs")

_session: Any = None


def spark_session() -> Any:
    """The run's SparkSession, started on first use (a JVM start takes seconds)."""
    global _session
    if _session is None:
        from pyspark.sql import SparkSession

        log.info("starting Spark (%s)", os.environ.get("PYSPARK_SUBMIT_ARGS"))
        _session = SparkSession.builder.appName("Databricks Shell").getOrCreate()
    return _session


def stop_spark() -> None:
    """Stop the run's SparkSession if a cell started one (the result is already written)."""
    if _session is not None:
        try:
            _session.stop()
        except Exception:  # a failing shutdown changes nothing about the run's result
            log.warning("Spark did not stop cleanly", exc_info=True)


class _Lazy:
    """Stands in a notebook's namespace for `spark` or `sc` until first used, then replaces itself."""

    def __init__(self, namespace: dict[str, Any], name: str, factory: Any) -> None:
        self._namespace, self._name, self._factory = namespace, name, factory

    def _real(self) -> Any:
        real = self._factory()
        if self._namespace.get(self._name) is self:
            self._namespace[self._name] = real
        return real

    def __getattr__(self, attr: str) -> Any:
        # called only for names this proxy lacks; private ones too (spark._jsc, sc._jvm), not dunders
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._real(), attr)

    def __repr__(self) -> str:
        return f"<{self._name}: started on first use>"


def display(obj: Any = None, *args: Any, **kwargs: Any) -> None:
    """Databricks' display(): a table of a DataFrame in driver.log (the emulator has no notebook UI)."""
    if hasattr(obj, "show") and hasattr(obj, "schema"):
        obj.show(n=1000, truncate=False)
    elif hasattr(obj, "to_string"):
        print(obj.to_string())
    else:
        print(repr(obj))


def display_html(html: str) -> None:
    print(f"displayHTML: {html}")


def _split_sql(text: str) -> list[str]:
    """The statements of a SQL cell (split on ";" outside quotes)."""
    statements, current, quote = [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == ";":
            statements.append("".join(current))
            current = []
            continue
        current.append(char)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _run_python_cell(source: str, number: int, namespace: dict[str, Any]) -> None:
    filename = f"<notebook cell {number}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    tree = ast.parse(source, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:  # like Databricks, show the value of a cell's last expression
        value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
        if value is not None:
            display(value)


def _run_cell(
    cell: dict[str, Any], number: int, namespace: dict[str, Any], pip_install: Callable[[list[str]], None]
) -> None:
    magic, source = cell["magic"], cell["source"]
    sys.stdout.flush()
    if magic == "python":
        _run_python_cell(source, number, namespace)
    elif magic == "sql":
        for statement in _split_sql(source):
            namespace["_sqldf"] = spark_session().sql(statement)
            display(namespace["_sqldf"])
    elif magic == "sh":
        done = subprocess.run(["bash", "-c", source], stdout=sys.stdout.fileno(), stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise TaskError(f"ShellCommandError: the %sh cell {number} exited with code {done.returncode}")
    elif magic == "pip":
        words = shlex.split(source)
        if not words or words[0] != "install":
            raise TaskError(
                f"UnsupportedMagic: cell {number}: only `%pip install ...` is supported, not %pip {source}"
            )
        pip_install(words[1:])
        importlib.invalidate_caches()
    elif magic == "fs":
        words = shlex.split(source)
        result = getattr(namespace["dbutils"].fs, words[0] if words else "help")(*words[1:])
        if result is not None:
            display(result)


def run_notebook(task: dict[str, Any], pip_install: Callable[[list[str]], None]) -> str | None:
    """Run the notebook's cells in order in one namespace; the dbutils.notebook.exit value, if any.

    pip_install(args) makes `%pip install args` importable (the runtime's cached pip --target).
    """
    cells = task["notebook"]["cells"]
    for number, cell in enumerate(cells, 1):
        if cell["magic"] not in SUPPORTED_CELLS:
            raise TaskError(
                f"UnsupportedMagic: cell {number} is a %{cell['magic']} cell; the emulator runs Python notebooks "
                f"only (cells: {', '.join(SUPPORTED_CELLS)}); rewrite that cell in Python"
            )
    dbutils = DBUtils(task.get("widgets") or {}, DBFS_MOUNT)
    # the notebook's globals are a fresh __main__ module, as on Databricks: code that looks for
    # sys.modules["__main__"].dbutils (Run.get_context()) or pickles its functions finds them
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    namespace: dict[str, Any] = main.__dict__
    namespace.update(__builtins__=builtins, dbutils=dbutils)
    namespace.update(
        spark=_Lazy(namespace, "spark", spark_session),
        sc=_Lazy(namespace, "sc", lambda: spark_session().sparkContext),
        getArgument=dbutils.widgets.getArgument,
        display=display,
        displayHTML=display_html,
    )
    try:
        for number, cell in enumerate(cells, 1):
            if cell["magic"] not in ("md", "md-sandbox"):
                log.info("cell %s (%s)", number, cell["magic"])
                _run_cell(cell, number, namespace, pip_install)
    except NotebookExit as done:
        log.info("dbutils.notebook.exit(%r)", done.value)
        return done.value
    return None
