"""Content-addressed source snapshots on a datastore.

``upload_snapshot`` stores each file of a source folder once, under its content hash, plus a
manifest (relative path -> file hash) whose own hash names the snapshot; a second upload of a
folder with one changed file uploads that file and a new manifest only. ``materialize_snapshot``
gives a worker a local folder with exactly that snapshot, cached by its hash and built atomically,
so a task runs the code that was submitted, not whatever is on the worker's disk.

Layout on the datastore: ``mlpipe/snapshots/files/<hh>/<hash>`` and
``mlpipe/snapshots/manifests/<hash>.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.reuse.fingerprint import content_hash, hash_file, source_snapshot
from airflow_mlpipe.storage import Store

PREFIX = "mlpipe/snapshots"


def file_path(h: str) -> str:
    return f"{PREFIX}/files/{h[:2]}/{h}"


def manifest_path(snapshot_id: str) -> str:
    return f"{PREFIX}/manifests/{snapshot_id}.json"


def upload_snapshot(
    store: Store, source_directory: str | os.PathLike[str], hash_cache: Any = None
) -> dict[str, Any]:
    """Upload what is missing of a source folder's snapshot; returns its id and what was sent."""
    root = Path(source_directory).resolve()
    if not root.is_dir():
        raise DatastoreError(f"source_directory {root} is not a folder")
    files = source_snapshot(root, hash_cache)
    snapshot_id = content_hash(files)
    if store.read_bytes(manifest_path(snapshot_id)) is not None:
        return {"id": snapshot_id, "files": len(files), "uploaded": 0, "bytes_uploaded": 0}
    present = {info.path.rsplit("/", 1)[-1] for info in store.list(f"{PREFIX}/files")}
    uploaded = sent = 0
    for rel, h in sorted(files.items()):
        if h in present:
            continue
        local = root / rel
        if hash_file(local) != h:  # changed since it was hashed: refuse a snapshot that lies
            raise DatastoreError(f"{local} changed while the snapshot was taken; submit again")
        store.upload_file(local, file_path(h), overwrite=False)
        present.add(h)
        uploaded += 1
        sent += local.stat().st_size
    # the manifest last: a snapshot is visible only once all of its files are stored
    store.write_bytes(manifest_path(snapshot_id), json.dumps(files, sort_keys=True).encode())
    return {"id": snapshot_id, "files": len(files), "uploaded": uploaded, "bytes_uploaded": sent}


def read_manifest(store: Store, snapshot_id: str) -> dict[str, str]:
    raw = store.read_bytes(manifest_path(snapshot_id))
    if raw is None:
        raise DatastoreError(
            f"snapshot {snapshot_id[:12]} is not on the datastore ({store.location(manifest_path(snapshot_id))})"
        )
    return json.loads(raw)


def materialize_snapshot(store: Store, snapshot_id: str, cache_dir: str | os.PathLike[str]) -> Path:
    """A local folder holding the snapshot, built once per worker and reused afterwards."""
    cache = Path(cache_dir)
    target = cache / snapshot_id
    if (target / ".complete").exists():
        return target
    manifest = read_manifest(store, snapshot_id)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_id[:12]}-", dir=cache))
    try:
        for rel, h in sorted(manifest.items()):
            dest = staging / rel
            store.download_file(file_path(h), dest)
            if hash_file(dest) != h:
                raise DatastoreError(
                    f"snapshot {snapshot_id[:12]}: {rel} does not match its hash on the datastore"
                )
        (staging / ".complete").write_text(snapshot_id)
        try:
            os.rename(staging, target)  # atomic; another worker may have won the race
        except OSError:
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
