"""compile_script and Program: a checked U-SQL script, as SQL statements or run on DuckDB / Spark."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_mlpipe.usql import lower
from airflow_mlpipe.usql.errors import UsqlError
from airflow_mlpipe.usql.parser import parse
from airflow_mlpipe.usql.plan import ExtractStep, OutputStep, QueryStep, Step
from airflow_mlpipe.usql.spark_job import remove_dirs, single_file_outputs
from airflow_mlpipe.usql.stmtbind import StatementBinder

log = logging.getLogger(__name__)
DIALECTS = ("duckdb", "spark")


def compile_script(text: str, *, name: str = "script.usql") -> Program:
    """Parse and check a script; raises UsqlError (construct, line) before anything runs."""
    stmts, warnings = parse(text, name)
    steps = StatementBinder(name).bind(stmts)
    if not any(isinstance(s, OutputStep) for s in steps):
        raise UsqlError(
            "OUTPUT", 1, "the script has no OUTPUT statement, so it would produce nothing", script=name
        )
    return Program(name, steps, warnings)


class Program:
    """A compiled script: its input and output paths, warnings, and its SQL for each dialect."""

    def __init__(self, name: str, steps: list[Step], warnings: list[str]):
        self.name = name
        self.steps = steps
        self.warnings = list(warnings)
        self.inputs: list[str] = list(
            dict.fromkeys(p for s in steps if isinstance(s, ExtractStep) for p in s.paths)
        )
        self.outputs: list[str] = [s.path for s in steps if isinstance(s, OutputStep)]

    def __repr__(self) -> str:
        return f"Program({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"

    def _where(self, paths: Mapping[str, str], path: str, line: int) -> str:
        if path not in paths:
            raise UsqlError(
                "paths",
                line,
                f"no location was given for {path}; pass paths={{{path!r}: ...}}",
                script=self.name,
            )
        return paths[path]

    def statements(self, dialect: str, paths: Mapping[str, str]) -> list[tuple[str, OutputStep | None]]:
        """``to_sql``'s statements, each paired with the OUTPUT step it runs (None for the others)."""
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        out: list[tuple[str, OutputStep | None]] = []
        temp = "TEMP VIEW" if dialect == "duckdb" else "TEMPORARY VIEW"
        for step in self.steps:
            if isinstance(step, ExtractStep):
                located = ExtractStep(
                    step.view,
                    [self._where(paths, p, step.line) for p in step.paths],
                    step.columns,
                    step.options,
                    step.line,
                )
                raw = step.view + "__raw"
                if dialect == "duckdb":
                    out.append((lower.duckdb_reader(located, raw), None))
                else:
                    out.extend((s, None) for s in lower.spark_readers(located, raw, self.name))
                query = lower.sql(lower.extract_query(step, raw, self.name), dialect)
                out.append((f"CREATE OR REPLACE {temp} {lower.ident(step.view, dialect)} AS {query}", None))
            elif isinstance(step, QueryStep):
                query = lower.sql(step.query, dialect)
                out.append((f"CREATE OR REPLACE {temp} {lower.ident(step.view, dialect)} AS {query}", None))
            else:
                target = self._where(paths, step.path, step.line)
                query = lower.sql(lower.output_query(step), dialect)
                literal = lower.lit_str(target).sql(dialect)
                if dialect == "duckdb":
                    sql = (
                        f"COPY ({query}) TO {literal} (FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', "
                        f"DELIMITER '\x1f')"
                    )
                else:
                    sql = (
                        f"INSERT OVERWRITE DIRECTORY {literal} USING text "
                        f"SELECT /*+ COALESCE(1) */ line FROM ({query}) AS o"
                    )
                out.append((sql, step))
        return out

    def to_sql(self, dialect: str, paths: Mapping[str, str]) -> list[str]:
        """Statements reading each input from paths[p] and writing each output to paths[p].

        On Spark an output path is a directory holding one part file (Spark writes directories);
        run_spark turns it into the single file U-SQL writes.
        """
        return [s for s, _ in self.statements(dialect, paths)]

    def run_duckdb(self, paths: Mapping[str, str]) -> dict[str, int]:
        """Run in-process on DuckDB; outputs appear only when the whole script succeeded (as in U-SQL)."""
        import duckdb

        temps = {p: f"{self._where(paths, p, 0)}.usql-{uuid.uuid4().hex[:8]}.tmp" for p in self.outputs}
        counts: dict[str, int] = {}
        con = duckdb.connect(":memory:")
        try:
            for sql, step in self.statements("duckdb", {**paths, **temps}):
                if step is not None:
                    os.makedirs(os.path.dirname(os.path.abspath(temps[step.path])), exist_ok=True)
                try:
                    result = con.execute(sql).fetchall()
                except duckdb.Error as e:
                    raise _runtime_error(self.name, step, e) from None
                if step is not None:
                    counts[step.path] = int(result[0][0]) - (1 if step.options.header else 0)
                    log.info("%s: wrote %s rows for %s", self.name, counts[step.path], step.path)
            for p, tmp in temps.items():
                os.replace(tmp, paths[p])
        finally:
            con.close()
            for tmp in temps.values():
                if os.path.exists(tmp):
                    os.remove(tmp)
        return counts

    def run_spark(self, spark: Any, paths: Mapping[str, str]) -> dict[str, int]:
        """Run on a SparkSession; each output becomes one file at paths[p] when the script succeeded."""
        tag = uuid.uuid4().hex[:8]
        temps = {p: f"{self._where(paths, p, 0)}.usql-{tag}.tmpdir" for p in self.outputs}
        counts: dict[str, int] = {}
        try:
            for sql, step in self.statements("spark", {**paths, **temps}):
                try:
                    if step is not None:
                        view = lower.ident(step.view, "spark")
                        counts[step.path] = int(spark.sql(f"SELECT count(*) FROM {view}").collect()[0][0])
                    spark.sql(sql)
                except Exception as e:  # Spark raises py4j / pyspark errors
                    raise _runtime_error(self.name, step, e) from None
            single_file_outputs(spark, {tmp: paths[p] for p, tmp in temps.items()})
        finally:
            remove_dirs(spark, list(temps.values()))
        return counts


def _runtime_error(script: str, step: OutputStep | None, e: Exception) -> UsqlError:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    marker = f"{script} line "
    if marker in text:  # a conversion error raised by the script's own SQL: keep its line
        text = text[text.index(marker) :]
        line = int(text[len(marker) :].split(":")[0])
        return UsqlError("EXTRACT", line, text.split(": ", 1)[1].rstrip("'\""), script=script)
    where = f"OUTPUT at line {step.line}" if step else "the script"
    return UsqlError("run", step.line if step else 0, f"{where} failed: {text[:500]}", script=script)
