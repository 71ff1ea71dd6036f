"""What the Files and DFS emulators share for server-side copies.

- Service SAS verification, from the documented string-to-sign: Blob (version 2020-12-06 and later:
  sp, st, se, canonicalized resource, si, sip, spr, sv, sr, snapshot time, ses, rscc..rsct) and File
  (2015-04-05 and later: sp, st, se, canonicalized resource, si, sip, spr, sv, rscc..rsct), each
  signed with HMAC-SHA256 of the account key.
- The copy source fetch: the service itself GETs the ``x-ms-copy-source`` URL over HTTP (a SAS URL
  of another service), checks it answers before accepting the copy (403/404
  ``CannotVerifyCopySource`` as Azure), then streams it to disk in the background while the copy is
  ``pending``; ``Get ... Properties`` show ``x-ms-copy-*`` until then.
- An event log (JSON lines) tests read to see which service fetched or served what; it never holds
  a query string (no SAS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

SAS_FIELDS = {"sv", "sp", "se", "st", "spr", "sip", "si", "sr", "sig", "ses", "snapshot", "skoid"}
BLOB_SAS_MIN_VERSION = "2020-12-06"  # the string-to-sign below; older versions sign fewer fields
PERMISSION = {"GET": "r", "HEAD": "r", "PUT": "w", "PATCH": "w", "DELETE": "d"}
EVENTS = "emulator-events.jsonl"
_log_lock = threading.Lock()


class SasError(Exception):
    """A SAS the service refuses: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def is_sas(query: dict[str, str]) -> bool:
    return bool(SAS_FIELDS & query.keys())


def verify_sas(
    query: dict[str, str], *, service: str, account: str, key: bytes, resource: str, method: str
) -> None:
    """Raise SasError unless ``query`` is a valid service SAS of ``service`` ('blob' or 'file') for
    ``resource`` ('container/blob/name' or 'share/dir/file', decoded) that allows ``method``."""
    denied = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."  # fmt: skip
    if not query.get("sig"):
        raise SasError(403, "AuthenticationFailed", f"{denied}\nsig is mandatory")
    if "si" in query or "skoid" in query:
        raise SasError(403, "AuthenticationFailed", f"{denied}\nStored access policies and user delegation SAS are not emulated.")  # fmt: skip
    sr, top = query.get("sr", ""), resource.split("/", 1)[0]
    scopes = {"blob": {"b": resource, "c": top}, "file": {"f": resource, "s": top}}[service]
    if sr not in scopes:
        raise SasError(403, "AuthenticationFailed", f"{denied}\nsr is mandatory and must name a {service} resource.")  # fmt: skip
    if service == "blob" and query.get("sv", "") < BLOB_SAS_MIN_VERSION:
        raise SasError(403, "AuthenticationFailed", f"{denied}\nSAS versions before {BLOB_SAS_MIN_VERSION} are not emulated.")  # fmt: skip
    canonical = f"/{service}/{account}/{scopes[sr]}"
    head = [query.get(k, "") for k in ("sp", "st", "se")] + [canonical]
    mid = [query.get(k, "") for k in ("si", "sip", "spr", "sv")]
    if service == "blob":
        mid += [query.get(k, "") for k in ("sr", "snapshot", "ses")]
    tail = [query.get(k, "") for k in ("rscc", "rscd", "rsce", "rscl", "rsct")]
    to_sign = "\n".join(head + mid + tail)
    expected = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, query["sig"]):
        raise SasError(403, "AuthenticationFailed", f"{denied}\nSignature did not match. String to sign used was {to_sign}")  # fmt: skip
    now = time.time()
    if _sas_time(query.get("se")) < now or _sas_time(query.get("st"), 0.0) > now + 300:
        raise SasError(403, "AuthenticationFailed", f"{denied}\nSigned expiry time must be after the current time and signed start time before it.")  # fmt: skip
    if PERMISSION.get(method, "?") not in query.get("sp", ""):
        raise SasError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")  # fmt: skip


def _sas_time(value: str | None, default: float = -1.0) -> float:
    if not value:
        return default
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return default


# the event log ----------------------------------------------------------------------------


def record(root: Path, event: str, **fields: Any) -> None:
    """Append one event (no query strings: a SAS never reaches the log)."""
    line = json.dumps({"event": event, "time": time.time(), **fields})
    with _log_lock, open(root / EVENTS, "a") as out:
        out.write(line + "\n")


def read_events(root: Path, event: str | None = None) -> list[dict[str, Any]]:
    path = root / EVENTS
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [r for r in rows if event is None or r["event"] == event]


# copies -----------------------------------------------------------------------------------


@dataclass
class CopyState:
    """A copy's x-ms-copy-* properties, as Get Blob/File Properties report them."""

    source: str  # the source URL without its query (Azure does not echo a SAS back)
    total: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "pending"
    done: int = 0
    description: str = ""
    completed: float = 0.0

    def headers(self) -> dict[str, str]:
        out = {"x-ms-copy-id": self.id, "x-ms-copy-status": self.status,
               "x-ms-copy-source": self.source, "x-ms-copy-progress": f"{self.done}/{self.total}"}  # fmt: skip
        if self.completed:
            out["x-ms-copy-completion-time"] = formatdate(self.completed, usegmt=True)
        if self.description:
            out["x-ms-copy-status-description"] = self.description
        return out


def open_source(url: str, version: str) -> Any:
    """GET the copy source as the service would; its response, or the error Azure answers with."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SasError(400, "InvalidHeaderValue", "The value for the x-ms-copy-source header is not a valid URL.")  # fmt: skip
    try:
        return urlopen(Request(url, headers={"x-ms-version": version or "2025-01-05"}), timeout=30)
    except HTTPError as exc:
        code = exc.headers.get("x-ms-error-code", "") if exc.headers else ""
        exc.close()
        status = exc.code if exc.code in (401, 403, 404, 409, 412) else 400
        raise SasError(
            status, "CannotVerifyCopySource", f"The copy source answered HTTP {exc.code} {code}."
        ) from None
    except (URLError, OSError) as exc:
        raise SasError(400, "CannotVerifyCopySource", f"The copy source could not be reached ({type(exc).__name__}).") from None  # fmt: skip


def source_name(url: str) -> str:
    """host:port/path of a URL: what the log and x-ms-copy-source may show of it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def run_copy(
    response: Any,
    target: Path,
    log_root: Path,
    finish: Callable[[bool, int, dict[str, str], str], None],
    *,
    delay: float = 0.0,
) -> None:
    """Stream ``response`` into ``target`` on a background thread, then ``finish(ok, size,
    source_headers, description)`` (the caller applies it under its lock, unless aborted)."""

    def work() -> None:
        size, ok, description = 0, True, ""
        try:
            with response, open(target, "wb") as out:
                while piece := response.read(1 << 20):
                    out.write(piece)
                    size += len(piece)
            time.sleep(delay)  # a slow source (tests of timeouts and aborts)
        except OSError as exc:
            ok, description = False, f"500 InternalError Copy failed: {type(exc).__name__}"
        record(log_root, "copy-fetch", source=source_name(response.url), bytes=size, ok=ok)
        finish(ok, size, {k.lower(): v for k, v in response.headers.items()}, description)

    threading.Thread(target=work, daemon=True, name="emulator-copy").start()
