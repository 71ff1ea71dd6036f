"""Twin of ``azureml.core.environment``: a step's environment (packages, Docker settings, variables)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.environment",
    ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "DockerSection", "Environment", "PythonSection"],
)
