"""AdlaHook: the Azure Data Lake Analytics Job REST API (api-version 2016-11-01) for AdlaStep.

Submit (``PUT jobs/{id}``), read (``GET jobs/{id}``) and cancel (``POST jobs/{id}/CancelJob``) U-SQL
jobs of one ADLA account, or of ``mlpipe adla serve``, which speaks the same protocol. The Airflow
connection says where and how:

- ``host``: the job endpoint (``https://{account}.azuredatalakeanalyticsjobs...`` or
  ``http://127.0.0.1:PORT`` for the local service; ``schema``/``port`` complete a bare host). With no
  host, ``extra.account_name`` gives ``https://{account}.azuredatalakeanalytics.net``.
- credentials, as the Microsoft Azure provider takes them: ``login`` (client id) + ``password``
  (client secret) + ``extra.tenant_id`` for a service principal; ``password`` alone is a bearer token
  (the local service); neither uses the provider's DefaultAzureCredential (managed identity,
  workload identity, environment). ``extra.authority`` (alias ``authority_host``) names the Microsoft
  Entra host of a sovereign cloud or Azure Stack, and ``extra.disable_instance_discovery`` skips
  MSAL's check of that host against login.microsoftonline.com (the provider's msgraph names).
  A token is kept until five minutes before it expires, by the sync and the async path alike.

All traffic goes through ``_request`` / ``_a_request``: retries with tenacity (connection errors,
timeouts, 5xx, 429), one error mapping to AdlaApiError.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity
from airflow.sdk import BaseHook

__all__ = ["API_VERSION", "AdlaApiError", "AdlaAuthError", "AdlaHook", "JobState", "job_errors"]

API_VERSION = "2016-11-01"
SCOPE = "https://datalake.azure.net/.default"  # the ADLA data plane's token audience
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
TOKEN_REFRESH_MARGIN = 300  # seconds: a token closer to its expiry is fetched again (azure-identity's)
_AADSTS = re.compile(r"AADSTS\d+")
_HINTS = {  # what to fix in the connection, by Entra error code
    "AADSTS7000215": "set the connection's password to the client secret's value (not its ID)",
    "AADSTS7000222": "the client secret has expired: create a new one and put it in the connection's password",
    "AADSTS7000218": "set the client secret as the connection's password",
    "AADSTS700016": "check the connection's login (the application (client) id) and extra 'tenant_id'",
    "AADSTS90002": "check extra 'tenant_id' and, for another cloud, extra 'authority'",
    "AADSTS500011": "the service principal's tenant has no ADLA (Azure Data Lake) resource principal",
}


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
        self._credential: Any = None  # the sync credential, kept: azure-identity caches in it
        self._token: Any = None  # the last AccessToken, for the sync and the async path
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

    def _auth_header(self) -> dict[str, str]:
        conn = self.conn
        if conn.password and not conn.login:
            return {"Authorization": f"Bearer {conn.password}"}
        if not self._token_is_fresh():
            if self._credential is None:
                self._credential = self._sync_credential()
            try:
                self._token = self._credential.get_token(SCOPE)
            except Exception as exc:
                raise self._auth_error(exc) from None
        return {"Authorization": f"Bearer {self._token.token}"}

    def _token_is_fresh(self) -> bool:
        return self._token is not None and self._token.expires_on - time.time() > TOKEN_REFRESH_MARGIN

    def _sync_credential(self) -> Any:
        options = self._credential_options()
        if self.conn.login:
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(self._tenant(), self.conn.login, self._client_secret(), **options)
        return self._default_credential(options, aio=False)

    def _default_credential(self, options: dict[str, Any], aio: bool) -> Any:
        """The provider's DefaultAzureCredential helper; built here the same way when the connection
        names an authority, which the helper does not take."""
        mi_client_id = self._extra("managed_identity_client_id")
        wi_tenant_id = self._extra("workload_identity_tenant_id")
        if not options:
            from airflow.providers.microsoft.azure.utils import (
                get_async_default_azure_credential,
                get_sync_default_azure_credential,
            )

            helper = get_async_default_azure_credential if aio else get_sync_default_azure_credential
            return helper(managed_identity_client_id=mi_client_id, workload_identity_tenant_id=wi_tenant_id)
        if aio:
            from azure.identity.aio import DefaultAzureCredential as AsyncDefaultAzureCredential

            credential_cls: Any = AsyncDefaultAzureCredential
        else:
            from azure.identity import DefaultAzureCredential

            credential_cls = DefaultAzureCredential
        if mi_client_id and wi_tenant_id:
            options = {
                **options,
                "managed_identity_client_id": mi_client_id,
                "workload_identity_tenant_id": wi_tenant_id,
                "additionally_allowed_tenants": [wi_tenant_id],
            }
        return credential_cls(**options)

    def _extra(self, name: str) -> Any:
        """An extra as the Azure provider reads it: ``name`` or ``extra__adla__name``; "" is unset."""
        from airflow.providers.microsoft.azure.utils import get_field

        return get_field(
            conn_id=self.adla_conn_id,
            conn_type=self.conn_type,
            extras=self.conn.extra_dejson,
            field_name=name,
        )

    def _credential_options(self) -> dict[str, Any]:
        """azure-identity's ``authority`` and ``disable_instance_discovery`` from the extras
        ``authority`` (the provider's msgraph name; ``authority_host`` is accepted too) and
        ``disable_instance_discovery``."""
        authority, alias = self._extra("authority"), self._extra("authority_host")
        if authority and alias and str(authority).rstrip("/") != str(alias).rstrip("/"):
            raise ValueError(
                f"Airflow connection {self.adla_conn_id!r}: extras 'authority' ({authority!r}) and "
                f"'authority_host' ({alias!r}) differ; give one"
            )
        options: dict[str, Any] = {}
        if authority or alias:
            options["authority"] = str(authority or alias)
        disable = self._extra("disable_instance_discovery")
        if isinstance(disable, str):
            text = disable.strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(
                    f"Airflow connection {self.adla_conn_id!r}: extra 'disable_instance_discovery' must be "
                    f"true or false, not {disable!r}"
                )
            disable = text in ("true", "1", "yes")
        if disable:
            options["disable_instance_discovery"] = True
        return options

    def _tenant(self) -> str:
        tenant = self._extra("tenant_id") or self._extra("tenantId")
        if not tenant:
            raise ValueError(
                f"Airflow connection {self.adla_conn_id!r}: a service principal (login = client id) needs "
                "extra 'tenant_id'"
            )
        return str(tenant)

    def _client_secret(self) -> str:
        if not self.conn.password:
            raise ValueError(
                f"Airflow connection {self.adla_conn_id!r}: a service principal (login = client id) needs "
                "its client secret as the password"
            )
        return str(self.conn.password)

    def _auth_error(self, exc: Exception) -> AdlaAuthError:
        """Entra's refusal (or the credential chain's) as an AdlaAuthError: the AADSTS code, Entra's
        first line and trace id, and what to fix; the secret is cut out if Entra ever echoes it."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        text, oauth_error = "", None
        try:
            body = json.loads(exc.response.text())  # type: ignore[attr-defined]
        except Exception:
            body = None
        if isinstance(body, dict) and body.get("error_description"):
            text, oauth_error = str(body["error_description"]), body.get("error")
        else:
            text = str(getattr(exc, "message", None) or exc)
        text = text.removeprefix("Authentication failed: ")
        match = _AADSTS.search(text)
        code = match.group(0) if match else type(exc).__name__
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = (lines[0] if lines else type(exc).__name__).removeprefix(f"{code}: ")
        trace = next((line for line in lines if line.startswith("Trace ID:")), None)
        message = first + (f" ({trace})" if trace else "")
        if oauth_error:
            message = f"{oauth_error}: {message}"
        hint = _HINTS.get(code) or (
            "check the connection's login (client id), password (client secret), extra 'tenant_id' and, "
            "for another cloud, extras 'authority' and 'disable_instance_discovery'"
            if self.conn.login
            else "the default Azure credential found no identity: configure one on the worker or give the "
            "connection a service principal"
        )
        unreachable = _unreachable(exc)
        if unreachable:
            hint = "Microsoft Entra ID could not be reached: check the network and extra 'authority'"
        message = f"{message}; {hint}"
        secret = self.conn.password
        if secret and self.conn.login:
            message = message.replace(str(secret), "***")
        return AdlaAuthError(self.adla_conn_id, code, message, status, unreachable)

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
                        headers=self._auth_header(),
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
                headers = await self._a_auth_header()
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

    async def _a_auth_header(self) -> dict[str, str]:
        conn = self.conn
        if conn.password and not conn.login:
            return {"Authorization": f"Bearer {conn.password}"}
        if not self._token_is_fresh():
            credential = self._async_credential()
            try:
                async with credential:
                    self._token = await credential.get_token(SCOPE)
            except Exception as exc:
                raise self._auth_error(exc) from None
        return {"Authorization": f"Bearer {self._token.token}"}

    def _async_credential(self) -> Any:
        """azure-identity's async credential for the connection. Its transport (aiohttp) reads no
        REQUESTS_CA_BUNDLE, and SSL_CERT_FILE only when aiohttp is imported; the CA bundle those name
        is given to it, so the triggerer trusts the same Entra endpoints as the workers."""
        options = self._credential_options()
        options.pop("disable_instance_discovery", None)  # the async credentials do no instance discovery
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
        if ca_bundle:
            options["connection_verify"] = ca_bundle
        if self.conn.login:
            from azure.identity.aio import ClientSecretCredential

            return ClientSecretCredential(self._tenant(), self.conn.login, self._client_secret(), **options)
        return self._default_credential(options, aio=True)


def _unreachable(exc: BaseException) -> bool:
    """Whether a credential failed because Entra did not answer (azure-identity wraps the transport's
    ServiceRequestError/ServiceResponseError in a ClientAuthenticationError, or raises it as is)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, (ServiceRequestError, ServiceResponseError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
