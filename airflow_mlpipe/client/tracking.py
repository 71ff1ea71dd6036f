"""The tracking routes (``/mlpipe/tracking/v1``, docs/tracking.md) from Python: what the tracking
pages show, as plain JSON (runs with their steps, reuse and why each step ran, metrics, compare)."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe.client.registry_api import mapped_request, segment
from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import ROUTES_MOUNT

TRACKING = ROUTES_MOUNT + "/tracking/v1"
ERRORS: dict[int, type[Exception]] = {400: UserErrorException, 404: UserErrorException}


class TrackingApi:
    """One Airflow deployment's tracking routes, as the client's user (403 stays an AirflowApiError)."""

    def __init__(self, client: AirflowClient):
        self.client = client

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return mapped_request(self.client, ERRORS, "GET", TRACKING + path, params=params)

    def runs(
        self, dag_id: str | None = None, experiment: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """``{"runs": [RunSummary], "total_entries"}``, newest first."""
        params = {"limit": limit, "offset": offset, "dag_id": dag_id, "experiment": experiment}
        return self._get("/runs", {k: v for k, v in params.items() if v is not None})

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """A run with its steps (status, durations, reuse, reason) and its graph's edges."""
        return self._get(f"/runs/{segment(dag_id)}/{segment(run_id)}")

    def step(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self._get(f"/runs/{segment(dag_id)}/{segment(run_id)}/steps/{segment(task_id)}")

    def experiments(self, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return self._get("/experiments", {"limit": limit, "offset": offset})

    def compare(self, dag_id: str, run_ids: list[str] | None = None, limit: int = 50) -> dict[str, Any]:
        """Parameters and numeric metrics of runs of one pipeline DAG (all when ``run_ids`` is None)."""
        params: dict[str, Any] = {"dag_id": dag_id, "limit": limit}
        if run_ids:
            params["run_id"] = list(run_ids)
        return self._get("/compare", params)
