"""Binds C# expressions to typed sqlglot expressions with C# semantics (null equality, 0-based Substring).

Dialect-specific pieces are `__usql_*` marker functions that `lower.py` replaces per dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.errors import UsqlError, unsupported
from airflow_mlpipe.usql.utypes import (
    BOOL,
    DATETIME,
    INT,
    LONG,
    NULL,
    STRING,
    UType,
    from_ref,
    unify,
)

Bound = tuple[exp.Expression, UType]
AGGREGATES = {"COUNT", "SUM", "AVG", "MIN", "MAX", "ANY_VALUE", "FIRST_VALUE", "LAST_VALUE", "COUNT_BIG"}
_CODE = (
    "user functions and code-behind are not supported: use the built-in C# methods listed in "
    "docs/adla.md, or compute the value in a PythonScriptStep"
)


def marker(name: str, *args: exp.Expression) -> exp.Expression:
    """A dialect-specific function, replaced by lower.py (e.g. __usql_parse_datetime)."""
    return exp.Anonymous(this=f"__usql_{name}", expressions=list(args))


def lit_str(s: str) -> exp.Expression:
    return exp.Literal.string(s)


def num(n: int | float) -> exp.Expression:
    return exp.Literal.number(n)


def cast(e: exp.Expression, t: UType) -> exp.Expression:
    return exp.Cast(this=e, to=t.sql_type())


def qcol(alias: str, name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(alias, quoted=True))


@dataclass
class Rel:
    """One relation in a SELECT's FROM: its SQL alias and its columns."""

    alias: str  # the SQL alias
    user_alias: str | None  # the alias as the script wrote it (None for an un-aliased @rowset)
    columns: dict[str, UType]


@dataclass
class Scope:
    rels: list[Rel] = field(default_factory=list)
    outputs: dict[str, Bound] = field(default_factory=dict)  # SELECT aliases (ORDER BY / HAVING)
    allow_aggregates: bool = False


def to_cs_string(e: exp.Expression, t: UType) -> exp.Expression:
    """C#'s ToString() of a value (double 2.0 -> "2", true -> "True", DateTime in en-US "G" format)."""
    if t.is_text or t.name == "null":
        return e
    if t.name == "bool":
        return exp.Case(
            ifs=[exp.If(this=e, true=lit_str("True")), exp.If(this=exp.Not(this=e), true=lit_str("False"))]
        )
    if t.name in ("double", "float"):
        whole = exp.and_(
            exp.EQ(this=e, expression=exp.Floor(this=e)), exp.LT(this=exp.Abs(this=e), expression=num(1e15))
        )
        return exp.Case(ifs=[exp.If(this=whole, true=cast(cast(e, LONG), STRING))], default=cast(e, STRING))
    if t.name == "decimal":  # C# keeps the scale it computed; trailing zeros are dropped here
        s = cast(e, STRING)
        trimmed = exp.Trim(
            this=exp.Trim(this=s, expression=lit_str("0"), position="TRAILING"),
            expression=lit_str("."),
            position="TRAILING",
        )
        return exp.Case(
            ifs=[exp.If(this=exp.Like(this=s, expression=lit_str("%.%")), true=trimmed)], default=s
        )
    if t.name == "DateTime":
        return marker("format_datetime", e, lit_str("G"))
    if t.name == "array":
        raise ValueError("array")
    return cast(e, STRING)


class ExprBinder:
    """Turns ir expressions into typed sqlglot expressions against a Scope."""

    def __init__(self, script: str, scalars: dict[str, Bound]):
        self.script = script
        self.scalars = scalars

    def err(self, construct: str, line: int, message: str) -> UsqlError:
        return UsqlError(construct, line, message, script=self.script)

    def refuse(self, construct: str, line: int, instead: str = _CODE) -> UsqlError:
        return unsupported(construct, line, instead, script=self.script)

    # ---- names ----

    def _column(self, parts: list[str], line: int, scope: Scope) -> tuple[Bound, list[str]] | None:
        """Resolve the longest column prefix of a dotted name; returns it and the member names left."""
        if len(parts) >= 2:
            for rel in scope.rels:
                if rel.user_alias == parts[0] and parts[1] in rel.columns:
                    return (qcol(rel.alias, parts[1]), rel.columns[parts[1]]), parts[2:]
        name = parts[0]
        hits = [rel for rel in scope.rels if name in rel.columns]
        if len(hits) > 1:
            raise self.err(
                f"column {name}",
                line,
                f"column {name} is ambiguous: it is in "
                + " and ".join(r.user_alias or r.alias for r in hits)
                + "; qualify it as alias."
                + name,
            )
        if hits:
            return (qcol(hits[0].alias, name), hits[0].columns[name]), parts[1:]
        if name in scope.outputs:
            return scope.outputs[name], parts[1:]
        return None

    def name(self, e: ir.Name, scope: Scope) -> Bound:
        found = self._column(e.parts, e.line, scope)
        if found:
            bound, rest = found
            for member in rest:
                bound = self.member(bound, member, e.line)
            return bound
        dotted = ".".join(e.parts)
        static = {
            "DateTime.Now": (exp.CurrentTimestamp(), DATETIME),
            "DateTime.UtcNow": (marker("utc_now"), DATETIME),
            "DateTime.Today": (cast(exp.CurrentDate(), DATETIME), DATETIME),
            "string.Empty": (lit_str(""), STRING),
            "String.Empty": (lit_str(""), STRING),
            "int.MaxValue": (num(2**31 - 1), INT),
            "int.MinValue": (num(-(2**31)), INT),
        }
        if dotted in static:
            return static[dotted]
        if len(e.parts) >= 2 and any(r.user_alias == e.parts[0] for r in scope.rels):
            rel = next(r for r in scope.rels if r.user_alias == e.parts[0])
            raise self.err(
                f"column {e.parts[1]}",
                e.line,
                f"{e.parts[0]} has no column {e.parts[1]} "
                f"(its columns: {', '.join(rel.columns)})" + _case_hint(e.parts[1], rel.columns),
            )
        known = [c for r in scope.rels for c in r.columns]
        raise self.err(
            f"column {e.parts[0]}",
            e.line,
            f"unknown column or name {dotted}"
            + _case_hint(e.parts[0], known)
            + (f" (columns in scope: {', '.join(known)})" if known else ""),
        )

    def member(self, target: Bound, name: str, line: int) -> Bound:
        e, t = target
        if name == "Length" and t.is_text:
            return exp.Length(this=e), INT.with_null(True)
        if name == "Length" and t.name == "array":
            return exp.ArraySize(this=e), INT.with_null(True)
        if name in ("Year", "Month", "Day", "Hour", "Minute", "Second", "DayOfYear") and t.name == "DateTime":
            part = {"DayOfYear": "doy"}.get(name, name.lower())
            return exp.Extract(this=exp.var(part.upper()), expression=e), INT.with_null(t.nullable)
        if name == "Date" and t.name == "DateTime":
            return cast(exp.cast(e, "date"), DATETIME), t
        if name == "HasValue":
            return exp.Not(this=exp.Is(this=e, expression=exp.Null())), BOOL
        if name == "Value":
            return e, t.with_null(False)
        raise self.refuse(f"member {name} of {t}", line)

    # ---- expressions ----

    def bind(self, e: ir.Expr, scope: Scope) -> Bound:
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise self.refuse(type(e).__name__, e.line, "")
        return method(e, scope)

    def _lit(self, e: ir.Lit, scope: Scope) -> Bound:
        k = e.kind
        if k in ("string", "char"):
            return lit_str(str(e.value)), UType(k)
        if k == "null":
            return exp.Null(), NULL
        if k == "bool":
            return exp.Boolean(this=bool(e.value)), BOOL
        if k in ("int", "long"):
            return num(int(e.value)), UType(k)  # type: ignore[arg-type]
        t = UType(k)
        return cast(exp.Literal.number(str(e.value)), t), t

    def _name(self, e: ir.Name, scope: Scope) -> Bound:
        return self.name(e, scope)

    def _var(self, e: ir.Var, scope: Scope) -> Bound:
        if e.name.startswith("@@"):
            raise self.refuse(f"system variable {e.name}", e.line, "remove it; the engine has no job options")
        if e.name not in self.scalars:
            raise self.err(
                f"variable {e.name}",
                e.line,
                f"{e.name} is not a DECLAREd scalar variable here (a @rowset can only follow FROM or JOIN)",
            )
        return self.scalars[e.name][0].copy(), self.scalars[e.name][1]

    def _star(self, e: ir.Star, scope: Scope) -> Bound:
        raise self.err("*", e.line, "* is allowed only as a SELECT item or in COUNT(*)")

    def _member(self, e: ir.Member, scope: Scope) -> Bound:
        return self.member(self.bind(e.target, scope), e.name, e.line)

    def _index(self, e: ir.Index, scope: Scope) -> Bound:
        target, t = self.bind(e.target, scope)
        idx, it = self.bind(e.index, scope)
        if t.name == "array":
            return marker("index0", target, idx), (t.element or STRING).with_null()
        if t.is_text:
            return exp.Substring(
                this=target, start=exp.Add(this=idx, expression=num(1)), length=num(1)
            ), UType("char")
        raise self.err("[]", e.line, f"cannot index a value of type {t}")

    def _unary(self, e: ir.Unary, scope: Scope) -> Bound:
        x, t = self.bind(e.operand, scope)
        if e.op == "!":
            return exp.Not(this=exp.Paren(this=x)), BOOL
        return exp.Neg(this=exp.Paren(this=x)), t

    def _isnull(self, e: ir.IsNull, scope: Scope) -> Bound:
        x, _ = self.bind(e.operand, scope)
        test: exp.Expression = exp.Is(this=x, expression=exp.Null())
        return (exp.Not(this=test) if e.negated else test), BOOL

    def _inlist(self, e: ir.InList, scope: Scope) -> Bound:
        x, _ = self.bind(e.operand, scope)
        test: exp.Expression = exp.In(this=x, expressions=[self.bind(i, scope)[0] for i in e.items])
        test = exp.Coalesce(this=test, expressions=[exp.false()])
        return (exp.Not(this=test) if e.negated else test), BOOL

    def _between(self, e: ir.Between, scope: Scope) -> Bound:
        x, _ = self.bind(e.operand, scope)
        test: exp.Expression = exp.Between(
            this=x, low=self.bind(e.low, scope)[0], high=self.bind(e.high, scope)[0]
        )
        test = exp.Coalesce(this=test, expressions=[exp.false()])
        return (exp.Not(this=test) if e.negated else test), BOOL

    def _cond(self, e: ir.Cond, scope: Scope) -> Bound:
        test, _ = self.bind(e.test, scope)
        a, ta = self.bind(e.then, scope)
        b, tb = self.bind(e.other, scope)
        t = unify(ta, tb)
        if ta.name != tb.name and "null" not in (ta.name, tb.name):
            a, b = cast(a, t), cast(b, t)
        return exp.Case(ifs=[exp.If(this=test, true=a)], default=b), t

    def _caste(self, e: ir.CastE, scope: Scope) -> Bound:
        x, t = self.bind(e.operand, scope)
        to = from_ref(e.type.name, e.type.nullable)
        if to.name == "array":
            raise self.refuse("a cast to SQL.ARRAY", e.line, "build it with new SQL.ARRAY<T>(...)")
        if t.name == "null":
            return cast(exp.Null(), to), to.with_null()
        if to.is_integral and t.name in ("double", "float", "decimal"):
            return cast(exp.Trunc(this=x), to), to.with_null(t.nullable or to.nullable)
        if to.is_text and not t.is_text:
            raise self.err(f"({to.name})", e.line, f"C# cannot cast {t} to {to.name}; use .ToString()")
        return cast(x, to), to.with_null(t.nullable or to.nullable)

    def _newarray(self, e: ir.NewArray, scope: Scope) -> Bound:
        elem = from_ref(e.element.name) if e.element else STRING
        if e.source is not None:
            src, st = self.bind(e.source, scope)
            if st.name != "array":
                raise self.err(
                    "SQL.ARRAY",
                    e.line,
                    f"new SQL.ARRAY<{elem}>(...) needs an array such as x.Split(','), not a {st}",
                )
            return src, UType("array", True, elem)
        return exp.Array(expressions=[self.bind(i, scope)[0] for i in e.items]), UType("array", True, elem)

    def _binary(self, e: ir.Binary, scope: Scope) -> Bound:
        from airflow_mlpipe.usql.operators import bind_binary

        return bind_binary(self, e, scope)

    def _call(self, e: ir.Call, scope: Scope) -> Bound:
        from airflow_mlpipe.usql.functions import bind_call

        return bind_call(self, e, scope)


def _case_hint(name: str, names) -> str:
    same = [n for n in names if n.lower() == name.lower() and n != name]
    return f"; U-SQL names are case-sensitive: did you mean {same[0]}?" if same else ""
