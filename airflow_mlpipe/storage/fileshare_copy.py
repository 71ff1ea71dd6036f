"""Server-side copies for FileShareStore (a mixin): a read SAS for its files, Copy File into it,
and moves by Files' rename."""

from __future__ import annotations

import posixpath
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, normalize_path
from airflow_mlpipe.storage.server_copy import (
    COPY_TIMEOUT,
    sas_window,
    start_copy,
    verify_copy,
    wait_for_copy,
)


class FileShareCopies:
    """readable_url / copy_from_url / move of FileShareStore."""

    copy_timeout = COPY_TIMEOUT  # seconds one server-side copy may take before it is aborted
    service: Any
    share: str
    name: str
    _file: Any
    _ensure_dirs: Any
    _publish: Any
    _error: Any
    stat: Any
    location: Any

    def readable_url(self, path: str) -> str | None:
        """The file's URL with a short-lived read-only file SAS, signed with the account key; None
        when the connection has no key (a SAS token or Azure AD): the caller streams instead."""
        from azure.storage.fileshare import FileSasPermissions, generate_file_sas

        key = getattr(getattr(self.service, "credential", None), "account_key", None)
        if not key:
            return None
        path = normalize_path(path)
        start, expiry = sas_window()
        sas = generate_file_sas(
            self.service.account_name,
            self.share,
            path.split("/"),
            account_key=key,
            permission=FileSasPermissions(read=True),
            expiry=expiry,
            start=start,
        )
        return f"{self._file(path).url}?{sas}"

    def copy_from_url(self, url: str, path: str, source: FileInfo, what: str) -> FileInfo | None:
        """Copy File from ``url`` (a blob or file URL the File service can read) into ``path``,
        polled to completion (aborted after ``copy_timeout``), verified by size and, where the
        source and the copy both have one, Content-MD5."""
        from azure.core.exceptions import AzureError

        path = normalize_path(path)
        if not path:
            raise DatastoreError(f"{what}: give a file path to copy into, not the share root")
        client = self._file(path)
        try:
            self._ensure_dirs(posixpath.dirname(path))
            start_copy(lambda: client.start_copy_from_url(url), what)
            props = wait_for_copy(client.get_file_properties, client.abort_copy, what, self.copy_timeout)
        except AzureError as exc:
            raise self._error("copy into", path, exc) from None
        verify_copy(source, props.size, props.content_settings.content_md5, what)
        return FileInfo(path, props.size, str(props.etag).strip('"'), props.last_modified.timestamp())

    def move(self, src: str, dst: str) -> FileInfo:
        """Rename file ``src`` onto ``dst`` (Files' Rename File, replacing what is there)."""
        from azure.core.exceptions import AzureError

        src, dst = normalize_path(src), normalize_path(dst)
        if self.stat(src) is None:
            raise DatastoreError(
                f"Azure Files datastore {self.name!r}: cannot move {self.location(src)}: no such file"
            )
        try:
            self._ensure_dirs(posixpath.dirname(dst))
            self._publish(src, dst, overwrite=True)
        except AzureError as exc:
            raise self._error("move onto", dst, exc) from None
        info = self.stat(dst)
        assert info is not None
        return info
