"""The client's registry calls and the plugin's registry routes agree on paths and methods."""

from __future__ import annotations

import pytest

from airflow_mlpipe.client import registry_api
from airflow_mlpipe.client.registry_api import RegistryApi
from airflow_mlpipe.client.rest import AirflowApiError
from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.registry.published import ConflictError, NotFoundError


def test_the_client_calls_routes_the_plugin_serves():
    from airflow_mlpipe.plugin.app import app
    from airflow_mlpipe.plugin.registry_models import REGISTRY_PREFIX

    assert registry_api.REGISTRY_PREFIX == REGISTRY_PREFIX
    served = {(m, r.path) for r in app.routes if r.path.startswith(REGISTRY_PREFIX) for m in r.methods}
    calls = []

    class Recorder:
        def request(self, method, path, **kwargs):
            calls.append((method, path))
            return {"error": None}

    api = RegistryApi(Recorder())  # type: ignore[arg-type]
    api.put("experiment_a", {}, {})
    api.get("experiment_a")
    api.broken_error("experiment_a")
    api.publish({}, "n")
    api.get_pipeline("p")
    api.list_pipelines()
    api.set_pipeline_status("p", "Active")
    api.create_endpoint("n", None, "p")
    api.get_endpoint("e")
    api.list_endpoints()
    api.update_endpoint("e", name="m")
    api.create_schedule({"pipeline_id": "p"}, "x", {})
    api.get_schedule("s")
    api.list_schedules()
    api.update_schedule("s", {})
    templates = {
        "experiment_a": "{dag_id}", "p": "{pipeline_id}", "e": "{endpoint_id}", "s": "{schedule_id}",
    }  # fmt: skip
    for method, path in calls:
        assert path.startswith("/mlpipe" + REGISTRY_PREFIX)
        parts = [templates.get(part, part) for part in path[len("/mlpipe") :].split("/")]
        assert (method, "/".join(parts)) in served, (method, path)


@pytest.mark.parametrize(
    ("status", "error"), [(400, UserErrorException), (404, NotFoundError), (409, ConflictError)]
)
def test_route_errors_become_the_registry_exceptions_with_the_server_message(status, error):
    class Failing:
        def request(self, method, path, **kwargs):
            raise AirflowApiError(
                f"{method} {path}: HTTP {status}: the server's words", status, "the server's words"
            )

    with pytest.raises(error, match="^the server's words$"):
        RegistryApi(Failing()).get_pipeline("p")  # type: ignore[arg-type]


def test_a_refusal_stays_an_api_error_with_its_status():
    class Refusing:
        def request(self, method, path, **kwargs):
            raise AirflowApiError("PUT x: HTTP 403: user 'viewer' may not write DAG 'd'", 403, "no")

    with pytest.raises(AirflowApiError) as refused:
        RegistryApi(Refusing()).put("experiment_a", {}, {})  # type: ignore[arg-type]
    assert refused.value.status == 403
