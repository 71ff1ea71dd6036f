"""AdlaHook's Microsoft Entra ID paths against tests/entra_emulator.py (HTTPS on 127.0.0.1, its own
CA trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE): a service principal's token, fetched by
azure-identity (MSAL when sync, its own client when async), opens the local ADLA job service; a
wrong secret or tenant fails naming the connection and Entra's code, never the secret; tokens are
cached until shortly before they expire; the DefaultAzureCredential path takes the same extras."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import pytest
from entra_emulator import EntraEmulator

from airflow_mlpipe.emulators.adla.jobs import JobContext
from airflow_mlpipe.emulators.adla.server import AdlaService
from airflow_mlpipe.hooks.adla import SCOPE, AdlaApiError, AdlaAuthError, AdlaHook

TENANT = "72f988bf-0000-4000-8000-00000000adla"
CLIENT = "0c2a6f5e-1111-4222-8333-444455556666"
SECRET = "s3cret-value-never-shown~Q8"


def upper(script: str, ctx: JobContext) -> None:
    """A stand-in runner: ``COPY <in> <out>`` upper-cases a file."""
    _, source, target = script.split()
    ctx.running()
    ctx.output_path(target).write_text(ctx.input_path(source).read_text().upper())


@pytest.fixture(scope="module")
def entra():
    with EntraEmulator() as emulator:
        emulator.add_app(TENANT, CLIENT, SECRET)
        yield emulator


@pytest.fixture(scope="module")
def service(entra, tmp_path_factory):
    root = tmp_path_factory.mktemp("adla-auth-root")
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_text("x,y\n1,2\n")
    with AdlaService(root, entra.token_for(TENANT, CLIENT, SCOPE), runner=upper) as svc:
        yield svc


@pytest.fixture(autouse=True)
def trust_entra(entra, monkeypatch):
    """Trust the emulator's CA the way a deployment trusts a private CA: the standard env vars."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra.ca_bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(entra.ca_bundle))


def connect(monkeypatch, conn_id: str, host: str, entra: EntraEmulator, **changes) -> AdlaHook:
    extra = {"tenant_id": TENANT, "authority": entra.authority, "disable_instance_discovery": True}
    conn = {"conn_type": "adla", "host": host, "login": CLIENT, "password": SECRET, "extra": extra}
    extra.update(changes.pop("extra", {}))
    for name in [k for k, v in extra.items() if v is None]:
        del extra[name]
    conn.update(changes)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return AdlaHook(conn_id, retry_limit=3, retry_delay=0.01)


def wait_end(hook: AdlaHook, job_id: str):
    for _ in range(400):
        state = hook.get_job_state(job_id)
        if state.is_terminal:
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def test_a_service_principal_token_from_entra_opens_the_job_api_and_is_fetched_once(
    entra, service, monkeypatch
):
    hook = connect(monkeypatch, "adla_sp", service.url, entra)
    before = entra.count()
    job_id = str(uuid.uuid4())
    job = hook.submit_job(job_id, "copy", "COPY /in/a.csv /out/a.csv")
    assert job["jobId"] == job_id
    assert wait_end(hook, job_id).is_successful
    assert (service.root / "out" / "a.csv").read_text() == "X,Y\n1,2\n"
    # many calls, one token request: the hook keeps the token until shortly before it expires
    assert entra.count() - before == 1
    (request,) = entra.token_requests[before:]
    assert (request.tenant, request.client_id, request.scope) == (TENANT, CLIENT, SCOPE)
    assert request.grant_type == "client_credentials" and request.status == 200


def test_the_async_path_fetches_its_token_from_entra_once_per_hook(entra, service, monkeypatch):
    hook = connect(monkeypatch, "adla_sp_async", service.url, entra)
    job_id = str(uuid.uuid4())
    connect(monkeypatch, "adla_sp_submit", service.url, entra).submit_job(
        job_id, "c", "COPY /in/a.csv /out/b.csv"
    )
    before = entra.count()

    async def poll() -> list[str]:
        states = []
        for _ in range(400):
            state = await hook.a_get_job_state(job_id)
            states.append(str(state))
            if state.is_terminal:
                return states
            await asyncio.sleep(0.05)
        raise AssertionError("the job did not end")

    states = asyncio.run(poll())
    assert states[-1] == "Ended/Succeeded"
    assert entra.count() - before == 1
    asyncio.run(hook.a_get_job_state(job_id))  # another event loop, the same hook: still cached
    assert entra.count() - before == 1


def assert_clear_refusal(exc: AdlaAuthError, code: str, caplog) -> None:
    text = str(exc)
    assert "Airflow connection 'adla_bad'" in text and code in text and exc.code == code
    assert not exc.retryable and isinstance(exc, AdlaApiError)
    assert exc.__cause__ is None and exc.__suppress_context__
    assert SECRET not in text and SECRET not in repr(exc) and SECRET not in exc.message
    assert "wrong-" not in text and "wrong-" not in caplog.text
    assert SECRET not in caplog.text


def test_a_wrong_secret_names_the_connection_and_entra_code_never_the_secret(
    entra, service, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + SECRET
    hook = connect(monkeypatch, "adla_bad", service.url, entra, password=wrong)
    before = entra.count(ok=False)
    with pytest.raises(AdlaAuthError) as sync_exc:
        hook.get_job_state(str(uuid.uuid4()))
    assert_clear_refusal(sync_exc.value, "AADSTS7000215", caplog)
    assert "client secret's value" in str(sync_exc.value)
    assert entra.count(ok=False) - before == 1  # not retried: a wrong secret stays wrong

    with pytest.raises(AdlaAuthError) as async_exc:
        asyncio.run(hook.a_get_job_state(str(uuid.uuid4())))
    assert_clear_refusal(async_exc.value, "AADSTS7000215", caplog)
    assert async_exc.value.status == 401 and "invalid_client" in str(async_exc.value)
    assert entra.count(ok=False) - before == 2


def test_an_unknown_tenant_or_client_is_named(entra, service, monkeypatch, caplog):
    hook = connect(monkeypatch, "adla_bad", service.url, entra, extra={"tenant_id": "no-such-tenant"})
    with pytest.raises(AdlaAuthError) as sync_exc:
        hook.get_job_state(str(uuid.uuid4()))  # MSAL's tenant discovery is refused before any token request
    assert "no-such-tenant" in str(sync_exc.value) and "tenant_id" in str(sync_exc.value)
    with pytest.raises(AdlaAuthError) as async_exc:
        asyncio.run(hook.a_get_job_state(str(uuid.uuid4())))
    assert_clear_refusal(async_exc.value, "AADSTS90002", caplog)

    hook = connect(monkeypatch, "adla_bad", service.url, entra, login=str(uuid.uuid4()))
    with pytest.raises(AdlaAuthError) as exc:
        hook.get_job_state(str(uuid.uuid4()))
    assert_clear_refusal(exc.value, "AADSTS700016", caplog)
    assert "login (the application (client) id)" in str(exc.value)


def test_a_token_near_its_expiry_is_fetched_again(monkeypatch, tmp_path):
    with EntraEmulator(token_lifetime=120) as short:  # under the hook's 5-minute margin
        short.add_app(TENANT, CLIENT, SECRET)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(short.ca_bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(short.ca_bundle))
        with AdlaService(tmp_path, short.token_for(TENANT, CLIENT, SCOPE), runner=upper) as svc:
            hook = connect(monkeypatch, "adla_short", svc.url, short)
            for _ in range(2):
                with pytest.raises(AdlaApiError, match="JobNotFound"):  # authenticated, then 404
                    hook.get_job(str(uuid.uuid4()))
            assert short.count(ok=True) == 2
            with pytest.raises(AdlaApiError, match="JobNotFound"):
                asyncio.run(hook.a_get_job_state(str(uuid.uuid4())))
            assert short.count(ok=True) == 3


def test_the_default_azure_credential_takes_the_connections_authority(entra, service, monkeypatch):
    """No login: DefaultAzureCredential, here through its EnvironmentCredential (a service principal
    in AZURE_* variables), asks the Entra host the connection names."""
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    hook = connect(monkeypatch, "adla_default_cred", service.url, entra, login=None, password=None)
    before = entra.count(ok=True)
    with pytest.raises(AdlaApiError, match="JobNotFound"):
        hook.get_job(str(uuid.uuid4()))
    with pytest.raises(AdlaApiError, match="JobNotFound"):
        asyncio.run(AdlaHook("adla_default_cred", retry_delay=0.01).a_get_job_state(str(uuid.uuid4())))
    assert entra.count(ok=True) - before == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"authority": "a.example", "authority_host": "b.example"},
            "'authority' ('a.example') and 'authority_host'",
        ),
        ({"disable_instance_discovery": "maybe"}, "must be true or false"),
        ({"tenant_id": ""}, "needs extra 'tenant_id'"),
    ],
)
def test_connection_mistakes_are_named_before_any_request(entra, monkeypatch, extra, message):
    hook = connect(monkeypatch, "adla_typo", "http://127.0.0.1:9", entra, extra=extra)
    before = entra.count()
    with pytest.raises(ValueError, match="Airflow connection 'adla_typo'") as exc:
        hook.get_job(str(uuid.uuid4()))
    assert message in str(exc.value) and entra.count() == before


def test_extras_as_the_ui_form_writes_them(entra, service, monkeypatch):
    """The provider's names, its extra__<type>__ prefix and a string boolean are read alike."""
    extra = {
        "extra__adla__tenant_id": TENANT,
        "authority": "",
        "authority_host": f"https://{entra.authority}/",
        "disable_instance_discovery": "true",
    }
    hook = connect(monkeypatch, "adla_form", service.url, entra, extra={"tenant_id": None, **extra})
    with pytest.raises(AdlaApiError, match="JobNotFound"):
        hook.get_job(str(uuid.uuid4()))


def test_msal_instance_discovery_on_the_emulator(entra):
    """The route MSAL calls for an authority it does not know (unless discovery is turned off)."""
    import msal
    import requests

    session = requests.Session()
    session.verify = str(entra.ca_bundle)
    app = msal.ConfidentialClientApplication(
        CLIENT,
        client_credential=SECRET,
        authority=f"{entra.url}/{TENANT}",
        instance_discovery=f"{entra.url}/common/discovery/instance",
        http_client=session,
    )
    result = app.acquire_token_for_client([SCOPE])
    assert result["access_token"] == entra.token_for(TENANT, CLIENT, SCOPE)
    assert "/common/discovery/instance" in entra.discovery_requests
    with pytest.raises(ValueError, match="invalid_instance"):
        msal.ConfidentialClientApplication(
            CLIENT,
            client_credential=SECRET,
            authority=f"https://127.0.0.2:{entra.port}/{TENANT}",
            instance_discovery=f"{entra.url}/common/discovery/instance",
            http_client=session,
        )
