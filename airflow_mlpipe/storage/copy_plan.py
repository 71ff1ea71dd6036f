"""Which file goes where in a DataTransferStep copy, by Azure ML v1's rules for file and directory
references (its Data Factory copies followed them):

- the source is a file when ``source_type`` says so, else when its path names one file;
- an unset destination type takes the type of what already exists at the destination path, then
  the source's type, then "directory";
- a directory copied into a directory keeps each file's path relative to the source folder;
- a file copied into a directory keeps its name; a file copied to a file takes the destination path;
- a directory cannot be copied onto a file.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.storage.base import FileInfo, normalize_path

FILE, DIRECTORY = "file", "directory"


@dataclass(frozen=True)
class CopyPlan:
    source_type: str
    destination_type: str
    pairs: list[tuple[str, str]]  # (source path, destination path), both relative to their datastore


def plan_copy(
    where: str,
    source_path: str,
    source_files: list[FileInfo],
    destination_path: str,
    *,
    source_type: str | None = None,
    destination_type: str | None = None,
    destination_existing: str | None = None,
) -> CopyPlan:
    """The (source, destination) pairs of a copy. ``source_files`` is what the source path lists
    (a file path lists that one file); ``destination_existing`` is FILE, DIRECTORY or None for what
    is at the destination path now. ``where`` names the step in errors."""
    src = normalize_path(source_path)
    dst = normalize_path(destination_path)
    if not source_files:
        raise StepFailedError(f"{where}: the source {source_path!r} holds no file; nothing to copy")
    names_one_file = len(source_files) == 1 and source_files[0].path == src
    kind = source_type or (FILE if names_one_file else DIRECTORY)
    if kind == FILE and not names_one_file:
        raise StepFailedError(
            f"{where}: source_reference_type='file' but {source_path!r} is a directory of "
            f"{len(source_files)} file(s); use 'directory' or point at one file"
        )
    if kind == DIRECTORY and names_one_file:
        raise StepFailedError(
            f"{where}: source_reference_type='directory' but {source_path!r} is a file; use 'file'"
        )
    target = destination_type or destination_existing or kind
    if destination_type and destination_existing and destination_type != destination_existing:
        raise StepFailedError(
            f"{where}: destination_reference_type={destination_type!r} but a {destination_existing} "
            f"already exists at {destination_path!r}"
        )
    if kind == DIRECTORY and target == FILE:
        raise StepFailedError(
            f"{where}: cannot copy the directory {source_path!r} onto the file {destination_path!r}; "
            "make the destination a directory"
        )
    if kind == FILE:
        name = posixpath.basename(src)
        to = dst if target == FILE else posixpath.join(dst, name) if dst else name
        if not to:
            raise StepFailedError(
                f"{where}: a file cannot be copied onto the datastore's root; give a file path"
            )
        return CopyPlan(kind, target, [(src, to)])
    pairs = []
    for info in source_files:
        rel = info.path[len(src) + 1 :] if src else info.path
        pairs.append((info.path, posixpath.join(dst, rel) if dst else rel))
    return CopyPlan(kind, target, sorted(pairs))
