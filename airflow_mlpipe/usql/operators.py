"""C# binary operators with their C# meaning: + concatenates strings, == matches nulls, int / int truncates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.exprbind import Bound, Scope, cast, lit_str, to_cs_string
from airflow_mlpipe.usql.utypes import BOOL, STRING, UType, widen

if TYPE_CHECKING:
    from airflow_mlpipe.usql.exprbind import ExprBinder

_REL = {"<": exp.LT, ">": exp.GT, "<=": exp.LTE, ">=": exp.GTE}
_ARITH = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "%": exp.Mod}


def bind_binary(b: ExprBinder, e: ir.Binary, scope: Scope) -> Bound:
    left, lt = b.bind(e.left, scope)
    right, rt = b.bind(e.right, scope)
    op = e.op
    if op == "&&":
        return exp.And(this=_paren(left), expression=_paren(right)), BOOL
    if op == "||":
        return exp.Or(this=_paren(left), expression=_paren(right)), BOOL
    if op == "??":
        return exp.Coalesce(this=left, expressions=[right]), widen(lt, rt).with_null(rt.maybe_null)
    if op == "LIKE":
        return exp.Coalesce(this=exp.Like(this=left, expression=right), expressions=[exp.false()]), BOOL
    if op in ("==", "!="):
        left, right = _align(left, lt, right, rt)
        node = exp.NullSafeEQ if op == "==" else exp.NullSafeNEQ
        return node(this=left, expression=right), BOOL
    if op in _REL:
        left, right = _align(left, lt, right, rt)
        test: exp.Expression = _REL[op](this=left, expression=right)
        if lt.maybe_null or rt.maybe_null:  # C#'s lifted comparisons are false, never null
            test = exp.Coalesce(this=test, expressions=[exp.false()])
        return test, BOOL
    if op == "+" and (lt.is_text or rt.is_text):
        parts = []
        for x, t in ((left, lt), (right, rt)):
            if t.name == "array":
                raise b.err("+", e.line, "cannot concatenate an array to a string")
            parts.append(exp.Coalesce(this=to_cs_string(x, t), expressions=[lit_str("")]))
        return exp.DPipe(this=parts[0], expression=parts[1], safe=True), STRING
    if not (lt.is_numeric or lt.name == "null") or not (rt.is_numeric or rt.name == "null"):
        raise b.err(op, e.line, f"operator {op} needs numbers (or strings for +), not {lt} and {rt}")
    t = widen(lt, rt)
    if op == "/":
        if t.is_integral:  # C# integer division truncates toward zero
            return exp.IntDiv(this=_paren(left), expression=_paren(right)), t
        return exp.Div(this=_paren(cast(left, t)), expression=_paren(right)), t
    return _ARITH[op](this=_paren(left), expression=_paren(right)), t


def _paren(x: exp.Expression) -> exp.Expression:
    return x if isinstance(x, (exp.Column, exp.Literal, exp.Paren, exp.Func, exp.Cast)) else exp.Paren(this=x)


def _align(left: exp.Expression, lt: UType, right: exp.Expression, rt: UType):
    """Compare a char with a string, or mixed numbers, without the engine's implicit casts."""
    if lt.is_numeric and rt.is_numeric and lt.name != rt.name:
        t = widen(lt, rt)
        return (left if lt.name == t.name else cast(left, t)), (
            right if rt.name == t.name else cast(right, t)
        )
    return left, right
