"""Twin of ``azureml.core.compute``: an AmlCompute target is an Airflow pool and queue; a
DatabricksCompute target is a Databricks workspace reached through an Airflow connection; a
DataFactoryCompute target is an Airflow pool for DataTransferSteps; an AdlaCompute target is a Data
Lake Analytics job API (or `mlpipe adla serve`) reached through an Airflow connection."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.compute",
    ["AdlaCompute", "AmlCompute", "ComputeTarget", "DataFactoryCompute", "DatabricksCompute"],
)
