"""How the service maps the paths a U-SQL script names to files of its data root.

The data root plays the ADLA account's default Data Lake Store (the datastore AdlaCompute's workspace
config entry names): a folder (``LocalRoot``) or a workspace datastore through its storage backend
(``StoreRoot``: Blob, ADLS Gen2, Azure Files). A script reads and writes it as it read and wrote
that store:

- ``/folder/file.csv`` and ``folder/file.csv``: ``<root>/folder/file.csv``;
- ``adl://<any account>.azuredatalakestore.net/folder/file.csv`` and ``adl:///folder/file.csv``:
  the same file (the service has one store; the account name is not checked);
- anything else (``wasb://``, ``abfss://``, ``https://``, a Windows drive, a path leaving the root
  with ``..``) is refused with E_STORE_USER_PATH_NOT_SUPPORTED, naming the path.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from airflow_mlpipe.emulators.adla import JobFailure

if TYPE_CHECKING:
    from airflow_mlpipe.storage.base import Store


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


def _refused(path: str, why: str) -> JobFailure:
    return JobFailure(
        "E_STORE_USER_PATH_NOT_SUPPORTED",
        f"path {path!r} cannot be read or written here: {why}",
        resolution="use a path of the account's default store: '/folder/file' or 'adl://<account>/folder/file'",
    )


class LocalRoot:
    """A data root that is a folder of this machine: inputs are read in place; a job's outputs are
    moved (renamed) into place from its scratch folder once it succeeds."""

    def __init__(self, root: Path):
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    def input_file(self, rel: str, scratch: Path) -> Path | None:
        path = self.root / rel
        return path if path.exists() else None

    def publish(self, outputs: dict[str, Path], scratch: Path) -> None:
        for rel, made in outputs.items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if made.is_dir():
                if target.exists():
                    shutil.rmtree(target)
                shutil.move(str(made), str(target))
            else:
                os.replace(made, target)


class StoreRoot:
    """A data root that is a workspace datastore (Blob, ADLS Gen2, Azure Files, a folder) reached
    through its storage backend: an input is downloaded into the job's scratch folder; a job's outputs
    are uploaded under a staging prefix of the store first and moved into place only once every one of
    them is uploaded, so a failed upload leaves no partial output at a path the script named."""

    STAGING = ".mlpipe-adla"

    def __init__(self, store: Store, name: str):
        self.store, self.name = store, name

    def __str__(self) -> str:
        return f"datastore {self.name!r} ({self.store.location('')})"

    def input_file(self, rel: str, scratch: Path) -> Path | None:
        if self.store.stat(rel) is None:
            return None
        local = scratch / "inputs" / rel
        self.store.download_file(rel, local)
        return local

    def publish(self, outputs: dict[str, Path], scratch: Path) -> None:
        staging = f"{self.STAGING}/{scratch.name}"
        moves: list[tuple[str, str]] = []
        try:
            for rel, made in outputs.items():
                files = sorted(p for p in made.rglob("*") if p.is_file()) if made.is_dir() else [made]
                for f in files:
                    sub = f.relative_to(made).as_posix() if made.is_dir() else ""
                    final = f"{rel}/{sub}" if sub else rel
                    self.store.upload_file(f, f"{staging}/{final}")
                    moves.append((f"{staging}/{final}", final))
        except Exception:
            for staged, _ in moves:
                self.store.delete(staged)
            raise
        for staged, final in moves:
            self.store.move(staged, final)
        finals = {final for _, final in moves}
        for rel, made in outputs.items():  # a folder output replaces the folder, as a local one does
            if made.is_dir():
                for old in self.store.list(rel):
                    if old.path not in finals:
                        self.store.delete(old.path)


DataRoot = LocalRoot | StoreRoot
