"""C# methods and static functions the engine knows (string methods, Parse, Convert, Math, aggregates).

Anything else is a user function or code-behind, refused with the construct and line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from airflow_mlpipe.usql import ir
from airflow_mlpipe.usql.exprbind import AGGREGATES, Bound, Scope, cast, lit_str, marker, num, to_cs_string
from airflow_mlpipe.usql.utypes import BOOL, DATETIME, DOUBLE, INT, LONG, STRING, UType, from_ref, widen

if TYPE_CHECKING:
    from airflow_mlpipe.usql.exprbind import ExprBinder

_PARSE = {
    "int": "int",
    "Int32": "int",
    "long": "long",
    "Int64": "long",
    "short": "short",
    "Int16": "short",
    "double": "double",
    "Double": "double",
    "float": "float",
    "Single": "float",
    "decimal": "decimal",
    "Decimal": "decimal",
    "bool": "bool",
    "Boolean": "bool",
    "DateTime": "DateTime",
}
_CONVERT = {
    "ToInt32": "int",
    "ToInt64": "long",
    "ToInt16": "short",
    "ToDouble": "double",
    "ToSingle": "float",
    "ToDecimal": "decimal",
    "ToBoolean": "bool",
    "ToDateTime": "DateTime",
    "ToString": "string",
}


def bind_call(b: ExprBinder, e: ir.Call, scope: Scope) -> Bound:
    func = e.func
    if isinstance(func, ir.Name) and len(func.parts) == 1 and func.parts[0].upper() in AGGREGATES:
        return _aggregate(b, func.parts[0].upper(), e, scope)
    if isinstance(func, ir.Name) and func.parts[0] == "new":
        return _constructor(b, func.parts[1], e, scope)
    if isinstance(func, ir.Member):
        return _method(b, b.bind(func.target, scope), func.name, e, scope)
    assert isinstance(func, ir.Name)
    if len(func.parts) >= 2:
        found = b._column(func.parts[:-1], e.line, scope)
        if found is not None:
            bound, rest = found
            for m in rest:
                bound = b.member(bound, m, e.line)
            return _method(b, bound, func.parts[-1], e, scope)
        if len(func.parts) == 2:
            return _static(b, func.parts[0], func.parts[1], e, scope)
    raise b.refuse(f"function {'.'.join(func.parts)}", e.line)


def _args(b: ExprBinder, e: ir.Call, scope: Scope, count: tuple[int, ...], what: str) -> list[Bound]:
    if len(e.args) not in count:
        raise b.err(
            what, e.line, f"{what} takes {' or '.join(map(str, count))} argument(s), not {len(e.args)}"
        )
    return [b.bind(a, scope) for a in e.args]


def _aggregate(b: ExprBinder, name: str, e: ir.Call, scope: Scope) -> Bound:
    if not scope.allow_aggregates:
        raise b.err(name, e.line, f"{name} is an aggregate: use it in a SELECT list or HAVING, not here")
    if name in ("COUNT", "COUNT_BIG") and len(e.args) == 1 and isinstance(e.args[0], ir.Star):
        return exp.Count(this=exp.Star()), LONG
    inner = Scope(scope.rels, scope.outputs, allow_aggregates=False)
    ((x, t),) = _args(b, e, inner, (1,), name)
    if e.distinct:
        x = exp.Distinct(expressions=[x])
    if name in ("COUNT", "COUNT_BIG"):
        return exp.Count(this=x), LONG
    if name == "SUM":
        return exp.Sum(this=x), (LONG if t.is_integral else t).with_null()
    if name == "AVG":
        return exp.Avg(this=x), (t if t.name == "decimal" else DOUBLE).with_null()
    if name == "MIN":
        return exp.Min(this=x), t.with_null()
    if name == "MAX":
        return exp.Max(this=x), t.with_null()
    if name in ("ANY_VALUE", "FIRST_VALUE", "LAST_VALUE"):
        if name != "ANY_VALUE":
            raise b.refuse(f"{name} (a window function)", e.line, "use ANY_VALUE, MIN or MAX")
        return exp.AnyValue(this=x), t.with_null()
    raise b.refuse(name, e.line)


def _constructor(b: ExprBinder, type_name: str, e: ir.Call, scope: Scope) -> Bound:
    if type_name == "DateTime":
        args = _args(b, e, scope, (3, 6), "new DateTime")
        parts = [a for a, _ in args] + [num(0)] * (6 - len(args))
        return marker("make_datetime", *parts), DATETIME
    raise b.refuse(f"new {type_name}(...)", e.line)


def _static(b: ExprBinder, owner: str, name: str, e: ir.Call, scope: Scope) -> Bound:
    if name in ("Parse", "TryParse") and owner in _PARSE:
        if name == "TryParse":
            raise b.refuse(f"{owner}.TryParse", e.line, "use the extractor's silent: true, or a ?: test")
        ((x, t),) = _args(b, e, scope, (1,), f"{owner}.Parse")
        return _convert_string(x, from_ref(_PARSE[owner]))
    if owner == "Convert" and name in _CONVERT:
        ((x, t),) = _args(b, e, scope, (1,), f"Convert.{name}")
        to = from_ref(_CONVERT[name])
        if to.is_text:
            return to_cs_string(x, t), STRING
        if t.is_text:
            return _convert_string(x, to)
        if to.is_integral and t.name in ("double", "float", "decimal"):  # Convert rounds half to even
            return cast(marker("round_even", x, num(0)), to), to.with_null(t.nullable)
        return cast(x, to), to.with_null(t.nullable)
    if owner in ("string", "String"):
        if name in ("IsNullOrEmpty", "IsNullOrWhiteSpace"):
            ((x, _),) = _args(b, e, scope, (1,), f"string.{name}")
            inner = exp.Trim(this=x) if name == "IsNullOrWhiteSpace" else x
            return exp.Coalesce(
                this=exp.EQ(this=inner, expression=lit_str("")), expressions=[exp.true()]
            ), BOOL
        if name == "Concat":
            args = [b.bind(a, scope) for a in e.args]
            out: exp.Expression = lit_str("")
            for x, t in args:
                out = exp.DPipe(
                    this=out,
                    expression=exp.Coalesce(this=to_cs_string(x, t), expressions=[lit_str("")]),
                    safe=True,
                )
            return out, STRING
    if owner == "Math":
        return _math(b, name, e, scope)
    raise b.refuse(f"function {owner}.{name}", e.line)


def _math(b: ExprBinder, name: str, e: ir.Call, scope: Scope) -> Bound:
    if name in ("Abs", "Floor", "Ceiling", "Sqrt"):
        ((x, t),) = _args(b, e, scope, (1,), f"Math.{name}")
        node = {"Abs": exp.Abs, "Floor": exp.Floor, "Ceiling": exp.Ceil, "Sqrt": exp.Sqrt}[name](this=x)
        return node, (t if name == "Abs" else (t if t.name == "decimal" else DOUBLE)).with_null(t.nullable)
    if name == "Round":  # C#'s Math.Round rounds half to even
        args = _args(b, e, scope, (1, 2), "Math.Round")
        x, t = args[0]
        digits = args[1][0] if len(args) == 2 else num(0)
        return marker("round_even", x, digits), t
    if name in ("Max", "Min", "Pow"):
        (x, t), (y, u) = _args(b, e, scope, (2,), f"Math.{name}")
        if name == "Pow":
            return exp.Pow(this=x, expression=y), DOUBLE
        node = exp.Greatest if name == "Max" else exp.Least
        return node(this=x, expressions=[y]), widen(t, u)
    raise b.refuse(f"function Math.{name}", e.line)


def _convert_string(x: exp.Expression, to: UType) -> Bound:
    """int.Parse / DateTime.Parse / Convert.ToX(string): a failed parse is an error, as in C#."""
    if to.name == "DateTime":
        return marker("parse_datetime", x, exp.false()), DATETIME
    if to.name == "bool":
        low = exp.Lower(this=exp.Trim(this=x))
        return exp.Case(
            ifs=[
                exp.If(this=exp.EQ(this=low, expression=lit_str("true")), true=exp.true()),
                exp.If(this=exp.EQ(this=low, expression=lit_str("false")), true=exp.false()),
            ],
            default=marker("error", lit_str("bool.Parse: the string is not True or False")),
        ), BOOL
    return cast(exp.Trim(this=x), to), to


def _method(b: ExprBinder, target: Bound, name: str, e: ir.Call, scope: Scope) -> Bound:
    x, t = target
    if name == "ToString":
        if e.args:
            ((fmt, ft),) = _args(b, e, scope, (1,), "ToString")
            if t.name != "DateTime" or not isinstance(fmt, exp.Literal):
                raise b.refuse(
                    "ToString(format)", e.line, 'only DateTime.ToString("literal format") is supported'
                )
            return marker("format_datetime", x, fmt), STRING
        if t.name == "array":
            raise b.err("ToString", e.line, "an array has no useful ToString(); EXPLODE it instead")
        return to_cs_string(x, t), STRING
    if name in ("Equals",):
        ((y, _),) = _args(b, e, scope, (1,), name)
        return exp.NullSafeEQ(this=x, expression=y), BOOL
    if name == "GetValueOrDefault":
        _args(b, e, scope, (0,), name)
        zero = lit_str("") if t.is_text else (exp.false() if t.name == "bool" else num(0))
        return exp.Coalesce(this=x, expressions=[zero]), t.with_null(False)
    if not t.is_text:
        if t.name == "DateTime" and name in (
            "AddDays",
            "AddHours",
            "AddMinutes",
            "AddSeconds",
            "AddMonths",
            "AddYears",
        ):
            ((n, _),) = _args(b, e, scope, (1,), name)
            unit = name[3:-1].upper()
            return marker("add_interval", x, n, lit_str(unit)), t
        raise b.refuse(f"method {name} on a {t} value", e.line)
    if name in ("ToUpper", "ToUpperInvariant", "ToLower", "ToLowerInvariant", "Trim", "TrimStart", "TrimEnd"):
        _args(b, e, scope, (0,), name)
        node = {
            "ToUpper": exp.Upper,
            "ToUpperInvariant": exp.Upper,
            "ToLower": exp.Lower,
            "ToLowerInvariant": exp.Lower,
        }.get(name)
        if node is not None:
            return node(this=x), STRING
        position = {"TrimStart": "LEADING", "TrimEnd": "TRAILING"}.get(name)
        return (exp.Trim(this=x, position=position) if position else exp.Trim(this=x)), STRING
    if name == "Substring":  # C# is 0-based, SQL 1-based
        args = _args(b, e, scope, (1, 2), "Substring")
        start = exp.Add(this=args[0][0], expression=num(1))
        length = args[1][0] if len(args) == 2 else None
        return exp.Substring(this=x, start=start, length=length), STRING
    if name in ("Contains", "StartsWith", "EndsWith", "IndexOf"):
        ((y, _),) = _args(b, e, scope, (1,), name)
        if name == "IndexOf":
            return exp.Sub(this=exp.StrPosition(this=x, substr=y), expression=num(1)), INT.with_null(True)
        if name == "Contains":
            return exp.GT(this=exp.StrPosition(this=x, substr=y), expression=num(0)), BOOL
        if name == "StartsWith":
            return exp.StartsWith(this=x, expression=y), BOOL
        return marker("ends_with", x, y), BOOL
    if name == "Replace":
        (old, _), (new, _) = _args(b, e, scope, (2,), "Replace")
        return exp.func("REPLACE", x, old, new), STRING
    if name == "Split":
        return _split(b, x, e, scope)
    raise b.refuse(f"method {name}", e.line)


def _split(b: ExprBinder, x: exp.Expression, e: ir.Call, scope: Scope) -> Bound:
    if len(e.args) != 1:
        raise b.refuse("Split with options", e.line, "use Split(',') with one separator")
    arg = e.args[0]
    if isinstance(arg, ir.NewArray):
        if len(arg.items) != 1:
            raise b.refuse("Split on several separators", e.line, "use one separator, or Replace() first")
        arg = arg.items[0]
    if not (isinstance(arg, ir.Lit) and arg.kind in ("string", "char")):
        sep, _ = b.bind(arg, scope)
    else:
        sep = lit_str(str(arg.value))
    return marker("split", x, sep), UType("array", True, STRING)
