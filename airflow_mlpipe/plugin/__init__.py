"""The Airflow plugin of airflow-mlpipe (entry point ``airflow.plugins``).

It mounts the published pipeline routes (``airflow_mlpipe.plugin.app``) at ``/mlpipe`` in
Airflow's API server, and installs the middleware that refuses triggers of disabled published
pipelines and the one that accepts Azure ML v1's full endpoint URLs (``airflow_mlpipe.plugin.middleware``).
It registers the schedules' RecurrenceTimetable (``airflow_mlpipe.timetables``), and the tracking
pages in Airflow's UI with the "ML step tracking" link of step tasks (``airflow_mlpipe.plugin.ui``,
``[mlpipe] tracking_ui``). Its listener (``airflow_mlpipe.plugin.remote_cancel``) cancels the remote
run of a Databricks or ADLA step whose deferred task a user marks failed or successful.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_mlpipe.plugin import remote_cancel
from airflow_mlpipe.plugin.app import app
from airflow_mlpipe.plugin.middleware import AzureWorkspacePaths, RefuseDisabledTriggers
from airflow_mlpipe.plugin.ui import registrations
from airflow_mlpipe.registry.published import ROUTES_MOUNT
from airflow_mlpipe.timetables import TIMETABLES

_REACT_APPS, _EXTERNAL_VIEWS, _GLOBAL_LINKS = registrations()


class MlpipePlugin(AirflowPlugin):
    name = "airflow_mlpipe"
    fastapi_apps = [{"app": app, "url_prefix": ROUTES_MOUNT, "name": "airflow-mlpipe published pipelines"}]
    timetables = TIMETABLES  # RecurrenceTimetable: a schedule's recurrence that cron cannot say
    fastapi_root_middlewares = [
        {"middleware": RefuseDisabledTriggers, "args": [], "kwargs": {}, "name": "mlpipe-refuse-disabled"},
        {"middleware": AzureWorkspacePaths, "args": [], "kwargs": {}, "name": "mlpipe-azure-workspace-paths"},
    ]
    # the tracking pages (React apps, or the iframe fallback) and the step tasks' link to them
    react_apps = _REACT_APPS
    external_views = _EXTERNAL_VIEWS
    global_operator_extra_links = _GLOBAL_LINKS
    listeners = [remote_cancel]  # a deferred remote step ended by a user: its run is cancelled
