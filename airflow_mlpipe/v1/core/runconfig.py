"""Twin of ``azureml.core.runconfig``: run configurations (a step's environment, Docker, variables)."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core.runconfig",
    [
        "CondaDependencies",
        "DEFAULT_CPU_IMAGE",
        "DEFAULT_GPU_IMAGE",
        "DockerConfiguration",
        "RunConfiguration",
    ],
)
