"""Twin of ``azureml.core.run``: the run context of a step script."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.run", ["Run", "get_run"])
