"""Trigger-time expressions in a schedule's pipeline parameters, parsed (never eval'd) and evaluated.

A parameter value that starts with "@" is one expression ("@formatDateTime(addDays(utcNow(),-1),
'yyyy-MM-dd')" -> "2026-01-30"); text holding "@{...}" is interpolated ("day_@{dayOfMonth(
utcNow())}"); "@@" stands for a literal "@". This is Data Factory's expression language, with the
values of a schedule run: ``trigger().scheduledTime`` (the slot the run is for),
``trigger().startTime`` (when it started; also ``utcNow()``) and ``runId()``. Timestamps are
ISO 8601 strings with 7 fraction digits and "Z", as v1 rendered them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_mlpipe.definitions.schedule_datefuncs import DATE_FUNCTIONS, UNITS, format_timestamp
from airflow_mlpipe.definitions.schedule_funcs import OTHER_FUNCTIONS, ArgError, Fn, to_text
from airflow_mlpipe.definitions.timezones import iana_zone
from airflow_mlpipe.exceptions import UserErrorException

__all__ = [
    "FUNCTIONS",
    "ScheduleExpressionError",
    "TriggerContext",
    "check_expression",
    "evaluate",
    "evaluate_parameters",
    "is_expression",
]


@dataclass(frozen=True)
class TriggerContext:
    """What a schedule run knows when its parameters are evaluated (aware datetimes)."""

    scheduled_time: datetime
    start_time: datetime
    run_id: str

    def __post_init__(self) -> None:
        for name in ("scheduled_time", "start_time"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise UserErrorException(
                    f"TriggerContext.{name} must be a timezone-aware datetime (got {value!r}); "
                    "pass e.g. datetime(2026, 1, 31, 9, tzinfo=timezone.utc)"
                )

    def trigger(self) -> dict[str, str]:
        return {
            "scheduledTime": format_timestamp(self.scheduled_time.astimezone(timezone.utc)),
            "startTime": format_timestamp(self.start_time.astimezone(timezone.utc)),
        }


FUNCTIONS: dict[str, Fn] = {
    f.name.lower(): f
    for f in [
        *DATE_FUNCTIONS,
        *OTHER_FUNCTIONS,
        Fn("trigger", lambda ctx: ctx.trigger(), 0, 0, needs_context=True),
        Fn("runId", lambda ctx: ctx.run_id, 0, 0, needs_context=True),
    ]
}
_TRIGGER_PROPERTIES = ("scheduledTime", "startTime")
# Data Factory names that have no meaning for a schedule run, and what to write instead
_INSTEAD = "use trigger().scheduledTime, trigger().startTime, utcNow() or runId()"
_CONTEXT_ONLY = {  # Data Factory values a schedule run does not have
    n.lower(): n
    for n in "pipeline activity variables item dataset linkedService triggerBody triggerOutputs body outputs "
    "parameters iterationIndexes".split()
}
_NOT_IMPLEMENTED = {  # Data Factory functions on XML, binary and sets, left out here
    n.lower(): n
    for n in "xml xpath binary dataUri dataUriToBinary dataUriToString base64ToBinary uriComponentToBinary "
    "decodeDataUri array intersection union".split()
}


class ScheduleExpressionError(UserErrorException):
    """An expression in a schedule's pipeline parameters is invalid or failed to evaluate."""

    def __init__(self, where: str, text: str, position: int, message: str):
        self.where, self.text, self.position, self.message = where, text, position, message
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{message} at position {position + 1} of {text!r}")


# ---- parsing ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>'(?:[^']|'')*')"
    r"|(?P<punct>\?\.|\?\[|[(),.\[\]}])|(?P<bad>\S))"
)


@dataclass(frozen=True)
class Node:
    """One expression node: a literal, a call, a property access or an index, at a position."""

    kind: str  # "lit" | "call" | "prop" | "index"
    pos: int
    value: Any = None  # the literal, the function / property name
    args: tuple[Node, ...] = ()  # call arguments; (base,) for prop; (base, index) for index
    optional: bool = False  # "?." / "?[": None instead of an error when missing


class _Parser:
    def __init__(self, text: str, start: int, where: str):
        self.text, self.pos, self.where = text, start, where

    def fail(self, pos: int, message: str) -> ScheduleExpressionError:
        return ScheduleExpressionError(self.where, self.text, pos, message)

    def peek(self) -> tuple[str, str, int]:
        m = _TOKEN.match(self.text, self.pos)
        if not m or m.lastgroup is None:
            return "end", "", len(self.text)
        return m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)

    def take(self) -> tuple[str, str, int]:
        kind, tok, pos = self.peek()
        if kind != "end":
            self.pos = pos + len(tok)
        return kind, tok, pos

    def expect(self, tok: str, what: str) -> None:
        kind, got, pos = self.take()
        if got != tok or kind == "str":
            found = "the end" if kind == "end" else repr(got)
            raise self.fail(pos, f"expected {tok!r} {what}, found {found}")

    def expression(self) -> Node:
        node = self.primary()
        while True:
            kind, tok, pos = self.peek()
            if tok in (".", "?."):
                self.take()
                nkind, name, npos = self.take()
                if nkind != "name":
                    raise self.fail(npos, f"expected a property name after {tok!r}")
                if node.kind == "call" and node.value.lower() == "trigger":
                    if name.lower() not in [p.lower() for p in _TRIGGER_PROPERTIES]:
                        raise self.fail(
                            npos,
                            f"trigger() has no property {name!r}; it has {', '.join(_TRIGGER_PROPERTIES)}",
                        )
                node = Node("prop", pos, name, (node,), optional=tok == "?.")
            elif tok in ("[", "?["):
                self.take()
                index = self.expression()
                self.expect("]", "to close the index")
                node = Node("index", pos, None, (node, index), optional=tok == "?[")
            else:
                return node

    def primary(self) -> Node:
        kind, tok, pos = self.take()
        if kind == "num":
            return Node("lit", pos, float(tok) if any(c in tok for c in ".eE") else int(tok))
        if kind == "str":
            return Node("lit", pos, tok[1:-1].replace("''", "'"))
        if kind == "name":
            if self.peek()[1] != "(":
                literals = {"true": True, "false": False, "null": None}
                if tok.lower() in literals:
                    return Node("lit", pos, literals[tok.lower()])
                raise self.fail(pos, f"{tok!r} is not a value; quote text as '{tok}' or call a function")
            return self.call(tok, pos)
        if kind == "end":
            raise self.fail(pos, "the expression ends where a value is expected")
        if tok == "'":
            raise self.fail(pos, "this string is not closed; write a quote inside a string as ''")
        raise self.fail(pos, f"unexpected {tok!r} where a value is expected")

    def call(self, name: str, pos: int) -> Node:
        self.expect("(", "after the function name")
        args: list[Node] = []
        if self.peek()[1] == ")":
            self.take()
        else:
            while True:
                args.append(self.expression())
                kind, tok, tpos = self.take()
                if tok == ")" and kind == "punct":
                    break
                if tok != "," or kind != "punct":
                    found = "the end" if kind == "end" else repr(tok)
                    raise self.fail(tpos, f"expected ',' or ')' in the arguments of {name}(), found {found}")
        node = Node("call", pos, name, tuple(args))
        _check_call(node, self.fail)
        return node


def _check_call(node: Node, fail: Any) -> None:
    """Names, argument counts and literal formats, zones and units: what can be known before a run."""
    key = node.value.lower()
    if key in _CONTEXT_ONLY:
        raise fail(
            node.pos,
            f"{_CONTEXT_ONLY[key]}() is Data Factory's; a schedule run has no such value: {_INSTEAD}",
        )
    if key in _NOT_IMPLEMENTED:
        raise fail(
            node.pos,
            f"{_NOT_IMPLEMENTED[key]}() is not available in schedule parameters; compute the value in the "
            "pipeline's first step, or pass it as text",
        )
    fn = FUNCTIONS.get(key)
    if fn is None:
        names = ", ".join(sorted(f.name for f in FUNCTIONS.values()))
        raise fail(node.pos, f"unknown function {node.value!r}; the functions are: {names}")
    n = len(node.args)
    if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
        most = "or more" if fn.max_args is None else f"to {fn.max_args}" if fn.max_args != fn.min_args else ""
        count = f"{fn.min_args} {most}".strip()
        raise fail(node.pos, f"{fn.name}() takes {count} argument(s), got {n}")
    for index, check in fn.checks:
        arg = node.args[index] if index < n else None
        if arg is None or arg.kind != "lit":
            continue
        try:
            if check == "format":
                format_timestamp(datetime(2000, 1, 1), arg.value, index)
            elif check == "zone":
                iana_zone(arg.value)
            elif check == "unit" and str(arg.value).lower() not in [u.lower() for u in UNITS]:
                raise ArgError(f"expects a time unit, one of {', '.join(UNITS)}; got {arg.value!r}", index)
        except (ArgError, UserErrorException) as e:
            raise fail(arg.pos, f"{fn.name}() argument {index + 1}: {e}") from e


def _parse(value: str, where: str) -> list[str | Node]:
    """The parts of a parameter value: literal text and expression nodes."""
    if value.startswith("@@"):
        return [value[1:]]
    if value.startswith("@") and not value.startswith("@{"):
        p = _Parser(value, 1, where)
        node = p.expression()
        kind, tok, pos = p.take()
        if kind != "end":
            raise p.fail(pos, f"unexpected {tok!r} after the end of the expression")
        return [node]
    parts: list[str | Node] = []
    text, i = [], 0
    while i < len(value):
        if value.startswith("@@{", i):
            text.append("@{")
            i += 3
        elif value.startswith("@{", i):
            p = _Parser(value, i + 2, where)
            node = p.expression()
            p.expect("}", "to close '@{'")
            parts += ["".join(text), node]
            text, i = [], p.pos
        else:
            text.append(value[i])
            i += 1
    return [*parts, "".join(text)]


def is_expression(value: Any) -> bool:
    """True for a string that evaluation would change ("@...", text with "@{...}", an "@@" escape)."""
    return isinstance(value, str) and (value.startswith("@") or "@{" in value)


def check_expression(value: Any, where: str) -> None:
    """Raise a ScheduleExpressionError naming ``where`` if ``value`` is not a valid expression.

    Checks syntax, function names, argument counts, and literal formats, time zones and units;
    what depends on the run's values (a timestamp computed at run time) is checked when it runs.
    """
    if is_expression(value):
        _parse(value, where)


# ---- evaluation ------------------------------------------------------------------------------------


def _property(base: Any, node: Node, fail: Any) -> Any:
    if isinstance(base, dict):
        for key, v in base.items():
            if key.lower() == node.value.lower():
                return v
        if node.optional:
            return None
        raise fail(node.pos, f"no property {node.value!r}; there are: {', '.join(base)}")
    if base is None and node.optional:
        return None
    raise fail(node.pos, f"cannot read property {node.value!r} of {base!r}")


def _index(base: Any, index: Any, node: Node, fail: Any) -> Any:
    if isinstance(base, dict) and isinstance(index, str):
        return _property(base, Node("prop", node.pos, index, optional=node.optional), fail)
    if isinstance(base, (list, str)) and isinstance(index, int) and not isinstance(index, bool):
        if -len(base) <= index < len(base):
            return base[index]
    if node.optional:
        return None
    raise fail(node.pos, f"cannot index {base!r} with {index!r}")


def _eval(node: Node, ctx: TriggerContext, fail: Any) -> Any:
    if node.kind == "lit":
        return node.value
    if node.kind == "prop":
        return _property(_eval(node.args[0], ctx, fail), node, fail)
    if node.kind == "index":
        return _index(_eval(node.args[0], ctx, fail), _eval(node.args[1], ctx, fail), node, fail)
    fn = FUNCTIONS[node.value.lower()]
    if fn.name == "if":  # only the branch taken is evaluated
        cond = _eval(node.args[0], ctx, fail)
        if not isinstance(cond, bool):
            raise fail(node.args[0].pos, f"if() argument 1: expects true or false, got {cond!r}")
        return _eval(node.args[1 if cond else 2], ctx, fail)
    args = [_eval(a, ctx, fail) for a in node.args]
    try:
        return fn.impl(ctx, *args) if fn.needs_context else fn.impl(*args)
    except ArgError as e:
        at = node.args[e.arg] if e.arg is not None and e.arg < len(node.args) else node
        label = f"{fn.name}() argument {e.arg + 1}" if e.arg is not None else f"{fn.name}()"
        raise fail(at.pos, f"{label}: {e}") from e


def evaluate(value: Any, context: TriggerContext, where: str = "") -> Any:
    """The value of a parameter for one schedule run (a non-expression is returned as it is).

    A whole-value expression keeps its type (addDays(...) is a string, dayOfMonth(...) a number);
    interpolated text is always a string.
    """
    if not is_expression(value):
        return value
    parts = _parse(value, where)

    def fail(pos: int, message: str) -> ScheduleExpressionError:
        return ScheduleExpressionError(where, value, pos, message)

    if len(parts) == 1:
        only = parts[0]
        return only if isinstance(only, str) else _eval(only, context, fail)
    return "".join(p if isinstance(p, str) else to_text(_eval(p, context, fail)) for p in parts)


def evaluate_parameters(params: dict[str, Any], context: TriggerContext, where: str = "") -> dict[str, Any]:
    """Every parameter evaluated for this run; errors name ``where`` (e.g. "schedule 'nightly'")."""
    prefix = f"{where}: " if where else ""
    return {name: evaluate(v, context, f"{prefix}pipeline parameter {name!r}") for name, v in params.items()}
