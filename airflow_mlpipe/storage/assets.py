"""Versioned, immutable assets on a datastore: registered datasets and models.

Layout under ``mlpipe/registry/<kind>/`` of the workspace's default datastore (kinds start with a
letter; ``mlpipe/registry/_pipelines/`` holds the pipeline registry, registry/location.py):
- ``<name>/versions/<version:08d>.json``: one version's record, written once, atomically, last
  (after any files it names are stored and verified), so a listed version is always complete;
- ``<name>/files/<version>-<token>/...``: the files a version owns (models), under a path no other
  attempt writes;
- ``_ids/<id>.json``: id -> (name, version), for ``get_by_id``;
- ``<name>/.lock``: held while a new version number is chosen, so two registrations of one name at
  once get two versions.

Nothing here knows what a dataset or a model is: records are JSON objects the callers define.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage.base import Store

PREFIX = "mlpipe/registry"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
LOCK_TTL = 30.0
LOCK_WAIT = 120.0


def check_asset_name(name: str, label: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserErrorException(
            f"{label} name {name!r} is invalid: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 255 characters)"
        )
    return name


class AssetNotFound(UserErrorException):
    """No asset of that name, version or id."""


class AssetRegistry:
    def __init__(self, store: Store, kind: str, label: str | None = None):
        if not re.fullmatch(r"[a-z][a-z0-9-]*", kind):
            # a kind starts with a letter: '_ids' and the pipeline registry's '_pipelines'
            # (registry/location.py) can never be an asset kind's folder
            raise ValueError(
                f"asset kind {kind!r} must be lower-case letters, digits and '-', starting with a letter"
            )
        self.store = store
        self.kind = kind
        self.label = label or kind  # "dataset", "model": how errors name the asset

    # --- paths -----------------------------------------------------------------------------

    def check_name(self, name: str) -> str:
        return check_asset_name(name, self.label)

    def _root(self, name: str) -> str:
        return f"{PREFIX}/{self.kind}/{name}"

    def _record_path(self, name: str, version: int) -> str:
        return f"{self._root(name)}/versions/{version:08d}.json"

    def _id_path(self, asset_id: str) -> str:
        return f"{PREFIX}/{self.kind}/_ids/{asset_id}.json"

    def new_files_prefix(self, name: str) -> str:
        """Where a version being registered stores its files (no other attempt writes there)."""
        return f"{self._root(self.check_name(name))}/files/{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:12]}"

    # --- reading ---------------------------------------------------------------------------

    def versions(self, name: str) -> list[int]:
        found = []
        for info in self.store.list(f"{self._root(self.check_name(name))}/versions"):
            stem = info.path.rsplit("/", 1)[-1]
            if stem.endswith(".json") and stem[:-5].isdigit():
                found.append(int(stem[:-5]))
        return sorted(found)

    def names(self) -> list[str]:
        names = set()
        for info in self.store.list(f"{PREFIX}/{self.kind}"):
            parts = info.path[len(PREFIX) + len(self.kind) + 2 :].split("/")
            if len(parts) == 3 and parts[1] == "versions" and parts[0] != "_ids":
                names.add(parts[0])
        return sorted(names)

    def get(self, name: str, version: int | str | None = "latest") -> dict[str, Any]:
        """The record of ``name`` at ``version`` (an int, a digit string, or "latest"/None)."""
        known = self.versions(name)
        if not known:
            others = self.names()
            raise AssetNotFound(
                f"no {self.label} named {name!r} is registered in this workspace"
                + (f" (registered: {', '.join(others[:20])})" if others else " (none is registered)")
            )
        if version in (None, "latest"):
            wanted = known[-1]
        else:
            try:
                wanted = int(version)
            except (TypeError, ValueError):
                raise UserErrorException(
                    f"{self.label} {name!r}: version {version!r} is not a version number or 'latest'"
                ) from None
            if wanted not in known:
                raise AssetNotFound(
                    f"{self.label} {name!r} has no version {version!r}; its versions: "
                    f"{', '.join(map(str, known))}"
                )
        raw = self.store.read_bytes(self._record_path(name, wanted))
        if raw is None:  # deleted between the listing and the read
            raise AssetNotFound(f"{self.label} {name!r} version {wanted} is gone from the datastore")
        return json.loads(raw)

    def get_by_id(self, asset_id: str) -> dict[str, Any]:
        raw = (
            self.store.read_bytes(self._id_path(str(asset_id)))
            if re.fullmatch(r"[\w.:-]+", str(asset_id))
            else None
        )
        if raw is None:
            raise AssetNotFound(f"no {self.label} with id {asset_id!r} is registered in this workspace")
        ref = json.loads(raw)
        return self.get(ref["name"], ref["version"])

    def list(self, name: str | None = None, latest: bool = False) -> list[dict[str, Any]]:
        out = []
        for n in [self.check_name(name)] if name else self.names():
            versions = self.versions(n)
            for v in versions[-1:] if latest else versions:
                raw = self.store.read_bytes(self._record_path(n, v))
                if raw is not None:
                    out.append(json.loads(raw))
        return out

    # --- writing ---------------------------------------------------------------------------

    def register(
        self,
        name: str,
        record: dict[str, Any],
        *,
        reuse_latest: Callable[[dict[str, Any]], bool] | None = None,
        create_new_version: bool = True,
    ) -> dict[str, Any]:
        """Add the next version of ``name`` holding ``record`` (its files already stored).

        ``reuse_latest(latest)`` says whether the latest version already is this record, then it is
        returned instead of a new version. With ``create_new_version=False`` an existing name is
        an error unless ``reuse_latest`` accepts its latest version.
        Returns the stored record, with ``name``, ``version``, ``id`` and ``created_time`` set.
        """
        self.check_name(name)

        def busy() -> Exception:
            return TimeoutError(
                f"{self.label} {name!r}: another registration held its lock for {LOCK_WAIT:.0f}s"
            )

        with self.store.held_lease(f"{self._root(name)}/.lock", LOCK_TTL, LOCK_WAIT, busy, poll=(0.2, 0.2)):
            known = self.versions(name)
            if known:
                latest = self.get(name, known[-1])
                if reuse_latest is not None and reuse_latest(latest):
                    return latest
                if not create_new_version:
                    raise UserErrorException(
                        f"{self.label} {name!r} is already registered (versions {', '.join(map(str, known))}) "
                        "with another definition; pass create_new_version=True to add a version"
                    )
            version = (known[-1] if known else 0) + 1
            asset_id = str(uuid.uuid4())
            stored = {
                **record,
                "name": name,
                "version": version,
                "id": asset_id,
                "created_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self.store.write_bytes(
                self._id_path(asset_id), json.dumps({"name": name, "version": version}).encode()
            )
            self.store.write_bytes(
                self._record_path(name, version), json.dumps(stored, sort_keys=True).encode()
            )
            return stored

    def update(self, name: str, version: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a version's mutable fields (description, tags, properties); its data stays."""
        record = self.get(name, version)
        record.update(changes)
        self.store.write_bytes(
            self._record_path(name, int(version)), json.dumps(record, sort_keys=True).encode()
        )
        return record
