"""Web (http/https) files as data (Azure ML v1 read ``https://.../iris.csv`` in its datasets):
fingerprinted by ETag (or content hash), fetched per run into a local cache keyed by URL and version.

URLs may carry credentials (``user:password@``, a SAS token ``?sv=...&sig=...``): sent to the
server, never shown; messages, logs and fingerprints use ``redact_url(url)``.

Cache: ``<cache_dir>/<url key>/<version key>/<file name>`` and ``<url key>/latest.json`` (the last
fingerprint, for If-None-Match). Files land by atomic rename of a temporary file in the same
folder: a cached file is always complete, and concurrent fetches are safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import xxhash

from airflow_mlpipe.exceptions import DatastoreError, UserErrorException
from airflow_mlpipe.storage.urls import check_url, is_url, redact_url, scrub, url_file_name

__all__ = [
    "check_url",
    "download",
    "evict",
    "fetch",
    "fingerprint",
    "is_url",
    "redact_url",
    "scrub",
    "url_file_name",
]

log = logging.getLogger(__name__)

TIMEOUT = (10.0, 60.0)  # seconds: (connect, read between bytes)
RETRY_ATTEMPTS = 4
RETRY_WAIT = 0.5  # first backoff in seconds; doubles per attempt (at most 8)
RETRY_STATUS = {429, 500, 502, 503, 504}
CHUNK = 1 << 20
# --- requests ---------------------------------------------------------------------------------


def _redact_record(record: logging.LogRecord) -> bool:
    """Masks tokens in urllib3's DEBUG lines, which quote each request's path and query."""
    record.msg, record.args = scrub(record.getMessage()), ()
    return True


logging.getLogger("urllib3.connectionpool").addFilter(_redact_record)


class HttpError(DatastoreError):
    """A web server answered with an error status (kept in ``status``)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Transient(HttpError):
    """A failure worth retrying: 5xx/429, a lost connection, a timeout or a short body."""


def _retrying(what: str, attempt_fn: Any) -> Any:
    """Call ``attempt_fn`` again after a _Transient failure, with exponential backoff."""
    import tenacity

    try:
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            wait=tenacity.wait_exponential(multiplier=RETRY_WAIT, max=8),
            stop=tenacity.stop_after_attempt(RETRY_ATTEMPTS),
            before_sleep=lambda rs: log.warning("%s: %s; retrying", what, rs.outcome.exception()),
            reraise=True,
        ):
            with attempt:
                return attempt_fn()
    except _Transient as exc:
        raise HttpError(f"{exc} (gave up after {RETRY_ATTEMPTS} attempts)", exc.status) from None
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _response(
    session: requests.Session | None, method: str, url: str, headers: dict[str, str], timeout: Any
) -> Iterator[requests.Response]:
    """One request, body streamed: 5xx/429 and network failures raise _Transient, other answers
    but 2xx and 304 raise HttpError naming the (redacted) URL and the status."""
    shown = redact_url(url)
    send = session.request if session is not None else requests.request
    headers = {"Accept-Encoding": "identity", **headers}  # sizes and hashes of the bytes we keep
    try:
        r = send(method, url, headers=headers, stream=True, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        failure = exc  # raised below, outside this handler: its message (with the URL) is not chained
    else:
        failure = None
    if isinstance(failure, requests.Timeout):
        raise _Transient(f"{method} {shown}: timed out")
    if isinstance(failure, requests.ConnectionError):
        raise _Transient(f"{method} {shown}: cannot connect: {scrub(str(failure))}")
    if failure is not None:
        raise HttpError(f"{method} {shown}: {scrub(str(failure))}")
    with r:
        status = r.status_code
        if status in RETRY_STATUS:
            raise _Transient(f"{method} {shown}: HTTP {status} {r.reason}", status)
        if status >= 300 and status != 304:
            hint = "; there is no file at this URL" if status == 404 else ""
            if status in (401, 403):
                hint = "; the URL needs credentials, or its token (SAS) has expired"
            raise HttpError(f"{method} {shown}: HTTP {status} {r.reason}{hint}", status)
        yield r


def _size(r: requests.Response) -> int | None:
    value = r.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _header_fingerprint(url: str, r: requests.Response) -> dict[str, Any] | None:
    etag, modified = r.headers.get("ETag"), r.headers.get("Last-Modified")
    return (
        {"url": redact_url(url), "etag": etag, "size": _size(r), "last_modified": modified} if etag else None
    )


def _stream(url: str, r: requests.Response, folder: Path | None) -> tuple[str, int, Path | None]:
    """Read the body, into a temporary file in ``folder`` when given: (xxh3-128 hash, size,
    temporary file). A body cut short (fewer bytes than Content-Length, a broken connection, a
    read timeout) raises _Transient and leaves no file behind."""
    import urllib3

    expected, got, h, broken, tmp = _size(r), 0, xxhash.xxh3_128(), False, None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".part-")
        tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") if tmp is not None else open(os.devnull, "wb") as fh:
            try:
                for chunk in r.raw.stream(CHUNK, decode_content=False):
                    h.update(chunk)
                    got += len(chunk)
                    fh.write(chunk)
            except (urllib3.exceptions.HTTPError, requests.RequestException):
                broken = True  # urllib3 wraps socket errors; an OSError here is from writing
            if broken or (expected is not None and got != expected):
                total = expected if expected is not None else "an unknown number of"
                raise _Transient(f"GET {redact_url(url)}: short read: got {got} of {total} bytes")
            if tmp is not None:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # writing the cache failed (disk full, permissions)
            raise DatastoreError(f"cannot cache {redact_url(url)} in {folder}: {exc}") from None
        raise
    return h.hexdigest(), got, tmp


# --- cache ------------------------------------------------------------------------------------


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Entry:
    """The cache folder of one URL, keyed by its redacted form (tokens rotate, data does not)."""

    def __init__(self, cache_dir: Path, url: str):
        self.root = Path(cache_dir) / _key(redact_url(url))
        self.name = url_file_name(url)

    def path(self, fp: dict[str, Any]) -> Path:
        version = "etag:" + fp["etag"] if fp.get("etag") else "content:" + fp["content"]
        return self.root / _key(version) / self.name

    def hit(self, fp: dict[str, Any] | None) -> Path | None:
        """The cached file of version ``fp``, if there is one."""
        path = self.path(fp) if fp else None
        return path if path is not None and path.is_file() else None

    @staticmethod
    def used(path: Path) -> Path:
        with contextlib.suppress(OSError):
            os.utime(path.parent)  # the version's last use, for evict()
        return path

    def latest(self) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.root / "latest.json").read_text())
        return None

    def settle(self, tmp: Path, fp: dict[str, Any]) -> Path:
        """Move a complete temporary file to the place of version ``fp`` atomically and remember
        ``fp`` as the latest. A concurrent fetch may have put it there first: same bytes, kept."""
        target = self.path(fp)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            tmp.unlink(missing_ok=True)
        else:
            os.chmod(tmp, 0o444)  # cached files are shared (and maybe hard-linked): read-only
            os.replace(tmp, target)
        self.remember(fp)
        return target

    def remember(self, fp: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".latest-")
        with os.fdopen(fd, "w") as fh:
            json.dump(fp, fh, sort_keys=True)
        os.replace(tmp, self.root / "latest.json")


# --- public API -------------------------------------------------------------------------------


def fingerprint(
    url: str,
    session: requests.Session | None = None,
    *,
    cache_dir: Path | None = None,
    timeout: Any = TIMEOUT,
) -> dict[str, Any]:
    """What identifies the URL's current content, a JSON-able dict: ``{"url", "etag", "size",
    "last_modified"}`` from a HEAD (or from the headers of a GET when HEAD is refused with 403,
    405 or 501), or ``{"url", "content", "size"}`` (xxh3-128 of the body) when the server sends no
    ETag. ``url`` is the redacted URL. With ``cache_dir``, a body read for hashing is cached, so
    ``fetch`` with this fingerprint reads nothing again."""
    url = check_url(url)
    entry = _Entry(Path(cache_dir), url) if cache_dir is not None else None

    def attempt() -> dict[str, Any]:
        try:
            with _response(session, "HEAD", url, {}, timeout) as r:
                if fp := _header_fingerprint(url, r):
                    return fp
        except HttpError as exc:
            if isinstance(exc, _Transient) or exc.status not in (403, 405, 501):
                raise
        with _response(session, "GET", url, {}, timeout) as r:
            if fp := _header_fingerprint(url, r):
                return fp
            content, size, tmp = _stream(url, r, entry.root if entry else None)
            fp = {"url": redact_url(url), "content": content, "size": size}
            if entry is not None and tmp is not None:
                entry.settle(tmp, fp)
            return fp

    return _retrying("fingerprinting", attempt)


def fetch(
    url: str,
    cache_dir: Path,
    fingerprint: dict[str, Any] | None = None,
    *,
    session: requests.Session | None = None,
    timeout: Any = TIMEOUT,
) -> tuple[Path, dict[str, Any]]:
    """The URL's current content as a cached local file: returns ``(path, fingerprint)``, the
    fingerprint of the bytes in ``path`` (same form as ``fingerprint()``). ``path`` is the
    cache's read-only file: copy it (``download``) to change it.

    A cached version (``fingerprint``'s, else the last one fetched) is revalidated with
    If-None-Match and a 304 reads no body; when the server now has another ETag, that version
    is downloaded and its fingerprint returned. A content-hash ``fingerprint`` (a server without
    ETags) whose version is cached is used without a request: it was made by reading the body."""
    url = check_url(url)
    entry = _Entry(Path(cache_dir), url)
    if fingerprint is not None:
        if not isinstance(fingerprint, dict) or not (fingerprint.get("etag") or fingerprint.get("content")):
            raise UserErrorException(f"{fingerprint!r} is not a fingerprint() of {redact_url(url)}")
        if fingerprint.get("url") not in (None, redact_url(url)):
            raise UserErrorException(
                f"the fingerprint given is of {fingerprint['url']}, not {redact_url(url)}"
            )
        if fingerprint.get("content") and (hit := entry.hit(fingerprint)):
            return entry.used(hit), fingerprint
    known = fingerprint if fingerprint and fingerprint.get("etag") else entry.latest()
    cached = entry.hit(known) if known and known.get("etag") else None

    def attempt() -> tuple[Path, dict[str, Any]]:
        headers = {"If-None-Match": known["etag"]} if cached and known else {}
        with _response(session, "GET", url, headers, timeout) as r:
            if r.status_code == 304:
                if not (cached and known):
                    raise HttpError(
                        f"GET {redact_url(url)}: HTTP 304 to a request without If-None-Match", 304
                    )
                log.info("web file %s unchanged (ETag %s): cached copy", redact_url(url), known["etag"])
                return entry.used(cached), known
            fp = _header_fingerprint(url, r)
            if fp and (hit := entry.hit(fp)):
                return entry.used(hit), fp  # this version was cached meanwhile (by a concurrent fetch)
            content, size, tmp = _stream(url, r, entry.root)
            assert tmp is not None
            fp = fp or {"url": redact_url(url), "content": content, "size": size}
            log.info("downloaded %s (%d bytes) into the web cache", redact_url(url), size)
            return entry.settle(tmp, fp), fp

    return _retrying("downloading", attempt)


def download(
    url: str,
    target_dir: Path,
    cache_dir: Path,
    *,
    fingerprint: dict[str, Any] | None = None,
    link: bool = False,
    session: requests.Session | None = None,
) -> Path:
    """The URL's content at ``target_dir/url_file_name(url)`` (replacing a file there) through
    the cache: a writable copy, or with ``link=True`` a hard link to the read-only cached file
    (no copy; falls back to copying across file systems)."""
    cached, _ = fetch(url, cache_dir, fingerprint, session=session)
    target_dir = Path(target_dir)
    dest = target_dir / url_file_name(url)
    tmp = target_dir / f".part-{os.getpid()}-{time.monotonic_ns()}-{dest.name}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        if link:
            with contextlib.suppress(OSError):  # another file system: copy
                os.link(cached, tmp)
        if not tmp.exists():
            shutil.copyfile(cached, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DatastoreError(f"cannot write {dest} (from {redact_url(url)}): {exc}") from None
    return dest


def evict(cache_dir: Path, *, older_than: float) -> int:
    """Remove the cached versions not used (fetched or revalidated) for ``older_than`` seconds;
    returns how many. Files already handed out stay readable where they were linked or copied."""
    removed, now = 0, time.time()
    for folder in Path(cache_dir).glob("*/*"):
        if folder.is_dir() and now - folder.stat().st_mtime > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
