"""Binds parsed statements into steps: resolves @rowsets, columns and types; folds constant paths."""

from __future__ import annotations

import re

from sqlglot import exp

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.errors import UsqlError, unsupported
from airflow_mlpipe.usql.exprbind import ExprBinder, Scope
from airflow_mlpipe.usql.formats import extract_options, output_options
from airflow_mlpipe.usql.plan import Columns, ExtractStep, OutputStep, QueryStep, Step
from airflow_mlpipe.usql.querybind import QueryBinder
from airflow_mlpipe.usql.utypes import from_ref


def _const(e: ir.Expr, consts: dict[str, object]) -> object:
    """The Python value of a constant expression (literal, DECLAREd @var, string + string), else raise KeyError."""
    if isinstance(e, ir.Lit):
        return e.value
    if isinstance(e, ir.Var) and e.name in consts:
        return consts[e.name]
    if isinstance(e, ir.Unary) and e.op == "-":
        v = _const(e.operand, consts)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
    if isinstance(e, ir.Binary) and e.op == "+":
        a, b = _const(e.left, consts), _const(e.right, consts)
        if isinstance(a, str) or isinstance(b, str):
            return f"{a}{b}"
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a + b
    if isinstance(e, ir.Name) and len(e.parts) == 2 and e.parts[0] == "Encoding":
        return "Encoding." + e.parts[1]
    if isinstance(e, ir.CastE):
        return _const(e.operand, consts)
    raise KeyError(e)


class StatementBinder:
    def __init__(self, script: str):
        self.script = script
        self.scalars: dict = {}
        self.consts: dict[str, object] = {}
        self.rowsets: dict[str, tuple[str, Columns]] = {}
        self.steps: list[Step] = []
        self.exprs = ExprBinder(script, self.scalars)
        self.queries = QueryBinder(self.exprs, self.rowsets)

    def err(self, construct: str, line: int, message: str) -> UsqlError:
        return UsqlError(construct, line, message, script=self.script)

    def bind(self, stmts: list[ir.Stmt]) -> list[Step]:
        for st in stmts:
            getattr(self, "_" + type(st).__name__.lower())(st)
        return self.steps

    def _view(self, name: str) -> str:
        return f"usql{len(self.steps) + 1}_{re.sub(r'[^A-Za-z0-9_]', '_', name.lstrip('@'))}"

    def _declare(self, st: ir.Declare) -> None:
        if st.name in self.scalars:
            if st.external:  # a value given by the caller (declared earlier) wins over the script's default
                return
            raise self.err(f"DECLARE {st.name}", st.line, f"{st.name} is already declared")
        if st.name in self.rowsets:
            raise self.err(f"DECLARE {st.name}", st.line, f"{st.name} is already a rowset")
        e, t = self.exprs.bind(st.value, Scope())
        to = from_ref(st.type.name, st.type.nullable)
        if (
            t.name not in (to.name, "null")
            and not (t.is_numeric and to.is_numeric)
            and not (t.name == "char" and to.is_text)
        ):
            raise self.err(
                f"DECLARE {st.name}", st.line, f"{st.name} is declared {to} but its value is a {t}"
            )
        if t.name != to.name:
            e = exp.Cast(this=e, to=to.sql_type())
        self.scalars[st.name] = (e, to)
        try:
            self.consts[st.name] = _const(st.value, self.consts)
        except KeyError:
            pass

    def _path(self, e: ir.Expr, what: str) -> str:
        try:
            value = _const(e, self.consts)
        except KeyError:
            raise self.err(
                what,
                e.line,
                f"the {what} path must be a constant string (a literal, a DECLAREd @variable, or + of those)",
            ) from None
        if not isinstance(value, str) or not value:
            raise self.err(what, e.line, f"the {what} path must be a non-empty string, not {value!r}")
        if "{" in value:
            raise unsupported(
                f"file set {value}", e.line, "EXTRACT each file, then UNION ALL", script=self.script
            )
        return value

    def _args(self, args: dict[str, ir.Expr], what: str) -> dict[str, object]:
        out = {}
        for k, v in args.items():
            try:
                out[k] = _const(v, self.consts)
            except KeyError:
                raise self.err(f"{what}({k})", v.line, f"{k} must be a constant") from None
        return out

    def _extract(self, st: ir.Extract) -> None:
        names = [c.name for c in st.columns]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise self.err(f"column {dup}", st.line, f"EXTRACT declares column {dup} twice")
        cols: Columns = []
        for c in st.columns:
            t = from_ref(c.type.name, c.type.nullable)
            if t.name == "array":
                raise self.err(f"column {c.name}", c.line, "an extractor cannot produce SQL.ARRAY columns")
            cols.append((c.name, t))
        paths = [self._path(p, "EXTRACT FROM") for p in st.paths]
        opts = extract_options(
            st.extractor, self._args(st.args, f"Extractors.{st.extractor}"), st.line, self.script
        )
        view = self._view(st.target)
        self.steps.append(ExtractStep(view, paths, cols, opts, st.line))
        self.rowsets[st.target] = (view, cols)

    def _assign(self, st: ir.Assign) -> None:
        if st.target in self.scalars:
            raise self.err(st.target, st.line, f"{st.target} is a scalar variable, not a rowset")
        query, cols = self.queries.query(st.query)
        view = self._view(st.target)
        self.steps.append(QueryStep(view, query, cols, st.line))
        self.rowsets[st.target] = (view, cols)

    def _output(self, st: ir.Output) -> None:
        if st.rowset not in self.rowsets:
            raise self.err(
                f"OUTPUT {st.rowset}", st.line, f"{st.rowset} is not a rowset defined before this line"
            )
        view, cols = self.rowsets[st.rowset]
        path = self._path(st.path, "OUTPUT TO")
        for other in self.steps:
            if isinstance(other, OutputStep) and other.path == path:
                raise self.err(
                    f"OUTPUT TO {path}", st.line, f"{path} is already written at line {other.line}"
                )
            if isinstance(other, ExtractStep) and path in other.paths:
                raise self.err(
                    f"OUTPUT TO {path}",
                    st.line,
                    f"{path} is read by the EXTRACT at line {other.line}; write to another path",
                )
        opts = output_options(
            st.outputter, self._args(st.args, f"Outputters.{st.outputter}"), st.line, self.script
        )
        names = [c for c, _ in cols]
        order = []
        for item in st.order_by:
            if not (
                isinstance(item.expr, ir.Name) and len(item.expr.parts) == 1 and item.expr.parts[0] in names
            ):
                raise self.err(
                    "OUTPUT ORDER BY",
                    item.expr.line,
                    f"OUTPUT ... ORDER BY takes column names of {st.rowset}: {', '.join(names)}",
                )
            order.append((item.expr.parts[0], item.desc))
        if any(t.name == "array" for _, t in cols):
            bad = next(c for c, t in cols if t.name == "array")
            raise self.err(
                f"column {bad}",
                st.line,
                f"column {bad} is a SQL.ARRAY, which outputters cannot write; EXPLODE it first",
            )
        self.steps.append(OutputStep(view, path, cols, opts, order, st.line))
