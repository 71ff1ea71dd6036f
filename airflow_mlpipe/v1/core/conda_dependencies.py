"""Twin of ``azureml.core.conda_dependencies``: the conda and pip packages of an environment."""

from __future__ import annotations

from airflow_mlpipe.v1._lazy import re_export

re_export(__name__, "azureml.core.conda_dependencies", ["CondaDependencies"])
