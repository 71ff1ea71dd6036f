"""Twin of ``azureml.core.databricks``: the libraries a DatabricksStep installs on its cluster."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.databricks",
    ["EggLibrary", "JarLibrary", "MavenLibrary", "PyPiLibrary", "RCranLibrary"],
)
