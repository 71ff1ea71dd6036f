"""AdlaCredentials: the Microsoft Entra ID sign-in of an ADLA connection, used by AdlaHook.

Credentials as the Microsoft Azure provider takes them: ``login`` (client id) + ``password`` (client
secret) + ``extra.tenant_id`` for a service principal; ``password`` alone is a bearer token (the local
service); neither uses the provider's DefaultAzureCredential (managed identity, workload identity,
environment). ``extra.authority`` (alias ``authority_host``) names the Microsoft Entra host of a
sovereign cloud or Azure Stack, and ``extra.disable_instance_discovery`` skips MSAL's check of that
host against login.microsoftonline.com (the provider's msgraph names). A token is kept until five
minutes before it expires, by the sync and the async path alike. Entra's refusals become
AdlaAuthError (defined with its base AdlaApiError in hooks/adla.py) naming the connection, the AADSTS
code and the fix, never the secret.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlpipe.hooks.adla import AdlaAuthError

__all__ = ["SCOPE", "TOKEN_REFRESH_MARGIN", "AdlaCredentials"]

SCOPE = "https://datalake.azure.net/.default"  # the ADLA data plane's token audience
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


class AdlaCredentials:
    """The Authorization header for one Airflow connection's calls to the ADLA job API: the sync
    path keeps its azure-identity credential (which caches in it), both paths share the last token."""

    def __init__(self, conn_id: str, conn_type: str, conn: Any):
        self.conn_id = conn_id
        self.conn_type = conn_type
        self.conn = conn
        self._credential: Any = None  # the sync credential, kept: azure-identity caches in it
        self._token: Any = None  # the last AccessToken, for the sync and the async path

    def header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer ..."}``, asking Entra only when the kept token is near expiry."""
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

    async def a_header(self) -> dict[str, str]:
        """The async twin of ``header`` (the trigger): a new async credential per token, closed after."""
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

    def _token_is_fresh(self) -> bool:
        return self._token is not None and self._token.expires_on - time.time() > TOKEN_REFRESH_MARGIN

    def _sync_credential(self) -> Any:
        options = self._credential_options()
        if self.conn.login:
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(self._tenant(), self.conn.login, self._client_secret(), **options)
        return self._default_credential(options, aio=False)

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
            conn_id=self.conn_id,
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
                f"Airflow connection {self.conn_id!r}: extras 'authority' ({authority!r}) and "
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
                    f"Airflow connection {self.conn_id!r}: extra 'disable_instance_discovery' must be "
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
                f"Airflow connection {self.conn_id!r}: a service principal (login = client id) needs "
                "extra 'tenant_id'"
            )
        return str(tenant)

    def _client_secret(self) -> str:
        if not self.conn.password:
            raise ValueError(
                f"Airflow connection {self.conn_id!r}: a service principal (login = client id) needs "
                "its client secret as the password"
            )
        return str(self.conn.password)

    def _auth_error(self, exc: Exception) -> AdlaAuthError:
        """Entra's refusal (or the credential chain's) as an AdlaAuthError: the AADSTS code, Entra's
        first line and trace id, and what to fix; the secret is cut out if Entra ever echoes it."""
        # imported here: hooks/adla.py imports this module, and AdlaAuthError stays beside its base
        from airflow_mlpipe.hooks.adla import AdlaAuthError

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
        return AdlaAuthError(self.conn_id, code, message, status, unreachable)


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
