"""Server-side copies (Copy Blob, Copy File) shared by the Azure stores: the service moves the
bytes, the worker only starts the copy, polls it to completion and checks the result.

A copy's source is a URL carrying a short-lived SAS, so nothing here ever puts the URL, or the
service's own error text (which may echo it), into an error message or a log.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo

SAS_LIFETIME = dt.timedelta(hours=1)  # a copy source URL is valid this long
COPY_TIMEOUT = 3600.0  # seconds a store waits for one server-side copy before aborting it
POLL_SECONDS = 0.2
_QUERY = re.compile(r"\?\S*")


def sas_window() -> tuple[dt.datetime, dt.datetime]:
    """(start, expiry) of a source SAS: start a little in the past for clock skew."""
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(minutes=5), now + SAS_LIFETIME


def error_code(exc: Any) -> str:
    """Azure's x-ms-error-code of an SDK error (an enum or a string), or the HTTP reason."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)
    return str(code or getattr(exc, "reason", None) or type(exc).__name__)


def copy_refused(what: str, exc: Exception) -> DatastoreError:
    """The error for a copy the service would not start (never the exception's text: the SDK's
    message may carry the request's headers, and the source URL is one)."""
    status, code = getattr(exc, "status_code", None), error_code(exc)
    if code == "CannotVerifyCopySource" or status in (401, 403):
        hint = (
            "the service could not read the source URL: its SAS is expired or lacks read permission, "
            "the key of the source datastore's connection (which signs it) is wrong, or the source "
            "is gone; check that connection and run the transfer again for a fresh URL"
        )
    else:
        hint = "check the destination datastore's connection and that the path is a file"
    return DatastoreError(f"{what}: the service refused the server-side copy (HTTP {status} {code}); {hint}")


def start_copy(start: Callable[[], Any], what: str) -> None:
    """Call ``start`` (the SDK's start_copy_from_url), turning its errors into copy_refused."""
    from azure.core.exceptions import AzureError

    try:
        start()
    except AzureError as exc:
        raise copy_refused(what, exc) from None


def wait_for_copy(
    properties: Callable[[], Any], abort: Callable[[str], Any], what: str, timeout: float
) -> Any:
    """Poll ``properties()`` until its ``copy.status`` is success (or absent: Azurite completes
    synchronously); a failed or aborted copy is an error, and one still pending after ``timeout``
    seconds is aborted (``abort(copy_id)``) and an error. Returns the final properties."""
    from azure.core.exceptions import AzureError

    deadline = time.monotonic() + timeout
    while True:
        props = properties()
        copy = props.copy
        if copy.status in (None, "success"):
            return props
        if copy.status in ("failed", "aborted"):
            reason = _QUERY.sub("?...", str(copy.status_description or "no reason given"))
            raise DatastoreError(f"{what}: the service's copy {copy.status} ({reason})")
        if time.monotonic() > deadline:
            try:
                abort(copy.id)
            except AzureError:  # finished meanwhile, or gone: the error below still holds
                pass
            raise DatastoreError(
                f"{what}: the service's copy did not finish within {timeout:.0f}s and was aborted; run "
                "the transfer again, or give the store a longer copy_timeout for very large files"
            )
        time.sleep(POLL_SECONDS)


def verify_copy(source: FileInfo, size: int, md5: Any, what: str) -> None:
    """The copy has the source's size, and its MD5 where both sides give one (a Blob source's
    FileInfo.etag is 'md5-<hex>' when the blob has a Content-MD5)."""
    if size != source.size:
        raise DatastoreError(
            f"{what}: the service copied {size} bytes of {source.size}; the copy is not used"
        )
    if md5 and source.etag.startswith("md5-") and bytes(md5).hex() != source.etag[4:]:
        raise DatastoreError(
            f"{what}: the copy's Content-MD5 differs from the source's; the copy is not used"
        )
