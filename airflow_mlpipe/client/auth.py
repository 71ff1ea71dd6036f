"""Credentials for a workspace's Airflow deployment, under Azure ML v1's authentication class names.

Each class resolves a user of the workspace's Airflow and gives ``get_authentication_header()`` ->
``{"Authorization": "Bearer <token>"}`` with a token from Airflow's own ``POST /auth/token``, so v1
code that posts to a published pipeline's ``endpoint`` works unchanged. Where the URL and the
credentials come from is documented in docs/deployment.md ("Authentication").
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from airflow_mlpipe.client.rest import AirflowClient
from airflow_mlpipe.exceptions import AuthenticationException

ENV_URL = "MLPIPE_API_URL"
ENV_USERNAME = "MLPIPE_API_USERNAME"
ENV_PASSWORD = "MLPIPE_API_PASSWORD"
ENV_TOKEN = "MLPIPE_API_TOKEN"  # a token Airflow issued (POST /auth/token), e.g. mounted into a pod


def _api(workspace: Any) -> dict[str, Any]:
    return dict(getattr(workspace, "api", {}) or {})


def api_url(workspace: Any) -> str:
    """The workspace's Airflow: $MLPIPE_API_URL, its config's api.url, or the embedded deployment."""
    url = os.environ.get(ENV_URL) or _api(workspace).get("url")
    if url:
        return str(url).rstrip("/")
    from airflow_mlpipe.deploy.local import LocalDeployment

    return LocalDeployment().url


def talks_to_remote(workspace: Any) -> bool:
    """Whether ``workspace`` is a client of a remote Airflow (its config's api.url, or
    $MLPIPE_API_URL): then it registers assets over HTTP (client/asset_api.py). The embedded
    workspace, and the workspace a step's script gets from its run, use the datastore directly."""
    if getattr(workspace, "_in_deployment", False):
        return False
    return bool(os.environ.get(ENV_URL) or _api(workspace).get("url"))


class AbstractAuthentication:
    """What every credential kind shares: a client per Airflow URL and the bearer header."""

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], AirflowClient] = {}
        self._workspace: Any = None

    def _credentials(self, workspace: Any, url: str) -> dict[str, str]:
        """``{"username", "password"}`` or ``{"token"}``; raises AuthenticationException if none."""
        raise NotImplementedError

    def client_for(self, workspace: Any = None) -> AirflowClient:
        """An Airflow REST client for ``workspace`` (default: the one this was given, or from_config)."""
        ws = workspace or self._workspace
        if ws is None:
            from airflow_mlpipe.definitions.workspace import Workspace

            ws = self._workspace = Workspace.from_config()
        url = api_url(ws)
        creds = self._credentials(ws, url)  # again each time: a restarted deployment has a new password
        key = (url, *sorted(creds.items()))
        if key not in self._clients:
            self._clients[key] = AirflowClient(
                url, creds.get("username", ""), creds.get("password", ""), token=creds.get("token")
            )
        return self._clients[key]

    def get_authentication_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for the workspace's Airflow (renewed before expiry)."""
        return {"Authorization": f"Bearer {self.client_for().token()}"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _from_environment(workspace: Any) -> dict[str, str] | None:
    token = os.environ.get(ENV_TOKEN)
    if token:
        return {"token": token}
    api = _api(workspace)
    password = os.environ.get(api.get("password_env", ENV_PASSWORD))
    user = os.environ.get(ENV_USERNAME) or api.get("username")
    if password is not None:
        return {"username": user or "admin", "password": password}
    return None


def _from_embedded(url: str) -> dict[str, str] | None:
    from airflow_mlpipe.deploy.local import USERNAME, LocalDeployment

    dep = LocalDeployment()
    if dep.state() is not None and url == dep.url and dep.passwords_file.exists():
        return {"username": USERNAME, "password": dep.password()}
    return None


def _default_chain(workspace: Any, url: str) -> dict[str, str] | None:
    return _from_environment(workspace) or _from_embedded(url)


def _missing(url: str, what: str) -> AuthenticationException:
    return AuthenticationException(
        f"no credentials for the Airflow API at {url}: {what} (see docs/deployment.md, Authentication)"
    )


class AzureCliAuthentication(AbstractAuthentication):
    """The credentials the ``mlpipe`` command uses: the environment, then the embedded deployment's."""

    def __init__(self, cloud: str | None = None):
        super().__init__()
        self.cloud = cloud

    def _credentials(self, workspace: Any, url: str) -> dict[str, str]:
        found = _default_chain(workspace, url)
        if found is None:
            raise _missing(url, f"set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD}")
        return found


class InteractiveLoginAuthentication(AzureCliAuthentication):
    """The default credentials, else (or with ``force=True``) a username and password typed at a prompt."""

    def __init__(self, force: bool = False, tenant_id: str | None = None, cloud: str | None = None):
        super().__init__(cloud)
        self.force = bool(force)
        self.tenant_id = tenant_id
        self._typed: dict[str, dict[str, str]] = {}

    def _credentials(self, workspace: Any, url: str) -> dict[str, str]:
        found = None if self.force else _default_chain(workspace, url)
        if found is not None:
            return found
        if url not in self._typed:  # asked once per deployment, then kept for this object's life
            if not sys.stdin or not sys.stdin.isatty():
                raise _missing(url, f"no terminal to ask on; set {ENV_USERNAME} and {ENV_PASSWORD}")
            user = input(f"Airflow user at {url}: ").strip()
            self._typed[url] = {"username": user, "password": getpass.getpass(f"Password of {user}: ")}
        return self._typed[url]


class MsiAuthentication(AbstractAuthentication):
    """The identity the machine was given, from the environment only: $MLPIPE_API_TOKEN, or
    $MLPIPE_API_USERNAME (or ``identity_config["client_id"]``) with $MLPIPE_API_PASSWORD."""

    def __init__(self, cloud: str | None = None, identity_config: dict[str, str] | None = None):
        super().__init__()
        self.cloud = cloud
        self.identity_config = dict(identity_config or {})

    def _credentials(self, workspace: Any, url: str) -> dict[str, str]:
        if os.environ.get(ENV_TOKEN):
            return {"token": os.environ[ENV_TOKEN]}
        user = self.identity_config.get("client_id") or os.environ.get(ENV_USERNAME)
        password = os.environ.get(ENV_PASSWORD)
        if not user or password is None:
            raise _missing(url, f"the environment has no {ENV_TOKEN}, nor {ENV_USERNAME} and {ENV_PASSWORD}")
        return {"username": user, "password": password}


class ServicePrincipalAuthentication(AbstractAuthentication):
    """An Airflow user given in code: ``service_principal_id`` is its name, the password its password.
    ``tenant_id`` is kept for v1 code and has no meaning for Airflow."""

    def __init__(
        self,
        tenant_id: str,
        service_principal_id: str,
        service_principal_password: str,
        cloud: str = "AzureCloud",
        _enable_caching: bool = True,
    ):
        super().__init__()
        if not service_principal_id or not service_principal_password:
            raise AuthenticationException(
                "ServicePrincipalAuthentication needs service_principal_id (an Airflow user) and "
                "service_principal_password (its password)"
            )
        self.tenant_id = tenant_id
        self.service_principal_id = service_principal_id
        self._password = service_principal_password
        self.cloud = cloud

    def _credentials(self, workspace: Any, url: str) -> dict[str, str]:
        return {"username": self.service_principal_id, "password": self._password}

    def __repr__(self) -> str:  # never the password
        return f"ServicePrincipalAuthentication(service_principal_id={self.service_principal_id!r})"


_DEFAULT = AzureCliAuthentication()


def workspace_client(ws: Any) -> AirflowClient:
    """The Airflow REST client of a workspace, with the workspace's ``auth`` or the default chain."""
    auth = getattr(ws, "auth", None) or _DEFAULT
    if not isinstance(auth, AbstractAuthentication):
        raise AuthenticationException(
            f"workspace auth must be one of the authentication classes (e.g. InteractiveLoginAuthentication), got {auth!r}"
        )
    return auth.client_for(ws)
