"""Recurrence spec -> Airflow timetable: Airflow's cron timetable where it is exact, else ours."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_mlpipe.timetables.recurrence import Recurrence, Slots
from airflow_mlpipe.timetables.timetable import RecurrenceTimetable, creation_time

if TYPE_CHECKING:
    from airflow.sdk.bases.timetable import BaseTimetable
    from airflow.timetables.base import Timetable as CoreTimetable


def _offset_shift(rec: Recurrence, year: int) -> dt.timedelta:
    """How far the zone's UTC offset moves over the year (0 for UTC and fixed-offset zones)."""
    tz = rec.tz
    offsets = {tz.convert(dt.datetime(year, month, 1)).utcoffset() for month in (1, 4, 7, 10)}
    return max(offsets) - min(offsets)  # type: ignore[operator]


def _cron_list(values: Any) -> str:
    return ",".join(str(v) for v in sorted(values))


def cron_expression(rec: Recurrence, slots: Slots, year: int) -> str | None:
    """A cron expression with exactly the slots of ``rec`` (from its anchor on), or None.

    Elapsed-time recurrences (Minute, Hour) use cron only where cron's every-hour handling keeps
    the spacing exact across DST; calendar ones only for interval 1 (cron's ``*/n`` restarts each
    month or year, v1 counts from start_time).
    """
    a, n, shift = slots.anchor, rec.interval, _offset_shift(rec, year)
    if a.second or a.microsecond:
        return None
    if rec.frequency == "Minute":
        whole_hours = shift % dt.timedelta(hours=1) == dt.timedelta(0)
        if 60 % n or not whole_hours:
            return None
        field = "*" if n == 1 else f"*/{n}" if a.minute % n == 0 else f"{a.minute % n}-59/{n}"
        return f"{field} * * * *"
    if rec.frequency == "Hour":
        if n == 1 and shift % dt.timedelta(hours=1) == dt.timedelta(0):
            return f"{a.minute} * * * *"
        return f"{a.minute} {a.hour % n}-23/{n} * * *" if 24 % n == 0 and not shift else None
    if n != 1:
        return None
    hours = {t.hour for t in slots.times}
    minutes = {t.minute for t in slots.times}
    if len(hours) == 24:  # croniter reads this as '*' and switches to elapsed-time DST handling
        return None
    day_time = f"{_cron_list(minutes)} {_cron_list(hours)}"
    if rec.frequency == "Day":
        return f"{day_time} * * *"
    if rec.frequency == "Week":
        return f"{day_time} * * {_cron_list((d + 1) % 7 for d in slots.weekdays)}"
    return f"{a.minute} {a.hour} {a.day} * *" if a.day <= 28 else None  # cron skips short months


def timetable_for(
    recurrence: dict[str, Any], *, first_run: str = "next_slot", now: dt.datetime | None = None
) -> BaseTimetable | CoreTimetable:
    """The timetable for a schedule's recurrence spec.

    Use it as ``DAG(schedule=timetable_for(spec, now=created), catchup=False,
    start_date=dag_start_date(spec, now=created))``: Airflow's cron timetable needs that start_date
    to follow v1's first-run rules (without one, catchup=False runs the latest past slot at once).

    :param recurrence: the recurrence spec dict (issue 15's format).
    :param first_run: ``"next_slot"`` (default) or ``"immediately"`` (v1's extra run at creation).
    :param now: the schedule's creation (or last recurrence update) time; pass the stored value at
        every parse: it anchors a recurrence without start_time and picks the first run.
    :returns: ``airflow.sdk.CronTriggerTimetable`` when cron has exactly the recurrence's slots,
        else a ``RecurrenceTimetable``.
    """
    from airflow.sdk import CronTriggerTimetable

    table = _recurrence_timetable(recurrence, first_run, now)
    if first_run == "next_slot":  # v1's immediate run is no cron slot
        rec = table.recurrence
        cron = cron_expression(rec, table.slots, table.created.year)
        if cron is not None:
            return CronTriggerTimetable(cron, timezone=rec.time_zone)
    return table


def dag_start_date(
    recurrence: dict[str, Any], *, first_run: str = "next_slot", now: dt.datetime | None = None
) -> pendulum.DateTime:
    """The schedule DAG's ``start_date``: the first run v1's rules give (a slot, or the creation time)."""
    return _recurrence_timetable(recurrence, first_run, now).first_run_at.in_timezone("UTC")


def _recurrence_timetable(
    recurrence: dict[str, Any], first_run: str, now: dt.datetime | None
) -> RecurrenceTimetable:
    return RecurrenceTimetable(recurrence, created=creation_time(now), first_run=first_run)


def describe_timetable(timetable: BaseTimetable | CoreTimetable) -> str:
    """A readable sentence for the UI and docs, e.g. 'At 09:00 (Europe/Berlin)'."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    core = coerce_to_core_timetable(timetable)
    if isinstance(core, RecurrenceTimetable):
        return core.description
    zone = getattr(core, "_timezone", None)
    zone_name = getattr(zone, "name", None) or (str(zone) if zone is not None else "")
    text = core.description or core.summary
    if zone_name:
        text = f"{text} ({zone_name})"
    return f"{text} [cron: {core.summary}]" if core.summary != text else text
