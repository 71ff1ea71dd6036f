"""Server-side copies for AdlsGen2Store (a mixin): a read SAS for its files, Copy Blob into it
through the account's blob endpoint, and moves by DFS rename."""

from __future__ import annotations

import posixpath
import re
from functools import cached_property
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo, normalize_path
from airflow_mlpipe.storage.server_copy import COPY_TIMEOUT, sas_window

_DFS_HOST = re.compile(r"^(https?://[^/.]+)\.dfs\.", re.IGNORECASE)


class AdlsCopies:
    """readable_url / copy_from_url / move of AdlsGen2Store."""

    copy_timeout = COPY_TIMEOUT  # seconds one server-side copy may take before it is aborted
    service: Any
    client: Any
    filesystem: str
    label: str
    _errors: Any
    _file_path: Any
    _ensure_filesystem: Any
    _properties: Any
    _publish: Any
    stat: Any
    location: Any

    def readable_url(self, path: str) -> str:
        """The file's URL with a short-lived read-only DataLake SAS (account key, or a user
        delegation key under Azure AD); never logged."""
        from azure.storage.filedatalake import FileSasPermissions, generate_file_sas

        path = normalize_path(path)
        start, expiry = sas_window()
        key = getattr(self.service.credential, "account_key", None)
        with self._errors("sign a read URL for", path):
            signer = key or self.service.get_user_delegation_key(start, expiry)
        folder, name = posixpath.split(path)
        sas = generate_file_sas(
            self.service.account_name,
            self.filesystem,
            folder,
            name,
            signer,
            permission=FileSasPermissions(read=True),
            expiry=expiry,
            start=start,
        )
        return f"{self.client.get_file_client(path).url}?{sas}"

    @cached_property
    def blob_service(self) -> Any:
        """A BlobServiceClient for the same account and credential: on Azure the dfs host becomes
        the blob host; a custom account_url (a private endpoint, the emulator) serves both."""
        from azure.storage.blob import BlobServiceClient

        url = _DFS_HOST.sub(r"\1.blob.", self.service.url, count=1)
        credential = self.service.credential  # the SDK keeps a Shared Key as its signing policy
        key = getattr(credential, "account_key", None)
        if key:
            credential = {"account_name": self.service.account_name, "account_key": key}
        return BlobServiceClient(url, credential=credential)

    def copy_from_url(self, url: str, path: str, source: FileInfo, what: str) -> FileInfo | None:
        """Copy Blob from ``url`` onto file ``path`` through the account's blob endpoint, polled to
        completion (aborted after ``copy_timeout``) and verified by size (and Content-MD5 where the
        source and the copy both have one)."""
        from airflow_mlpipe.storage.blob_copy import copy_blob

        path = self._file_path(path)
        self._ensure_filesystem()
        blob = self.blob_service.get_blob_client(self.filesystem, path)
        with self._errors("copy into", path):
            props = copy_blob(blob, url, source, what, self.copy_timeout)
        info = self.stat(path)
        return info or FileInfo(path, props.size, str(props.etag).strip('"'), props.last_modified.timestamp())

    def move(self, src: str, dst: str) -> FileInfo:
        """Rename file ``src`` onto ``dst`` (a DFS rename, atomic, replacing what is there); the
        destination's folder is created first (a rename needs its parent)."""
        from azure.core.exceptions import ResourceExistsError

        src, dst = normalize_path(src), self._file_path(dst)
        if self.stat(src) is None:
            raise DatastoreError(f"{self.label}: cannot move {self.location(src)}: no such file")
        folder = posixpath.dirname(dst)
        if folder and self._properties(folder) is None:
            with self._errors("create the folder of", dst):
                try:
                    self.client.get_directory_client(folder).create_directory()
                except ResourceExistsError:
                    pass
        self._publish(src, dst, overwrite=True)
        info = self.stat(dst)
        assert info is not None
        return info
