"""Twin of ``azureml.core.authentication``: credentials of the workspace's Airflow deployment."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.authentication",
    [
        "AbstractAuthentication",
        "AzureCliAuthentication",
        "InteractiveLoginAuthentication",
        "MsiAuthentication",
        "ServicePrincipalAuthentication",
    ],
)
