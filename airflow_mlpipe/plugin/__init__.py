"""The Airflow plugin of airflow-mlpipe (entry point ``airflow.plugins``).

It mounts the published pipeline routes (``airflow_mlpipe.plugin.app``) at ``/mlpipe`` in
Airflow's API server, and installs the middleware that refuses triggers of disabled published
pipelines and the one that accepts Azure ML v1's full endpoint URLs (``airflow_mlpipe.plugin.middleware``).
It registers the schedules' RecurrenceTimetable (``airflow_mlpipe.timetables``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_mlpipe.plugin.app import app
from airflow_mlpipe.plugin.middleware import AzureWorkspacePaths, RefuseDisabledTriggers
from airflow_mlpipe.registry.published import ROUTES_MOUNT
from airflow_mlpipe.timetables import TIMETABLES


class MlpipePlugin(AirflowPlugin):
    name = "airflow_mlpipe"
    fastapi_apps = [{"app": app, "url_prefix": ROUTES_MOUNT, "name": "airflow-mlpipe published pipelines"}]
    timetables = TIMETABLES  # RecurrenceTimetable: a schedule's recurrence that cron cannot say
    fastapi_root_middlewares = [
        {"middleware": RefuseDisabledTriggers, "args": [], "kwargs": {}, "name": "mlpipe-refuse-disabled"},
        {"middleware": AzureWorkspacePaths, "args": [], "kwargs": {}, "name": "mlpipe-azure-workspace-paths"},
    ]
