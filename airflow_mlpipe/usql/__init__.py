"""airflow-mlpipe's U-SQL engine: the U-SQL AdlaStep pipelines use, run on DuckDB or Spark.

compile_script() parses and checks a script (refusing what the engine cannot run, with the line);
Program.to_sql() emits DuckDB or Spark SQL; Program.run_duckdb() runs it in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlpipe.usql.errors import UsqlError
    from airflow_mlpipe.usql.program import Program, compile_script

_LAZY = {
    "compile_script": "airflow_mlpipe.usql.program",
    "Program": "airflow_mlpipe.usql.program",
    "UsqlError": "airflow_mlpipe.usql.errors",
}
__all__ = ["Program", "UsqlError", "compile_script"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
