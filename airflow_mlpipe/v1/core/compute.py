"""Twin of ``azureml.core.compute``: an AmlCompute target is an Airflow pool and queue; a
DatabricksCompute target is a Databricks workspace reached through an Airflow connection; a
DataFactoryCompute target is an Airflow pool for DataTransferSteps."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.compute",
    ["AmlCompute", "ComputeTarget", "DataFactoryCompute", "DatabricksCompute"],
)
