"""Fingerprints: what a step's output depends on, hashed.

File contents are hashed with xxh3-128 (non-cryptographic, 128 bits: change detection, not
tamper-proofing) because it hashes as fast as the disk cache can be read; the manifests that
combine them use sha256. Unchanged source folders are fingerprinted from ``stat`` alone through a
local hash cache keyed by path, size, mtime and inode, as git's index does.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import xxhash

CHUNK = 1 << 20
ALWAYS_IGNORED_DIRS = {"__pycache__", ".git"}
# a file modified less than this long before it was hashed may change again within the same mtime
# tick; its hash is not cached ("racily clean" in git's terms)
RACY_SECONDS = 2.0


def hash_file(path: str | os.PathLike[str]) -> str:
    h = xxhash.xxh3_128()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def digest(obj: Any) -> str:
    """sha256 of a JSON value in canonical form."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def content_hash(files: dict[str, str]) -> str:
    """The content hash of a folder: relative paths and the hashes of their contents."""
    return digest(sorted(files.items()))


# --- ignore rules ---------------------------------------------------------------------------


def ignore_spec(root: Path) -> Any:
    """``.amlignore`` if present, else ``.gitignore``, with gitignore semantics (Azure ML's rule)."""
    import pathspec

    for name in (".amlignore", ".gitignore"):
        f = root / name
        if f.is_file():
            return pathspec.GitIgnoreSpec.from_lines(f.read_text(errors="replace").splitlines())
    return None


def walk_source(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every file of a source folder that is part of its snapshot, with its stat."""
    spec = ignore_spec(root)
    out: list[tuple[str, os.stat_result]] = []
    stack = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                r = f"{rel}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in ALWAYS_IGNORED_DIRS or (spec is not None and spec.match_file(r + "/")):
                        continue
                    stack.append((entry.path, r + "/"))
                elif entry.is_file():
                    if spec is not None and spec.match_file(r):
                        continue
                    out.append((r, entry.stat()))
    out.sort()
    return out


# --- the local hash cache --------------------------------------------------------------------


class HashCache:
    """Per source folder, an index of relative path -> (size, mtime_ns, inode, content hash).

    Local to the worker, like git's index: a folder whose files all match their index entries is
    fingerprinted from ``stat`` alone. Each index file is replaced atomically; two processes
    refreshing the same folder at once both write correct entries, and the last one stays.
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def _index_path(self, root: str) -> Path:
        return self.folder / (hashlib.sha1(root.encode()).hexdigest() + ".idx")

    def load(self, root: str) -> dict[str, tuple[int, int, int, str]]:
        try:
            data = self._index_path(root).read_bytes()
        except FileNotFoundError:
            return {}
        try:
            index = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return {}  # a damaged index is only a slower fingerprint
        return index if isinstance(index, dict) else {}

    def save(self, root: str, index: dict[str, tuple[int, int, int, str]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._index_path(root)
        fd, tmp = tempfile.mkstemp(prefix=".idx-", dir=self.folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps(index))
        os.replace(tmp, target)


def default_hash_cache() -> HashCache:
    from airflow_mlpipe.definitions.workspace import mlpipe_home

    return HashCache(mlpipe_home() / "cache" / "source-index")


def source_snapshot(root: str | os.PathLike[str], cache: HashCache | None = None) -> dict[str, str]:
    """relative path -> content hash of every file in a source folder's snapshot."""
    root_path = Path(root).resolve()
    root_str = str(root_path)
    files = walk_source(root_path)
    known = cache.load(root_str) if cache is not None else {}
    racy_before = (time.time() - RACY_SECONDS) * 1e9
    out: dict[str, str] = {}
    index: dict[str, tuple[int, int, int, str]] = {}
    changed = len(known) != len(files)
    for rel, st in files:
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        hit = known.get(rel)
        if hit is not None and hit[:3] == key:
            out[rel] = hit[3]
            index[rel] = hit
            continue
        h = out[rel] = hash_file(f"{root_str}/{rel}")
        changed = True
        if st.st_mtime_ns < racy_before:
            index[rel] = (*key, h)
    if cache is not None and changed:
        cache.save(root_str, index)
    return out


def hash_folder(folder: str | os.PathLike[str]) -> dict[str, str]:
    """relative path -> content hash of every file below ``folder`` (no ignore rules, no cache)."""
    root = Path(folder)
    return {p.relative_to(root).as_posix(): hash_file(p) for p in sorted(root.rglob("*")) if p.is_file()}
