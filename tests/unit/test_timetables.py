"""Recurrence spec -> timetable: slot arithmetic, first-run rules, DST, catch-up, serialization."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest
from airflow.sdk import CronTriggerTimetable
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import DataInterval, TimeRestriction

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.timetables import (
    TIMETABLES,
    RecurrenceTimetable,
    dag_start_date,
    describe_timetable,
    timetable_for,
)

CREATED = dt.datetime(2024, 1, 10, 12, 0, 20, tzinfo=dt.timezone.utc)  # a Wednesday
CATCHUP = TimeRestriction(earliest=None, latest=None, catchup=True)
NO_CATCHUP = TimeRestriction(earliest=None, latest=None, catchup=False)


def spec(frequency: str, interval: int = 1, **fields) -> dict:
    return {"frequency": frequency, "interval": interval, **fields}


def slots_after(timetable, after: str, count: int, zone: str) -> list[str]:
    """``count`` successive run times after the local wall time ``after``, as local ISO strings."""
    core = coerce_to_core_timetable(timetable)
    last = DataInterval.exact(pendulum.parse(after, tz=zone).in_timezone("UTC"))
    out = []
    for _ in range(count):
        info = core.next_dagrun_info(last_automated_data_interval=last, restriction=CATCHUP)
        out.append(info.run_after.in_timezone(zone).isoformat())
        last = info.data_interval
    return out


def first_runs(timetable: RecurrenceTimetable, count: int) -> list[str]:
    """The first ``count`` runs of a new schedule (no run yet), local ISO strings."""
    last, out = None, []
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=CATCHUP)
        out.append(info.run_after.in_timezone(timetable.recurrence.time_zone).isoformat())
        last = info.data_interval
    return out


BER, NYC = "Europe/Berlin", "America/New_York"

# (spec, local wall time to count after, expected next runs in local time, expected class)
CASES = [
    # Minute
    (
        spec("Minute", 15, time_zone=BER),
        "2024-01-10T13:07",
        ["13:15", "13:30", "13:45"],
        CronTriggerTimetable,
    ),
    (
        spec("Minute", 1, start_time="2024-01-01T00:00:00"),
        "2024-01-10T13:07",
        ["13:08", "13:09"],
        CronTriggerTimetable,
    ),
    (
        spec("Minute", 7, start_time="2024-01-10T12:00:00"),
        "2024-01-10T12:59",
        ["13:03", "13:10"],
        RecurrenceTimetable,
    ),
    (
        spec("Minute", 90, start_time="2024-01-10T00:10:00"),
        "2024-01-10T02:00",
        ["03:10", "04:40"],
        RecurrenceTimetable,
    ),
    (
        spec("Minute", 20, start_time="2024-01-10T00:05:00"),
        "2024-01-10T01:00",
        ["01:05", "01:25"],
        CronTriggerTimetable,
    ),
    # Hour
    (
        spec("Hour", 1, start_time="2024-01-01T00:10:00", time_zone=BER),
        "2024-01-10T13:10",
        ["14:10", "15:10"],
        CronTriggerTimetable,
    ),
    (
        spec("Hour", 5, start_time="2024-01-01T20:00:00"),
        "2024-01-10T22:00",
        ["2024-01-11T00:00", "2024-01-11T05:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Hour", 6, start_time="2024-01-01T02:30:00"),
        "2024-01-10T09:00",
        ["14:30", "20:30"],
        CronTriggerTimetable,
    ),
    (
        spec("Hour", 6, start_time="2024-01-01T02:30:00", time_zone=BER),
        "2024-01-10T09:00",
        ["14:30", "20:30"],
        RecurrenceTimetable,
    ),
    (
        spec("Hour", 7, start_time="2024-01-01T00:00:00"),
        "2024-01-02T00:00",
        ["2024-01-02T04:00", "2024-01-02T11:00"],
        RecurrenceTimetable,
    ),
    # Day
    (
        spec("Day", 1, time_of_day="09:00", time_zone=BER),
        "2024-01-10T13:00",
        ["2024-01-11T09:00", "2024-01-12T09:00"],
        CronTriggerTimetable,
    ),
    (
        spec("Day", 1, hours=[10, 12, 14], minutes=[30], time_zone=NYC),
        "2024-01-10T11:00",
        ["12:30", "14:30", "2024-01-11T10:30"],
        CronTriggerTimetable,
    ),
    (
        spec("Day", 1, hours=[17, 9], minutes=[0, 30]),
        "2024-01-10T09:15",
        ["09:30", "17:00", "17:30", "2024-01-11T09:00"],
        CronTriggerTimetable,
    ),
    (
        spec("Day", 1, minutes=[45], start_time="2024-01-01T06:00:00"),
        "2024-01-10T07:00",
        ["2024-01-11T06:45"],
        CronTriggerTimetable,
    ),
    (
        spec("Day", 3, start_time="2024-01-01T09:00:00", time_zone=BER),
        "2024-01-10T09:00",
        ["2024-01-13T09:00", "2024-01-16T09:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Day", 2, time_of_day="23:15", start_time="2024-01-01T00:00:00"),
        "2024-01-10T00:00",
        ["2024-01-11T23:15", "2024-01-13T23:15"],
        RecurrenceTimetable,
    ),
    (
        spec("Day", 1, start_time="2024-01-01T09:00:30"),
        "2024-01-10T10:00",
        ["2024-01-11T09:00:30"],
        RecurrenceTimetable,
    ),
    (
        spec("Day", 1, time_of_day="05:30", time_zone="Asia/Kolkata"),
        "2024-01-10T06:00",
        ["2024-01-11T05:30"],
        CronTriggerTimetable,
    ),
    # Week
    (
        spec("Week", 1, week_days=["Monday", "Friday"], time_of_day="08:00", time_zone=BER),
        "2024-01-10T00:00",
        ["2024-01-12T08:00", "2024-01-15T08:00", "2024-01-19T08:00"],
        CronTriggerTimetable,
    ),
    (
        spec("Week", 1, start_time="2024-01-02T07:00:00"),
        "2024-01-10T00:00",
        ["2024-01-16T07:00", "2024-01-23T07:00"],
        CronTriggerTimetable,
    ),
    (
        spec("Week", 2, week_days=["Monday", "Thursday"], hours=[8], start_time="2024-01-03T08:00:00"),
        "2024-01-03T09:00",
        ["2024-01-04T08:00", "2024-01-15T08:00", "2024-01-18T08:00", "2024-01-29T08:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Week", 2, start_time="2024-01-01T10:00:00", time_zone=NYC),
        "2024-01-02T00:00",
        ["2024-01-15T10:00", "2024-01-29T10:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Week", 3, week_days=["Sunday"], time_of_day="06:00", start_time="2024-01-01T00:00:00"),
        "2024-01-01T00:00",
        ["2024-01-07T06:00", "2024-01-28T06:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Week", 1, week_days=["Saturday", "Sunday"], hours=[0, 12], minutes=[0]),
        "2024-01-12T23:00",
        ["2024-01-13T00:00", "2024-01-13T12:00", "2024-01-14T00:00"],
        CronTriggerTimetable,
    ),
    # Month
    (
        spec("Month", 1, start_time="2024-01-05T10:00:00"),
        "2024-01-10T00:00",
        ["2024-02-05T10:00", "2024-03-05T10:00"],
        CronTriggerTimetable,
    ),
    (
        spec("Month", 1, start_time="2024-01-31T10:00:00"),
        "2024-01-31T11:00",
        ["2024-02-29T10:00", "2024-03-31T10:00", "2024-04-30T10:00", "2024-05-31T10:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Month", 2, start_time="2023-12-31T08:00:00"),
        "2024-01-01T00:00",
        ["2024-02-29T08:00", "2024-04-30T08:00", "2024-06-30T08:00", "2024-08-31T08:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Month", 3, start_time="2023-11-15T09:00:00", time_zone=BER),
        "2024-01-01T00:00",
        ["2024-02-15T09:00", "2024-05-15T09:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Month", 1, start_time="2023-01-29T00:00:00"),
        "2023-02-01T00:00",
        ["2023-02-28T00:00", "2023-03-29T00:00"],
        RecurrenceTimetable,
    ),
    (
        spec("Month", 12, start_time="2024-02-29T12:00:00"),
        "2024-03-01T00:00",
        ["2025-02-28T12:00", "2026-02-28T12:00", "2027-02-28T12:00", "2028-02-29T12:00"],
        RecurrenceTimetable,
    ),
]


def _expand(after: str, expected: list[str]) -> list[str]:
    """'HH:MM' entries are on the day of ``after``; full entries keep their date."""
    day = after[:10]
    return [e if "T" in e else f"{day}T{e}" for e in expected]


@pytest.mark.parametrize(("recurrence", "after", "expected", "kind"), CASES)
def test_next_runs_table(recurrence, after, expected, kind):
    timetable = timetable_for(recurrence, now=CREATED)
    assert isinstance(timetable, kind)
    zone = recurrence.get("time_zone") or "UTC"
    got = slots_after(timetable, after, len(expected), zone)
    want = [pendulum.parse(e, tz=zone).isoformat() for e in _expand(after, expected)]
    assert got == want


@pytest.mark.parametrize("recurrence", [c[0] for c in CASES if c[3] is CronTriggerTimetable])
@pytest.mark.parametrize(
    "after",
    # the days before each change (Europe/Berlin, America/New_York), and an hour before it
    [
        "2024-03-29T00:00",
        "2024-10-25T00:00",
        "2024-03-08T00:00",
        "2024-10-31T00:00",
        "2024-03-31T00:30",
        "2024-10-27T00:30",
        "2024-03-10T00:30",
        "2024-11-03T00:30",
    ],
)
def test_cron_and_recurrence_timetable_agree_across_dst(recurrence, after):
    """Where cron is used, our own slot arithmetic gives the very same runs (DST weeks included)."""
    zone = recurrence.get("time_zone") or "UTC"
    ours = RecurrenceTimetable(recurrence, created=CREATED)
    cron = timetable_for(recurrence, now=CREATED)
    count = 200 if recurrence["frequency"] in ("Minute", "Hour") else 12
    assert slots_after(ours, after, count, zone) == slots_after(cron, after, count, zone)


@pytest.mark.parametrize(
    ("zone", "change"), [(BER, "2024-03-31"), (BER, "2024-10-27"), (NYC, "2024-03-10"), (NYC, "2024-11-03")]
)
@pytest.mark.parametrize("interval", [1, 2])
def test_daily_0900_stays_0900_local_in_march_and_october(zone, change, interval):
    recurrence = spec("Day", interval, time_of_day="09:00", time_zone=zone, start_time="2024-03-01T00:00:00")
    timetable = timetable_for(recurrence, now=CREATED)
    before = pendulum.parse(change).subtract(days=5).format("YYYY-MM-DDTHH:mm")
    runs = [pendulum.parse(r) for r in slots_after(timetable, before, 10 // interval, zone)]
    assert {(r.hour, r.minute) for r in runs} == {(9, 0)}
    offsets = [r.utcoffset() for r in runs]  # the change lies inside the window: the UTC time moves
    assert len(set(offsets)) == 2 and abs(offsets[-1] - offsets[0]) == dt.timedelta(hours=1)


@pytest.mark.parametrize("use_cron", [True, False])
def test_spring_forward_gap_and_autumn_repeat(use_cron):
    """02:30 does not exist on 2024-03-31 in Berlin (-> 03:30 CEST); on 2024-10-27 it runs once, at 02:30 CET."""
    if use_cron:
        timetable = timetable_for(spec("Day", 1, time_of_day="02:30", time_zone=BER), now=CREATED)
        assert isinstance(timetable, CronTriggerTimetable)
    else:
        timetable = timetable_for(
            spec("Day", 2, time_of_day="02:30", time_zone=BER, start_time="2024-03-29T00:00:00"), now=CREATED
        )
        assert isinstance(timetable, RecurrenceTimetable)
    march = slots_after(timetable, "2024-03-30T12:00", 2, BER)
    assert march[0] == "2024-03-31T03:30:00+02:00"
    october = slots_after(timetable, "2024-10-26T12:00", 2, BER)
    assert october[0] == "2024-10-27T02:30:00+01:00"
    assert october[1] in ("2024-10-28T02:30:00+01:00", "2024-10-29T02:30:00+01:00")


@pytest.mark.parametrize(
    "recurrence",
    [spec("Hour", 5, start_time="2024-03-30T20:00:00", time_zone=BER), spec("Minute", 15, time_zone=BER)],
)
@pytest.mark.parametrize("after", ["2024-03-30T22:00", "2024-10-26T22:00"])
def test_elapsed_time_recurrences_keep_their_spacing_across_dst(recurrence, after):
    timetable = timetable_for(recurrence, now=CREATED)
    runs = [pendulum.parse(r) for r in slots_after(timetable, after, 30, BER)]
    steps = {(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)}
    assert steps == {recurrence["interval"] * (3600 if recurrence["frequency"] == "Hour" else 60)}


# --- first-run rules ---------------------------------------------------------------------------
FIRST_RUN = [
    # future start_time, no hours/minutes/week_days: the first run is start_time itself
    (spec("Day", 3, start_time="2024-02-01T09:00:00"), "next_slot", ["2024-02-01T09:00", "2024-02-04T09:00"]),
    # future start_time on a slot of time_of_day/week_days: v1 skips it
    (
        spec("Week", 1, week_days=["Monday"], time_of_day="09:00", start_time="2024-01-15T09:00:00"),
        "next_slot",
        ["2024-01-22T09:00", "2024-01-29T09:00"],
    ),
    # future start_time off the pattern: the next slot after it
    (
        spec("Day", 1, hours=[9, 18], start_time="2024-01-15T10:00:00"),
        "next_slot",
        ["2024-01-15T18:00", "2024-01-16T09:00"],
    ),
    # start_time in the past: the next calculated slot after creation, not the missed ones
    (spec("Day", 3, start_time="2023-12-01T09:00:00"), "next_slot", ["2024-01-12T09:00", "2024-01-15T09:00"]),
    # no start_time: counted from creation (to the minute); first run one interval later
    (spec("Day", 3), "next_slot", ["2024-01-13T12:00", "2024-01-16T12:00"]),
    (spec("Minute", 7), "next_slot", ["2024-01-10T12:07", "2024-01-10T12:14"]),
    # v1's immediate first run, on request only
    (spec("Day", 3), "immediately", ["2024-01-10T12:00:20", "2024-01-13T12:00", "2024-01-16T12:00"]),
    (
        spec("Week", 1, week_days=["Monday"], time_of_day="04:50"),
        "immediately",
        ["2024-01-10T12:00:20", "2024-01-15T04:50"],
    ),
]


@pytest.mark.parametrize(("recurrence", "mode", "expected"), FIRST_RUN)
def test_first_run_rules(recurrence, mode, expected):
    timetable = RecurrenceTimetable(recurrence, created=CREATED, first_run=mode)
    assert first_runs(timetable, len(expected)) == [pendulum.parse(e, tz="UTC").isoformat() for e in expected]


def test_timetable_for_picks_cron_only_where_exact():
    daily = spec("Day", 1, time_of_day="09:00")
    assert isinstance(timetable_for(daily, now=CREATED), CronTriggerTimetable)
    future = {**daily, "start_time": "2024-02-01T09:00:00"}  # on a slot: v1 skips it
    assert isinstance(timetable_for(future, now=CREATED), CronTriggerTimetable)
    assert dag_start_date(future, now=CREATED) == pendulum.datetime(2024, 2, 2, 9)
    assert isinstance(timetable_for(daily, now=CREATED, first_run="immediately"), RecurrenceTimetable)
    assert dag_start_date(daily, now=CREATED, first_run="immediately") == CREATED
    assert isinstance(timetable_for({**daily, "interval": 2}, now=CREATED), RecurrenceTimetable)


@pytest.mark.parametrize(
    "recurrence", [spec("Minute", 5), spec("Minute", 7), spec("Day", 1, time_of_day="00:00")]
)
def test_a_new_schedule_waits_for_its_next_slot_with_catchup_off(recurrence, mlpipe_timetables_plugin):
    """Through a real DAG with ``start_date=dag_start_date(...)``: no run at creation."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    created = pendulum.now("UTC")
    timetable = timetable_for(recurrence, now=created)
    start = dag_start_date(recurrence, now=created)
    dag = DAG("schedule_new", schedule=timetable, start_date=start, catchup=False)
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    info = restored.next_dagrun_info(last_automated_run_info=None)
    assert info.run_after == start > created


def test_without_start_date_airflow_cron_would_run_a_past_slot_at_once():
    """Why dag_start_date exists: Airflow's cron timetable alone runs the latest past slot first."""
    timetable = coerce_to_core_timetable(timetable_for(spec("Minute", 1), now=pendulum.now("UTC")))
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=NO_CATCHUP)
    assert info.run_after <= pendulum.now("UTC")


# --- no catch-up ---------------------------------------------------------------------------------
def test_without_catchup_only_the_latest_missed_slot_runs():
    created = pendulum.now("UTC").subtract(days=10)
    timetable = RecurrenceTimetable(spec("Minute", 7), created=created)
    step = dt.timedelta(minutes=7)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=NO_CATCHUP).run_after
    now = pendulum.now("UTC")
    assert now - step < first <= now  # the latest slot, not the one 10 days ago
    assert (first.int_timestamp - timetable.slots.anchor.int_timestamp) % 420 == 0
    ten_days_ago = DataInterval.exact(created.add(minutes=7))
    skipped = timetable.next_dagrun_info(last_automated_data_interval=ten_days_ago, restriction=NO_CATCHUP)
    assert skipped.run_after == first or skipped.run_after == first + step
    caught_up = timetable.next_dagrun_info(last_automated_data_interval=ten_days_ago, restriction=CATCHUP)
    assert caught_up.run_after == timetable.slots.next_after(ten_days_ago.end) < first
    after_first = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval.exact(first), restriction=NO_CATCHUP
    )
    assert after_first.run_after >= first + step


def test_without_catchup_a_future_start_time_still_waits():
    start = pendulum.now("UTC").add(days=2).replace(microsecond=0)
    timetable = RecurrenceTimetable(spec("Day", 2, start_time=start.isoformat()), created=pendulum.now("UTC"))
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=NO_CATCHUP)
    assert info.run_after == start


def test_latest_and_earliest_restrictions():
    timetable = RecurrenceTimetable(spec("Day", 3, start_time="2024-01-01T09:00:00"), created=CREATED)
    late = TimeRestriction(earliest=pendulum.datetime(2024, 2, 1), latest=None, catchup=True)
    assert timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=late
    ).run_after == pendulum.datetime(2024, 2, 3, 9)
    ends = TimeRestriction(earliest=None, latest=pendulum.datetime(2024, 1, 12), catchup=True)
    assert timetable.next_dagrun_info(last_automated_data_interval=None, restriction=ends) is None


def test_manual_runs_cover_their_own_instant():
    timetable = RecurrenceTimetable(spec("Day", 3), created=CREATED)
    at = pendulum.datetime(2024, 5, 5, 5, 5)
    assert timetable.infer_manual_data_interval(run_after=at) == DataInterval(at, at)


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "names"),
    [
        (spec("Fortnight"), "frequency"),
        (spec("Day", 0), "interval"),
        (spec("Day", True), "interval"),
        (spec("Month", hours=[3]), "hours"),
        (spec("Hour", time_of_day="10:00"), "time_of_day"),
        (spec("Day", week_days=["Monday"]), "week_days"),
        (spec("Week", week_days=["Funday"]), "week_days"),
        (spec("Day", time_of_day="10:00", hours=[3]), "time_of_day"),
        (spec("Day", time_of_day="25:00"), "time_of_day"),
        (spec("Day", minutes=[60]), "minutes"),
        (spec("Day", time_zone="Mars/Olympus"), "time_zone"),
        (spec("Day", start_time="tomorrow"), "start_time"),
        ({**spec("Day"), "week_day": ["Monday"]}, "unknown keys"),
    ],
)
def test_invalid_recurrences_are_refused_naming_the_field(bad, names):
    with pytest.raises(UserErrorException, match=names):
        timetable_for(bad, now=CREATED)


def test_invalid_first_run_mode():
    with pytest.raises(UserErrorException, match="first_run"):
        timetable_for(spec("Day"), now=CREATED, first_run="asap")


def test_start_time_with_an_offset_is_read_in_the_time_zone():
    timetable = RecurrenceTimetable(
        spec("Day", 2, start_time="2024-02-01T08:00:00+00:00", time_zone=BER), created=CREATED
    )
    assert timetable.slots.anchor.isoformat() == "2024-02-01T09:00:00+01:00"


# --- description and serialization --------------------------------------------------------------
def test_descriptions():
    ours = timetable_for(
        spec("Week", 2, week_days=["Thursday", "Monday"], time_of_day="09:00", time_zone=BER), now=CREATED
    )
    assert ours.summary == "every 2 weeks on Mon, Thu at 09:00 (Europe/Berlin)"
    assert describe_timetable(ours).startswith("Every 2 weeks on Mon, Thu at 09:00 (Europe/Berlin)")
    assert "first run at 2024-01-11T09:00:00+01:00" in describe_timetable(ours)
    cron = timetable_for(spec("Day", 1, time_of_day="09:00", time_zone=BER), now=CREATED)
    assert describe_timetable(cron) == "At 09:00 (Europe/Berlin) [cron: 0 9 * * *]"


@pytest.fixture
def mlpipe_timetables_plugin():
    """The package's own plugin (entry point ``airflow.plugins``) registers RecurrenceTimetable."""
    from airflow import plugins_manager

    for cache in (plugins_manager._get_plugins, plugins_manager.get_timetables_plugins):
        cache.cache_clear()
    registered = plugins_manager.get_timetables_plugins()
    assert registered["airflow_mlpipe.timetables.timetable.RecurrenceTimetable"] is RecurrenceTimetable


ROUND_TRIP = [
    spec("Day", 3, start_time="2024-01-01T09:00:00", time_zone=BER),
    spec("Week", 2, week_days=["Monday", "Thursday"], hours=[8, 20], minutes=[15]),
    spec("Month", 1, start_time="2024-01-31T10:00:00"),
    spec("Minute", 7),
    spec("Day", 1, time_of_day="09:00", time_zone=BER),  # cron: Airflow's own serializer
]


@pytest.mark.parametrize("recurrence", ROUND_TRIP)
def test_serialization_round_trip_through_airflow(recurrence, mlpipe_timetables_plugin):
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable

    timetable = timetable_for(
        recurrence, now=CREATED, first_run="immediately" if recurrence["interval"] == 7 else "next_slot"
    )
    encoded = json.loads(json.dumps(encode_timetable(timetable)))
    decoded = decode_timetable(encoded)
    assert decoded == coerce_to_core_timetable(timetable)
    assert decoded.summary == coerce_to_core_timetable(timetable).summary
    zone = recurrence.get("time_zone") or "UTC"
    assert slots_after(decoded, "2024-01-20T00:00", 5, zone) == slots_after(
        timetable, "2024-01-20T00:00", 5, zone
    )
    if isinstance(timetable, RecurrenceTimetable):
        assert encoded["__type"] == "airflow_mlpipe.timetables.timetable.RecurrenceTimetable"
        assert first_runs(decoded, 3) == first_runs(timetable, 3)


def test_a_dag_accepts_it_and_serializes(mlpipe_timetables_plugin):
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    timetable = timetable_for(spec("Day", 3, start_time="2024-01-01T09:00:00", time_zone=BER), now=CREATED)
    dag = DAG("schedule_every_3_days", schedule=timetable, catchup=False)
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    assert restored.timetable == timetable
    assert restored.timetable.description == timetable.description
    assert TIMETABLES == [RecurrenceTimetable]
