"""A local Microsoft Entra ID token service: the routes MSAL and azure-identity call for a service
principal's client-credentials grant, over HTTPS on 127.0.0.1 with a certificate made here.

Routes (as documented for the Microsoft identity platform, v2.0 endpoints):
- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID configuration (MSAL's
  tenant discovery); an unknown tenant answers 400 ``invalid_tenant`` / AADSTS90002;
- ``GET /common/discovery/instance?authorization_endpoint=...``: instance discovery, which MSAL calls
  for an authority it does not know unless ``instance_discovery`` is turned off (azure-identity's
  ``disable_instance_discovery=True``); another host answers 400 ``invalid_instance`` / AADSTS50049;
- ``GET /{tenant}/discovery/v2.0/keys``: the key that signs the access tokens (a JWK set);
- ``POST /{tenant}/oauth2/v2.0/token`` (form-encoded, ``grant_type=client_credentials``): checks the
  tenant, ``client_id``, ``client_secret`` (in the body or as HTTP Basic) and that ``scope`` is one
  resource's ``/.default``; answers ``{token_type, expires_in, ext_expires_in, access_token}`` or
  Entra's error body ``{error, error_description, error_codes, timestamp, trace_id,
  correlation_id, error_uri}`` (invalid_client/AADSTS7000215 401, unauthorized_client/AADSTS700016,
  invalid_request/AADSTS90002, invalid_scope/AADSTS1002012, invalid_resource/AADSTS500011, ...).

Access tokens are RS256 JWTs (aud, iss, tid, appid, oid, roles, iat, nbf, exp). Unlike Entra, which
mints a new token per request, the emulator hands out one token per (tenant, client, resource) until
it expires, so that a test can give a resource service the token it will be shown
(``token_for``). ``token_requests`` records each token request (never the secret) so that tests can
count them.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["EntraEmulator", "TokenRequest", "make_tls_files"]

DEFAULT_LIFETIME = 3599


@dataclass(frozen=True)
class TokenRequest:
    """One call of the token endpoint as the emulator saw it (the secret is never kept)."""

    tenant: str
    client_id: str
    scope: str
    grant_type: str
    status: int
    error_code: int | None = None


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs for 127.0.0.1 and localhost, as PEM files:
    (CA bundle, server certificate chain, server key). Clients trust the CA bundle only."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-mlpipe test Entra CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    bundle, chain, key_file = folder / "entra-ca.pem", folder / "entra-server.pem", folder / "entra-key.pem"
    bundle.write_bytes(ca.public_bytes(pem))
    chain.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_file, 0o600)
    return bundle, chain, key_file


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Refused(Exception):
    """An Entra error answer: HTTP status, OAuth error, AADSTS number and description."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


class EntraEmulator:
    """Microsoft Entra ID for the service principals registered with ``add_app``, on an HTTPS port
    of 127.0.0.1 (0: a free one). ``start()`` serves in a daemon thread; ``stop()`` stops it and
    deletes the certificate files. ``ca_bundle`` is the file a client must trust
    (``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``); ``authority`` is what a credential is given."""

    def __init__(
        self,
        port: int = 0,
        token_lifetime: int = DEFAULT_LIFETIME,
        resources: tuple[str, ...] = ("https://datalake.azure.net",),
    ) -> None:
        self._port = port
        self.token_lifetime = token_lifetime
        self.resources = {r.rstrip("/") for r in resources}
        self._apps: dict[tuple[str, str], str] = {}  # (tenant, client id) -> secret
        self._tokens: dict[tuple[str, str, str], tuple[str, int]] = {}  # -> (token, exp)
        self._lock = threading.Lock()
        self.token_requests: list[TokenRequest] = []
        self.discovery_requests: list[str] = []  # paths of the GET routes, in order
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = _b64url(uuid.uuid4().bytes)
        self._folder: Path | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up -------------------------------------------------------------------------------

    def add_app(self, tenant: str, client_id: str, secret: str) -> EntraEmulator:
        """Register a service principal (an app registration with one client secret) in a tenant."""
        self._apps[(tenant.lower(), client_id.lower())] = secret
        return self

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def authority(self) -> str:
        """The authority host to give a credential (azure-identity's ``authority``)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.authority}"

    @property
    def ca_bundle(self) -> Path:
        assert self._folder is not None, "start() first"
        return self._folder / "entra-ca.pem"

    def token_for(self, tenant: str, client_id: str, scope: str) -> str:
        """The access token the emulator hands this client for this scope (minted now if needed)."""
        return self._token(tenant.lower(), client_id.lower(), scope.split()[0])[0]

    def count(self, tenant: str | None = None, ok: bool | None = None) -> int:
        """How many token requests came (for a tenant; only successful or refused ones)."""
        return sum(
            1
            for r in list(self.token_requests)
            if (tenant is None or r.tenant == tenant) and (ok is None or (r.status == 200) == ok)
        )

    # --- serving ------------------------------------------------------------------------------

    def start(self) -> EntraEmulator:
        self._folder = Path(tempfile.mkdtemp(prefix="entra-emulator-"))
        _, chain, key = make_tls_files(self._folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key)
        emulator = self

        class _Handler(_EntraHandler):
            entra = emulator

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="entra-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> EntraEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the protocol -------------------------------------------------------------------------

    def _known_tenant(self, tenant: str) -> bool:
        return any(t == tenant.lower() for t, _ in self._apps)

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        if not self._known_tenant(tenant):
            raise _Refused(
                400,
                "invalid_tenant",
                90002,
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud. Check with your subscription administrator, "
                "this may happen if there are no active subscriptions for the tenant.",
            )
        base = f"{self.url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver", "oid"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "127.0.0.1",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def instance_discovery(self, authorization_endpoint: str) -> dict[str, Any]:
        endpoint = urlparse(authorization_endpoint)  # MSAL sends the host without the port
        if endpoint.hostname not in ("127.0.0.1", "localhost"):
            raise _Refused(
                400,
                "invalid_instance",
                50049,
                "AADSTS50049: Unknown or invalid instance.",
            )
        tenant = endpoint.path.strip("/").split("/")[0] or "common"
        return {
            "tenant_discovery_endpoint": f"{self.url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": self.authority,
                    "preferred_cache": self.authority,
                    "aliases": [self.authority],
                }
            ],
        }

    def keys(self) -> dict[str, Any]:
        numbers = self._signing_key.public_key().public_numbers()

        def _int(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {
            "keys": [
                {"kty": "RSA", "use": "sig", "kid": self._kid, "n": _int(numbers.n), "e": _int(numbers.e)}
            ]
        }

    def token(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        client_id = form.get("client_id") or (basic[0] if basic else "")
        secret = form.get("client_secret") or (basic[1] if basic else "")
        scope, grant = form.get("scope", ""), form.get("grant_type", "")
        status, code = 200, None
        try:
            return self._check_token_request(tenant.lower(), client_id.lower(), secret, scope, grant)
        except _Refused as exc:
            status, code = exc.status, exc.code
            raise
        finally:
            with self._lock:
                self.token_requests.append(TokenRequest(tenant, client_id, scope, grant, status, code))

    def _check_token_request(
        self, tenant: str, client_id: str, secret: str, scope: str, grant: str
    ) -> dict[str, Any]:
        for name, value in (("grant_type", grant), ("client_id", client_id), ("scope", scope)):
            if not value:
                raise _Refused(
                    400,
                    "invalid_request",
                    900144,
                    f"AADSTS900144: The request body must contain the following parameter: '{name}'.",
                )
        if grant != "client_credentials":
            raise _Refused(
                400,
                "unsupported_grant_type",
                70003,
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        if not self._known_tenant(tenant):
            raise _Refused(
                400,
                "invalid_request",
                90002,
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription administrator, this "
                "may happen if there are no active subscriptions for the tenant.",
            )
        expected = self._apps.get((tenant, client_id))
        if expected is None:
            raise _Refused(
                400,
                "unauthorized_client",
                700016,
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the administrator "
                "of the tenant or consented to by any user in the tenant. You may have sent your "
                "authentication request to the wrong tenant.",
            )
        if not secret:
            raise _Refused(
                401,
                "invalid_client",
                7000218,
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        if secret != expected:
            raise _Refused(
                401,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        scopes = scope.split()
        if any(not s.endswith("/.default") for s in scopes):
            raise _Refused(
                400,
                "invalid_scope",
                1002012,
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier (application ID "
                "URI).",
            )
        resources = {s[: -len("/.default")].rstrip("/") for s in scopes}
        if len(resources) > 1:
            raise _Refused(
                400,
                "invalid_scope",
                70011,
                f"AADSTS70011: The provided request must include a 'scope' input parameter. The provided value "
                f"for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
            )
        (resource,) = resources
        if resource not in self.resources:
            raise _Refused(
                400,
                "invalid_resource",
                500011,
                f"AADSTS500011: The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the administrator "
                "of the tenant or consented to by any user in the tenant. You might have sent your "
                "authentication request to the wrong tenant.",
            )
        token, exp = self._token(tenant, client_id, scopes[0])
        expires_in = max(exp - int(time.time()), 0)
        return {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        }

    def _token(self, tenant: str, client_id: str, scope: str) -> tuple[str, int]:
        resource = scope[: -len("/.default")] if scope.endswith("/.default") else scope
        key = (tenant, client_id, resource.rstrip("/"))
        with self._lock:
            cached = self._tokens.get(key)
            now = int(time.time())
            if cached and cached[1] > now:
                return cached
            claims = {
                "aud": resource.rstrip("/") + "/",
                "iss": f"https://sts.windows.net/{tenant}/",
                "iat": now,
                "nbf": now,
                "exp": now + self.token_lifetime,
                "appid": client_id,
                "appidacr": "1",
                "idtyp": "app",
                "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client_id}")),
                "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client_id}")),
                "tid": tenant,
                "roles": [],
                "ver": "1.0",
                "uti": _b64url(uuid.uuid4().bytes),
            }
            header = {"typ": "JWT", "alg": "RS256", "kid": self._kid, "x5t": self._kid}
            signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
            signature = self._signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            minted = (f"{signing_input}.{_b64url(signature)}", claims["exp"])
            self._tokens[key] = minted
            return minted


class _EntraHandler(BaseHTTPRequestHandler):
    entra: EntraEmulator
    protocol_version = "HTTP/1.1"
    server_version = "EntraEmulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows the client's errors

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refused(self, exc: _Refused) -> None:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        self._send(
            exc.status,
            {
                "error": exc.error,
                "error_description": f"{exc.description}\r\nTrace ID: {trace}\r\nCorrelation ID: "
                f"{correlation}\r\nTimestamp: {stamp}",
                "error_codes": [exc.code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.entra.url}/error?code={exc.code}",
            },
        )

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        self.entra.discovery_requests.append(url.path)
        try:
            if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                return self._send(200, self.entra.openid_configuration(parts[0]))
            if parts[1:] == ["discovery", "instance"]:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                return self._send(200, self.entra.instance_discovery(query.get("authorization_endpoint", "")))
            if parts[1:] == ["discovery", "v2.0", "keys"]:
                return self._send(200, self.entra.keys())
        except _Refused as exc:
            return self._refused(exc)
        self._send(404, {"error": "not_found", "error_description": f"no route GET {url.path}"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if parts[1:] != ["oauth2", "v2.0", "token"]:
            return self._send(404, {"error": "not_found", "error_description": f"no route POST {url.path}"})
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return self._refused(
                _Refused(
                    400,
                    "invalid_request",
                    900144,
                    "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
                )
            )
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        basic = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (unquote(user), unquote(password))
        try:
            self._send(200, self.entra.token(parts[0], form, basic))
        except _Refused as exc:
            self._refused(exc)
