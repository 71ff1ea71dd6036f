"""Twin of ``azureml.exceptions``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.exceptions",
    [
        "ActivityFailedException",
        "AuthenticationException",
        "AzureMLException",
        "ComputeTargetException",
        "ModelNotFoundException",
        "ModelPathNotFoundException",
        "UserErrorException",
    ],
)
