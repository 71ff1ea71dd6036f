"""Twin of ``azureml.data.data_reference``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.data.data_reference", ["DataReference"])
