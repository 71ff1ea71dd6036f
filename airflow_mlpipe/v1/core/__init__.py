"""Twin of ``azureml.core``: workspaces, experiments, runs, datastores, datasets, compute targets,
environments and run configurations."""

from __future__ import annotations

from airflow_mlpipe import __version__
from airflow_mlpipe.v1._lazy import re_export

re_export(
    __name__,
    "azureml.core",
    [
        "ComputeTarget",
        "Dataset",
        "Datastore",
        "Environment",
        "Experiment",
        "Model",
        "Run",
        "RunConfiguration",
        "Workspace",
        "get_run",
    ],
)

VERSION = __version__  # azureml.core.VERSION: this package's version
