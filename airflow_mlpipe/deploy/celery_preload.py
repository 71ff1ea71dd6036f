"""The Celery app settings of mlpipe's Celery deployments (``[celery] celery_config_options``):
Airflow's own, plus a preload of what every step's task process imports.

Airflow 3's Celery worker runs each task in a process forked from the worker (a bare ``os.fork`` on
Linux), which starts with whatever the worker had imported. A step imports the Azure Blob SDK and
Airflow's WASB hook for its datastore and reuse cache, about 2 CPU seconds per fresh process
(bench/celery_throughput.py measures it). Imported once in the worker's main process before its
pool starts (Celery's ``celeryd_init`` signal, sent only in workers), every task process inherits
them instead. Other processes that build the Celery app (the scheduler's executor) only register
the signal handler.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import celeryd_init

PATH = "airflow_mlpipe.deploy.celery_preload.CELERY_CONFIG"  # the value of celery_config_options
CELERY_CONFIG = DEFAULT_CELERY_CONFIG  # Airflow's settings, unchanged
PRELOAD = (
    "azure.storage.blob",
    "airflow.providers.microsoft.azure.hooks.wasb",
    "airflow_mlpipe",
    "airflow_mlpipe.storage.blob",
    "airflow_mlpipe.operators.python_script",
)


@celeryd_init.connect
def preload(**_: Any) -> None:
    """Import what steps need, in the worker's main process, before it forks its pool."""
    for module in PRELOAD:
        importlib.import_module(module)
