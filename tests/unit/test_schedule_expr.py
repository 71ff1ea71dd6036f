"""Trigger-time expressions of schedule parameters: every function, .NET formats, errors with positions.

Expected values follow the examples of Data Factory's expression-function reference (corrected where
its printed results drop digits) and .NET's DateTime formatting (en-US).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from airflow_mlpipe.definitions.schedule_expr import (
    ScheduleExpressionError,
    TriggerContext,
    check_expression,
    evaluate,
    evaluate_parameters,
    is_expression,
)
from airflow_mlpipe.dotnet_datefmt import DotnetFormatError, render
from airflow_mlpipe.exceptions import UserErrorException

SCHEDULED = datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc)  # a Saturday
STARTED = datetime(2026, 1, 31, 9, 0, 3, 250000, tzinfo=timezone.utc)
RUN_ID = "scheduled__2026-01-31T09:00:00+00:00"
CTX = TriggerContext(SCHEDULED, STARTED, RUN_ID)

CASES = [
    # the run's values
    ("@trigger().scheduledTime", "2026-01-31T09:00:00.0000000Z"),
    ("@trigger().startTime", "2026-01-31T09:00:03.2500000Z"),
    ("@trigger().SCHEDULEDTIME", "2026-01-31T09:00:00.0000000Z"),
    ("@trigger()['startTime']", "2026-01-31T09:00:03.2500000Z"),
    ("@utcNow()", "2026-01-31T09:00:03.2500000Z"),
    ("@utcnow('yyyy-MM-dd')", "2026-01-31"),
    ("@UTCNOW('D')", "Saturday, January 31, 2026"),
    ("@runId()", RUN_ID),
    ("@formatDateTime(addDays(utcNow(),-1),'yyyy-MM-dd')", "2026-01-30"),
    ("@formatDateTime(trigger().scheduledTime, 'yyyy/MM/dd/HH')", "2026/01/31/09"),
    ("@getFutureTime(5, 'Day')", "2026-02-05T09:00:03.2500000Z"),
    ("@getPastTime(1, 'Month', 'yyyy-MM')", "2025-12"),
    ("@getPastTime(2, 'hour', 'HH:mm')", "07:00"),
    # date functions (Data Factory's examples)
    ("@addDays('2018-03-15T13:00:00Z', 10)", "2018-03-25T13:00:00.0000000Z"),
    ("@addDays('2018-03-15T00:00:00Z', -5)", "2018-03-10T00:00:00.0000000Z"),
    ("@addDays('2018-02-27T00:00:00Z', 2, 'yyyy-MM-dd')", "2018-03-01"),
    ("@addHours('2018-03-15T00:00:00Z', 10)", "2018-03-15T10:00:00.0000000Z"),
    ("@addHours('2018-03-15T15:00:00Z', -5)", "2018-03-15T10:00:00.0000000Z"),
    ("@addMinutes('2018-03-15T00:10:00Z', 10)", "2018-03-15T00:20:00.0000000Z"),
    ("@addMinutes('2018-03-15T00:20:00Z', -5)", "2018-03-15T00:15:00.0000000Z"),
    ("@addSeconds('2018-03-15T00:00:00Z', 10)", "2018-03-15T00:00:10.0000000Z"),
    ("@addSeconds('2018-03-15T00:00:30Z', -5)", "2018-03-15T00:00:25.0000000Z"),
    ("@addToTime('2018-01-01T00:00:00Z', 1, 'Day')", "2018-01-02T00:00:00.0000000Z"),
    ("@addToTime('2018-01-01T00:00:00Z', 1, 'Day', 'D')", "Tuesday, January 2, 2018"),
    ("@addToTime('2018-01-01T00:00:00Z', 2, 'Week', 'yyyy-MM-dd')", "2018-01-15"),
    ("@addToTime('2026-01-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')", "2026-02-28"),
    ("@addToTime('2024-02-29T00:00:00Z', 1, 'Year', 'yyyy-MM-dd')", "2025-02-28"),
    ("@addToTime('2018-01-01T00:00:00Z', 90, 'second', 'HH:mm:ss')", "00:01:30"),
    ("@subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day')", "2018-01-01T00:00:00.0000000Z"),
    ("@subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day', 'D')", "Monday, January 1, 2018"),
    ("@subtractFromTime('2026-03-31T10:00:00Z', 1, 'Month', 'yyyy-MM-dd')", "2026-02-28"),
    (
        "@convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time')",
        "2018-01-01T00:00:00.0000000",
    ),
    (
        "@convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time', 'D')",
        "Monday, January 1, 2018",
    ),
    ("@convertFromUtc('2018-07-01T08:00:00Z', 'America/Los_Angeles', 'HH:mm')", "01:00"),
    (
        "@convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time')",
        "2018-01-01T00:00:00.0000000",
    ),
    (
        "@convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time', 'D')",
        "Monday, January 1, 2018",
    ),
    (
        "@convertTimeZone('2018-01-01T09:00:00', 'W. Europe Standard Time', 'Tokyo Standard Time', 't')",
        "5:00 PM",
    ),
    ("@convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time')", "2018-01-01T08:00:00.0000000Z"),
    ("@convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time', 'D')", "Monday, January 1, 2018"),
    ("@convertToUtc('2018-07-01T09:00:00', 'WEuropeStandardTime', 'HH:mm')", "07:00"),
    ("@dayOfMonth('2018-03-15T13:27:36Z')", 15),
    ("@dayOfWeek('2018-03-15T13:27:36Z')", 4),
    ("@dayOfWeek('2018-03-18T13:27:36Z')", 0),
    ("@dayOfWeek(trigger().scheduledTime)", 6),
    ("@dayOfYear('2018-03-15T13:27:36Z')", 74),
    ("@dayOfYear('2024-12-31')", 366),
    ("@formatDateTime('03/15/2018')", "2018-03-15T00:00:00.0000000"),
    ("@formatDateTime('03/15/2018 12:00:00', 'yyyy-MM-ddTHH:mm:ss')", "2018-03-15T12:00:00"),
    ("@formatDateTime('3/5/2018 1:05 PM', 'HH:mm')", "13:05"),
    ("@formatDateTime('2018-03-15T13:27:36.1234567Z', 'fffffff')", "1234560"),
    ("@formatDateTime('2018-03-15T13:27:36+02:00')", "2018-03-15T11:27:36.0000000Z"),
    ("@formatDateTime('2018-03-15 13:27', 's')", "2018-03-15T13:27:00"),
    ("@startOfDay('2018-03-15T13:30:30Z')", "2018-03-15T00:00:00.0000000Z"),
    ("@startOfHour('2018-03-15T13:30:30Z')", "2018-03-15T13:00:00.0000000Z"),
    ("@startOfMonth('2018-03-15T13:30:30Z')", "2018-03-01T00:00:00.0000000Z"),
    ("@startOfMonth('2018-03-15T13:30:30Z', 'yyyy-MM-dd')", "2018-03-01"),
    ("@ticks('2018-03-15T13:27:36Z')", 636567172560000000),
    ("@ticks('0001-01-01T00:00:00Z')", 0),
    # UTC arithmetic does not see DST changes; zone conversions do
    ("@addHours('2026-03-29T00:30:00Z', 24)", "2026-03-30T00:30:00.0000000Z"),
    ("@addDays('2026-10-25T00:30:00+02:00', 1)", "2026-10-25T22:30:00.0000000Z"),
    ("@convertFromUtc('2026-03-29T00:30:00Z', 'W. Europe Standard Time', 'HH:mm')", "01:30"),
    ("@convertFromUtc('2026-03-29T01:30:00Z', 'W. Europe Standard Time', 'HH:mm')", "03:30"),
    ("@convertToUtc('2026-10-25T02:30:00', 'W. Europe Standard Time')", "2026-10-25T01:30:00.0000000Z"),
    ("@convertToUtc('2026-10-25T01:30:00', 'W. Europe Standard Time')", "2026-10-24T23:30:00.0000000Z"),
    # strings
    ("@concat('Hello', 'World')", "HelloWorld"),
    ("@concat('Baba', '''s ', 'book store')", "Baba's book store"),
    ("@concat('run_', dayOfMonth(utcNow()), '_', true)", "run_31_True"),
    ("@endsWith('hello world', 'WORLD')", True),
    ("@endsWith('hello world', 'universe')", False),
    ("@startsWith('hello world', 'hello')", True),
    ("@indexOf('hello world', 'World')", 6),
    ("@indexOf('hello world', 'xyz')", -1),
    ("@lastIndexOf('hello world hello world', 'world')", 18),
    ("@replace('the old string', 'old', 'new')", "the new string"),
    ("@split('a_b_c', '_')", ["a", "b", "c"]),
    ("@split('a/b/c', '/')[1]", "b"),
    ("@substring('hello world', 6, 5)", "world"),
    ("@substring('hello', 1)", "ello"),
    ("@toLower('Hello World')", "hello world"),
    ("@toUpper('Hello World')", "HELLO WORLD"),
    ("@trim(' Hello World  ')", "Hello World"),
    # collections
    ("@contains('hello world', 'world')", True),
    ("@contains('hello world', 'World')", False),
    ("@contains(createArray('a', 'b'), 'b')", True),
    ("@contains(json('{\"a\": 1}'), 'a')", True),
    ("@empty('')", True),
    ("@empty(json('[]'))", True),
    ("@empty('x')", False),
    ("@first('hello')", "h"),
    ("@first(createArray(0, 1, 2))", 0),
    ("@last('abcd')", "d"),
    ("@last(createArray(0, 1, 2))", 2),
    ("@length('abc')", 3),
    ("@length(createArray('a', 'b'))", 2),
    ("@join(createArray('a', 'b', 'c'), '.')", "a.b.c"),
    ("@skip(createArray(0, 1, 2, 3), 2)", [2, 3]),
    ("@take('abcde', 3)", "abc"),
    ("@createArray(1, 'a', null)", [1, "a", None]),
    ("@range(1, 4)", [1, 2, 3, 4]),
    # logic and comparisons
    ("@and(true, true)", True),
    ("@and(equals(1, 1), equals(1, 2))", False),
    ("@or(false, true)", True),
    ("@not(equals(1, 2))", True),
    ("@equals('abc', 'abc')", True),
    ("@equals('a', 'A')", False),
    ("@equals(1, 1.0)", True),
    ("@equals(true, 1)", False),
    ("@greater(10, 5)", True),
    ("@greater('apple', 'banana')", False),
    ("@greaterOrEquals(5, 5)", True),
    ("@less(5, 10)", True),
    ("@lessOrEquals('apple', 'apple')", True),
    ("@if(equals(dayOfWeek(trigger().scheduledTime), 6), 'weekend', 'weekday')", "weekend"),
    ("@if(true, 'yes', div(1, 0))", "yes"),
    # conversions
    ("@string(10)", "10"),
    ("@string(false)", "False"),
    ("@string(createArray(1, 'a'))", '[1,"a"]'),
    ("@int('10')", 10),
    ("@float('10.333')", 10.333),
    ("@bool(1)", True),
    ("@bool('False')", False),
    ("@json('{\"x\": [1, 2]}')", {"x": [1, 2]}),
    ("@json('{\"x\": [1, 2]}').x[1]", 2),
    ("@coalesce(null, 'hello', 'world')", "hello"),
    ("@coalesce(null)", None),
    ("@base64('hello')", "aGVsbG8="),
    ("@base64ToString('aGVsbG8=')", "hello"),
    ("@decodeBase64('aGVsbG8=')", "hello"),
    ("@uriComponent('https://contoso.com')", "https%3A%2F%2Fcontoso.com"),
    ("@encodeUriComponent('a b')", "a%20b"),
    ("@uriComponentToString('https%3A%2F%2Fcontoso.com')", "https://contoso.com"),
    ("@decodeUriComponent('a%20b')", "a b"),
    # math
    ("@add(1, 1.5)", 2.5),
    ("@sub(10, 3)", 7),
    ("@mul(1.5, 2)", 3.0),
    ("@div(10, 5)", 2),
    ("@div(11, 5)", 2),
    ("@div(-11, 5)", -2),
    ("@div(11, 5.0)", 2.2),
    ("@mod(3, 2)", 1),
    ("@mod(-5, 3)", -2),
    ("@min(1, 2, 3)", 1),
    ("@min(createArray(4, 2, 3))", 2),
    ("@max(1, 2, 3)", 3),
    ("@rand(1, 2)", 1),
    ("@-1", -1),
    ("@'text'", "text"),
    ("@null", None),
    # text with @{...}, and escapes
    ("day_@{dayOfMonth(utcNow())}.csv", "day_31.csv"),
    ("@{add(1, 2)}", "3"),
    ("@add(1, 2)", 3),
    (
        "data/@{formatDateTime(trigger().scheduledTime, 'yyyy/MM/dd')}/part-@{runId()}",
        f"data/2026/01/31/part-{RUN_ID}",
    ),
    ("@{equals(1, 1)}", "True"),
    ("a @{'}'} b", "a } b"),
    ("@@", "@"),
    ("@@utcNow()", "@utcNow()"),
    ("Answer is: @@{add(1, 2)}", "Answer is: @{add(1, 2)}"),
    ("mail@example.com", "mail@example.com"),
    (" @utcNow()", " @utcNow()"),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_expressions_evaluate_like_data_factory(expression, expected):
    check_expression(expression, "schedule 's': pipeline parameter 'p'")
    value = evaluate(expression, CTX)
    assert value == expected
    assert type(value) is type(expected)


def test_guid_shapes():
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", evaluate("@guid()", CTX)
    )
    assert re.fullmatch(r"[0-9a-f]{32}", evaluate("@guid('n')", CTX))
    assert re.fullmatch(r"\{[0-9a-f-]{36}\}", evaluate("@guid('B')", CTX))
    assert evaluate("@guid()", CTX) != evaluate("@guid()", CTX)


def test_other_offsets_and_zones_of_the_context_are_rendered_in_utc():
    berlin = timezone(timedelta(hours=1))
    ctx = TriggerContext(
        datetime(2026, 1, 31, 10, 0, tzinfo=berlin), datetime(2026, 1, 31, 10, 1, tzinfo=berlin), "r"
    )
    assert evaluate("@trigger().scheduledTime", ctx) == "2026-01-31T09:00:00.0000000Z"
    assert evaluate("@utcNow('HH:mm K')", ctx) == "09:01 Z"


# (expression, message part, 1-based position) for errors found before any run
STATIC_ERRORS = [
    ("@addDay(utcNow(), 1)", "unknown function 'addDay'; the functions are: add, addDays,", 2),
    ("@addDays(utcNow())", "addDays() takes 2 to 3 argument(s), got 1", 2),
    ("@utcNow('yyyy', 1)", "utcNow() takes 0 to 1 argument(s), got 2", 2),
    ("@concat()", "concat() takes 1 or more argument(s), got 0", 2),
    ("@trigger(1)", "trigger() takes 0 argument(s), got 1", 2),
    ("@utcNow", "'utcNow' is not a value; quote text as 'utcNow' or call a function", 2),
    ("@", "the expression ends where a value is expected", 2),
    ("@formatDateTime(utcNow(), 'yyyy", "this string is not closed", 27),
    ("@concat('a'", "expected ',' or ')' in the arguments of concat(), found the end", 12),
    ("@concat('a' 'b')", "expected ',' or ')' in the arguments of concat(), found \"'b'\"", 13),
    ("@utcNow() x", "unexpected 'x' after the end of the expression", 11),
    ("@trigger().outputs", "trigger() has no property 'outputs'; it has scheduledTime, startTime", 12),
    ("@trigger().", "expected a property name after '.'", 12),
    ("x@{utcNow()", "expected '}' to close '@{', found the end", 12),
    ("@pipeline().RunId", "pipeline() is Data Factory's; a schedule run has no such value: use trigger()", 2),
    ("@variables('x')", "variables() is Data Factory's", 2),
    ("@xpath('<a/>', '/a')", "xpath() is not available in schedule parameters", 2),
    (
        "@formatDateTime(utcNow(), 'x')",
        "formatDateTime() argument 2: 'x' is not a .NET standard DateTime format",
        27,
    ),
    ("@utcNow('yyyy''')", "utcNow() argument 1: unclosed quote in the DateTime format", 9),
    (
        "@addToTime(utcNow(), 1, 'Fortnight')",
        "addToTime() argument 3: expects a time unit, one of Second, Minute",
        25,
    ),
    (
        "@convertFromUtc(utcNow(), 'Pacific Time')",
        "convertFromUtc() argument 2: unknown time zone 'Pacific Time'",
        27,
    ),
    ("@utcNow('fffffffff')", "utcNow() argument 1: 'fffffffff' in the DateTime format", 9),
    ("@add(1, $)", "unexpected '$' where a value is expected", 9),
]


@pytest.mark.parametrize(("expression", "message", "position"), STATIC_ERRORS)
def test_check_expression_names_where_and_the_position(expression, message, position):
    where = "schedule 'nightly': pipeline parameter 'date'"
    with pytest.raises(ScheduleExpressionError) as err:
        check_expression(expression, where)
    e = err.value
    assert str(e).startswith(where + ": ")
    assert message in str(e)
    assert e.position + 1 == position
    assert f"at position {position} of {expression!r}" in str(e)
    with pytest.raises(ScheduleExpressionError):  # evaluate refuses it the same way
        evaluate(expression, CTX)


RUN_ERRORS = [
    ("@addDays(runId(), 1)", "addDays() argument 1: expects a timestamp, got 'scheduled__", 10),
    ("@addDays(utcNow(), '1')", "addDays() argument 2: expects an integer, got '1'", 20),
    ("@div(1, 0)", "div() argument 2: divides by zero", 9),
    ("@mod(1, 0)", "mod() argument 2: divides by zero", 9),
    ("@substring('abc', 2, 5)", "substring(): start 2 and length 5 fall outside 'abc'", 2),
    ("@int('ten')", "int() argument 1: cannot convert 'ten' to an integer", 6),
    ("@json('{')", "json() argument 1: is not valid JSON", 7),
    ("@not('yes')", "not() argument 1: expects true or false, got 'yes'", 6),
    ("@if('yes', 1, 2)", "if() argument 1: expects true or false, got 'yes'", 5),
    ("@greater(1, 'a')", "greater(): compares two numbers or two strings, got 1 and 'a'", 2),
    ("@split('a,b', ',')[5]", "cannot index ['a', 'b'] with 5", 19),
    ("@json('{\"a\": 1}').b", "no property 'b'; there are: a", 18),
    ("@convertToUtc('2026-03-29T02:30:00', 'Europe/Berlin')", "does not exist in Europe/Berlin", 15),
    ("@formatDateTime('2018-02-30')", "expects a timestamp, got '2018-02-30'", 17),
    ("@addToTime('9999-12-01T00:00:00Z', 1, 'Month')", "moves the timestamp out of the years 1-9999", 2),
]


@pytest.mark.parametrize(("expression", "message", "position"), RUN_ERRORS)
def test_run_time_errors_name_the_argument_and_position(expression, message, position):
    check_expression(expression, "p")  # nothing wrong until the values are known
    with pytest.raises(ScheduleExpressionError) as err:
        evaluate(expression, CTX, "schedule 'nightly': pipeline parameter 'date'")
    assert message in str(err.value)
    assert err.value.position + 1 == position
    assert str(err.value).startswith("schedule 'nightly': pipeline parameter 'date': ")


def test_optional_access_gives_null_instead_of_an_error():
    assert evaluate("@split('a,b', ',')?[5]", CTX) is None
    assert evaluate("@json('{\"a\": 1}')?.b", CTX) is None
    assert evaluate("@coalesce(json('{}')?.b, 'default')", CTX) == "default"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("@utcNow()", True),
        ("@@literal", True),
        ("x @{runId()}", True),
        ("plain", False),
        ("mail@example.com", False),
        ("", False),
        (3, False),
        (None, False),
        ({"@a": "@b"}, False),
    ],
)
def test_is_expression(value, expected):
    assert is_expression(value) is expected


def test_evaluate_parameters_passes_non_expressions_through_and_names_the_parameter():
    params = {
        "date": "@formatDateTime(addDays(trigger().scheduledTime, -1), 'yyyy-MM-dd')",
        "run": "@runId()",
        "epochs": 10,
        "rate": 0.5,
        "path": "data/in",
        "config": {"a": "@utcNow()"},
        "flag": True,
        "none": None,
    }
    out = evaluate_parameters(params, CTX)
    assert out == {**params, "date": "2026-01-30", "run": RUN_ID}
    assert out["config"] == {"a": "@utcNow()"}  # only top-level string values are expressions
    with pytest.raises(ScheduleExpressionError) as err:
        evaluate_parameters({"ok": "x", "date": "@addDays(runId(), 1)"}, CTX, "schedule 'nightly'")
    assert str(err.value).startswith("schedule 'nightly': pipeline parameter 'date': addDays() argument 1")


def test_check_expression_accepts_plain_values_and_valid_expressions():
    for value in ("plain", 5, None, "@utcNow('yyyy')", "n_@{runId()}", "@@x"):
        check_expression(value, "p")


def test_trigger_context_needs_aware_datetimes():
    with pytest.raises(
        UserErrorException, match="TriggerContext.scheduled_time must be a timezone-aware datetime"
    ):
        TriggerContext(datetime(2026, 1, 1), STARTED, "r")
    with pytest.raises(
        UserErrorException, match="TriggerContext.start_time must be a timezone-aware datetime"
    ):
        TriggerContext(SCHEDULED, "2026-01-01", "r")  # type: ignore[arg-type]


# ---- .NET formats --------------------------------------------------------------------------------

MOMENT = datetime(2018, 3, 5, 13, 7, 6, 123400, tzinfo=timezone.utc)  # a Monday
FORMATS = [
    ("o", "2018-03-05T13:07:06.1234000Z"),
    ("O", "2018-03-05T13:07:06.1234000Z"),
    ("s", "2018-03-05T13:07:06"),
    ("u", "2018-03-05 13:07:06Z"),
    ("R", "Mon, 05 Mar 2018 13:07:06 GMT"),
    ("d", "3/5/2018"),
    ("D", "Monday, March 5, 2018"),
    ("f", "Monday, March 5, 2018 1:07 PM"),
    ("F", "Monday, March 5, 2018 1:07:06 PM"),
    ("g", "3/5/2018 1:07 PM"),
    ("G", "3/5/2018 1:07:06 PM"),
    ("M", "March 5"),
    ("t", "1:07 PM"),
    ("T", "1:07:06 PM"),
    ("U", "Monday, March 5, 2018 1:07:06 PM"),
    ("y", "March 2018"),
    ("yyyy-MM-ddTHH:mm:ss", "2018-03-05T13:07:06"),
    ("dd", "05"),
    ("%d", "5"),
    ("ddd", "Mon"),
    ("dddd", "Monday"),
    ("MMM", "Mar"),
    ("MMMM", "March"),
    ("%M", "3"),
    ("yy", "18"),
    ("yyy", "2018"),
    ("yyyyy", "02018"),
    ("%y", "18"),
    ("hh:mm tt", "01:07 PM"),
    ("H:m:s", "13:7:6"),
    ("%t", "P"),
    ("fff", "123"),
    ("FFFFFFF", "1234"),
    ("ss.FF", "06.12"),
    ("%K", "Z"),
    ("zzz", "+00:00"),
    ("'Q'q yyyy", "Qq 2018"),
    ('"at" HH', "at 13"),
    ("\\d d", "d 5"),
    ("yyyyMMdd_HHmm", "20180305_1307"),
    ("gg", "A.D."),
]


@pytest.mark.parametrize(("fmt", "expected"), FORMATS)
def test_dotnet_formats(fmt, expected):
    assert render(MOMENT, fmt) == expected


def test_dotnet_formats_follow_the_kind_of_the_time():
    naive = MOMENT.replace(tzinfo=None, microsecond=0)
    assert render(naive, "o") == "2018-03-05T13:07:06.0000000"
    assert render(naive, "ss.FFF") == "06"  # an empty F fraction drops its separator
    plus2 = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert render(plus2, "o") == "2018-03-05T15:07:06.1234000+02:00"
    assert render(plus2, "u") == "2018-03-05 13:07:06Z"  # u and R show UTC
    assert render(plus2, "z zz") == "+2 +02"
    assert render(datetime(2018, 3, 5, 0, 30), "h tt") == "12 AM"
    assert render(datetime(2018, 3, 5, 12, 30), "h tt") == "12 PM"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("x", "'x' is not a .NET standard DateTime format"),
        ("yyyy'", "unclosed quote in the DateTime format"),
        ("yyyy\\", "a trailing '\\' in the DateTime format"),
        ("HH%", "'%' must be followed by one specifier"),
        ("ffffffff", "more than 7 fraction digits"),
    ],
)
def test_dotnet_format_errors(fmt, message):
    with pytest.raises(DotnetFormatError) as err:
        render(MOMENT, fmt)
    assert message in str(err.value)
