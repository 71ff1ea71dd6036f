"""Provider metadata, found by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_mlpipe import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlpipe",
        "name": "Azure ML pipelines (airflow-mlpipe)",
        "description": "Azure Machine Learning SDK v1 style pipelines on Apache Airflow 3.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "Azure ML pipelines",
                "python-modules": ["airflow_mlpipe.operators.python_script"],
            }
        ],
        # Blob datastores go through the Microsoft Azure provider's WasbHook; this package's own
        # hooks, sensors and triggers arrive with the remote steps (Databricks, ADLA).
        "hooks": [],
        "sensors": [],
        "triggers": [],
        # Datastores use the Microsoft Azure provider's "wasb" connections; this package's own
        # connection types arrive with the hooks that own them (Databricks, ADLA).
        "connection-types": [],
    }
