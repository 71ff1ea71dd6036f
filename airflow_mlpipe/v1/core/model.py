"""Twin of ``azureml.core.model``: the workspace's registered models."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.model", ["Model"])
