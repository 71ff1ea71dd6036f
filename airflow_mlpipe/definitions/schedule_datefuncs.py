"""Date functions of a schedule's trigger-time expressions (Data Factory's expression language).

Timestamps are strings, as in Data Factory: a function takes an ISO 8601 (or en-US "M/d/yyyy")
timestamp and returns one in the .NET format asked for ("o" by default: 7 fraction digits and "Z"
for UTC). A timestamp with "Z" or an offset is an instant and is computed in UTC (no DST effects);
one without is a wall time and stays without zone. utcNow() is the run's start time, so a retried
run computes the same values.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from airflow_mlpipe.definitions.schedule_funcs import ArgError, Fn, integer
from airflow_mlpipe.definitions.timezones import iana_zone
from airflow_mlpipe.dotnet_datefmt import DotnetFormatError, render
from airflow_mlpipe.exceptions import UserErrorException

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?)?\s*([Zz]|[+-]\d{2}:?\d{2})?$"
)
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?)?$")
UNITS = ("Second", "Minute", "Hour", "Day", "Week", "Month", "Year")


def parse_timestamp(value: Any, arg: int = 0) -> datetime:
    """A timestamp string as a datetime: UTC-aware when it has Z or an offset, naive otherwise."""
    if not isinstance(value, str):
        raise ArgError(f"expects a timestamp string, got {value!r}", arg)
    text = value.strip()
    m = _ISO.match(text)
    try:
        if m:
            y, mo, d, h, mi, s, frac, tz = m.groups()
            micro = int((frac or "0").ljust(7, "0")[:6])
            dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro)
            if tz is None:
                return dt
            if tz in "Zz":
                return dt.replace(tzinfo=timezone.utc)
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            return dt.replace(tzinfo=timezone(sign * off)).astimezone(timezone.utc)
        m = _US.match(text)
        if m:
            mo, d, y, h, mi, s, ampm = m.groups()
            hour = int(h or 0)
            if ampm:
                if not 1 <= hour <= 12:
                    raise ValueError("hour")
                hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
            return datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(s or 0))
    except ValueError:
        pass
    raise ArgError(
        f"expects a timestamp, got {value!r}; write it as ISO 8601, e.g. '2026-01-31T09:00:00Z'", arg
    )


def format_timestamp(dt: datetime, fmt: Any = None, arg: int = 1) -> str:
    """``dt`` in a .NET format ("o" when none is given)."""
    if fmt is None:
        fmt = "o"
    if not isinstance(fmt, str) or not fmt:
        raise ArgError(f"expects a .NET format string such as 'yyyy-MM-dd', got {fmt!r}", arg)
    try:
        return render(dt, fmt)
    except DotnetFormatError as e:
        raise ArgError(str(e), arg) from e


def zone(name: Any, arg: int) -> ZoneInfo:
    try:
        return ZoneInfo(iana_zone(name))
    except UserErrorException as e:
        raise ArgError(str(e), arg) from e


def unit_of(value: Any, arg: int) -> str:
    for u in UNITS:
        if isinstance(value, str) and value.lower() == u.lower():
            return u
    raise ArgError(f"expects a time unit, one of {', '.join(UNITS)}; got {value!r}", arg)


def add_months(dt: datetime, months: int) -> datetime:
    """.NET AddMonths: the same day, or the last day of a shorter month."""
    total = dt.year * 12 + dt.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise ArgError(f"moves the timestamp out of the years 1-9999 ({year})")
    return dt.replace(year=year, month=month + 1, day=min(dt.day, monthrange(year, month + 1)[1]))


def shift(dt: datetime, amount: int, unit: str) -> datetime:
    if unit == "Month":
        return add_months(dt, amount)
    if unit == "Year":
        return add_months(dt, 12 * amount)
    try:
        return dt + timedelta(**{unit.lower() + "s": amount})
    except OverflowError as e:
        raise ArgError(f"moves the timestamp out of range ({amount} {unit.lower()}s)") from e


# ---- date functions --------------------------------------------------------------------------------


def _adder(unit: str) -> Callable[..., str]:
    def add(ts: Any, amount: Any, fmt: Any = None) -> str:
        return format_timestamp(shift(parse_timestamp(ts), integer(amount, 1), unit), fmt, 2)

    return add


def add_to_time(ts: Any, amount: Any, unit: Any, fmt: Any = None, sign: int = 1) -> str:
    return format_timestamp(shift(parse_timestamp(ts), sign * integer(amount, 1), unit_of(unit, 2)), fmt, 3)


def subtract_from_time(ts: Any, amount: Any, unit: Any, fmt: Any = None) -> str:
    return add_to_time(ts, amount, unit, fmt, sign=-1)


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def convert_from_utc(ts: Any, dest: Any, fmt: Any = None) -> str:
    local = _as_utc(parse_timestamp(ts)).astimezone(zone(dest, 1))
    return format_timestamp(local.replace(tzinfo=None), fmt, 2)


def localize(dt: datetime, tz: ZoneInfo, arg: int = 0) -> datetime:
    """A wall time in ``tz`` as an instant, as .NET does: a repeated hour (DST end) is read as
    standard time; a skipped hour (DST start) is an error."""
    if dt.tzinfo is not None:
        return dt
    first, second = dt.replace(tzinfo=tz, fold=0), dt.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != dt:
        raise ArgError(
            f"{dt.isoformat()} does not exist in {tz.key} (the clocks skip it at a DST change)", arg
        )
    return second


def convert_to_utc(ts: Any, source: Any, fmt: Any = None) -> str:
    instant = localize(parse_timestamp(ts), zone(source, 1))
    return format_timestamp(instant.astimezone(timezone.utc), fmt, 2)


def convert_time_zone(ts: Any, source: Any, dest: Any, fmt: Any = None) -> str:
    instant = localize(parse_timestamp(ts), zone(source, 1))
    return format_timestamp(instant.astimezone(zone(dest, 2)).replace(tzinfo=None), fmt, 3)


def _start_of(part: str) -> Callable[..., str]:
    def start(ts: Any, fmt: Any = None) -> str:
        dt = parse_timestamp(ts).replace(minute=0, second=0, microsecond=0)
        if part in ("day", "month"):
            dt = dt.replace(hour=0)
        if part == "month":
            dt = dt.replace(day=1)
        return format_timestamp(dt, fmt, 1)

    return start


def ticks(ts: Any) -> int:
    """100-nanosecond intervals since 0001-01-01T00:00:00 (of the UTC time for an instant)."""
    dt = parse_timestamp(ts)
    wall = dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt
    return (wall - datetime(1, 1, 1)) // timedelta(microseconds=1) * 10


def utc_now(ctx: Any, fmt: Any = None) -> str:
    return format_timestamp(ctx.start_time.astimezone(timezone.utc), fmt, 0)


def _relative(sign: int) -> Callable[..., str]:
    def relative(ctx: Any, amount: Any, unit: Any, fmt: Any = None) -> str:
        now = ctx.start_time.astimezone(timezone.utc)
        return format_timestamp(shift(now, sign * integer(amount, 0), unit_of(unit, 1)), fmt, 2)

    return relative


_F = "format"
DATE_FUNCTIONS = [
    Fn("addDays", _adder("Day"), 2, 3, ((2, _F),)),
    Fn("addHours", _adder("Hour"), 2, 3, ((2, _F),)),
    Fn("addMinutes", _adder("Minute"), 2, 3, ((2, _F),)),
    Fn("addSeconds", _adder("Second"), 2, 3, ((2, _F),)),
    Fn("addToTime", add_to_time, 3, 4, ((2, "unit"), (3, _F))),
    Fn("subtractFromTime", subtract_from_time, 3, 4, ((2, "unit"), (3, _F))),
    Fn("getFutureTime", _relative(1), 2, 3, ((1, "unit"), (2, _F)), needs_context=True),
    Fn("getPastTime", _relative(-1), 2, 3, ((1, "unit"), (2, _F)), needs_context=True),
    Fn("convertFromUtc", convert_from_utc, 2, 3, ((1, "zone"), (2, _F))),
    Fn("convertToUtc", convert_to_utc, 2, 3, ((1, "zone"), (2, _F))),
    Fn("convertTimeZone", convert_time_zone, 3, 4, ((1, "zone"), (2, "zone"), (3, _F))),
    Fn("dayOfMonth", lambda ts: parse_timestamp(ts).day, 1, 1),
    Fn("dayOfWeek", lambda ts: (parse_timestamp(ts).weekday() + 1) % 7, 1, 1),
    Fn("dayOfYear", lambda ts: parse_timestamp(ts).timetuple().tm_yday, 1, 1),
    Fn(
        "formatDateTime", lambda ts, fmt=None: format_timestamp(parse_timestamp(ts), fmt, 1), 1, 2, ((1, _F),)
    ),
    Fn("startOfDay", _start_of("day"), 1, 2, ((1, _F),)),
    Fn("startOfHour", _start_of("hour"), 1, 2, ((1, _F),)),
    Fn("startOfMonth", _start_of("month"), 1, 2, ((1, _F),)),
    Fn("ticks", ticks, 1, 1),
    Fn("utcNow", utc_now, 0, 1, ((0, _F),), needs_context=True),
]
