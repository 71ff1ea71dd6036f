"""AdlaHook: the Azure Data Lake Analytics Job REST API (api-version 2016-11-01) for AdlaStep.

Submit (``PUT jobs/{id}``), read (``GET jobs/{id}``) and cancel (``POST jobs/{id}/CancelJob``) U-SQL
jobs of one ADLA account, or of ``mlpipe adla serve``, which speaks the same protocol. The Airflow
connection says where and how:

- ``host``: the job endpoint (``https://{account}.azuredatalakeanalyticsjobs...`` or
  ``http://127.0.0.1:PORT`` for the local service; ``schema``/``port`` complete a bare host). With no
  host, ``extra.account_name`` gives ``https://{account}.azuredatalakeanalytics.net``.
- credentials (service principal, bearer token or DefaultAzureCredential; authority extras; the
  token cache): hooks/adla_auth.py, whose AdlaCredentials the hook holds.

All traffic goes through ``_request`` / ``_a_request``: retries with tenacity (connection errors,
timeouts, 5xx, 429), one error mapping to AdlaApiError (AdlaAuthError when Entra gives no token).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity
from airflow.sdk import BaseHook

from airflow_mlpipe.hooks.adla_auth import SCOPE as SCOPE  # re-exported: the token audience
from airflow_mlpipe.hooks.adla_auth import AdlaCredentials

__all__ = ["API_VERSION", "AdlaApiError", "AdlaAuthError", "AdlaHook", "JobState", "job_errors"]

API_VERSION = "2016-11-01"
CREATE_JOB = ("PUT", "jobs/{job_id}")
GET_JOB = ("GET", "jobs/{job_id}")
CANCEL_JOB = ("POST", "jobs/{job_id}/CancelJob")

STATES = (
    "Accepted",
    "Compiling",
    "Ended",
    "New",
    "Queued",
    "Running",
    "Scheduling",
    "Starting",
    "Paused",
    "WaitingForCapacity",
    "Yielded",
)
RESULTS = ("None", "Succeeded", "Cancelled", "Failed")
RETRY_STATUS = {429, 500, 502, 503, 504}
TIMEOUT = 30.0


class AdlaApiError(Exception):
    """An answer of the job API that is not a success: its HTTP status, error code and message."""

    def __init__(self, status: int | None, code: str, message: str, method: str, path: str):
        super().__init__(f"ADLA job API {method} {path}: {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRY_STATUS


class AdlaAuthError(AdlaApiError):
    """Microsoft Entra ID (or the default credential chain) gave no token for the connection: which
    connection, Entra's error code (``AADSTS...``) and what to fix; never the secret. Retried only
    when Entra could not be reached."""

    def __init__(
        self, conn_id: str, code: str, message: str, status: int | None = None, unreachable: bool = False
    ):
        Exception.__init__(
            self, f"Airflow connection {conn_id!r}: no Microsoft Entra ID token for ADLA: {code}: {message}"
        )
        self.status, self.code, self.message, self.conn_id = status, code, message, conn_id
        self.unreachable = unreachable

    @property
    def retryable(self) -> bool:
        return self.unreachable


@dataclass
class JobState:
    """A job's state and result, shared by operator and trigger (``to_json``/``from_json``)."""

    state: str
    result: str = "None"
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.state == "Ended"

    @property
    def is_successful(self) -> bool:
        return self.is_terminal and self.result == "Succeeded"

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> JobState:
        return cls(str(job.get("state") or "New"), str(job.get("result") or "None"), job_errors(job))

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "result": self.result, "errors": self.errors})

    @classmethod
    def from_json(cls, text: str) -> JobState:
        data = json.loads(text)
        return cls(data["state"], data.get("result", "None"), list(data.get("errors") or []))

    def describe(self) -> str:
        """One line per error: its message, the U-SQL line, and the fix ADLA suggests."""
        lines = []
        for err in self.errors:
            where = f" (script line {err['lineNumber']})" if err.get("lineNumber") else ""
            text = err.get("message") or err.get("description") or err.get("errorId") or "error"
            lines.append(f"{err.get('errorId') or 'E_USQL'}: {text}{where}")
            if err.get("details"):
                lines.append(f"  details: {err['details']}")
            if err.get("resolution"):
                lines.append(f"  resolution: {err['resolution']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"{self.state}/{self.result}"


def job_errors(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``errorMessage`` list of a job (JobErrorDetails), reduced to the fields people read."""
    keep = ("errorId", "severity", "source", "message", "description", "details", "lineNumber")
    keep += ("startOffset", "endOffset", "resolution", "filePath")
    return [{k: e[k] for k in keep if e.get(k) is not None} for e in job.get("errorMessage") or []]


def _retry_if(exc: BaseException) -> bool:
    if isinstance(exc, AdlaApiError):
        return exc.retryable
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, OSError))


class AdlaHook(BaseHook):
    """The ADLA job API of the account an Airflow connection names."""

    conn_name_attr = "adla_conn_id"
    default_conn_name = "adla_default"
    conn_type = "adla"
    hook_name = "Azure Data Lake Analytics (airflow-mlpipe)"

    def __init__(self, adla_conn_id: str = default_conn_name, retry_limit: int = 3, retry_delay: float = 1.0):
        super().__init__()
        self.adla_conn_id = adla_conn_id
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self._conn: Any = None
        self._credentials: AdlaCredentials | None = None  # built with the connection; keeps the token
        self._session = requests.Session()

    # --- connection ------------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self.get_connection(self.adla_conn_id)
        return self._conn

    @property
    def base_url(self) -> str:
        conn = self.conn
        host = (conn.host or "").rstrip("/")
        if not host:
            account = conn.extra_dejson.get("account_name")
            if not account:
                raise ValueError(
                    f"Airflow connection {self.adla_conn_id!r}: give the job endpoint as its host, or the "
                    "ADLA account as extra 'account_name'"
                )
            return f"https://{account}.azuredatalakeanalytics.net"
        if "://" in host:
            return host
        scheme = conn.schema or "https"
        return f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")

    @property
    def _auth(self) -> AdlaCredentials:
        """The connection's Entra sign-in (hooks/adla_auth.py), one per hook so its token is kept."""
        if self._credentials is None:
            self._credentials = AdlaCredentials(self.adla_conn_id, self.conn_type, self.conn)
        return self._credentials

    # --- the one request method ------------------------------------------------------------

    def _retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry_limit),
            wait=tenacity.wait_exponential(multiplier=self.retry_delay, max=30),
            retry=tenacity.retry_if_exception(_retry_if),
            reraise=True,
        )

    def _request(self, endpoint: tuple[str, str], job_id: str, body: dict[str, Any] | None = None) -> Any:
        method, template = endpoint
        path = "/" + template.format(job_id=job_id)
        for attempt in self._retrying():
            with attempt:
                try:
                    response = self._session.request(
                        method,
                        self.base_url + path,
                        params={"api-version": API_VERSION},
                        json=body,
                        headers=self._auth.header(),
                        timeout=TIMEOUT,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    self.log.warning("ADLA job API %s %s: %s; retrying", method, path, type(exc).__name__)
                    raise
                if response.status_code >= 400:
                    raise _api_error(response.status_code, response.text, method, path)
                return response.json() if response.content else {}
        raise AssertionError("unreachable")  # pragma: no cover

    # --- typed methods ---------------------------------------------------------------------

    def submit_job(
        self,
        job_id: str,
        name: str,
        script: str,
        degree_of_parallelism: int | None = None,
        priority: int | None = None,
        runtime_version: str | None = None,
    ) -> dict[str, Any]:
        """Create U-SQL job ``job_id`` (a GUID the caller chose, so a retried PUT finds its job)."""
        properties: dict[str, Any] = {"type": "USql", "script": script}
        if runtime_version:
            properties["runtimeVersion"] = runtime_version
        body: dict[str, Any] = {"name": name, "type": "USql", "properties": properties}
        if degree_of_parallelism is not None:
            body["degreeOfParallelism"] = degree_of_parallelism
        if priority is not None:
            body["priority"] = priority
        try:
            return self._request(CREATE_JOB, job_id, body)
        except AdlaApiError as exc:
            if exc.status != 409:
                raise
            # a PUT retried after a lost answer: the job exists; it is ours if it has our script
            job = self.get_job(job_id)
            if (job.get("properties") or {}).get("script") not in (None, script):
                raise
            return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._request(GET_JOB, job_id)

    def get_job_state(self, job_id: str) -> JobState:
        return JobState.from_job(self.get_job(job_id))

    def cancel_job(self, job_id: str) -> None:
        """Ask the service to cancel the job; one that has already ended is left as it is."""
        try:
            self._request(CANCEL_JOB, job_id)
        except AdlaApiError as exc:
            if exc.status not in (400, 409):
                raise
            self.log.info("ADLA job %s was not cancelled: %s", job_id, exc.message)

    # --- async twin (the trigger) ----------------------------------------------------------

    async def a_get_job_state(self, job_id: str) -> JobState:
        return JobState.from_job(await self._a_request(GET_JOB, job_id))

    async def _a_request(self, endpoint: tuple[str, str], job_id: str) -> Any:
        import aiohttp

        method, template = endpoint
        path = "/" + template.format(job_id=job_id)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.retry_limit),
            wait=tenacity.wait_exponential(multiplier=self.retry_delay, max=30),
            retry=tenacity.retry_if_exception(
                lambda e: _retry_if(e) or isinstance(e, (aiohttp.ClientConnectionError, TimeoutError))
            ),
            reraise=True,
        )
        url = await self._a_base_url()
        async for attempt in retrying:
            with attempt:
                headers = await self._auth.a_header()
                timeout = aiohttp.ClientTimeout(total=TIMEOUT)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.request(
                        method, url + path, params={"api-version": API_VERSION}, headers=headers
                    ) as response:
                        text = await response.text()
                        if response.status >= 400:
                            raise _api_error(response.status, text, method, path)
                        return json.loads(text) if text else {}
        raise AssertionError("unreachable")  # pragma: no cover

    async def _a_base_url(self) -> str:
        if self._conn is None:
            self._conn = await self.aget_connection(self.adla_conn_id)
        return self.base_url


def _api_error(status: int, text: str, method: str, path: str) -> AdlaApiError:
    """ADLA's error body ``{"error": {"code", "message"}}`` (or anything else, shortened)."""
    code, message = "HttpError", (text or "").strip()[:500]
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        code = str(err.get("code") or code)
        message = str(err.get("message") or message)
    return AdlaApiError(status, code, message, method, path)
