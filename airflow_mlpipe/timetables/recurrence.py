"""A v1 recurrence spec, validated, and the arithmetic of its run slots (pure Python, no Airflow).

Slots are computed as v1 documented: the recurrence counts periods of ``interval`` x ``frequency``
from the anchor (``start_time``, or the schedule's creation time), and ``hours``/``minutes``/
``time_of_day``/``week_days`` pick the times within each period. Wall-clock times are kept in
``time_zone`` the way Airflow's cron timetables keep them (see the package docstring for DST).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pendulum

from airflow_mlpipe.definitions.schedule import FREQUENCIES, SPEC_KEYS, WEEK_DAYS
from airflow_mlpipe.exceptions import UserErrorException

_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})$")


def _bad(field: str, value: Any, expected: str) -> UserErrorException:
    return UserErrorException(f"recurrence {field}={value!r} is invalid: {expected}")


def _int_list(field: str, values: Any, top: int) -> tuple[int, ...] | None:
    if values is None:
        return None
    if isinstance(values, (int, str)) or not values:
        raise _bad(field, values, f"give a non-empty list of integers 0..{top}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
            raise _bad(field, values, f"every entry must be an integer 0..{top}")
    return tuple(sorted(set(values)))


def _parse_start(value: Any, tz: pendulum.Timezone | pendulum.FixedTimezone) -> pendulum.DateTime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise _bad("start_time", value, "use ISO-8601, e.g. '2024-01-31T09:00:00'") from None
    if parsed.tzinfo is None:  # naive: a wall time in time_zone
        return to_aware(parsed, tz)
    return pendulum.instance(parsed).in_timezone(tz)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """A plain (non-pendulum) naive UTC datetime, for exact timedelta arithmetic."""
    u = value.astimezone(dt.timezone.utc)
    return dt.datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond)


def to_aware(naive: dt.datetime, tz: pendulum.Timezone | pendulum.FixedTimezone) -> pendulum.DateTime:
    """A wall time in ``tz`` as Airflow's cron timetables resolve it (``fold=1``).

    A time in the spring-forward gap moves forward by the gap (02:30 -> 03:30 CEST); a time the
    autumn change repeats is the second occurrence (02:30 CET, after 02:30 CEST).
    """
    return pendulum.instance(tz.convert(naive.replace(tzinfo=None, fold=1)))


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence spec (the plain JSON dict of issue 15) with its normalized fields."""

    frequency: str
    interval: int
    start_time: str | None
    time_zone: str
    hours: tuple[int, ...] | None
    minutes: tuple[int, ...] | None
    week_days: tuple[str, ...] | None
    time_of_day: str | None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Recurrence:
        """Validate ``spec`` with v1's rules; errors name the field and say what to give instead."""
        if not isinstance(spec, dict):
            raise UserErrorException(f"recurrence must be a dict, got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise UserErrorException(f"recurrence has unknown keys {unknown}; allowed: {list(SPEC_KEYS)}")
        freq = str(spec.get("frequency") or "").capitalize()
        if freq not in FREQUENCIES:
            raise _bad("frequency", spec.get("frequency"), f"use one of {list(FREQUENCIES)}")
        interval = spec.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise _bad("interval", interval, "use a positive integer")
        tz_name = spec.get("time_zone") or "UTC"
        try:
            tz = pendulum.timezone(tz_name)
        except Exception:
            raise _bad("time_zone", tz_name, "use an IANA zone name such as 'Europe/Berlin'") from None
        start = _parse_start(spec.get("start_time"), tz)
        hours = _int_list("hours", spec.get("hours"), 23)
        minutes = _int_list("minutes", spec.get("minutes"), 59)
        time_of_day = spec.get("time_of_day")
        if time_of_day is not None:
            match = _TIME_OF_DAY.match(str(time_of_day))
            if not match or int(match[1]) > 23 or int(match[2]) > 59:
                raise _bad("time_of_day", time_of_day, "use 'HH:MM' (24-hour clock)")
            if hours or minutes:
                raise _bad("time_of_day", time_of_day, "give either time_of_day or hours/minutes, not both")
            hours, minutes = (int(match[1]),), (int(match[2]),)
            time_of_day = f"{hours[0]:02d}:{minutes[0]:02d}"
        if (hours or minutes) and freq not in ("Day", "Week"):
            raise _bad("hours/minutes/time_of_day", time_of_day or [hours, minutes], "only for Day or Week")
        days = spec.get("week_days")
        if days is not None:
            if freq != "Week":
                raise _bad("week_days", days, "only for frequency 'Week'")
            if isinstance(days, str) or not days or any(str(d).capitalize() not in WEEK_DAYS for d in days):
                raise _bad("week_days", days, f"give a non-empty list of {list(WEEK_DAYS)}")
            days = tuple(sorted({str(d).capitalize() for d in days}, key=WEEK_DAYS.index))
        return cls(
            freq,
            interval,
            start.isoformat() if start else None,
            tz_name,
            hours,
            minutes,
            days,
            time_of_day,
        )

    def to_spec(self) -> dict[str, Any]:
        """The normalized JSON dict (``time_of_day`` kept as given, ``hours``/``minutes`` then None)."""
        lists = (None, None) if self.time_of_day else (self.hours, self.minutes)
        return {
            "frequency": self.frequency,
            "interval": self.interval,
            "start_time": self.start_time,
            "time_zone": self.time_zone,
            "hours": list(lists[0]) if lists[0] else None,
            "minutes": list(lists[1]) if lists[1] else None,
            "week_days": list(self.week_days) if self.week_days else None,
            "time_of_day": self.time_of_day,
        }

    @property
    def tz(self) -> pendulum.Timezone | pendulum.FixedTimezone:
        return pendulum.timezone(self.time_zone)

    @property
    def start(self) -> pendulum.DateTime | None:
        return pendulum.parse(self.start_time).in_timezone(self.tz) if self.start_time else None

    @property
    def has_pattern(self) -> bool:
        """Whether hours/minutes/time_of_day/week_days pick the times (v1 then skips a start on a slot)."""
        return bool(self.hours or self.minutes or self.week_days)


class Slots:
    """The run slots of a recurrence counted from ``anchor`` (an aware time in the recurrence's zone)."""

    def __init__(self, recurrence: Recurrence, anchor: dt.datetime) -> None:
        self.rec = recurrence
        self.tz = recurrence.tz
        self.anchor = pendulum.instance(anchor).in_timezone(self.tz)
        a = self.anchor
        hours = recurrence.hours or (a.hour,)
        minutes = recurrence.minutes or (a.minute,)
        second = 0 if recurrence.hours or recurrence.minutes else a.second
        self.times = [dt.time(h, m, second) for h in hours for m in minutes]
        wanted = recurrence.week_days or (WEEK_DAYS[a.weekday()],)
        self.weekdays = {WEEK_DAYS.index(d) for d in wanted}
        self.step = {"Minute": dt.timedelta(minutes=1), "Hour": dt.timedelta(hours=1)}.get(
            recurrence.frequency
        )

    # --- elapsed-time recurrences (Minute, Hour): equal spacing in absolute time -------------------
    def _fixed(self, t: dt.datetime, after: bool) -> pendulum.DateTime | None:
        step = self.step * self.rec.interval
        if t < self.anchor:
            return self.anchor if after else None
        anchor, moment = _naive_utc(self.anchor), _naive_utc(t)  # elapsed time: DST stretches no step
        slot = anchor + (moment - anchor) // step * step
        if after and slot <= moment:
            slot = slot + step
        return pendulum.instance(slot, tz="UTC").in_timezone(self.tz)

    # --- calendar recurrences (Day, Week, Month): wall-clock times in the zone ---------------------
    def _period_dates(self, k: int) -> list[dt.date]:
        n, start = self.rec.interval, self.anchor.date()
        if self.rec.frequency == "Day":
            return [start + dt.timedelta(days=k * n)]
        if self.rec.frequency == "Week":  # calendar weeks from Monday (RFC 5545's default WKST)
            first = start - dt.timedelta(days=start.weekday()) + dt.timedelta(days=7 * k * n)
            days = (first + dt.timedelta(days=i) for i in range(7))
            return [d for d in days if d.weekday() in self.weekdays]
        months = start.year * 12 + start.month - 1 + k * n
        year, month = divmod(months, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return [dt.date(year, month + 1, min(start.day, last))]  # Jan 31 -> Feb 28/29 -> Mar 31

    def _period_of(self, t: dt.datetime) -> int:
        local, start = pendulum.instance(t).in_timezone(self.tz).date(), self.anchor.date()
        if self.rec.frequency == "Month":
            months = (local.year - start.year) * 12 + local.month - start.month
            return max(months // self.rec.interval, 0)
        if self.rec.frequency == "Week":
            monday = start - dt.timedelta(days=start.weekday())
            return max((local - monday).days // (7 * self.rec.interval), 0)
        return max((local - start).days // self.rec.interval, 0)

    def _period_slots(self, k: int) -> list[pendulum.DateTime]:
        slots = {
            to_aware(dt.datetime.combine(d, tm), self.tz) for d in self._period_dates(k) for tm in self.times
        }
        return sorted(s for s in slots if s >= self.anchor)

    def _calendar(self, t: dt.datetime, after: bool) -> pendulum.DateTime | None:
        k = self._period_of(t)
        if after:  # periods k-1..k+1 cover t; later periods only if those hold no slot after t
            for j in range(max(k - 1, 0), k + 8):
                found = [s for s in self._period_slots(j) if s > t]
                if found:
                    return found[0]
            return None
        for j in range(k + 1, -1, -1):
            found = [s for s in self._period_slots(j) if s <= t]
            if found:
                return found[-1]
        return None

    def next_after(self, t: dt.datetime) -> pendulum.DateTime:
        """The first slot strictly after ``t``."""
        slot = self._fixed(t, True) if self.step else self._calendar(t, True)
        if slot is None:  # every period holds at least one slot, so this is a bug, not user input
            raise RuntimeError(f"recurrence {self.rec.to_spec()} has no slot after {t}")
        return slot

    def at_or_before(self, t: dt.datetime) -> pendulum.DateTime | None:
        """The last slot at or before ``t`` (None before the anchor)."""
        return self._fixed(t, False) if self.step else self._calendar(t, False)

    def at_or_after(self, t: dt.datetime) -> pendulum.DateTime:
        """The first slot at or after ``t``."""
        prev = self.at_or_before(t)
        return prev if prev is not None and prev == t else self.next_after(t)
