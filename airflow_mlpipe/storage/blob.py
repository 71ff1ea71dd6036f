"""Azure Blob Storage datastore, through the Microsoft Azure provider's WasbHook.

Credentials stay in the Airflow connection (or its secrets backend); only the connection id and
the container name are ever stored in a pipeline spec.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, Store, normalize_path
from airflow_mlpipe.storage.server_copy import COPY_TIMEOUT

CHUNK = 4 * 1024 * 1024
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEV_ACCOUNT = "devstoreaccount1"  # Azurite's development account


class BlobStore(Store):
    kind = "azure_blob"
    copy_timeout = COPY_TIMEOUT  # seconds one server-side copy may take before it is aborted

    def __init__(self, conn_id: str, container: str, *, service_client: Any = None):
        self.conn_id = conn_id
        self.container = container
        self._service_client = service_client
        self._container_checked = False
        self._lock = threading.Lock()

    @cached_property
    def service(self) -> Any:
        if self._service_client is not None:
            return self._service_client
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        try:
            return WasbHook(wasb_conn_id=self.conn_id).get_conn()
        except Exception as exc:  # connection missing or malformed
            raise DatastoreError(
                f"Azure Blob datastore on container {self.container!r}: cannot use Airflow "
                f"connection {self.conn_id!r} ({type(exc).__name__}: {exc}); define it as a 'wasb' "
                "connection (e.g. AIRFLOW_CONN_<ID> or the Connections page)"
            ) from exc

    @cached_property
    def client(self) -> Any:
        return self.service.get_container_client(self.container)

    def location(self, path: str) -> str:
        account = getattr(self.service, "account_name", None) or "blob"
        return f"wasb://{self.container}@{account}/{normalize_path(path)}"

    def _ensure_container(self) -> None:
        if self._container_checked:
            return
        with self._lock:
            if self._container_checked:
                return
            from azure.core.exceptions import ResourceExistsError

            try:
                self.client.create_container()
            except ResourceExistsError:
                pass
            self._container_checked = True

    def list(self, prefix: str) -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        prefix = normalize_path(prefix)
        if prefix:
            try:
                props = self.client.get_blob_client(prefix).get_blob_properties()
                return [FileInfo(prefix, props.size, _tag(props), props.last_modified.timestamp())]
            except ResourceNotFoundError:
                pass  # not a blob (or no container yet): a folder
        return self.list_folder(prefix)

    def list_folder(self, prefix: str) -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        prefix = normalize_path(prefix)
        start = f"{prefix}/" if prefix else None
        try:
            found = [
                FileInfo(b.name, b.size, _tag(b), b.last_modified.timestamp())
                for b in self.client.list_blobs(name_starts_with=start)
            ]
        except ResourceNotFoundError:
            return []  # no container yet: nothing stored
        return sorted(found, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        return bool(self.list(path))

    def upload_file(self, local: Path, path: str, *, overwrite: bool = True) -> bool:
        from azure.core.exceptions import ResourceExistsError

        path = normalize_path(path)
        if not path:
            raise DatastoreError("cannot upload a file to the container root itself; give a file path")
        self._ensure_container()
        blob = self.client.get_blob_client(path)
        md5 = _md5(local)
        if overwrite:
            existing = self._properties(path)
            if existing is not None and existing.size == local.stat().st_size:
                stored = existing.content_settings.content_md5
                if stored is not None and bytes(stored) == md5:
                    return False  # keep the blob (and its etag) when nothing changed
        from azure.storage.blob import ContentSettings

        # a blob is committed whole (block list commit), so readers never see a partial upload
        try:
            with open(local, "rb") as data:
                blob.upload_blob(
                    data,
                    overwrite=overwrite,
                    max_concurrency=4,
                    content_settings=ContentSettings(content_md5=md5),
                )
        except ResourceExistsError:
            if overwrite:
                raise
            return False
        return True

    def _properties(self, path: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.get_blob_client(path).get_blob_properties()
        except ResourceNotFoundError:
            return None

    def download_file(self, path: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with open(tmp, "wb") as out:
            self.client.get_blob_client(path).download_blob(max_concurrency=4).readinto(out)
        tmp.replace(local)

    # streaming: bounded memory, whatever the file's size -----------------------------------

    def stat(self, path: str) -> FileInfo | None:
        props = self._properties(normalize_path(path))
        if props is None:
            return None
        return FileInfo(normalize_path(path), props.size, _tag(props), props.last_modified.timestamp())

    def open_read(self, path: str, offset: int = 0) -> Iterator[bytes]:
        """The blob's bytes from ``offset``, in chunks of at most CHUNK."""
        downloader = self.client.get_blob_client(normalize_path(path)).download_blob(offset=offset or None)
        yield from downloader.chunks()

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> FileInfo:
        """Write a blob from chunks as staged blocks, committed at the end with its Content-MD5: until
        the commit nobody sees it (an unfinished write leaves only uncommitted blocks, which the
        service discards)."""
        from azure.storage.blob import BlobBlock, ContentSettings

        path = normalize_path(path)
        self._ensure_container()
        blob = self.client.get_blob_client(path)
        md5, blocks, pending = hashlib.md5(), [], b""
        for chunk in chunks:
            pending += chunk
            while len(pending) >= CHUNK:
                block, pending = pending[:CHUNK], pending[CHUNK:]
                blocks.append(self._stage(blob, block, md5))
        if pending or not blocks:
            blocks.append(self._stage(blob, pending, md5))
        blob.commit_block_list(
            [BlobBlock(block_id=b) for b in blocks],
            content_settings=ContentSettings(content_md5=md5.digest()),
        )
        info = self.stat(path)
        assert info is not None
        return info

    @staticmethod
    def _stage(blob: Any, data: bytes, md5: Any) -> str:
        block_id = uuid.uuid4().hex
        blob.stage_block(block_id, data)
        md5.update(data)
        return block_id

    # server-side copies (storage/blob_copy.py) ---------------------------------------------

    def readable_url(self, path: str) -> str:
        """The blob's URL with a short-lived read-only SAS (account key, or a user delegation key
        under Azure AD); never logged."""
        from airflow_mlpipe.storage.blob_copy import source_url

        return source_url(self, normalize_path(path))

    def copy_from_url(self, url: str, path: str, source: FileInfo, what: str) -> FileInfo | None:
        """Copy Blob from ``url`` onto ``path``, polled to completion and verified against ``source``.

        Azurite copies only within itself: on an Azurite endpoint (a loopback host or its dev
        account) a URL of another host:port gives None, and the caller streams the bytes instead.
        """
        from airflow_mlpipe.storage.blob_copy import copy_blob

        if self._is_emulator() and urlsplit(url).netloc != urlsplit(self.service.url).netloc:
            return None
        path = normalize_path(path)
        self._ensure_container()
        props = copy_blob(self.client.get_blob_client(path), url, source, what, self.copy_timeout)
        return FileInfo(path, props.size, _tag(props), props.last_modified.timestamp())

    def move(self, src: str, dst: str) -> FileInfo:
        """A same-account Copy Blob of ``src`` onto ``dst`` (replacing it), verified, then ``src``
        deleted: Blob Storage has no rename, and a copy within an account is a metadata operation."""
        src, dst = normalize_path(src), normalize_path(dst)
        source = self.stat(src)
        if source is None:
            raise DatastoreError(f"cannot move {self.location(src)}: no such blob")
        what = f"moving {self.location(src)} to {self.location(dst)}"
        info = self.copy_from_url(self.readable_url(src), dst, source, what)
        assert info is not None  # the same endpoint: never refused as foreign
        self.client.delete_blob(src)
        return info

    def _is_emulator(self) -> bool:
        host = urlsplit(self.service.url).hostname or ""
        return host in LOOPBACK or getattr(self.service, "account_name", None) == DEV_ACCOUNT

    # small objects and leases -------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.get_blob_client(normalize_path(path)).download_blob().readall()
        except ResourceNotFoundError:
            return None

    def write_bytes(self, path: str, data: bytes) -> None:
        self._ensure_container()
        self.client.get_blob_client(normalize_path(path)).upload_blob(data, overwrite=True)

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.client.get_blob_client(normalize_path(path)).download_blob()
            return downloader.readall(), str(downloader.properties.etag)
        except ResourceNotFoundError:
            return None

    def write_if(self, path: str, data: bytes, *, match: str | None) -> str | None:
        """Put Blob with If-Match: <etag> (or If-None-Match: * to create); 409/412/404 mean another
        writer got there first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        self._ensure_container()
        blob = self.client.get_blob_client(normalize_path(path))
        try:
            if match is None:
                result = blob.upload_blob(data, overwrite=False)
            else:
                result = blob.upload_blob(
                    data, overwrite=True, etag=match, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceNotFoundError):
            return None
        except HttpResponseError as exc:  # ResourceModifiedError and a bare 412 ConditionNotMet
            if exc.status_code == 412:
                return None
            raise
        return str(result["etag"])

    def delete(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        for info in self.list(path):
            try:
                self.client.delete_blob(info.path)
            except ResourceNotFoundError:
                pass

    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        """An Azure blob lease (15 to 60 s) on a lock blob; the service expires it if not renewed."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.storage.blob import BlobLeaseClient

        self._ensure_container()
        blob = self.client.get_blob_client(normalize_path(path))
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass
        lease = BlobLeaseClient(blob, lease_id=str(uuid.UUID(hex=hashlib.md5(owner.encode()).hexdigest())))
        try:
            lease.acquire(lease_duration=int(min(60, max(15, ttl))))
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return None
            raise
        return lease

    def renew_lease(self, lease: Any) -> bool:
        from azure.core.exceptions import HttpResponseError

        try:
            lease.renew()
            return True
        except HttpResponseError:
            return False

    def release_lease(self, lease: Any) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            lease.release()
        except HttpResponseError:
            pass


def _md5(path: Path) -> bytes:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.digest()


def _tag(props: Any) -> str:
    """The content MD5 when the blob has one (stable across identical re-uploads), else the etag."""
    md5 = getattr(getattr(props, "content_settings", None), "content_md5", None)
    if md5:
        return "md5-" + bytes(md5).hex()
    return str(props.etag).strip('"')
