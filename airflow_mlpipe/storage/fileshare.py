"""Azure Files datastore, through the Microsoft Azure provider's AzureFileShareHook.

Credentials stay in the Airflow connection ('azure_fileshare': account name or URL and key or SAS
token, or a connection string whose FileEndpoint points at any endpoint); only the connection id
and the share name are stored in a pipeline spec. Every write goes to a hidden temporary name in
the target's folder and is renamed into place when complete, so readers never see a partial file.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path
from airflow_mlpipe.storage.fileshare_copy import FileShareCopies
from airflow_mlpipe.storage.fileshare_lease import FileShareLeases, _code, _mapped

CHUNK = 4 * 1024 * 1024  # Put Range's maximum, and the read chunk: memory stays bounded
PARALLEL = 4  # ranges in flight per streamed write
TMP_PREFIX = ".mlpipe-tmp-"


class FileShareStore(FileShareCopies, FileShareLeases, Store):
    """A share of an Azure Files account; leases in fileshare_lease.py, server-side copies in
    fileshare_copy.py."""

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
