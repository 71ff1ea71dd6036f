"""``mlpipe adla serve``: a local service speaking the Azure Data Lake Analytics Job REST API
(api-version 2016-11-01) that runs U-SQL jobs with a runner function (by default the package's U-SQL
engine on DuckDB) against files under a data root: the ADLA account's default store.

Only the standard library at import; the U-SQL engine is imported when the first job runs.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.emulators.http import HttpApiError

__all__ = ["AdlaService", "ApiError", "JobFailure", "main"]


class ApiError(HttpApiError):
    """An error answered as ADLA does: an HTTP status and ``{"error": {"code", "message"}}``."""


class JobFailure(Exception):
    """A job's failure as one ADLA ``errorMessage`` entry (JobErrorDetails): an error id, a message,
    and where known the script line; runners raise it (or any exception with ``line``)."""

    def __init__(
        self,
        error_id: str,
        message: str,
        *,
        line: int | None = None,
        details: str | None = None,
        resolution: str | None = None,
        source: str = "USER",
    ) -> None:
        super().__init__(message)
        self.error_id, self.message, self.line = error_id, message, line
        self.details, self.resolution, self.source = details, resolution, source


def __getattr__(name: str) -> Any:
    if name == "AdlaService":
        from airflow_mlpipe.emulators.adla.server import AdlaService

        return AdlaService
    if name == "main":
        from airflow_mlpipe.emulators.adla.__main__ import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
