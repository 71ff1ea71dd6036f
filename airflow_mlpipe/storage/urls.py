"""Web URLs as data locations: checked, named, and shown without the credentials they may carry."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import requests

from airflow_mlpipe.exceptions import UserErrorException

SCHEMES = ("http", "https")
# query parameters of an Azure SAS token; dropped from shown URLs and cache keys when 'sig' is there
_SAS_PARAMS = {
    "sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "sip", "sdd", "ses", "skoid",
    "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "rscc", "rscd", "rsce", "rscl", "rsct",
}  # fmt: skip
# other parameters whose values are credentials (masked, the parameter itself kept)
_SECRET_PARAMS = {
    "signature", "token", "access_token", "api_key", "apikey", "password", "secret", "x-amz-signature",
    "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
}  # fmt: skip
_SECRET_NAMES = "|".join(map(re.escape, sorted(_SECRET_PARAMS | {"sig"})))
_SECRET_IN_TEXT = re.compile(rf"(?i)\b({_SECRET_NAMES})=[^&\s'\")]*")
_USERINFO_IN_TEXT = re.compile(r"(?i)\b(https?://)[^/@\s'\"]*@")


# --- URLs -------------------------------------------------------------------------------------


def is_url(text: Any) -> bool:
    """Whether ``text`` is an http:// or https:// URL (other schemes are not web data)."""
    return isinstance(text, str) and text.strip().lower().startswith(("http://", "https://"))


def check_url(url: Any) -> str:
    """``url`` validated and normalized: scheme and host lower-cased, fragment dropped, unsafe
    characters percent-encoded. Raises UserErrorException for anything but a full http(s) URL."""
    if not isinstance(url, str) or not url.strip():
        raise UserErrorException(f"a web file needs an http:// or https:// URL, got {url!r}")
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise UserErrorException(f"URL {redact_url(text)!r} is malformed: {scrub(str(exc))}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UserErrorException(
            f"URL {redact_url(text)!r} has scheme {scheme or '(none)'!r}; only http:// and https:// "
            "URLs can be read as web files (register other storage as a datastore and use a "
            "(datastore, path) reference)"
        )
    if not parts.hostname:
        raise UserErrorException(f"URL {redact_url(text)!r} has no host name")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{hostport.lower()}"
    # requote: spaces and control characters are percent-encoded, '%xx' kept
    return requests.utils.requote_uri(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))


def redact_url(url: str) -> str:
    """``url`` without credentials, for messages, logs, fingerprints and cache keys: no
    ``user:password@``, no SAS token parameters, other secret parameters masked."""
    try:
        parts = urlsplit(str(url))
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return scrub(str(url))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    sas = any(k.lower() == "sig" for k, _ in pairs)
    kept = [
        (k, "REDACTED" if k.lower() in _SECRET_PARAMS else v)
        for k, v in pairs
        if not (sas and k.lower() in _SAS_PARAMS)
    ]
    query = parts.query if kept == pairs else urlencode(kept, safe="/:,")
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def scrub(text: str) -> str:
    """Free text (an exception message) with credentials in any URLs it quotes masked."""
    return _USERINFO_IN_TEXT.sub(r"\1", _SECRET_IN_TEXT.sub(r"\1=REDACTED", text))


def url_file_name(url: str) -> str:
    """The local file name of a URL's data: its last path segment, unquoted, made safe
    ('index' when the path ends in '/'). Never holds a path separator or '..'."""
    path = urlsplit(str(url).strip()).path
    name = unquote(path.rsplit("/", 1)[-1])
    name = re.sub(r"[/\\\x00-\x1f\x7f]", "_", name)
    name = re.sub(r"\.{2,}", ".", name).strip(" ")
    if name in ("", "."):
        return "index"
    # file systems allow 255 bytes: keep the end, where the extension is
    return name.encode()[-200:].decode(errors="ignore")
