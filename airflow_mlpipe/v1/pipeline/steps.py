"""Twin of ``azureml.pipeline.steps``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__, "azureml.pipeline.steps", ["AdlaStep", "DataTransferStep", "DatabricksStep", "PythonScriptStep"]
)
