"""``RecurrenceTimetable``: the Airflow timetable of a v1 recurrence that cron cannot say exactly.

Registered through the package's AirflowPlugin (``timetables = TIMETABLES``) so the scheduler can
rebuild it from the serialized DAG. First-run rules, DST and catch-up: see the package docstring.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.timetables.recurrence import Recurrence, Slots

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction

FIRST_RUN_MODES = ("next_slot", "immediately")


def creation_time(now: dt.datetime | str | None) -> pendulum.DateTime:
    """The schedule's creation instant in UTC, whole seconds (naive values are UTC)."""
    if now is None:
        return pendulum.now("UTC").replace(microsecond=0)
    value = pendulum.parse(now) if isinstance(now, str) else pendulum.instance(now, tz="UTC")
    return value.in_timezone("UTC").replace(microsecond=0)


def _clock(t: dt.time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def recurrence_words(rec: Recurrence, slots: Slots) -> str:
    """The recurrence in words, e.g. 'every 2 weeks on Mon, Thu at 09:00 (Europe/Berlin)'."""
    unit = rec.frequency.lower()
    text = f"every {unit}" if rec.interval == 1 else f"every {rec.interval} {unit}s"
    if rec.frequency == "Week":
        days = sorted(slots.weekdays)
        text += " on " + ", ".join(pendulum.WeekDay(d).name.capitalize()[:3] for d in days)
    if rec.frequency == "Month":
        day = slots.anchor.day
        text += f" on day {day}" + (" (the last day in shorter months)" if day > 28 else "")
    if rec.frequency in ("Minute", "Hour"):
        text += f" from {slots.anchor.strftime('%H:%M')}"
    else:
        text += " at " + ", ".join(_clock(t) for t in slots.times)
    return f"{text} ({rec.time_zone})"


class RecurrenceTimetable(Timetable):
    """Runs at the slots of a v1 recurrence, counted from its start_time (or its creation time).

    :param recurrence: the recurrence spec (plain JSON dict, see ``Recurrence.from_spec``).
    :param created: when the schedule was created (or its recurrence last updated); anchors a
        recurrence without ``start_time`` and decides the first run. Pass the stored value at every
        DAG parse so the timetable does not move.
    :param first_run: ``"next_slot"`` (default) or ``"immediately"`` (v1's extra run at creation).
    """

    def __init__(
        self, recurrence: dict[str, Any], *, created: dt.datetime | str, first_run: str = "next_slot"
    ) -> None:
        if first_run not in FIRST_RUN_MODES:
            raise UserErrorException(
                f"first_run={first_run!r} is invalid: use one of {list(FIRST_RUN_MODES)}"
            )
        self.recurrence = Recurrence.from_spec(recurrence)
        self.created = creation_time(created)
        self.first_run = first_run
        start = self.recurrence.start
        anchor = start or self.created.in_timezone(self.recurrence.tz).replace(second=0)
        self.slots = Slots(self.recurrence, anchor)
        self.first_run_at = self._first_run_at(start)
        self.description = self._describe()

    def _first_run_at(self, start: pendulum.DateTime | None) -> pendulum.DateTime:
        if self.first_run == "immediately":
            return self.created.in_timezone(self.recurrence.tz)
        if start is not None and start > self.created:
            # v1: a future start_time that falls on a slot of hours/minutes/week_days is skipped
            skip = self.recurrence.has_pattern
            return self.slots.next_after(start) if skip else self.slots.at_or_after(start)
        return self.slots.next_after(self.created)  # no start_time, or one in the past

    def _describe(self) -> str:
        words = recurrence_words(self.recurrence, self.slots)
        origin = self.slots.anchor.isoformat() if self.recurrence.start_time else "the schedule's creation"
        first = "at creation, then " if self.first_run == "immediately" else ""
        return f"{words[0].upper()}{words[1:]}, counted from {origin}; first run {first}at {self.first_run_at.isoformat()}"

    # --- Airflow's timetable protocol ------------------------------------------------------------
    @property
    def summary(self) -> str:
        return recurrence_words(self.recurrence, self.slots)

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> RecurrenceTimetable:
        return cls(data["recurrence"], created=data["created"], first_run=data.get("first_run", "next_slot"))

    def serialize(self) -> dict[str, Any]:
        return {
            "recurrence": self.recurrence.to_spec(),
            "created": self.created.isoformat(),
            "first_run": self.first_run,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecurrenceTimetable):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(repr(self.serialize()))

    def __repr__(self) -> str:
        return f"RecurrenceTimetable({self.serialize()!r})"

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        """A manual run covers its own instant, like Airflow's trigger timetables."""
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        """The next slot; with ``catchup=False`` only the latest missed slot runs, not the others."""
        if last_automated_data_interval is not None:
            candidate = self.slots.next_after(last_automated_data_interval.end)
        else:
            candidate = self.first_run_at
        if restriction.earliest is not None:
            candidate = max(candidate, self.slots.at_or_after(restriction.earliest))
        if not restriction.catchup:
            latest = self.slots.at_or_before(pendulum.now("UTC"))
            if latest is not None and latest > candidate:
                candidate = latest
        if restriction.latest is not None and candidate > restriction.latest:
            return None
        return DagRunInfo.exact(candidate.in_timezone("UTC"))
