"""Durations in settings: seconds, a timedelta, or text such as '90m', '12h', '30d'."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.exceptions import WorkspaceConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, where: str = "duration") -> float:
    """Seconds from a number, a timedelta, or text such as '90m', '12h', '30d'."""
    from datetime import timedelta

    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif (
        isinstance(value, str)
        and value.strip()[:-1].replace(".", "", 1).isdigit()
        and value.strip()[-1] in _UNITS
    ):
        seconds = float(value.strip()[:-1]) * _UNITS[value.strip()[-1]]
    else:
        raise WorkspaceConfigError(
            f"{where}: {value!r} is not a duration; use seconds, a timedelta, or text like '90m', '12h', '30d'"
        )
    if seconds <= 0:
        raise WorkspaceConfigError(f"{where}: a duration must be positive, got {value!r}")
    return seconds
