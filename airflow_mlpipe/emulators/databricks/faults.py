"""Injected faults: the emulator answers chosen requests with an error status, so tests can show what
a client does when Databricks is briefly unavailable (``POST /api/2.0/mlpipe-emulator/faults``).

A fault names a route (``jobs/runs/get``), optionally one run id, the HTTP status to answer and how
many times; requests that match take one each until none is left.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_mlpipe.emulators.databricks import ApiError, Params, invalid

ROUTE = "/api/2.0/mlpipe-emulator/faults"


class Faults:
    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, params: Params) -> dict[str, Any]:
        path = params.text("path", required=True) or ""
        status = int(params.raw("status", 503))
        times = int(params.raw("times", 1))
        if not 400 <= status <= 599 or times < 1:
            raise invalid(f"a fault needs an error status (400-599) and times >= 1, got {status} and {times}")
        run_id = params.raw("run_id")
        with self._lock:
            self._pending.append(
                {
                    "path": path.strip("/"),
                    "run_id": None if run_id is None else str(run_id),
                    "status": status,
                    "left": times,
                }
            )
        return {}

    def check(self, path: str, params: Params) -> None:
        """Raise the first pending fault that matches this request, using it up once."""
        with self._lock:
            for fault in self._pending:
                if not path.endswith("/" + fault["path"]):
                    continue
                if fault["run_id"] is not None and str(params.raw("run_id")) != fault["run_id"]:
                    continue
                fault["left"] -= 1
                if fault["left"] == 0:
                    self._pending.remove(fault)
                raise ApiError(
                    fault["status"],
                    "TEMPORARILY_UNAVAILABLE",
                    "The service is temporarily unavailable (injected fault)",
                )
