"""ScheduleRecurrence and TimeZone: v1's checks and messages, the JSON spec, the IANA mapping."""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest
from babel.core import get_global

from airflow_mlpipe.definitions.schedule import SPEC_KEYS, ScheduleRecurrence, TimeZone, iana_zone
from airflow_mlpipe.definitions.timezones import WINDOWS_TO_IANA
from airflow_mlpipe.exceptions import UserErrorException

# (kwargs, the start of v1's message)
INVALID = [
    ({"frequency": "Daily", "interval": 1}, "Invalid value for frequency, only one of Minute, Hour, Day"),
    ({"frequency": "day", "interval": 1}, "Invalid value for frequency"),
    ({"frequency": "Day", "interval": 0}, "Interval must be an integer greater than 0."),
    ({"frequency": "Day", "interval": -3}, "Interval must be an integer greater than 0."),
    ({"frequency": "Day", "interval": 1.5}, "Interval must be an integer greater than 0."),
    ({"frequency": "Day", "interval": "2"}, "Interval must be an integer greater than 0."),
    ({"frequency": "Day", "interval": True}, "Interval must be an integer greater than 0."),
    (
        {"frequency": "Hour", "interval": 1, "hours": [1]},
        "Can only specify hours if frequency is Week or Day.",
    ),
    (
        {"frequency": "Month", "interval": 1, "hours": [1]},
        "Can only specify hours if frequency is Week or Day.",
    ),
    (
        {"frequency": "Minute", "interval": 5, "minutes": [1]},
        "Can only specify minutes if frequency is Week or Day.",
    ),
    (
        {"frequency": "Day", "interval": 1, "week_days": ["Monday"]},
        "Can only specify week days if frequency is Week.",
    ),
    (
        {"frequency": "Hour", "interval": 1, "time_of_day": "10:00"},
        "Can only specify time_of_day if frequency",
    ),
    (
        {"frequency": "Day", "interval": 1, "hours": [24]},
        "Hours must be a list of integers between 0 and 23.",
    ),
    (
        {"frequency": "Day", "interval": 1, "hours": [-1]},
        "Hours must be a list of integers between 0 and 23.",
    ),
    (
        {"frequency": "Day", "interval": 1, "hours": ["9"]},
        "Hours must be a list of integers between 0 and 23.",
    ),
    ({"frequency": "Day", "interval": 1, "hours": 9}, "Hours must be a list of integers between 0 and 23."),
    (
        {"frequency": "Week", "interval": 1, "minutes": [60]},
        "Minutes must be a list of integers between 0 and 59.",
    ),
    (
        {"frequency": "Week", "interval": 1, "week_days": ["Mon"]},
        "Week days must be a list of str, accepted values",
    ),
    ({"frequency": "Week", "interval": 1, "week_days": ["monday"]}, "Week days must be a list of str"),
    ({"frequency": "Week", "interval": 1, "week_days": []}, "Week days must be a list of str"),
    (
        {"frequency": "Day", "interval": 1, "time_of_day": "09:00", "hours": [9]},
        "Can not specify time_of_day together with hours or minutes.",
    ),
    (
        {"frequency": "Week", "interval": 1, "time_of_day": "09:00", "minutes": [0]},
        "Can not specify time_of_day together with hours or minutes.",
    ),
    ({"frequency": "Day", "interval": 1, "time_zone": 3}, "Time zone is not a valid TimeZone enum."),
    (
        {"frequency": "Day", "interval": 1, "time_zone": "Mars Standard Time"},
        "unknown time zone 'Mars Standard Time'",
    ),
    (
        {"frequency": "Day", "interval": 1, "start_time": datetime(2026, 1, 1, tzinfo=timezone.utc)},
        "Can not specify tzinfo for start_time, use time_zone instead.",
    ),
]


INVALID += [
    (
        {"frequency": "Day", "interval": 1, "time_of_day": v},
        "time_of_day must be a string in the format hh:mm",
    )
    for v in ("25:00", "9.30", 930, "09:60")
]
INVALID += [
    ({"frequency": "Day", "interval": 1, "start_time": v}, "start_time must be a datetime or a string")
    for v in ("tomorrow", "2026-01-01", 1767225600)
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID)
def test_invalid_recurrences_raise_v1_messages(kwargs, message):
    with pytest.raises(UserErrorException) as err:
        ScheduleRecurrence(**kwargs)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)  # v1 raised ValueError; ours is both


def test_validate_rechecks_fields_changed_after_construction():
    r = ScheduleRecurrence("Day", 1)
    r.frequency = "Hour"
    r.time_of_day = "09:00"
    with pytest.raises(UserErrorException, match="Can only specify time_of_day if frequency is Week or Day"):
        r.validate()


VALID = [
    (
        ScheduleRecurrence("Minute", 15),
        {"frequency": "Minute", "interval": 15},
        "every 15 minutes",
    ),
    (ScheduleRecurrence("Hour", 1), {"frequency": "Hour", "interval": 1}, "every hour"),
    (
        ScheduleRecurrence("Day", 2, time_of_day="9:00", time_zone=TimeZone.WEuropeStandardTime),
        {"frequency": "Day", "interval": 2, "time_of_day": "09:00", "time_zone": "Europe/Berlin"},
        "every 2 days at 09:00 Europe/Berlin",
    ),
    (
        ScheduleRecurrence("Week", 1, week_days=["Friday", "Monday"], hours=[14, 10], minutes=[30]),
        {
            "frequency": "Week",
            "interval": 1,
            "week_days": ["Monday", "Friday"],
            "hours": [10, 14],
            "minutes": [30],
        },
        "every week on Monday, Friday at 10:30, 14:30 UTC",
    ),
    (
        ScheduleRecurrence(
            "Week", 2, week_days=["Sunday"], time_of_day="23:45", time_zone=TimeZone.PacificStandardTime
        ),
        {
            "frequency": "Week",
            "interval": 2,
            "week_days": ["Sunday"],
            "time_of_day": "23:45",
            "time_zone": "America/Los_Angeles",
        },
        "every 2 weeks on Sunday at 23:45 America/Los_Angeles",
    ),
    (
        ScheduleRecurrence(
            "Month", 1, start_time=datetime(2026, 1, 31, 6, 0), time_zone=TimeZone.TokyoStandardTime
        ),
        {"frequency": "Month", "interval": 1, "start_time": "2026-01-31T06:00:00", "time_zone": "Asia/Tokyo"},
        "every month Asia/Tokyo, starting 2026-01-31T06:00:00",
    ),
    (
        ScheduleRecurrence("Day", 1, hours=[6], start_time="2026-03-29T00:00:00"),
        {"frequency": "Day", "interval": 1, "hours": [6], "start_time": "2026-03-29T00:00:00"},
        "every day at hour(s) 6 UTC, starting 2026-03-29T00:00:00",
    ),
    (
        ScheduleRecurrence("Day", 1, minutes=[0, 30]),
        {"frequency": "Day", "interval": 1, "minutes": [0, 30]},
        "every day at minute(s) 0, 30 of every hour UTC",
    ),
    (
        ScheduleRecurrence("Hour", 6, time_zone="Europe/London"),
        {"frequency": "Hour", "interval": 6, "time_zone": "Europe/London"},
        "every 6 hours",
    ),
    (
        ScheduleRecurrence("Day", 1, time_of_day="07:05", time_zone="India Standard Time"),
        {"frequency": "Day", "interval": 1, "time_of_day": "07:05", "time_zone": "Asia/Calcutta"},
        "every day at 07:05 Asia/Calcutta",
    ),
]


def _full(spec: dict) -> dict:
    return {k: spec.get(k) for k in SPEC_KEYS}


@pytest.mark.parametrize(("recurrence", "spec", "words"), VALID)
def test_spec_round_trip_and_words(recurrence, spec, words):
    assert recurrence.to_spec() == _full(spec)
    again = ScheduleRecurrence.from_spec(json.loads(json.dumps(recurrence.to_spec())))
    assert again == recurrence
    assert hash(again) == hash(recurrence)
    assert again.to_spec() == recurrence.to_spec()
    assert recurrence.describe() == words
    assert str(recurrence) == words


def test_equality_compares_the_meaning():
    a = ScheduleRecurrence("Day", 1, time_of_day="09:00", time_zone=TimeZone.WEuropeStandardTime)
    b = ScheduleRecurrence("Day", 1, time_of_day="9:00", time_zone="Europe/Berlin")
    c = ScheduleRecurrence("Day", 1, time_of_day="09:00", time_zone="Europe/Paris")
    assert a == b
    assert a != c
    assert a != "every day"
    assert len({a, b, c}) == 2


def test_repr_names_the_arguments():
    r = ScheduleRecurrence("Week", 1, week_days=["Monday"], time_of_day="06:00", time_zone=TimeZone.UTC)
    assert repr(r) == (
        "ScheduleRecurrence(frequency='Week', interval=1, time_zone=TimeZone.UTC, "
        "week_days=['Monday'], time_of_day='06:00')"
    )


def test_start_time_forms_and_aware_start():
    naive = ScheduleRecurrence(
        "Day", 1, start_time=datetime(2026, 7, 1, 9, 30), time_zone=TimeZone.WEuropeStandardTime
    )
    assert naive.start_time == "2026-07-01T09:30:00"
    start = naive.start_datetime()
    assert start is not None and start.utcoffset() == timedelta(hours=2)  # CEST
    winter = ScheduleRecurrence("Day", 1, start_time="2026-01-15T09:30:00", time_zone="Europe/Berlin")
    assert winter.start_datetime().utcoffset() == timedelta(hours=1)
    offset = ScheduleRecurrence.from_spec(
        {"frequency": "Day", "interval": 1, "start_time": "2026-01-15T09:30:00+05:00"}
    )
    assert offset.start_datetime() == datetime(2026, 1, 15, 4, 30, tzinfo=timezone.utc)
    assert ScheduleRecurrence("Day", 1).start_datetime() is None
    assert ScheduleRecurrence("Day", 1).zone() == zoneinfo.ZoneInfo("UTC")


def test_from_spec_rejects_bad_dicts():
    with pytest.raises(UserErrorException, match="at least 'frequency' and 'interval'"):
        ScheduleRecurrence.from_spec({"interval": 1})
    with pytest.raises(UserErrorException, match=r"unknown key\(s\) \['every'\]"):
        ScheduleRecurrence.from_spec({"frequency": "Day", "interval": 1, "every": 2})
    with pytest.raises(UserErrorException, match="Can only specify hours"):
        ScheduleRecurrence.from_spec({"frequency": "Hour", "interval": 1, "hours": [3]})


# ---- TimeZone ------------------------------------------------------------------------------------


def test_time_zone_enum_is_v1s():
    assert len(TimeZone) == 131
    assert TimeZone.PacificStandardTime.value == "Pacific Standard Time"
    assert TimeZone.WEuropeStandardTime.value == "W. Europe Standard Time"
    assert TimeZone.UTC12.value == "UTC+12"
    assert TimeZone.UTC11.value == "UTC-11"
    assert TimeZone("GMT Standard Time") is TimeZone.GMTStandardTime


@pytest.mark.parametrize("member", list(TimeZone), ids=lambda m: m.name)
def test_every_member_maps_to_a_zone_zoneinfo_knows(member):
    name = iana_zone(member)
    zoneinfo.ZoneInfo(name)
    assert iana_zone(member.value) == name
    assert iana_zone(member.name) == name


def test_mapping_is_cldr_windows_zones_territory_001():
    cldr = get_global("windows_zone_mapping")
    dropped = {"Mid-Atlantic Standard Time": "Etc/GMT+2", "Kamchatka Standard Time": "Asia/Kamchatka"}
    for windows, iana in WINDOWS_TO_IANA.items():
        assert iana == dropped.get(windows, cldr.get(windows)), windows
    assert set(WINDOWS_TO_IANA) == {m.value for m in TimeZone}


@pytest.mark.parametrize(
    ("given", "iana"),
    [
        (TimeZone.UTC, "Etc/UTC"),
        (TimeZone.GMTStandardTime, "Europe/London"),
        (TimeZone.EasternStandardTime, "America/New_York"),
        (TimeZone.ChinaStandardTime, "Asia/Shanghai"),
        (TimeZone.AUSEasternStandardTime, "Australia/Sydney"),
        (TimeZone.NewZealandStandardTime, "Pacific/Auckland"),
        (TimeZone.DatelineStandardTime, "Etc/GMT+12"),
        ("Romance Standard Time", "Europe/Paris"),
        ("romancestandardtime", "Europe/Paris"),
        ("America/Chicago", "America/Chicago"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("UTC", "Etc/UTC"),
    ],
)
def test_iana_zone_accepts_member_windows_and_iana_names(given, iana):
    assert iana_zone(given) == iana


@pytest.mark.parametrize("bad", ["Central Europe Time", "Europe/Atlantis", "../etc/passwd", "", "PST8PDT/x"])
def test_iana_zone_rejects_unknown_names_saying_where_to_look(bad):
    with pytest.raises(UserErrorException) as err:
        iana_zone(bad)
    msg = str(err.value)
    assert repr(bad) in msg
    assert "[z.name for z in TimeZone]" in msg and "zoneinfo.available_timezones()" in msg


def test_iana_zone_rejects_other_types():
    with pytest.raises(UserErrorException, match="is a int; pass a TimeZone member"):
        iana_zone(5)  # type: ignore[arg-type]
