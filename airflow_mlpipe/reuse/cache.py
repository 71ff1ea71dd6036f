"""The reuse cache on a datastore: fingerprint -> committed step result.

Layout under ``mlpipe/cache/`` of the cache datastore:
- ``entries/<fp[:2]>/<fp>.json``: one committed result (outputs, their content hashes, metrics,
  origin run); written once, atomically, after the step succeeded and its outputs were verified;
- ``steps/<dag_id>/<step>.json``: the fingerprint components of the step's last committed result,
  which ``plan`` compares against to say why a step runs;
- ``leases/<fp>``: who is computing a fingerprint right now.

Outputs stay where the step stored them (``mlpipe/runs/...``); an entry only points at them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_mlpipe.storage import Store, open_store
from airflow_mlpipe.storage.base import safe_segment

ENTRY_FORMAT = "mlpipe.cache-entry/1"
PREFIX = "mlpipe/cache"
LEASE_TTL = 30.0


class CacheStore:
    def __init__(self, store: Store, datastores: dict[str, dict[str, Any]] | None = None):
        self.store = store
        self.datastores = datastores or {}

    # --- entries ---------------------------------------------------------------------------

    @staticmethod
    def entry_path(fp: str) -> str:
        return f"{PREFIX}/entries/{fp[:2]}/{fp}.json"

    def lookup(self, fp: str) -> dict[str, Any] | None:
        raw = self.store.read_bytes(self.entry_path(fp))
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None  # an unreadable entry is a miss, never a wrong reuse
        return entry if entry.get("format") == ENTRY_FORMAT and entry.get("fingerprint") == fp else None

    def commit(self, entry: dict[str, Any], components: dict[str, Any]) -> None:
        """Commit a verified result; the per-step index follows (it only serves explanations)."""
        entry = {"format": ENTRY_FORMAT, **entry}
        self.store.write_bytes(
            self.entry_path(entry["fingerprint"]), json.dumps(entry, sort_keys=True).encode()
        )
        origin = entry["origin"]
        index = {
            "fingerprint": entry["fingerprint"],
            "committed_at": entry["committed_at"],
            "origin": origin,
            **components,
        }
        self.store.write_bytes(
            self.step_index_path(origin["dag_id"], entry["step"]), json.dumps(index).encode()
        )

    def missing_outputs(self, entry: dict[str, Any]) -> str | None:
        """Why a committed entry cannot be reused (an output gone or changed), or None."""
        for name, out in entry["outputs"].items():
            if out.get("table"):
                continue  # rows appended to a table: no listing can tell they are still there
            spec = self.datastores.get(out["datastore"])
            if spec is None:
                return f"output {name!r} is on datastore {out['datastore']!r}, unknown to this pipeline"
            listed = open_store(spec).list(out["path"])
            if len(listed) != out["files"] or sum(f.size for f in listed) != out["bytes"]:
                return f"output {name!r} is no longer complete at {out['path']}"
        return None

    # --- per-step index ----------------------------------------------------------------------

    @staticmethod
    def step_index_path(dag_id: str, step: str) -> str:
        return f"{PREFIX}/steps/{safe_segment(dag_id)}/{safe_segment(step)}.json"

    def last_committed(self, dag_id: str, step: str) -> dict[str, Any] | None:
        raw = self.store.read_bytes(self.step_index_path(dag_id, step))
        return json.loads(raw) if raw else None

    # --- leases ----------------------------------------------------------------------------

    @contextmanager
    def lease(
        self,
        fp: str,
        *,
        ttl: float = LEASE_TTL,
        wait: float = 24 * 3600,
        poll: float = 1.0,
        on_wait: Any = None,
    ) -> Iterator[dict[str, Any]]:
        """Hold the lease on ``fp`` while computing it; renewed by a heartbeat thread.

        Yields a dict; ``lost`` is set when the heartbeat could not renew (another run may have
        taken over after expiry). Blocks while someone else holds it, up to ``wait`` seconds.
        """
        owner = uuid.uuid4().hex
        path = f"{PREFIX}/leases/{fp}"
        deadline = time.monotonic() + wait
        waited = False
        while True:
            handle = self.store.acquire_lease(path, owner, ttl)
            if handle is not None:
                break
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            if time.monotonic() > deadline:
                raise TimeoutError(f"the lease on fingerprint {fp[:12]} was held for more than {wait:.0f}s")
            time.sleep(poll)
        state = {"lost": False, "waited": waited}
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(ttl / 3):
                if not self.store.renew_lease(handle):
                    state["lost"] = True
                    return

        beat = threading.Thread(target=heartbeat, name=f"mlpipe-lease-{fp[:8]}", daemon=True)
        beat.start()
        try:
            yield state
        finally:
            stop.set()
            beat.join(timeout=5)
            self.store.release_lease(handle)

    # --- garbage collection ------------------------------------------------------------------

    def entries(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        for info in self.store.list(f"{PREFIX}/entries"):
            raw = self.store.read_bytes(info.path)
            try:
                yield info.path, json.loads(raw) if raw else None
            except ValueError:
                yield info.path, None

    def gc(self, older_than: float, now: float | None = None, dry_run: bool = False) -> dict[str, int]:
        """Remove entries committed more than ``older_than`` seconds ago, then step outputs on
        this datastore that no remaining entry references and that are older than that too
        (a running step's outputs are newer, so they stay)."""
        now = time.time() if now is None else now
        cutoff = now - older_than
        kept_paths: set[str] = set()
        removed_entries = 0
        for path, entry in self.entries():
            if entry is None or entry.get("committed_at", 0) < cutoff:
                removed_entries += 1
                if not dry_run:
                    self.store.delete(path)
                continue
            for out in entry["outputs"].values():
                kept_paths.add(out["path"])
        removed_outputs = 0
        by_output: dict[str, float] = {}
        for info in self.store.list("mlpipe/runs"):
            # mlpipe/runs/<dag>/<run>/<task>/<try>/<output>/...
            parts = info.path.split("/")
            if len(parts) < 7:
                continue
            out_path = "/".join(parts[:7])
            by_output[out_path] = max(by_output.get(out_path, 0.0), info.mtime)
        for out_path, newest in sorted(by_output.items()):
            if out_path in kept_paths or newest > cutoff:
                continue
            removed_outputs += 1
            if not dry_run:
                self.store.delete(out_path)
        return {"entries_removed": removed_entries, "outputs_removed": removed_outputs}
