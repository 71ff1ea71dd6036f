"""A small client of Airflow's REST API v2, with errors that say what to fix."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import requests

from airflow_mlpipe.exceptions import MlpipeError

TERMINAL_RUN_STATES = {"success", "failed"}
RETRY_STATUS = {429, 500, 502, 503, 504}  # a busy or restarting API server (e.g. SQLite locked)
RETRY_ATTEMPTS = 5
TRIGGER_ATTEMPTS = 5  # a run trigger the server did not answer is retried this often
PAGE = 100  # Airflow's default maximum_page_limit


class _Transient(Exception):
    def __init__(self, response: requests.Response):
        super().__init__(response.status_code)
        self.response = response


class AirflowApiError(MlpipeError):
    def __init__(self, message: str, status: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail if detail is not None else message  # the server's own words


def _jwt_expiry(token: str | None) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (Airflow verifies); None if absent."""
    import base64
    import json

    try:
        payload = token.split(".")[1]  # type: ignore[union-attr]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None


class AirflowClient:
    def __init__(self, url: str, username: str, password: str, timeout: float = 30, token: str | None = None):
        """``token``: a token Airflow already issued, used as it is (no username or password)."""
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self._fixed_token = token
        self._token: str | None = token
        self._expires: float | None = _jwt_expiry(token) if token else None
        self.session = requests.Session()

    def token(self) -> str:
        """A bearer token; a new one is asked for a minute before the current one expires."""
        if self._fixed_token is None and self._expires is not None and time.time() > self._expires - 60:
            self._token = None
        if self._token is None:
            if self._fixed_token is not None:
                raise AirflowApiError(
                    f"Airflow at {self.url} refused the given token (expired or invalid); get a new one "
                    "from its POST /auth/token",
                    401,
                )
            try:
                r = self.session.post(
                    f"{self.url}/auth/token",
                    json={"username": self.username, "password": self._password},
                    timeout=self.timeout,
                )
            except requests.ConnectionError as exc:
                raise AirflowApiError(
                    f"cannot reach Airflow at {self.url}: is it running? (`mlpipe up` starts the embedded one)"
                ) from exc
            if r.status_code in (401, 403):
                raise AirflowApiError(
                    f"Airflow at {self.url} refused user {self.username!r}: wrong username or password",
                    r.status_code,
                )
            if r.status_code >= 400:
                raise AirflowApiError(
                    f"token request failed: HTTP {r.status_code} {r.text[:300]}", r.status_code
                )
            self._token = r.json()["access_token"]
            self._expires = _jwt_expiry(self._token)
        return self._token

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        def send() -> requests.Response:
            merged = {**(headers or {}), "Authorization": f"Bearer {self.token()}"}
            return self.session.request(
                method, f"{self.url}{path}", headers=merged, timeout=self.timeout, **kwargs
            )

        r = self._with_retries(method, send)
        if r.status_code == 401 and self._token is not None and self._fixed_token is None:
            self._token = None  # expired: one fresh token, then give up
            r = self._with_retries(method, send)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise AirflowApiError(
                f"{method} {path}: HTTP {r.status_code}: {str(detail)[:1000]}", r.status_code, str(detail)
            )
        return r.json() if r.content else None

    def _with_retries(self, method: str, send: Any) -> requests.Response:
        """Send, retrying with exponential backoff what a busy server may answer (5xx, 429) and
        lost connections. A POST is retried only when the server says it did not act (429, 503)."""
        import tenacity

        transient = RETRY_STATUS if method.upper() != "POST" else {429, 503}

        def answer() -> requests.Response:
            try:
                r = send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                if method.upper() == "POST":
                    raise AirflowApiError(f"cannot reach Airflow at {self.url}: {exc}") from exc
                raise
            if r.status_code in transient:
                raise _Transient(r)
            return r

        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(
                    (_Transient, requests.ConnectionError, requests.Timeout)
                ),
                wait=tenacity.wait_exponential(multiplier=0.5, max=8),
                stop=tenacity.stop_after_attempt(RETRY_ATTEMPTS),
                reraise=True,
            ):
                with attempt:
                    return answer()
        except _Transient as exc:
            return exc.response  # still failing: the caller reports it
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise AirflowApiError(
                f"cannot reach Airflow at {self.url}: is it running? (`mlpipe up` starts the embedded one)"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # --- dags and runs ---------------------------------------------------------------------

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{quote(dag_id)}")

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get_dag(dag_id)
            except AirflowApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    if exc.status == 404:
                        errors = self.import_errors()
                        hint = "".join(f"\n  {e['filename']}: {e['stack_trace'][-600:]}" for e in errors)
                        raise AirflowApiError(
                            f"DAG {dag_id!r} did not appear within {timeout:.0f}s"
                            + (f"; import errors:{hint}" if hint else ""),
                            404,
                        ) from None
                    raise
            time.sleep(1)

    def import_errors(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v2/importErrors").get("import_errors", [])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a DAG run. The run id is chosen here, so a trigger the server failed to answer
        (a busy database's 500) is retried safely: a retry finds the run if the first one made it."""
        run_id = f"manual__{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}_{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns"
        for attempt in range(TRIGGER_ATTEMPTS):
            try:
                return self.request("POST", path, json=body)
            except AirflowApiError as exc:
                if exc.status == 409:  # an earlier attempt created it
                    return self.dag_run(dag_id, run_id)
                if exc.status is None or exc.status < 500 or attempt == TRIGGER_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")

    def collection(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a REST v2 collection (``key`` in each answer), page by page: Airflow
        returns 50 items unless asked for more, and at most ``maximum_page_limit`` (100)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, params={**(params or {}), "limit": PAGE, "offset": len(found)})
            found += page[key]
            if not page[key] or len(found) >= page["total_entries"]:
                return found

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run. Those Airflow marked ``removed`` are left out: they are tasks
        of another version of the DAG (an experiment whose pipeline changed), not steps of this run."""
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return [ti for ti in self.collection(path, "task_instances") if ti.get("state") != "removed"]

    def stopped_steps(self, dag_id: str, run_id: str) -> set[str]:
        """Steps of a run that stopped because another step failed (their STOPPED_KEY XCom):
        Azure ML's Canceled, though Airflow shows them failed. One request for the whole run."""
        from airflow_mlpipe.runstatus import STOPPED_KEY

        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances/~/xcomEntries"
        return {e["task_id"] for e in self.collection(path, "xcom_entries", {"xcom_key": STOPPED_KEY})}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = (
            f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            f"{quote(task_id, safe='')}/xcomEntries/{quote(key)}"
        )
        try:
            return self.request("GET", path, params={"deserialize": "true"})["value"]
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        path = (
            f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            f"{quote(task_id, safe='')}/logs/{try_number}"
        )
        body = self.request(
            "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
        )
        lines: list[str] = []
        in_sources = False  # Airflow's "where this log was read from" group: not the task's log
        for item in body.get("content", []):
            event = str(item.get("event", "")) if isinstance(item, dict) else str(item)
            if event.startswith("::group::Log message source details"):
                in_sources = True
            if in_sources:
                in_sources = not event.startswith("::endgroup::")
                continue
            if isinstance(item, dict):
                lines.append(event)
                # a failure's exception comes as structlog's dict traceback
                for exc in item.get("error_detail") or []:
                    if isinstance(exc, dict):
                        lines.extend(f"{exc.get('exc_type')}: {exc.get('exc_value')}".splitlines())
            else:
                lines.append(str(item))
        return lines

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = 600, on_change: Any = None, poll: float = 1.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: dict[str, str | None] = {}
        while True:
            run = self.dag_run(dag_id, run_id)
            if on_change is not None:
                for ti in self.task_instances(dag_id, run_id):
                    if seen.get(ti["task_id"]) != ti["state"]:
                        seen[ti["task_id"]] = ti["state"]
                        on_change(ti)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise AirflowApiError(
                    f"run {run_id} of {dag_id} did not finish within {timeout:.0f}s (state {run['state']})"
                )
            time.sleep(poll)

    # --- pools -----------------------------------------------------------------------------

    def ensure_pool(self, name: str, slots: int, description: str = "") -> None:
        try:
            pool = self.request("GET", f"/api/v2/pools/{quote(name)}")
        except AirflowApiError as exc:
            if exc.status != 404:
                raise
            self.request(
                "POST", "/api/v2/pools", json={"name": name, "slots": slots, "description": description}
            )
            return
        if pool["slots"] != slots:
            self.request(
                "PATCH",
                f"/api/v2/pools/{quote(name)}",
                json={"slots": slots},
                params={"update_mask": "slots"},
            )
