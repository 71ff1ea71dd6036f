"""Azure ML v1's ``Datastore.register_*`` with v1's keyword arguments.

Each builds the datastore's spec and the Airflow connection its secrets go to (with the fields the
Azure, Postgres and MySQL providers read) and hands both to datastore_registry.register, which
stores the spec (never a secret) under the workspace root and writes the connection over Airflow's
REST API v2. ``conn_id=`` (an airflow-mlpipe addition) names an existing connection instead.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from airflow_mlpipe.definitions.datastore_registry import GEN1_RETIRED, _text, register
from airflow_mlpipe.definitions.workspace import Workspace
from airflow_mlpipe.exceptions import UserErrorException

if TYPE_CHECKING:
    from airflow_mlpipe.definitions.datastore import Datastore

DEFAULT_ENDPOINTS = {
    "storage": "core.windows.net",
    "postgres": "postgres.database.azure.com",
    "mysql": "mysql.database.azure.com",
    "azure_sql": "database.windows.net",
}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "azure_sql": 1433}


# --- v1's register_* ----------------------------------------------------------------------------


def _storage_url(protocol: str | None, account: str, service: str, endpoint: str | None) -> str:
    protocol = protocol or "https"
    if protocol not in ("https", "http"):
        raise UserErrorException(f"protocol must be 'https' or 'http', got {protocol!r}")
    return f"{protocol}://{account}.{service}.{endpoint or DEFAULT_ENDPOINTS['storage']}"


def _storage_info(account_name: str, protocol: Any, endpoint: Any, credential: str, **more: Any) -> dict:
    """What v1's datastore objects showed (account, protocol, endpoint, credential type): no secret."""
    info = {
        "account_name": account_name,
        "protocol": protocol or "https",
        "endpoint": endpoint or DEFAULT_ENDPOINTS["storage"],
        "credential_type": credential,
    }
    info.update({k: v for k, v in more.items() if v is not None})
    return info


def _not_done(where: str, **flags: Any) -> None:
    """v1 options that act on Azure itself, which registering here does not touch."""
    for flag, value in flags.items():
        if value:
            warnings.warn(
                f"{where}: {flag}=True is not acted on: registering only records the datastore and its "
                "Airflow connection; create the container or share in Azure (portal, az CLI) beforehand",
                UserWarning,
                stacklevel=3,
            )


def register_azure_blob_container(
    workspace: Workspace,
    datastore_name: str,
    container_name: str,
    account_name: str,
    sas_token: str | None = None,
    account_key: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    create_if_not_exists: bool = False,
    skip_validation: bool = False,
    blob_cache_timeout: int | None = None,
    grant_workspace_access: bool = False,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    conn_id: str | None = None,
) -> Datastore:
    """An Azure Blob container (Airflow ``wasb`` connection: login = account, host = account URL,
    password = account key, or extra ``sas_token``; the key wins when both are given, as in v1)."""
    where = f"register_azure_blob_container({datastore_name!r})"
    account = _text(account_name, "account_name", where)
    _not_done(where, create_if_not_exists=create_if_not_exists)
    url = _storage_url(protocol, account, "blob", endpoint)
    connection = {"host": url, "login": account, "password": account_key or None}
    if sas_token and not account_key:
        connection["extra"] = {"sas_token": sas_token}
    credential = "AccountKey" if account_key else "Sas" if sas_token else "None"
    info = _storage_info(account, protocol, endpoint, credential, subscription_id=subscription_id,
                         resource_group=resource_group)  # fmt: skip
    location = {"container": _text(container_name, "container_name", where)}
    return register(workspace, datastore_name, "azure_blob", location, info, connection,
                    [sas_token or "", account_key or ""], conn_id, overwrite)  # fmt: skip


def register_azure_file_share(
    workspace: Workspace,
    datastore_name: str,
    file_share_name: str,
    account_name: str,
    sas_token: str | None = None,
    account_key: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    create_if_not_exists: bool = False,
    skip_validation: bool = False,
    conn_id: str | None = None,
) -> Datastore:
    """An Azure Files share (Airflow ``azure_fileshare`` connection: login = account URL,
    password = account key, or extra ``sas_token``)."""
    where = f"register_azure_file_share({datastore_name!r})"
    account = _text(account_name, "account_name", where)
    _not_done(where, create_if_not_exists=create_if_not_exists)
    connection = {"login": _storage_url(protocol, account, "file", endpoint), "password": account_key or None}
    if sas_token and not account_key:
        connection["extra"] = {"sas_token": sas_token}
    credential = "AccountKey" if account_key else "Sas" if sas_token else "None"
    info = _storage_info(account, protocol, endpoint, credential)
    location = {"share": _text(file_share_name, "file_share_name", where)}
    return register(workspace, datastore_name, "azure_file_share", location, info, connection,
                    [sas_token or "", account_key or ""], conn_id, overwrite)  # fmt: skip


def register_azure_data_lake_gen2(
    workspace: Workspace,
    datastore_name: str,
    filesystem: str,
    account_name: str,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    resource_url: str | None = None,
    authority_url: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    grant_workspace_access: bool = False,
    conn_id: str | None = None,
) -> Datastore:
    """An ADLS Gen2 filesystem (Airflow ``adls`` connection: host = account, login = client id,
    password = client secret, extra ``tenant_id``; with no service principal, the worker's identity)."""
    where = f"register_azure_data_lake_gen2({datastore_name!r})"
    account = _text(account_name, "account_name", where)
    if (tenant_id or client_id or client_secret) and not (tenant_id and client_id and client_secret):
        raise UserErrorException(
            f"{where}: Tenant id, client id and client secret have to be defined together."
        )
    extra: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {}
    if protocol not in (None, "https") or endpoint not in (None, DEFAULT_ENDPOINTS["storage"]):
        extra["account_url"] = _storage_url(protocol, account, "dfs", endpoint)
    connection = {"host": account, "login": client_id, "password": client_secret, "extra": extra}
    credential = "ClientCredentials" if client_secret else "None"
    info = _storage_info(account, protocol, endpoint, credential, tenant_id=tenant_id, client_id=client_id,
                         subscription_id=subscription_id, resource_group=resource_group)  # fmt: skip
    location = {"filesystem": _text(filesystem, "filesystem", where)}
    return register(workspace, datastore_name, "azure_data_lake_gen2", location, info, connection,
                    [client_secret or ""], conn_id, overwrite)  # fmt: skip


def _sql(
    workspace: Workspace, datastore_name: str, kind: str, server_name: Any, database_name: Any,
    login: Any, password: Any, port: Any, endpoint: Any, conn_id: Any, overwrite: bool,
    extra: dict[str, Any] | None = None,
) -> Datastore:  # fmt: skip
    """A SQL database: host = server_name (as given when it is a host name or address and no
    endpoint is given), else ``<server_name>.<endpoint>``; schema = the database."""
    where = f"datastore {datastore_name!r}"
    server = _text(server_name, "server_name", where)
    if endpoint is None and ("." in server or ":" in server or server == "localhost"):
        host = server
    else:
        host = f"{server}.{endpoint or DEFAULT_ENDPOINTS[kind]}"
    try:
        port = int(port) if port not in (None, "") else DEFAULT_PORTS[kind]
    except (TypeError, ValueError):
        raise UserErrorException(f"{where}: port_number must be a port number, got {port!r}") from None
    database = _text(database_name, "database_name", where)
    connection = {"host": host, "port": port, "schema": database, "login": login, "password": password,
                  "extra": extra or {}}  # fmt: skip
    info = {"server_name": server, "host": host, "port": port, "credential_type": "SqlAuthentication"
            if password else "None"}  # fmt: skip
    return register(workspace, datastore_name, kind, {"database": database}, info, connection,
                    [password or ""], conn_id, overwrite)  # fmt: skip


def register_azure_postgre_sql(
    workspace: Workspace,
    datastore_name: str,
    server_name: str,
    database_name: str,
    user_id: str | None = None,
    user_password: str | None = None,
    port_number: str | int | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    enforce_ssl: bool = True,
    conn_id: str | None = None,
    **kwargs: Any,
) -> Datastore:
    """A PostgreSQL database (Airflow ``postgres`` connection; ``enforce_ssl`` sets sslmode=require)."""
    if conn_id is None:  # v1's checks (with conn_id, the connection holds user and password)
        for value, what in ((user_id, "User id"), (user_password, "User password")):
            if value is None:
                raise UserErrorException(f"{what} is required for PostreSQL.")
    for value, what in ((server_name, "Server name"), (database_name, "Database name")):
        if value is None:
            raise UserErrorException(f"{what} is required for PostreSQL.")
    _refuse_kwargs("register_azure_postgre_sql", kwargs)
    extra = {"sslmode": "require"} if enforce_ssl else {}
    return _sql(workspace, datastore_name, "postgres", server_name, database_name, user_id, user_password,
                port_number, endpoint, conn_id, overwrite, extra)  # fmt: skip


def register_azure_my_sql(
    workspace: Workspace,
    datastore_name: str,
    server_name: str,
    database_name: str,
    user_id: str | None = None,
    user_password: str | None = None,
    port_number: str | int | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    conn_id: str | None = None,
    **kwargs: Any,
) -> Datastore:
    """A MySQL or MariaDB database (Airflow ``mysql`` connection)."""
    if conn_id is None:
        for value, what in ((user_id, "User id"), (user_password, "User password")):
            if value is None:
                raise UserErrorException(f"{what} is required for My SQL.")
    for value, what in ((server_name, "Server name"), (database_name, "Database name")):
        if value is None:
            raise UserErrorException(f"{what} is required for My SQL.")
    _refuse_kwargs("register_azure_my_sql", kwargs)
    return _sql(workspace, datastore_name, "mysql", server_name, database_name, user_id, user_password,
                port_number, endpoint, conn_id, overwrite)  # fmt: skip


def register_azure_sql_database(
    workspace: Workspace,
    datastore_name: str,
    server_name: str,
    database_name: str,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    resource_url: str | None = None,
    authority_url: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    username: str | None = None,
    password: str | None = None,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    grant_workspace_access: bool = False,
    conn_id: str | None = None,
    **kwargs: Any,
) -> Datastore:
    """An Azure SQL database (Airflow ``mssql`` connection with username and password)."""
    if client_secret or tenant_id or client_id:
        raise UserErrorException(
            f"register_azure_sql_database({datastore_name!r}): a service principal (tenant_id, client_id, "
            "client_secret) cannot sign in through Airflow's mssql connection; give username and password, "
            "or conn_id of a connection you configured"
        )
    _refuse_kwargs("register_azure_sql_database", kwargs)
    return _sql(workspace, datastore_name, "azure_sql", server_name, database_name, username, password,
                None, endpoint, conn_id, overwrite)  # fmt: skip


def _refuse_kwargs(where: str, kwargs: dict[str, Any]) -> None:
    kwargs.pop("skip_validation", None)  # v1 took it through **kwargs: nothing is validated here
    if kwargs:
        raise UserErrorException(f"{where}: unexpected arguments {sorted(kwargs)}")


def register_azure_data_lake(workspace: Workspace, datastore_name: str, store_name: str, *args: Any,
                             **kwargs: Any) -> Datastore:  # fmt: skip
    """ADLS Gen1: retired, refused with what to do instead."""
    raise UserErrorException(GEN1_RETIRED)
