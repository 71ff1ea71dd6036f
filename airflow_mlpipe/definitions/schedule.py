"""ScheduleRecurrence: when a v1 time-based Schedule fires, validated as v1 did, as a plain JSON spec.

The spec (``to_spec``) is what the schedule registry stores and the timetable is built from:
{"frequency", "interval", "start_time" (naive wall time in time_zone, or with an offset), "time_zone"
(IANA name, None = UTC), "hours", "minutes", "week_days", "time_of_day" ("HH:MM")}.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from typing import Any

from airflow_mlpipe.definitions.timezones import TimeZone, iana_zone
from airflow_mlpipe.exceptions import UserErrorException

__all__ = ["FREQUENCIES", "SPEC_KEYS", "WEEK_DAYS", "ScheduleRecurrence", "TimeZone", "iana_zone"]

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNITS = {"Minute": "minute", "Hour": "hour", "Day": "day", "Week": "week", "Month": "month"}
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})$")
SPEC_KEYS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "week_days",
    "time_of_day",
)


def _fail(message: str, value: Any = None, instead: str = "") -> UserErrorException:
    """v1's message, then what was given and what to do instead."""
    got = f" (got {value!r})" if value is not None else ""
    return UserErrorException(f"ScheduleRecurrence: {message}{got}" + (f"; {instead}" if instead else ""))


def _int_list(values: Any, name: str, low: int, high: int, message: str) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise _fail(message, values, f"pass {name} as a list, e.g. [{low}, {high}]")
    out = list(values)
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise _fail(message, out)
    return sorted(set(out))


def _start_time(value: Any) -> str | None:
    """start_time as v1 stored it: an ISO string without zone (the wall time in time_zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise _fail("Can not specify tzinfo for start_time, use time_zone instead.", value)
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and "T" in value.upper():
            return value.strip()
    raise _fail(
        "start_time must be a datetime or a string in the format YYYY-MM-DDThh:mm:ss.",
        value,
        "for example '2026-01-05T09:00:00' (the wall time in time_zone)",
    )


def _time_of_day(value: Any) -> str | None:
    if value is None:
        return None
    m = _TIME_OF_DAY.match(value.strip()) if isinstance(value, str) else None
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise _fail("time_of_day must be a string in the format hh:mm.", value, "for example '15:30'")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


class ScheduleRecurrence:
    """How often a schedule fires: every ``interval`` ``frequency`` units, optionally at given times.

    Same arguments and checks as Azure ML v1 (``Schedule.create`` called ``validate()``; here the
    constructor does too, so a bad recurrence fails where it is written). ``time_zone`` takes a
    ``TimeZone`` member as in v1, or a Windows or IANA zone name; None means UTC.
    """

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime | str | None = None,
        time_zone: TimeZone | str | None = None,
        hours: list[int] | None = None,
        minutes: list[int] | None = None,
        week_days: list[str] | None = None,
        time_of_day: str | None = None,
    ):
        self.frequency, self.interval, self.start_time, self.time_zone = (
            frequency,
            interval,
            start_time,
            time_zone,
        )
        self.hours, self.minutes, self.week_days, self.time_of_day = hours, minutes, week_days, time_of_day
        self.validate()

    def validate(self) -> None:
        """Check the recurrence as v1's ``ScheduleRecurrence.validate()`` did; normalizes the fields."""
        if self.frequency not in FREQUENCIES:
            raise _fail(
                "Invalid value for frequency, only one of Minute, Hour, Day, Week, or Month accepted",
                self.frequency,
            )
        if isinstance(self.interval, bool) or not isinstance(self.interval, int) or self.interval < 1:
            raise _fail("Interval must be an integer greater than 0.", self.interval)
        day_or_week = self.frequency in ("Day", "Week")
        if not day_or_week and self.hours is not None:
            raise _fail("Can only specify hours if frequency is Week or Day.", self.frequency)
        if not day_or_week and self.minutes is not None:
            raise _fail("Can only specify minutes if frequency is Week or Day.", self.frequency)
        if self.frequency != "Week" and self.week_days is not None:
            raise _fail("Can only specify week days if frequency is Week.", self.frequency)
        if not day_or_week and self.time_of_day is not None:
            raise _fail("Can only specify time_of_day if frequency is Week or Day.", self.frequency)
        if self.time_of_day is not None and (self.hours is not None or self.minutes is not None):
            raise _fail(
                "Can not specify time_of_day together with hours or minutes.",
                None,
                "give either time_of_day='09:30' or hours=[9] and minutes=[30]",
            )
        self.hours = _int_list(
            self.hours, "hours", 0, 23, "Hours must be a list of integers between 0 and 23."
        )
        self.minutes = _int_list(
            self.minutes, "minutes", 0, 59, "Minutes must be a list of integers between 0 and 59."
        )
        if self.week_days is not None:
            days = [self.week_days] if isinstance(self.week_days, str) else list(self.week_days)
            if not days or any(d not in WEEK_DAYS for d in days):
                raise _fail(
                    "Week days must be a list of str, accepted values: Monday, Tuesday, Wednesday, "
                    "Thursday, Friday, Saturday, Sunday.",
                    self.week_days,
                )
            self.week_days = sorted(set(days), key=WEEK_DAYS.index)
        self.time_of_day = _time_of_day(self.time_of_day)
        self.start_time = _start_time(self.start_time)
        if self.time_zone is not None:
            if not isinstance(self.time_zone, (TimeZone, str)):
                raise _fail(
                    "Time zone is not a valid TimeZone enum.",
                    self.time_zone,
                    "pass a TimeZone member such as TimeZone.WEuropeStandardTime",
                )
            iana_zone(self.time_zone)  # raises for an unknown name

    # -- the spec ------------------------------------------------------------------------------

    @property
    def zone_name(self) -> str | None:
        """The IANA zone of the recurrence, None for UTC."""
        return None if self.time_zone is None else iana_zone(self.time_zone)

    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone the times of day and a naive start_time are read in (UTC when none was given)."""
        return zoneinfo.ZoneInfo(self.zone_name or "UTC")

    def start_datetime(self) -> datetime | None:
        """start_time as an aware datetime: a naive one is wall time in ``zone()``."""
        if self.start_time is None:
            return None
        start = datetime.fromisoformat(self.start_time)
        return start if start.tzinfo is not None else start.replace(tzinfo=self.zone())

    def to_spec(self) -> dict[str, Any]:
        """The plain JSON dict the registry stores (time_zone as an IANA name)."""
        return {k: self.zone_name if k == "time_zone" else getattr(self, k) for k in SPEC_KEYS}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ScheduleRecurrence:
        """The recurrence a ``to_spec`` dict describes (validated again)."""
        if not isinstance(spec, dict) or "frequency" not in spec or "interval" not in spec:
            raise UserErrorException(
                f"a recurrence spec must be a dict with at least 'frequency' and 'interval' (got {spec!r})"
            )
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise UserErrorException(
                f"recurrence spec has unknown key(s) {unknown}; the keys are {list(SPEC_KEYS)}"
            )
        return cls(**{k: spec.get(k) for k in SPEC_KEYS})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleRecurrence) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(tuple(str(v) for v in self.to_spec().values()))

    def __repr__(self) -> str:
        tz = self.time_zone
        args = [f"frequency={self.frequency!r}", f"interval={self.interval!r}"]
        for key in ("start_time", "time_zone", "hours", "minutes", "week_days", "time_of_day"):
            value = getattr(self, key)
            if value is not None:
                args.append(
                    f"{key}={tz}" if key == "time_zone" and isinstance(tz, TimeZone) else f"{key}={value!r}"
                )
        return f"ScheduleRecurrence({', '.join(args)})"

    # -- in words ------------------------------------------------------------------------------

    def _times(self) -> str:
        if self.time_of_day:
            return f" at {self.time_of_day}"
        if self.hours is not None and self.minutes is not None:
            times = [f"{h:02d}:{m:02d}" for h in self.hours for m in self.minutes]
            return " at " + ", ".join(times)
        if self.hours is not None:
            return " at hour(s) " + ", ".join(str(h) for h in self.hours)
        if self.minutes is not None:
            return " at minute(s) " + ", ".join(str(m) for m in self.minutes) + " of every hour"
        return ""

    def describe(self) -> str:
        """The recurrence in words: "every 2 days at 09:00 Europe/Berlin"."""
        unit = _UNITS[self.frequency]
        text = f"every {unit}" if self.interval == 1 else f"every {self.interval} {unit}s"
        if self.week_days:
            text += " on " + ", ".join(self.week_days)
        times = self._times()
        text += times
        if times or self.start_time is not None:
            text += f" {self.zone_name or 'UTC'}"
        if self.start_time is not None:
            text += f", starting {self.start_time}"
        return text

    def __str__(self) -> str:
        return self.describe()
