"""Twin of ``azureml.pipeline.core.schedule``: Schedule, ScheduleRecurrence and TimeZone."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.pipeline.core.schedule", ["Schedule", "ScheduleRecurrence", "TimeZone"])
