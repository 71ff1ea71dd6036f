"""Time-based schedules: a v1 ``ScheduleRecurrence`` spec becomes an Airflow timetable.

``timetable_for(spec, now=created)`` returns Airflow's ``CronTriggerTimetable`` when a cron
expression has exactly the recurrence's slots, else this package's ``RecurrenceTimetable``
(registered through the plugin: ``timetables = TIMETABLES``). Use it as
``DAG(schedule=timetable_for(spec, now=created), start_date=dag_start_date(spec, now=created),
catchup=False)``: the start_date is the first run v1's rules give; Airflow's cron timetable
needs it (with catchup=False and no start_date it would run the latest past slot at once),
``RecurrenceTimetable`` applies the rules itself. ``created`` is the schedule's stored creation
(or last recurrence update) time, the same at every parse.

Slots (v1's docs: the recurrence counts from start_time; hours/minutes/week_days pick the times):
- Minute, Hour: ``start + k * interval`` in elapsed time (a DST change does not stretch a step).
- Day, Week, Month: periods of ``interval`` days / calendar weeks (Monday first, as RFC 5545)
  / months counted from the start date; slots before the start are not run; times are wall-clock in ``time_zone``: ``time_of_day`` or ``hours`` x ``minutes``
  (a missing list takes the start's hour/minute), ``week_days`` (default: the start's weekday).
  A monthly recurrence from Jan 31 runs Feb 28 (29), Mar 31, Apr 30: the start's day, or the
  month's last day when the month is shorter.
- No start_time: the anchor is the schedule's creation time (``now``), to the minute.

DST (as Airflow's cron timetables do, ``fold=1``): wall times stay put on both sides of a change
(09:00 Europe/Berlin is 09:00 in March and October); a slot in the spring-forward gap moves
forward by the gap (02:30 -> 03:30 CEST); a time the autumn change repeats runs once, at its
second occurrence (02:30 CET).

First run (v1's ``start_time`` rules):
- start_time in the future: the first slot at start_time or after; if hours/minutes/time_of_day/
  week_days are given and start_time falls on a slot, that slot is skipped (v1: "the first
  workload does not run at start_time, but at the next calculated run time").
- start_time in the past: the next slot after creation ("the next calculated run time").
- no start_time: v1 ran the first workload at creation, which surprised users (an extra run);
  here the default ``first_run="next_slot"`` waits for the next slot; ``first_run="immediately"``
  adds v1's run at creation (for any start_time), then follows the slots.

No catch-up: with ``catchup=False`` a scheduler that was down runs only the latest missed slot.
``DeltaTriggerTimetable`` is never used: it counts from the last run (and from "now" when
catchup is off), so its phase drifts from start_time, and its first run is immediate.
"""

from __future__ import annotations

from airflow_mlpipe.timetables.mapping import (
    cron_expression,
    dag_start_date,
    describe_timetable,
    timetable_for,
)
from airflow_mlpipe.timetables.recurrence import Recurrence, Slots
from airflow_mlpipe.timetables.timetable import RecurrenceTimetable

TIMETABLES = [RecurrenceTimetable]

__all__ = [
    "TIMETABLES",
    "Recurrence",
    "RecurrenceTimetable",
    "Slots",
    "cron_expression",
    "dag_start_date",
    "describe_timetable",
    "timetable_for",
]
