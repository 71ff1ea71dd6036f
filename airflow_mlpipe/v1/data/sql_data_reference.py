"""Twin of ``azureml.data.sql_data_reference``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.data.sql_data_reference", ["SqlDataReference"])
