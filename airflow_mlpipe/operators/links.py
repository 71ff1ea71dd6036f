"""The "ML step tracking" link of a step task: from a task instance in Airflow's UI to its step page.

A plugin-wide (global) operator extra link, so the API server computes it live for every task
while it is queued or running (an operator-level link is only written to XCom when the task
ends). It answers for this package's step operators only; Airflow hides a link whose URL is
empty on every other task.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlparse

from airflow.sdk import BaseOperatorLink

# url_route values of the plugin's pages (plugin/ui.py registers them; the API routes link to them)
NAV_ROUTE = "mlpipe"
RUN_ROUTE = "mlpipe-run"
STEP_ROUTE = "mlpipe-step"

STEP_OPERATORS = frozenset(
    {
        "PythonScriptStepOperator",
        "DatabricksStepOperator",
        "AdlaStepOperator",
        "AdlaSparkStepOperator",
        "DataTransferStepOperator",
    }
)


def is_step_operator(operator: Any) -> bool:
    """Whether a task (a live operator or the API server's deserialized one) is a step of this package."""
    module = getattr(operator, "_task_module", None) or type(operator).__module__ or ""
    return getattr(operator, "task_type", type(operator).__name__) in STEP_OPERATORS and module.startswith(
        "airflow_mlpipe."
    )


def step_page_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The step page's path in Airflow's UI, relative to its base URL (no leading slash)."""
    mapped = f"/mapped/{map_index}" if map_index is not None and map_index >= 0 else ""
    return (
        f"dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
        f"{mapped}/plugin/{STEP_ROUTE}"
    )


class MlpipeStepLink(BaseOperatorLink):
    """Links a step task instance to its tracking page (metrics, outputs, reuse) in Airflow's UI."""

    name = "ML step tracking"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not is_step_operator(operator):
            return ""
        from airflow.configuration import conf

        # Airflow's UI opens a same-origin absolute path in the same tab; keep a base_url sub-path
        base = urlparse(conf.get("api", "base_url", fallback="/") or "/").path.rstrip("/")
        return f"{base}/{step_page_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)}"
