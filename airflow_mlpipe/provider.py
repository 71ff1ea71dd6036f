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
                "python-modules": [
                    "airflow_mlpipe.operators.python_script",
                    "airflow_mlpipe.operators.databricks",
                    "airflow_mlpipe.operators.transfer",
                    "airflow_mlpipe.operators.adla",
                ],
            }
        ],
        # DatabricksStepHook extends the Databricks provider's hook (its "databricks" connections);
        # DatabricksStep waits on the Databricks provider's own trigger.
        "hooks": [
            {
                "integration-name": "Azure ML pipelines",
                "python-modules": ["airflow_mlpipe.hooks.databricks", "airflow_mlpipe.hooks.adla"],
            }
        ],
        "sensors": [],
        "triggers": [
            {
                "integration-name": "Azure ML pipelines",
                "python-modules": ["airflow_mlpipe.triggers.adla", "airflow_mlpipe.triggers.datastore"],
            }
        ],
        # Datastores use the Microsoft Azure provider's "wasb" connections, Databricks targets the
        # Databricks provider's "databricks" ones.
        "connection-types": [
            {"hook-class-name": "airflow_mlpipe.hooks.adla.AdlaHook", "connection-type": "adla"},
        ],
    }
