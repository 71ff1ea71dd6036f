"""The bound program: steps with typed columns and dialect-neutral sqlglot queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from airflow_mlpipe.usql.formats import ExtractOptions, OutputOptions
from airflow_mlpipe.usql.utypes import UType

Columns = list[tuple[str, UType]]


@dataclass
class ExtractStep:
    view: str
    paths: list[str]
    columns: Columns
    options: ExtractOptions
    line: int


@dataclass
class QueryStep:
    view: str
    query: exp.Query
    columns: Columns
    line: int


@dataclass
class OutputStep:
    view: str
    path: str
    columns: Columns
    options: OutputOptions
    order: list[tuple[str, bool]]  # (column, descending)
    line: int


Step = ExtractStep | QueryStep | OutputStep
