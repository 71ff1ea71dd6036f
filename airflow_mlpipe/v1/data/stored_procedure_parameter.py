"""Twin of ``azureml.data.stored_procedure_parameter``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.data.stored_procedure_parameter",
    ["StoredProcedureParameter", "StoredProcedureParameterType"],
)
