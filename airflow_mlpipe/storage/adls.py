"""Azure Data Lake Storage Gen2 datastore, through the Azure provider's AzureDataLakeStorageV2Hook.

The hook builds the SDK's DataLakeServiceClient from an ``adls`` Airflow connection (host = account
name, password = account key, or a tenant/client secret, or a connection string); the extra
``account_url`` points it at another endpoint (a sovereign cloud, a private endpoint, an emulator).
Only the connection id and the filesystem name are ever stored in a pipeline spec.

Writes go to a hidden temporary name beside the target (create, append, flush) and are renamed
onto it: ADLS renames are atomic, so readers see the old file or the new one, never a part.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.adls_copy import AdlsCopies
from airflow_mlpipe.storage.adls_lease import AdlsLeases
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path

CHUNK = 4 * 1024 * 1024  # bytes per append: bounds memory per write
# bytes per ranged read: the SDK's download briefly holds ~9x the range (requests/urllib3 buffers and
# its own join), so 1 MiB ranges keep a reader near 10 MiB where 4 MiB ones peak near 40 MiB
READ_CHUNK = 1024 * 1024
TMP_PREFIX = ".mlpipe-tmp-"


class AdlsGen2Store(AdlsCopies, AdlsLeases, Store):
    """A filesystem (container) of an ADLS Gen2 account with a hierarchical namespace; leases in
    adls_lease.py, server-side copies in adls_copy.py."""

    kind = "azure_data_lake_gen2"

    def __init__(self, conn_id: str, filesystem: str, *, name: str | None = None, service_client: Any = None):
        self.conn_id = conn_id
        self.filesystem = filesystem
        self.name = name
        self._service_client = service_client
        self._fs_checked = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AdlsGen2Store(conn_id={self.conn_id!r}, filesystem={self.filesystem!r})"

    @property
    def label(self) -> str:
        """How errors name this datastore."""
        where = f"filesystem {self.filesystem!r} (Airflow connection {self.conn_id!r})"
        return (
            f"ADLS Gen2 datastore {self.name!r} on {where}"
            if self.name
            else f"ADLS Gen2 datastore on {where}"
        )

    @cached_property
    def service(self) -> Any:
        if self._service_client is not None:
            return self._service_client
        from airflow.providers.microsoft.azure.hooks.data_lake import AzureDataLakeStorageV2Hook

        try:
            return AzureDataLakeStorageV2Hook(adls_conn_id=self.conn_id).get_conn()
        except Exception as exc:  # connection missing or malformed; never echo its fields
            raise DatastoreError(
                f"{self.label}: cannot use the Airflow connection ({type(exc).__name__}); define it as "
                "an 'adls' connection (host = account name, password = account key, or extra "
                "'account_url' for another endpoint), e.g. AIRFLOW_CONN_<ID> or the Connections page"
            ) from None

    @cached_property
    def client(self) -> Any:
        return self.service.get_file_system_client(self.filesystem)

    def location(self, path: str) -> str:
        account = getattr(self.service, "account_name", None) or "adls"
        return f"abfss://{self.filesystem}@{account}/{normalize_path(path)}"

    @contextmanager
    def _errors(self, action: str, path: str) -> Iterator[None]:
        """Turn SDK errors into DatastoreErrors naming the datastore, the path and what to do."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        try:
            yield
        except ClientAuthenticationError as exc:
            raise DatastoreError(
                f"{self.label}: {action} {path!r} was refused ({_code(exc)}): the account key or "
                "credential in the connection is wrong or lacks access; fix the connection's password "
                "(the account key) or its service principal"
            ) from None
        except HttpResponseError as exc:
            raise DatastoreError(
                f"{self.label}: {action} {path!r} failed with HTTP {exc.status_code} {_code(exc)}"
            ) from None
        except ServiceRequestError as exc:
            raise DatastoreError(
                f"{self.label}: cannot reach the account endpoint to {action} {path!r} "
                f"({type(exc).__name__}); check the connection's host or 'account_url'"
            ) from None

    def _ensure_filesystem(self) -> None:
        if self._fs_checked:
            return
        with self._lock:
            if self._fs_checked:
                return
            from azure.core.exceptions import ResourceExistsError

            with self._errors("create filesystem for", ""):
                try:
                    self.client.create_file_system()
                except ResourceExistsError:
                    pass
            self._fs_checked = True

    # reading ------------------------------------------------------------------------------

    def _properties(self, path: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("read the properties of", path):
            try:
                return self.client.get_file_client(path).get_file_properties()
            except ResourceNotFoundError:
                return None

    def stat(self, path: str) -> FileInfo | None:
        """The file at ``path`` (size, etag, mtime), or None when there is no file there."""
        path = normalize_path(path)
        props = self._properties(path) if path else None
        if props is None or _is_dir(props):
            return None
        return FileInfo(path, props.size, str(props.etag).strip('"'), props.last_modified.timestamp())

    def list(self, prefix: str) -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        prefix = normalize_path(prefix)
        if prefix:
            props = self._properties(prefix)
            if props is None:
                return []
            if not _is_dir(props):
                return [
                    FileInfo(prefix, props.size, str(props.etag).strip('"'), props.last_modified.timestamp())
                ]
        out: list[FileInfo] = []
        with self._errors("list", prefix):
            try:
                for p in self.client.get_paths(path=prefix or None, recursive=True):
                    if p.is_directory or _hidden(p.name):
                        continue  # folders are implied by files; temporary names are writes in progress
                    out.append(
                        FileInfo(
                            p.name, p.content_length, str(p.etag).strip('"'), p.last_modified.timestamp()
                        )
                    )
            except ResourceNotFoundError:
                return []  # no filesystem (or folder) yet: nothing stored
        return sorted(out, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        return bool(self.list(path))

    def open_read(self, path: str, offset: int = 0) -> Iterator[bytes]:
        """The file's bytes from ``offset`` in chunks of at most 1 MiB, each a ranged read of the
        same version (If-Match on its etag): a file replaced meanwhile fails rather than mixing."""
        from azure.core import MatchConditions

        path = normalize_path(path)
        info = self.stat(path)
        if info is None:
            raise DatastoreError(f"{self.label}: no file at {self.location(path)}")
        file = self.client.get_file_client(path)
        pos = offset
        while pos < info.size:
            length = min(READ_CHUNK, info.size - pos)
            with self._errors("read", path):
                data = file.download_file(
                    offset=pos,
                    length=length,
                    etag=f'"{info.etag}"',
                    match_condition=MatchConditions.IfNotModified,
                ).readall()
            if not data:
                raise DatastoreError(
                    f"{self.label}: {self.location(path)} ended at byte {pos} of {info.size}"
                )
            pos += len(data)
            yield data

    def download_file(self, path: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        try:
            with open(tmp, "wb") as out:
                for chunk in self.open_read(path):
                    out.write(chunk)
            tmp.replace(local)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return b"".join(self.open_read(path))
        except DatastoreError:
            if self.stat(path) is None:
                return None
            # there now: a writer published it (an atomic rename) between the read and the stat,
            # so one more read sees the whole file; a second failure is a real error
            return b"".join(self.open_read(path))

    # writing ------------------------------------------------------------------------------

    def _temp_name(self, path: str) -> str:
        folder, base = posixpath.split(path)
        return posixpath.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}-{base}")

    def _publish(self, tmp: str, path: str, *, overwrite: bool) -> bool:
        """Rename ``tmp`` onto ``path``; False (and ``tmp`` removed) when it exists and may not be replaced."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError

        kwargs: dict[str, Any] = {} if overwrite else {"match_condition": MatchConditions.IfMissing}
        published = False
        try:
            with self._errors("publish", path):
                try:
                    self.client.get_file_client(tmp).rename_file(f"{self.filesystem}/{path}", **kwargs)
                    published = True
                except ResourceExistsError as exc:
                    if overwrite or _code(exc) != "PathAlreadyExists":
                        raise  # e.g. a folder that holds files is at ``path``
        finally:
            if not published:
                self._discard(tmp)
        return published

    def _discard(self, tmp: str) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.get_file_client(tmp).delete_file()
        except HttpResponseError:
            pass  # best effort: temporary names are hidden from listings anyway

    def write_stream(self, path: str, chunks: Iterable[bytes], *, overwrite: bool = True) -> FileInfo:
        """Store the bytes of ``chunks`` at ``path`` atomically, holding at most 4 MiB at a time."""
        path = self._file_path(path)
        self._ensure_filesystem()
        tmp = self._temp_name(path)
        size = self._write_temp(tmp, path, chunks)
        if not self._publish(tmp, path, overwrite=overwrite):
            raise DatastoreError(
                f"{self.label}: {self.location(path)} exists already and may not be overwritten"
            )
        info = self.stat(path)
        return info if info is not None else FileInfo(path, size, "", 0.0)

    def _write_temp(self, tmp: str, path: str, chunks: Iterable[bytes]) -> int:
        """Create ``tmp`` and append ``chunks`` in pieces of at most 4 MiB; removed on failure."""
        from azure.storage.filedatalake import ContentSettings

        file = self.client.get_file_client(tmp)
        md5, pos, buf = hashlib.md5(), 0, bytearray()
        try:
            with self._errors("write", path):
                file.create_file()
                for chunk in chunks:
                    buf += chunk
                    while len(buf) >= CHUNK:
                        with memoryview(buf) as view:
                            piece = bytes(view[:CHUNK])
                        del buf[:CHUNK]
                        md5.update(piece)
                        file.append_data(piece, offset=pos, length=len(piece))
                        pos += len(piece)
                if buf:
                    md5.update(buf)
                    file.append_data(bytes(buf), offset=pos, length=len(buf))
                    pos += len(buf)
                file.flush_data(pos, content_settings=ContentSettings(content_md5=md5.digest()))
        except BaseException:
            self._discard(tmp)
            raise
        return pos

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        from azure.storage.filedatalake import ContentSettings

        path = self._file_path(path)
        props = self._properties(path)
        if props is not None and not _is_dir(props):
            if not overwrite:
                return False
            stored = props.content_settings.content_md5
            if props.size == local.stat().st_size and stored is not None and bytes(stored) == _md5(local):
                return False  # keep the file (and its etag) when nothing changed
        self._ensure_filesystem()
        tmp = self._temp_name(path)
        size = local.stat().st_size
        if size == 0:  # the SDK's upload_data creates nothing for no bytes
            self._write_temp(tmp, path, [])
            return self._publish(tmp, path, overwrite=overwrite)
        try:
            with self._errors("upload", path), open(local, "rb") as data:
                self.client.get_file_client(tmp).upload_data(
                    data,
                    length=size,
                    overwrite=True,
                    chunk_size=CHUNK,
                    max_concurrency=4,
                    content_settings=ContentSettings(content_md5=_md5(local)),
                )
        except BaseException:
            self._discard(tmp)
            raise
        return self._publish(tmp, path, overwrite=overwrite)

    def write_bytes(self, path: str, data: bytes) -> None:
        self.write_stream(path, [data])

    def delete(self, path: str) -> None:
        """Delete the file or the folder (recursively) at ``path``; nothing there is no error."""
        from azure.core.exceptions import ResourceNotFoundError

        path = normalize_path(path)
        if not path:
            raise DatastoreError(
                f"{self.label}: refusing to delete the whole filesystem; name a folder or file"
            )
        props = self._properties(path)
        if props is None:
            return
        with self._errors("delete", path):
            try:
                if _is_dir(props):
                    self.client.get_directory_client(path).delete_directory()
                else:
                    self.client.get_file_client(path).delete_file()
            except ResourceNotFoundError:
                pass

    def _file_path(self, path: str) -> str:
        path = normalize_path(path)
        if not path or _hidden(path):
            raise DatastoreError(
                f"{self.label}: cannot write a file at {path!r}; give a file path (not the root, and no "
                f"segment starting with {TMP_PREFIX!r})"
            )
        return path


def _is_dir(props: Any) -> bool:
    return str((props.metadata or {}).get("hdi_isfolder", "")).lower() == "true"


def _hidden(path: str) -> bool:
    return any(part.startswith(TMP_PREFIX) for part in path.split("/"))


def _code(exc: Any) -> str:
    """Azure's error code (an enum in the SDK) or the HTTP reason."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)
    return str(code or getattr(exc, "reason", None) or type(exc).__name__)


def _md5(path: Path) -> bytes:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.digest()
