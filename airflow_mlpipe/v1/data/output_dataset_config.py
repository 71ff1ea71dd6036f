"""Twin of ``azureml.data.output_dataset_config``."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.data.output_dataset_config",
    ["OutputFileDatasetConfig", "OutputTabularDatasetConfig"],
)
