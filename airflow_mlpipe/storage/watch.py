"""Change detection on a datastore path: listings, their diff, and the one-event-per-window batch.

Pure logic over ``Store.list`` (no Airflow import), shared by the datastore-change trigger
(triggers/datastore.py) and its tests. A *listing* maps each watched file's path to its etag; a
*cursor* is the last listing the watcher committed, plus the id of the last event it emitted:

    {"version": 1, "listing": {path: etag}, "last_event_id": str | None, "generation": int,
     "scope": what was watched (store, path, recursive)}

A cursor of another scope (the schedule now watches another path) is ignored: a new baseline.

``ChangeWatch`` turns successive listings into at most one batch event per poll: every file added
or modified (new etag) since the previous listing, sorted, with their common folder. Deleted files
fire nothing (as in v1) but leave the cursor, so a file written again fires again.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import Store, normalize_path, safe_segment

CURSOR_VERSION = 1
EVENT_KIND = "mlpipe.datastore_change"
# where DatastoreCursor keeps cursors on the watched datastore; never watched itself
CURSOR_PREFIX = "mlpipe/watch"


def list_watched(
    store: Store, path: str, *, recursive: bool = False, since: float | None = None
) -> tuple[dict[str, str], set[str]]:
    """path -> etag of the files a watch on ``path`` sees (the direct children of the folder; every
    file below it with ``recursive``; a ``path`` naming one file watches that file), and those
    modified at or after ``since`` (seconds since the epoch, by the store's clock)."""
    base = normalize_path(path, where="watched path")
    out: dict[str, str] = {}
    fresh: set[str] = set()
    for info in store.list(base):
        if info.path.startswith(CURSOR_PREFIX + "/"):
            continue
        rel = info.path[len(base) + 1 :] if base and info.path != base else info.path
        if info.path != base and not recursive and "/" in rel:
            continue  # a file in a sub-folder: v1 watched the direct children only
        out[info.path] = info.etag
        if since is not None and info.mtime >= since:
            fresh.add(info.path)
    return out, fresh


def take_listing(store: Store, path: str, *, recursive: bool = False) -> dict[str, str]:
    """``list_watched``'s listing alone."""
    return list_watched(store, path, recursive=recursive)[0]


@dataclass(frozen=True)
class Changes:
    """What changed between two listings (sorted paths)."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def fired(self) -> list[str]:
        """The paths that fire an event: added or modified."""
        return sorted(self.added + self.modified)


def diff_listings(old: dict[str, str], new: dict[str, str]) -> Changes:
    return Changes(
        added=sorted(p for p in new if p not in old),
        modified=sorted(p for p in new if p in old and old[p] != new[p]),
        deleted=sorted(p for p in old if p not in new),
    )


def common_folder(paths: list[str]) -> str:
    """The deepest folder holding every path ('' for the datastore root)."""
    folders = [posixpath.dirname(p) for p in paths]
    if not folders:
        return ""
    return posixpath.commonpath(folders) if all(folders) else ""


def change_id(changes: Changes, listing: dict[str, str]) -> str:
    """The event id of a change set: a hash of each fired path with its new etag, so the same
    change detected again (after a restart) has the same id and a consumer can drop the repeat."""
    body = json.dumps([[p, listing[p]] for p in changes.fired], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def batch_payload(
    watch_id: str, datastore: str, path: str, changes: Changes, listing: dict[str, str]
) -> dict[str, Any]:
    """The event of one polling window: every changed path (sorted) and their common folder."""
    paths = changes.fired
    return {
        "kind": EVENT_KIND,
        "event_id": change_id(changes, listing),
        "watch_id": watch_id,
        "datastore": datastore,
        "watched_path": normalize_path(path, where="watched path"),
        "paths": paths,
        "common_folder": common_folder(paths),
        "added": changes.added,
        "modified": changes.modified,
        "etags": {p: listing[p] for p in paths},
    }


@dataclass(frozen=True)
class Step:
    """One poll's outcome: the event to hand to Airflow (None when nothing fired) and the cursor to
    commit once it is handed over (None when the cursor is unchanged)."""

    payload: dict[str, Any] | None
    cursor: dict[str, Any] | None


class ChangeWatch:
    """The watch's state machine: ``step(listing)`` per poll, ``commit(cursor)`` once Airflow holds
    the event, ``rollback()`` when it was not taken (the next step then finds those changes again).

    ``seen`` runs ahead of the committed cursor while events await their hand-over, so one change
    is offered once. Cursors carry a ``generation``; a rollback starts a new one, and a cursor of an
    older generation is never committed (it may hold changes whose event was lost).
    """

    def __init__(
        self, watch_id: str, datastore: str, path: str, cursor: dict[str, Any] | None, scope: str = ""
    ):
        self.watch_id, self.datastore, self.path, self.scope = watch_id, datastore, path, scope
        if cursor is not None and cursor.get("version") != CURSOR_VERSION:
            raise DatastoreError(
                f"watch {watch_id!r}: stored cursor has version {cursor.get('version')!r}, expected "
                f"{CURSOR_VERSION}; delete it to start from a new baseline"
            )
        if cursor is not None and cursor.get("scope", "") != scope:
            cursor = None  # the watch now looks elsewhere (an updated schedule): a new baseline
        self.committed = cursor
        self.generation = int(cursor.get("generation", 0)) if cursor else 0
        self.seen: dict[str, str] | None = dict(cursor["listing"]) if cursor else None

    def _cursor(self, listing: dict[str, str], event_id: str | None) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "listing": dict(listing),
            "last_event_id": event_id,
            "generation": self.generation,
            "scope": self.scope,
        }

    def step(self, listing: dict[str, str], fresh: set[str] | frozenset[str] = frozenset()) -> Step:
        """Diff ``listing`` against what was seen. The first listing ever is the baseline: files
        that existed when the schedule was made do not fire (as in v1); ``fresh`` files (written
        since it was made, before the watch first listed) are not part of it, so they fire."""
        if self.seen is None:
            self.seen = {p: e for p, e in listing.items() if p not in fresh}
            if not fresh:
                return Step(None, self._cursor(listing, None))
        changes = diff_listings(self.seen, listing)
        self.seen = dict(listing)
        if changes.fired:
            payload = batch_payload(self.watch_id, self.datastore, self.path, changes, listing)
            return Step(payload, self._cursor(listing, payload["event_id"]))
        if changes.deleted:
            last = self.committed.get("last_event_id") if self.committed else None
            return Step(None, self._cursor(listing, last))
        return Step(None, None)

    def commit(self, cursor: dict[str, Any]) -> bool:
        """Make ``cursor`` the committed one; False (nothing done) for a stale generation."""
        if cursor.get("generation", 0) != self.generation:
            return False
        self.committed = cursor
        return True

    def rollback(self) -> None:
        """Forget what was seen since the committed cursor (its events did not reach Airflow)."""
        self.generation += 1
        self.seen = dict(self.committed["listing"]) if self.committed else None


class DatastoreCursor:
    """A watch's cursor as a small JSON object on the watched datastore (written atomically): for
    Airflow versions without an asset state store, and for running the trigger outside Airflow."""

    def __init__(self, store: Store, watch_id: str):
        self.store = store
        self.object_path = f"{CURSOR_PREFIX}/{safe_segment(watch_id)}.json"

    def load(self) -> dict[str, Any] | None:
        data = self.store.read_bytes(self.object_path)
        return json.loads(data) if data else None

    def save(self, cursor: dict[str, Any]) -> None:
        self.store.write_bytes(self.object_path, json.dumps(cursor, sort_keys=True).encode())
