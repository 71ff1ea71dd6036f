"""String, collection, logical, conversion and math functions of schedule trigger-time expressions.

They follow Data Factory's expression language (the date functions are in schedule_datefuncs).
Each raises :class:`ArgError` naming the argument at fault; the evaluator adds where the
expression is and the position.
"""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote


class ArgError(Exception):
    """A function got a bad value; ``arg`` is the 0-based argument at fault (None: the call)."""

    def __init__(self, message: str, arg: int | None = None):
        super().__init__(message)
        self.arg = arg


@dataclass(frozen=True)
class Fn:
    """A function: its name, how many arguments it takes, and what static checks its literals get."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    checks: tuple[tuple[int, str], ...] = ()  # (argument index, "format" | "zone" | "unit")
    needs_context: bool = False


def integer(value: Any, arg: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"expects an integer, got {value!r}", arg)
    return value


# ---- strings, collections, logic, conversion, math ---------------------------------------------


def to_text(value: Any) -> str:
    """A value as Data Factory writes it into a string ("True", 42, JSON for arrays and objects)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def text(value: Any, arg: int) -> str:
    if not isinstance(value, str):
        raise ArgError(f"expects a string, got {value!r}", arg)
    return value


def number(value: Any, arg: int) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"expects a number, got {value!r}", arg)
    return value


def boolean(value: Any, arg: int) -> bool:
    if not isinstance(value, bool):
        raise ArgError(f"expects true or false, got {value!r}", arg)
    return value


def _substring(s: Any, start: Any, length: Any = None) -> str:
    s, begin = text(s, 0), integer(start, 1)
    size = len(s) - begin if length is None else integer(length, 2)
    if begin < 0 or size < 0 or begin + size > len(s):
        raise ArgError(f"start {begin} and length {size} fall outside {s!r} (length {len(s)})")
    return s[begin : begin + size]


def _replace(s: Any, old: Any, new: Any) -> str:
    if not text(old, 1):
        raise ArgError("cannot replace an empty string", 1)
    return text(s, 0).replace(old, to_text(new))


def _index(s: Any, sub: Any, last: bool = False) -> int:
    hay, needle = text(s, 0).lower(), text(sub, 1).lower()
    return hay.rfind(needle) if last else hay.find(needle)


def _guid(fmt: Any = "D") -> str:
    u = uuid.uuid4()
    shapes = {"N": u.hex, "D": str(u), "B": "{" + str(u) + "}", "P": f"({u})"}
    if not isinstance(fmt, str) or fmt.upper() not in shapes:
        raise ArgError(f"expects a GUID format N, D, B or P, got {fmt!r}", 0)
    return shapes[fmt.upper()]  # lowercase in every format, as .NET's Guid.ToString


def array(value: Any, arg: int) -> list:
    if not isinstance(value, list):
        raise ArgError(f"expects an array, got {value!r}", arg)
    return value


def _sized(value: Any, arg: int = 0) -> str | list | dict:
    if not isinstance(value, (str, list, dict)):
        raise ArgError(f"expects a string or an array, got {value!r}", arg)
    return value


def _contains(collection: Any, item: Any) -> bool:
    c = _sized(collection)
    return text(item, 1) in c if isinstance(c, str) else item in c


def _end(value: Any, i: int) -> Any:
    c = _sized(value)
    return c[i] if c and not isinstance(c, dict) else None


def _int(value: Any) -> int:
    try:
        return int(value.strip()) if isinstance(value, str) else int(number(value, 0))
    except ValueError as e:
        raise ArgError(f"cannot convert {value!r} to an integer", 0) from e


def _float(value: Any) -> float:
    try:
        return float(value) if isinstance(value, str) else float(number(value, 0))
    except ValueError as e:
        raise ArgError(f"cannot convert {value!r} to a number", 0) from e


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, (bool, int, float)):
        return bool(value)
    raise ArgError(f"cannot convert {value!r} to a boolean; use 'true', 'false' or a number", 0)


def _json(value: Any) -> Any:
    try:
        return json.loads(text(value, 0))
    except json.JSONDecodeError as e:
        raise ArgError(f"is not valid JSON ({e.msg} at character {e.pos})", 0) from e


def _div(a: Any, b: Any) -> int | float:
    x, y = number(a, 0), number(b, 1)
    if y == 0:
        raise ArgError("divides by zero", 1)
    if isinstance(x, int) and isinstance(y, int):  # C# truncates toward zero
        q = abs(x) // abs(y)
        return q if (x < 0) == (y < 0) else -q
    return x / y


def _mod(a: Any, b: Any) -> int | float:
    x, y = number(a, 0), number(b, 1)
    if y == 0:
        raise ArgError("divides by zero", 1)
    r = math.fmod(x, y)  # the sign of the dividend, as C#'s %
    return int(r) if isinstance(x, int) and isinstance(y, int) else r


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*values: Any) -> Any:
        items = values[0] if len(values) == 1 and isinstance(values[0], list) else list(values)
        if not items:
            raise ArgError("needs at least one number", 0)
        return pick(number(v, i) for i, v in enumerate(items))

    return extreme


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        both_numbers = not isinstance(a, bool) and not isinstance(b, bool)
        both_numbers = both_numbers and isinstance(a, (int, float)) and isinstance(b, (int, float))
        if not both_numbers and not (isinstance(a, str) and isinstance(b, str)):
            raise ArgError(f"compares two numbers or two strings, got {a!r} and {b!r}")
        return op(a, b)

    return compare


def _rand(low: Any, high: Any) -> int:
    lo, hi = integer(low, 0), integer(high, 1)
    if hi <= lo:
        raise ArgError(f"needs a maximum above the minimum (got {lo} and {hi})", 1)
    return random.randrange(lo, hi)


def _range(start: Any, count: Any) -> list[int]:
    first, n = integer(start, 0), integer(count, 1)
    if n < 0 or n > 100_000:
        raise ArgError(f"count must be between 0 and 100000, got {n}", 1)
    return list(range(first, first + n))


def _base64_text(value: Any) -> str:
    try:
        return base64.b64decode(text(value, 0), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise ArgError(f"is not base64-encoded UTF-8 text: {value!r}", 0) from e


def _uri(value: Any) -> str:
    return quote(to_text(value), safe="")


def _uri_text(value: Any) -> str:
    return unquote(text(value, 0))


def _and_or(pick: Callable[..., bool]) -> Callable[..., bool]:
    return lambda *values: pick(boolean(v, i) for i, v in enumerate(values))


OTHER_FUNCTIONS = [
    Fn("concat", lambda *vs: "".join(to_text(v) for v in vs), 1, None),
    Fn("endsWith", lambda s, x: text(s, 0).lower().endswith(text(x, 1).lower()), 2, 2),
    Fn("startsWith", lambda s, x: text(s, 0).lower().startswith(text(x, 1).lower()), 2, 2),
    Fn("guid", _guid, 0, 1),
    Fn("indexOf", _index, 2, 2),
    Fn("lastIndexOf", lambda s, x: _index(s, x, last=True), 2, 2),
    Fn("replace", _replace, 3, 3),
    Fn("split", lambda s, d: text(s, 0).split(text(d, 1)) if d else list(text(s, 0)), 2, 2),
    Fn("substring", _substring, 2, 3),
    Fn("toLower", lambda s: text(s, 0).lower(), 1, 1),
    Fn("toUpper", lambda s: text(s, 0).upper(), 1, 1),
    Fn("trim", lambda s: text(s, 0).strip(), 1, 1),
    Fn("contains", _contains, 2, 2),
    Fn("empty", lambda c: c is None or len(_sized(c)) == 0, 1, 1),
    Fn("first", lambda c: _end(c, 0), 1, 1),
    Fn("last", lambda c: _end(c, -1), 1, 1),
    Fn("length", lambda c: len(_sized(c)), 1, 1),
    Fn("join", lambda c, d: text(d, 1).join(to_text(v) for v in array(c, 0)), 2, 2),
    Fn("skip", lambda c, n: _sized(c)[integer(n, 1) :], 2, 2),
    Fn("take", lambda c, n: _sized(c)[: integer(n, 1)], 2, 2),
    Fn("and", _and_or(all), 2, None),
    Fn("or", _and_or(any), 2, None),
    Fn("not", lambda b: not boolean(b, 0), 1, 1),
    Fn("equals", lambda a, b: a == b and isinstance(a, bool) == isinstance(b, bool), 2, 2),
    Fn("greater", _compare(lambda a, b: a > b), 2, 2),
    Fn("greaterOrEquals", _compare(lambda a, b: a >= b), 2, 2),
    Fn("less", _compare(lambda a, b: a < b), 2, 2),
    Fn("lessOrEquals", _compare(lambda a, b: a <= b), 2, 2),
    Fn("if", lambda c, a, b: a if boolean(c, 0) else b, 3, 3),  # the evaluator runs only the branch taken
    Fn("string", to_text, 1, 1),
    Fn("int", _int, 1, 1),
    Fn("float", _float, 1, 1),
    Fn("bool", _bool, 1, 1),
    Fn("json", _json, 1, 1),
    Fn("coalesce", lambda *vs: next((v for v in vs if v is not None), None), 1, None),
    Fn("createArray", lambda *vs: list(vs), 1, None),
    Fn("base64", lambda s: base64.b64encode(to_text(s).encode("utf-8")).decode("ascii"), 1, 1),
    Fn("base64ToString", _base64_text, 1, 1),
    Fn("decodeBase64", _base64_text, 1, 1),
    Fn("uriComponent", _uri, 1, 1),
    Fn("encodeUriComponent", _uri, 1, 1),
    Fn("uriComponentToString", _uri_text, 1, 1),
    Fn("decodeUriComponent", _uri_text, 1, 1),
    Fn("add", lambda a, b: number(a, 0) + number(b, 1), 2, 2),
    Fn("sub", lambda a, b: number(a, 0) - number(b, 1), 2, 2),
    Fn("mul", lambda a, b: number(a, 0) * number(b, 1), 2, 2),
    Fn("div", _div, 2, 2),
    Fn("mod", _mod, 2, 2),
    Fn("min", _extreme(min), 1, None),
    Fn("max", _extreme(max), 1, None),
    Fn("rand", _rand, 2, 2),
    Fn("range", _range, 2, 2),
]
