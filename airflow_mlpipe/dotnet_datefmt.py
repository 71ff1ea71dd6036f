""".NET DateTime format strings ("o", "yyyy-MM-dd", "dddd, MMMM d", ...): one tokenizer and one renderer.

Azure ML v1 and Data Factory expressions and U-SQL scripts all format dates the .NET way (en-US
culture). The U-SQL engine translates the tokens into strftime / Spark patterns; schedule
expressions render them directly. Both read the format through :func:`tokenize`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_mlpipe.exceptions import UserErrorException

# .NET standard format specifiers, en-US culture (a one-character format string is one of these)
STANDARD = {
    "d": "M/d/yyyy",
    "D": "dddd, MMMM d, yyyy",
    "f": "dddd, MMMM d, yyyy h:mm tt",
    "F": "dddd, MMMM d, yyyy h:mm:ss tt",
    "g": "M/d/yyyy h:mm tt",
    "G": "M/d/yyyy h:mm:ss tt",
    "m": "MMMM d",
    "M": "MMMM d",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "h:mm tt",
    "T": "h:mm:ss tt",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "U": "dddd, MMMM d, yyyy h:mm:ss tt",
    "y": "MMMM yyyy",
    "Y": "MMMM yyyy",
}
_TO_UTC = frozenset("rRuU")  # standard formats that show the time in UTC
SPECIFIERS = frozenset("dfFghHKmMstyz")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January February March April May June July August September October November December").split()


class DotnetFormatError(UserErrorException):
    """A .NET date format string is malformed (what .NET raises a FormatException for)."""


def expand(fmt: str) -> str:
    """The custom pattern a format string stands for (a standard one-letter format is expanded)."""
    if len(fmt) != 1:
        return fmt
    if fmt not in STANDARD:
        raise DotnetFormatError(
            f"{fmt!r} is not a .NET standard DateTime format; use one of {''.join(sorted(STANDARD))} "
            "or a custom pattern such as 'yyyy-MM-dd' (write '%d' for a lone custom specifier)"
        )
    return STANDARD[fmt]


def tokenize(fmt: str) -> list[tuple[str, str]]:
    """Split a (standard or custom) format into ("field", "yyyy"), ("text", "-"), ("letter", "Z") tokens.

    A field is a run of one specifier letter; text is quoted, escaped or punctuation; a letter is an
    unquoted letter that .NET copies as it is (engines that want stricter formats can refuse it).
    """
    custom = expand(fmt)
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(custom):
        c = custom[i]
        if c == "%" and len(custom) > 1:  # "%d": a lone custom specifier
            if i + 1 >= len(custom) or custom[i + 1] == "%":
                raise DotnetFormatError(
                    f"'%' must be followed by one specifier in the DateTime format {fmt!r}"
                )
            i += 1
            continue
        if c in SPECIFIERS:
            j = i
            while j < len(custom) and custom[j] == c:
                j += 1
            tokens.append(("field", custom[i:j]))
            i = j
        elif c in "'\"":
            end = custom.find(c, i + 1)
            if end < 0:
                raise DotnetFormatError(f"unclosed quote in the DateTime format {fmt!r}")
            tokens.append(("text", custom[i + 1 : end]))
            i = end + 1
        elif c == "\\":
            if i + 1 >= len(custom):
                raise DotnetFormatError(f"a trailing '\\' in the DateTime format {fmt!r} escapes nothing")
            tokens.append(("text", custom[i + 1]))
            i += 2
        else:
            tokens.append(("letter" if c.isalpha() else "text", c))
            i += 1
    return tokens


def _offset(dt: datetime, width: int) -> str:
    """The UTC offset as .NET's z (width 1), zz (2) or zzz/K (3); naive times count as UTC."""
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    hours, mins = divmod(minutes, 60)
    if width == 1:
        return f"{sign}{hours}"
    if width == 2:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}:{mins:02d}"


def _is_utc(dt: datetime) -> bool:
    return dt.tzinfo is not None and (dt.tzinfo == timezone.utc or str(dt.tzinfo) in ("UTC", "Etc/UTC"))


def _kind(dt: datetime) -> str:
    """K: nothing for a time without zone, Z for UTC, the offset otherwise (as .NET's DateTimeKind)."""
    if dt.tzinfo is None:
        return ""
    return "Z" if _is_utc(dt) else _offset(dt, 3)


def _fraction(dt: datetime, n: int, trim: bool) -> str:
    digits = f"{dt.microsecond:06d}0"[:n]
    return digits.rstrip("0") if trim else digits


def _field(dt: datetime, tok: str, fmt: str) -> str:
    c, n = tok[0], len(tok)
    if c in "fF":
        if n > 7:
            raise DotnetFormatError(f"{tok!r} in the DateTime format {fmt!r} has more than 7 fraction digits")
        return _fraction(dt, n, trim=c == "F")
    if c == "d":
        return (
            (str(dt.day), f"{dt.day:02d}", _DAYS[dt.weekday()][:3])[n - 1] if n < 4 else _DAYS[dt.weekday()]
        )
    if c == "M":
        return (
            (str(dt.month), f"{dt.month:02d}", _MONTHS[dt.month - 1][:3])[n - 1]
            if n < 4
            else _MONTHS[dt.month - 1]
        )
    if c == "y":
        return str(dt.year % 100) if n == 1 else f"{dt.year % 100:02d}" if n == 2 else str(dt.year).zfill(n)
    if c == "z":
        return _offset(dt, min(n, 3))
    if c == "K":
        return _kind(dt)
    if c == "g":
        return "A.D."
    if c == "t":
        ampm = "AM" if dt.hour < 12 else "PM"
        return ampm[0] if n == 1 else ampm
    value = {"h": (dt.hour % 12) or 12, "H": dt.hour, "m": dt.minute, "s": dt.second}[c]
    return str(value) if n == 1 else f"{value:02d}"


def render(dt: datetime, fmt: str = "o") -> str:
    """``dt`` formatted as .NET's ``DateTime.ToString(fmt)`` would, en-US culture.

    A naive datetime is .NET's Unspecified kind ('o' shows no offset), a UTC one shows 'Z', any
    other aware one its offset. 'r', 'R', 'u' and 'U' show the time converted to UTC.
    """
    if fmt in _TO_UTC and dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    out: list[str] = []
    for kind, tok in tokenize(fmt):
        if kind != "field":
            out.append(tok)
            continue
        text = _field(dt, tok, fmt)
        if not text and tok[0] == "F" and out and out[-1].endswith("."):
            out[-1] = out[-1][:-1]  # .NET drops the separator before an empty F fraction
        out.append(text)
    return "".join(out)
