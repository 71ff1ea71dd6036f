"""Twin of ``azureml.core.runconfig`` (run configurations are not supported yet)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.runconfig", [])
