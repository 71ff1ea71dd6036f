"""Twin of ``azureml.core.model`` (model registration is not supported)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.model", [])
