"""How the service maps the paths a U-SQL script names to files under its data root.

The data root plays the ADLA account's default Data Lake Store (the datastore AdlaCompute's workspace
config entry names), so a script reads and writes it as it read and wrote that store:

- ``/folder/file.csv`` and ``folder/file.csv``: ``<root>/folder/file.csv``;
- ``adl://<any account>.azuredatalakestore.net/folder/file.csv`` and ``adl:///folder/file.csv``:
  the same file (the service has one store; the account name is not checked);
- anything else (``wasb://``, ``abfss://``, ``https://``, a Windows drive, a path leaving the root
  with ``..``) is refused with E_STORE_USER_PATH_NOT_SUPPORTED, naming the path.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

from airflow_mlpipe.emulators.adla import JobFailure


def store_path(script_path: str) -> str:
    """The path relative to the data root that ``script_path`` names."""
    raw = script_path.strip()
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme.lower() != "adl":
            raise _refused(script_path, f"the {parts.scheme}:// scheme reaches another store")
        raw = unquote(parts.path)
    if len(raw) > 1 and raw[1] == ":":
        raise _refused(script_path, "a Windows drive path is not a Data Lake path")
    if ".." in raw.replace("\\", "/").split("/"):
        raise _refused(script_path, "'..' would leave the store's root")
    norm = posixpath.normpath("/" + raw.replace("\\", "/").lstrip("/"))
    rel = norm.lstrip("/")
    if not rel or rel.startswith(".."):
        raise _refused(script_path, "it names no file under the store's root")
    return rel


def local_path(root: Path, script_path: str) -> Path:
    """The file under ``root`` that ``script_path`` names (which need not exist)."""
    return root / store_path(script_path)


def _refused(path: str, why: str) -> JobFailure:
    return JobFailure(
        "E_STORE_USER_PATH_NOT_SUPPORTED",
        f"path {path!r} cannot be read or written here: {why}",
        resolution="use a path of the account's default store: '/folder/file' or 'adl://<account>/folder/file'",
    )
