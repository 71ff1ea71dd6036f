"""Twin of ``azureml.core.environment`` (nothing is supported yet: steps use the worker's Python)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.environment", [])
