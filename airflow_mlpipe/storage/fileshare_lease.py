"""Azure Files leases for FileShareStore (a mixin), and the SDK error mapping both modules use.

Azure Files leases never expire, so a lease on a lock file is paired with a record (owner, lease
id, expiry) written under it; an expired holder's lease is taken over with Change Lease.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_mlpipe.storage.base import normalize_path

LOCK_SIZE = 512  # a lock file is one fixed-size record, rewritten with one Put Range
STALE_AFTER = 60.0  # a leased lock with no readable live record for this long is taken over

F = TypeVar("F", bound=Callable[..., Any])


def _mapped(method: F) -> F:
    """Turn Azure SDK errors into DatastoreError naming the datastore, share and path."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            from azure.core.exceptions import AzureError

            if not isinstance(exc, AzureError):
                raise  # ours, or the caller's (a failing source of chunks)
            raise self._error(method.__name__, args[0] if args else "", exc) from exc

    return wrapper  # type: ignore[return-value]


class FileShareLeases:
    """acquire_lease / renew_lease / release_lease of FileShareStore, and deletes that break leases."""

    _file: Any
    _temp_for: Any
    _discard: Any
    _publish: Any
    stat: Any

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
