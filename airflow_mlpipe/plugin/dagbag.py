"""The API server's DAG bag for the plugin's routes: one per process, made on first use (the
published pipelines' triggers and the tracking routes read serialized DAGs through it)."""

from __future__ import annotations

from typing import Any

_DAG_BAG: Any = None


def dag_bag() -> Any:
    """Airflow's DBDagBag, as the API server's own routes create it."""
    global _DAG_BAG
    if _DAG_BAG is None:
        from airflow.api_fastapi.common.dagbag import create_dag_bag

        _DAG_BAG = create_dag_bag()
    return _DAG_BAG
