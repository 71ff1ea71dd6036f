"""Twin of ``azureml.pipeline.core.schedule`` (schedule the DAG from pipeline.to_dag instead)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.pipeline.core.schedule", [])
