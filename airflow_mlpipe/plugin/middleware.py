"""ASGI middlewares the plugin installs in front of Airflow's API server.

``AzureWorkspacePaths`` lets callers keep Azure ML v1's full endpoint URLs: the workspace segment
(``/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/
workspaces/<name>``) after ``/pipelines/v1.0`` is dropped before routing.

``RefuseDisabledTriggers`` refuses Airflow's own triggers of a disabled published pipeline.

``PublishedPipeline.disable()`` pauses the DAG, but Airflow still accepts a run for a paused DAG
and starts it once the DAG is unpaused. This ASGI middleware, installed by the plugin in front of
Airflow's API server, answers 409 to ``POST /api/v2/dags/<published DAG>/dagRuns`` (and to
clearing its runs) while the published pipeline is disabled, so no trigger slips through.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from airflow_mlpipe.registry.published import (
    API_PREFIX,
    ROUTES_MOUNT,
    NotFoundError,
    PublishedRegistry,
    pipeline_id_of_dag,
)

TRIGGER_PATHS = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/(dagRuns|clearTaskInstances)(/[^/]+/clear)?/?$")


WORKSPACE_SEGMENT = re.compile(
    "(" + re.escape(ROUTES_MOUNT + API_PREFIX) + ")"
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+(?=/)"
)


class AzureWorkspacePaths:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and WORKSPACE_SEGMENT.search(scope.get("path", "")):
            scope = dict(scope)
            scope["path"] = WORKSPACE_SEGMENT.sub(r"\1", scope["path"], count=1)
            if scope.get("raw_path"):
                scope["raw_path"] = re.sub(
                    WORKSPACE_SEGMENT.pattern.encode(), rb"\1", scope["raw_path"], count=1
                )
        await self.app(scope, receive, send)


class RefuseDisabledTriggers:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("method") == "POST":
            match = TRIGGER_PATHS.search(scope.get("path", ""))
            pipeline_id = pipeline_id_of_dag(unquote(match.group("dag_id"))) if match else None
            if pipeline_id is not None:
                try:
                    record = PublishedRegistry().get_pipeline(pipeline_id)
                except NotFoundError:
                    record = None
                if record is not None and record["status"] != "Active":
                    body = json.dumps(
                        {
                            "detail": f"published pipeline {record['name']!r} ({record['id']}) is disabled; "
                            "enable() it to accept runs"
                        }
                    ).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 409,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
