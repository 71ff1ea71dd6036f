"""Azure Files datastore, through the Microsoft Azure provider's AzureFileShareHook.

Credentials stay in the Airflow connection ('azure_fileshare': account name or URL and key or SAS
token, or a connection string whose FileEndpoint points at any endpoint); only the connection id
and the share name are stored in a pipeline spec. Every write goes to a hidden temporary name in
the target's folder and is renamed into place when complete, so readers never see a partial file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path

CHUNK = 4 * 1024 * 1024  # Put Range's maximum, and the read chunk: memory stays bounded
PARALLEL = 4  # ranges in flight per streamed write
TMP_PREFIX = ".mlpipe-tmp-"
LOCK_SIZE = 512  # a lock file is one fixed-size record, rewritten with one Put Range
STALE_AFTER = 60.0  # a leased lock with no readable live record for this long is taken over

F = TypeVar("F", bound=Callable[..., Any])


def _mapped(method: F) -> F:
    """Turn Azure SDK errors into DatastoreError naming the datastore, share and path."""

    @functools.wraps(method)
    def wrapper(self: FileShareStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            from azure.core.exceptions import AzureError

            if not isinstance(exc, AzureError):
                raise  # ours, or the caller's (a failing source of chunks)
            raise self._error(method.__name__, args[0] if args else "", exc) from exc

    return wrapper  # type: ignore[return-value]


class FileShareStore(Store):
    kind = "azure_file_share"

    def __init__(self, conn_id: str, share: str, *, name: str | None = None, service_client: Any = None):
        self.conn_id = conn_id
        self.share = share
        self.name = name or share
        self._service_client = service_client
        self._share_checked = False
        self._dirs: set[str] = set()
        self._lock = threading.Lock()

    # clients and errors -------------------------------------------------------------------

    @cached_property
    def service(self) -> Any:
        if self._service_client is not None:
            client = self._service_client
        else:
            from airflow.providers.microsoft.azure.hooks.fileshare import AzureFileShareHook

            try:
                client = AzureFileShareHook(azure_fileshare_conn_id=self.conn_id).share_service_client
            except Exception as exc:  # connection missing or malformed
                raise DatastoreError(
                    f"Azure Files datastore {self.name!r} (share {self.share!r}): cannot use Airflow "
                    f"connection {self.conn_id!r} ({type(exc).__name__}); define it as an "
                    "'azure_fileshare' connection with the account name and key, a SAS token, or a "
                    "connection string (AIRFLOW_CONN_<ID> or the Connections page)"
                ) from exc
        # download in CHUNK-sized requests (the SDK's default first request is 32 MiB)
        client._config.max_single_get_size = CHUNK
        client._config.max_chunk_get_size = CHUNK
        client._config.max_range_size = CHUNK
        return client

    @cached_property
    def client(self) -> Any:
        return self.service.get_share_client(self.share)

    def _file(self, path: str) -> Any:
        return self.client.get_file_client(path)

    def location(self, path: str) -> str:
        host = getattr(self.service, "primary_hostname", None) or "file"
        return f"{getattr(self.service, 'scheme', 'https')}://{host}/{self.share}/{normalize_path(path)}"

    def _error(self, action: str, path: Any, exc: Exception) -> DatastoreError:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        where = f"Azure Files datastore {self.name!r} (share {self.share!r}, connection {self.conn_id!r})"
        target = f" at {normalize_path(str(path))!r}" if isinstance(path, str) and path else ""
        if isinstance(exc, ClientAuthenticationError):
            return DatastoreError(
                f"{where}: {action}{target} was refused: the service did not accept the credentials "
                f"({_code(exc) or 'AuthenticationFailed'}); check the account key, "
                "SAS token or connection string of the connection"
            )
        if isinstance(exc, ServiceRequestError):
            return DatastoreError(
                f"{where}: cannot reach the File service endpoint {self.location('')} for {action}; "
                "check the account URL or the connection string's FileEndpoint"
            )
        if isinstance(exc, HttpResponseError):
            code = _code(exc) or exc.reason
            return DatastoreError(f"{where}: {action}{target} failed with HTTP {exc.status_code} ({code})")
        return DatastoreError(f"{where}: {action}{target} failed ({type(exc).__name__}: {exc})")

    # folders ----------------------------------------------------------------------------

    def _ensure_share(self) -> None:
        if self._share_checked:
            return
        from azure.core.exceptions import ResourceExistsError

        try:
            self.client.create_share()
        except ResourceExistsError:
            pass
        self._share_checked = True

    def _ensure_dirs(self, folder: str) -> None:
        """Create ``folder`` and its parents (Azure Files has real directories)."""
        from azure.core.exceptions import ResourceExistsError

        self._ensure_share()
        parts = folder.split("/") if folder else []
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self._dirs:
                continue
            try:
                self.client.get_directory_client(sub).create_directory()
            except ResourceExistsError as exc:
                if _code(exc) == "ResourceTypeMismatch":
                    raise DatastoreError(
                        f"Azure Files datastore {self.name!r}: {sub!r} is a file, so nothing can be "
                        "stored below it; delete it or choose another path"
                    ) from exc
            with self._lock:
                self._dirs.add(sub)

    def _temp_for(self, path: str) -> str:
        folder = posixpath.dirname(path)
        self._ensure_dirs(folder)
        return posixpath.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}")

    def _publish(self, tmp: str, path: str, *, overwrite: bool) -> bool:
        """Rename a complete temporary file onto ``path``; False when it exists and may not be replaced."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self._file(tmp).rename_file(path, overwrite=overwrite)
        except ResourceExistsError:
            self._discard(tmp)
            if overwrite:
                raise
            return False
        except BaseException:
            self._discard(tmp)
            raise
        return True

    def _discard(self, tmp: str) -> None:
        try:
            self._file(tmp).delete_file()
        except Exception:  # best effort: a leftover temporary name is hidden from listings
            pass

    # listing ------------------------------------------------------------------------------

    @_mapped
    def stat(self, path: str) -> FileInfo | None:
        """Size, version tag and mtime of one file, or None when there is no file at ``path``."""
        from azure.core.exceptions import ResourceNotFoundError

        path = normalize_path(path)
        if not path:
            return None
        try:
            props = self._file(path).get_file_properties()
        except ResourceNotFoundError:
            return None
        return FileInfo(path, props.size, str(props.etag).strip('"'), props.last_modified.timestamp())

    @_mapped
    def list(self, prefix: str) -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        prefix = normalize_path(prefix)
        if prefix:
            info = self.stat(prefix)
            if info is not None:
                return [info]
        out: list[FileInfo] = []
        pending = [prefix]
        while pending:
            folder = pending.pop()
            try:
                items = list(
                    self.client.get_directory_client(folder).list_directories_and_files(
                        include=["timestamps", "etag"]
                    )
                )
            except ResourceNotFoundError:
                continue  # no such folder (or share): nothing stored there
            for item in items:
                if item.name.startswith(TMP_PREFIX):
                    continue  # a write in progress is not a file yet
                rel = posixpath.join(folder, item.name) if folder else item.name
                if item.is_directory:
                    pending.append(rel)
                else:
                    mtime = item.last_modified.timestamp() if item.last_modified else 0.0
                    out.append(FileInfo(rel, item.size, str(item.etag).strip('"'), mtime))
        return sorted(out, key=lambda f: f.path)

    @_mapped
    def exists(self, path: str) -> bool:
        path = normalize_path(path)
        if self.stat(path) is not None:
            return True
        return bool(path) and bool(self.client.get_directory_client(path).exists())

    # files --------------------------------------------------------------------------------

    @_mapped
    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        from azure.storage.fileshare import ContentSettings

        path = normalize_path(path)
        if not path:
            raise DatastoreError("cannot upload a file to the share root itself; give a file path")
        size = local.stat().st_size
        md5 = _md5(local)
        if not overwrite and self.stat(path) is not None:
            return False
        if overwrite:
            stored = self._properties(path)
            if stored is not None and stored.size == size:
                digest = stored.content_settings.content_md5
                if digest is not None and bytes(digest) == md5:
                    return False  # keep the file (and its etag) when nothing changed
        tmp = self._temp_for(path)
        try:
            with open(local, "rb") as data:
                self._file(tmp).upload_file(
                    data,
                    length=size,
                    max_concurrency=PARALLEL,
                    content_settings=ContentSettings(content_md5=bytearray(md5)),
                )
        except BaseException:
            self._discard(tmp)
            raise
        return self._publish(tmp, path, overwrite=overwrite)

    def _properties(self, path: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._file(path).get_file_properties()
        except ResourceNotFoundError:
            return None

    @_mapped
    def download_file(self, path: str, local: Path) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        path = normalize_path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        try:
            with open(tmp, "wb") as out:
                self._file(path).download_file(max_concurrency=PARALLEL).readinto(out)
        except ResourceNotFoundError as exc:
            tmp.unlink(missing_ok=True)
            raise DatastoreError(f"no file at {self.location(path)} (datastore {self.name!r})") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(local)

    def open_read(self, path: str, offset: int = 0) -> Iterator[bytes]:
        """The file's bytes from ``offset`` on, in chunks of at most 4 MiB (one request each)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        path = normalize_path(path)
        try:
            client = self._file(path)
            if offset:
                info = self.stat(path)
                if info is None:
                    raise ResourceNotFoundError("no file")
                if offset >= info.size:
                    return
            yield from client.download_file(offset=offset or None).chunks()
        except ResourceNotFoundError as exc:
            raise DatastoreError(f"no file at {self.location(path)} (datastore {self.name!r})") from exc
        except AzureError as exc:
            raise self._error("open_read", path, exc) from exc

    @_mapped
    def write_stream(self, path: str, chunks: Iterable[bytes]) -> FileInfo:
        """Store the concatenated ``chunks`` at ``path``: ranges uploaded in parallel to a temporary
        file that grows as needed, then its size and MD5 set and the file renamed into place."""
        from azure.storage.fileshare import ContentSettings

        path = normalize_path(path)
        if not path:
            raise DatastoreError("cannot write a file to the share root itself; give a file path")
        tmp = self._temp_for(path)
        client = self._file(tmp)
        md5 = hashlib.md5()
        total = allocated = 0
        inflight: set[Future[Any]] = set()
        pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="mlpipe-files")
        try:
            client.create_file(size=0)
            for piece in _rechunk(chunks, CHUNK):
                md5.update(piece)
                if total + len(piece) > allocated:  # grow ahead (ranges in flight stay inside)
                    allocated = max(total + len(piece), min(2 * allocated, allocated + 256 * CHUNK))
                    client.resize_file(allocated)
                inflight.add(pool.submit(client.upload_range, piece, total, len(piece)))
                total += len(piece)
                if len(inflight) >= PARALLEL:
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        fut.result()
            for fut in inflight:
                fut.result()
            client.set_http_headers(ContentSettings(content_md5=bytearray(md5.digest())), size=total)
        except BaseException:
            for fut in inflight:
                fut.cancel()
            pool.shutdown(wait=True)
            self._discard(tmp)
            raise
        pool.shutdown(wait=True)
        self._publish(tmp, path, overwrite=True)
        info = self.stat(path)
        assert info is not None
        return info

    # small objects ------------------------------------------------------------------------

    @_mapped
    def read_bytes(self, path: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._file(normalize_path(path)).download_file().readall()
        except ResourceNotFoundError:
            return None

    @_mapped
    def write_bytes(self, path: str, data: bytes) -> None:
        from azure.storage.fileshare import ContentSettings

        path = normalize_path(path)
        tmp = self._temp_for(path)
        try:
            md5 = bytearray(hashlib.md5(data).digest())
            self._file(tmp).upload_file(data, content_settings=ContentSettings(content_md5=md5))
        except BaseException:
            self._discard(tmp)
            raise
        self._publish(tmp, path, overwrite=True)

    @_mapped
    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything below it (leases on lock files are broken)."""
        from azure.core.exceptions import ResourceNotFoundError

        path = normalize_path(path)
        if path and self.stat(path) is not None:
            self._delete_file(path)
            return
        folders: list[str] = []
        pending = [path]
        while pending:
            folder = pending.pop()
            try:
                items = list(self.client.get_directory_client(folder).list_directories_and_files())
            except ResourceNotFoundError:
                continue
            folders.append(folder)
            for item in items:
                rel = posixpath.join(folder, item.name) if folder else item.name
                if item.is_directory:
                    pending.append(rel)
                else:
                    self._delete_file(rel)
        for folder in sorted(folders, key=lambda f: -f.count("/") - (1 if f else 0)):
            if folder:  # the share root stays
                try:
                    self.client.get_directory_client(folder).delete_directory()
                except ResourceNotFoundError:
                    pass
                with self._lock:
                    self._dirs = {d for d in self._dirs if d != folder and not d.startswith(folder + "/")}

    def _delete_file(self, path: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        client = self._file(path)
        try:
            client.delete_file()
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 412:  # leased: deleting means deleting, so break the lease
                raise
            from azure.storage.fileshare import ShareLeaseClient

            ShareLeaseClient(client).break_lease()
            client.delete_file()

    # leases -------------------------------------------------------------------------------

    @_mapped
    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        """An exclusive lease for ``ttl`` seconds, or None when someone else holds it.

        Azure Files leases never expire, so the lock file holds one record (owner, lease id,
        expiry) written under the lease. An expired holder's lease is taken over with Change
        Lease from the lease id in its record: a compare-and-swap only one contender wins.
        """
        from azure.core.exceptions import HttpResponseError
        from azure.storage.fileshare import ShareLeaseClient

        path = normalize_path(path)
        self._create_lock(path)
        client = self._file(path)
        handle = {"path": path, "owner": owner, "ttl": ttl, "lease_id": str(uuid.uuid4())}
        try:
            ShareLeaseClient(client, lease_id=handle["lease_id"]).acquire()
        except HttpResponseError as exc:
            if exc.status_code != 409:
                raise
            held, modified = self._read_lock(path)
            now = time.time()
            if held is not None and held.get("expires", 0) > now:
                return None
            try:
                prior = (held or {}).get("lease")
                if not prior:
                    raise ValueError("the lock file holds no record yet")
                ShareLeaseClient(client, lease_id=prior).change(handle["lease_id"])
            except (HttpResponseError, ValueError):
                if modified > now - STALE_AFTER:
                    return None  # just taken by someone who is writing its record
                try:  # a holder died between taking the lease and writing its record
                    ShareLeaseClient(client).break_lease()
                    ShareLeaseClient(client, lease_id=handle["lease_id"]).acquire()
                except HttpResponseError:
                    return None
        return handle if self._write_lock(handle) else None

    def _create_lock(self, path: str) -> None:
        if self.stat(path) is not None:
            return
        tmp = self._temp_for(path)
        try:
            self._file(tmp).create_file(size=LOCK_SIZE)
        except BaseException:
            self._discard(tmp)
            raise
        self._publish(tmp, path, overwrite=False)  # someone else's lock file is as good

    def _read_lock(self, path: str) -> tuple[dict[str, Any] | None, float]:
        stream = self._file(path).download_file()
        raw = stream.readall()
        modified = stream.properties.last_modified.timestamp()
        try:
            return json.loads(raw.rstrip(b"\0 ")), modified
        except ValueError:
            return None, modified

    def _write_lock(self, handle: dict[str, Any]) -> bool:
        from azure.core.exceptions import HttpResponseError

        record = {
            "owner": handle["owner"],
            "lease": handle["lease_id"],
            "expires": time.time() + handle["ttl"],
        }
        body = json.dumps(record).encode().ljust(LOCK_SIZE)
        try:
            self._file(handle["path"]).upload_range(body, 0, LOCK_SIZE, lease=handle["lease_id"])
        except HttpResponseError:
            return False  # the lease was lost (taken over after expiry)
        return True

    @_mapped
    def renew_lease(self, lease: Any) -> bool:
        return self._write_lock(lease)

    @_mapped
    def release_lease(self, lease: Any) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.storage.fileshare import ShareLeaseClient

        try:
            ShareLeaseClient(self._file(lease["path"]), lease_id=lease["lease_id"]).release()
        except HttpResponseError:
            pass  # not ours any more: someone took it over after expiry


def _code(exc: Exception) -> str | None:
    """The service's x-ms-error-code ('AuthenticationFailed'), as a plain string."""
    code = getattr(exc, "error_code", None)
    return None if code is None else str(getattr(code, "value", code))


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces of exactly ``size`` bytes (the last one shorter) from chunks of any size."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _md5(path: Path) -> bytes:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.digest()
