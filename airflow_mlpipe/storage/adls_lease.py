"""ADLS Gen2 leases for AdlsGen2Store (a mixin): a lease of 15 to 60 s on a lock file, which the
service expires when it is not renewed."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any


class AdlsLeases:
    """acquire_lease / renew_lease / release_lease of AdlsGen2Store."""

    client: Any
    _file_path: Any
    _ensure_filesystem: Any
    _errors: Any

    def acquire_lease(self, path: str, owner: str, ttl: float) -> Any:
        """An ADLS lease (15 to 60 s) on a lock file; the service expires it if not renewed."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.storage.filedatalake import DataLakeLeaseClient

        path = self._file_path(path)
        self._ensure_filesystem()
        file = self.client.get_file_client(path)
        with self._errors("lease", path):
            try:
                file.create_file(match_condition=MatchConditions.IfMissing)
            except ResourceExistsError:
                pass
            lease = DataLakeLeaseClient(
                file, lease_id=str(uuid.UUID(hex=hashlib.md5(owner.encode()).hexdigest()))
            )
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
        except (HttpResponseError, ValueError):  # ValueError: the SDK's lease was released (no id)
            return False

    def release_lease(self, lease: Any) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            lease.release()
        except HttpResponseError:
            pass
