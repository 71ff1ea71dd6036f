"""DatastoreChangeTrigger: event-driven scheduling on a datastore path (Blob, ADLS Gen2, local).

The Azure provider has no event trigger for blobs, so this one polls: every ``polling_interval``
minutes it lists the watched path through the datastore backend (``Store.list``: path, etag) and
hands Airflow ONE event per polling window that saw changes (files added, or modified = new etag),
listing every changed path (unlike Azure ML v1, which started one run per blob). The first listing
is the baseline (existing files do not fire). Use it through ``datastore_asset``: a DAG with
``schedule=[asset]`` then runs once per event.

How a run sees the change: Airflow stores each event as an asset event whose ``extra`` is
``{"from_trigger": True, "payload": <the event>}``; the run's tasks read them from the context
(``context["triggering_asset_events"][asset]``, every event since the DAG's previous run). Use
``changed_paths(context)`` (all changed paths, sorted, repeats dropped) or
``change_events(context)`` (the events: ``paths``, ``common_folder``, ``added``, ``modified``,
``etags``, ``event_id``, ``datastore``, ``watched_path``)::

    @task
    def retrain(**context):
        paths = changed_paths(context)
        folder = common_folder(paths)  # from airflow_mlpipe.storage.watch

Cursor and delivery (a triggerer restart neither loses nor repeats a change):
- The cursor (the last committed listing, storage/watch.py) lives in the watched asset's state
  store (Airflow >= 3.3, ``cursor="asset"``, key ``mlpipe_datastore_cursor``), or, where Airflow
  has none, as a JSON object on the watched datastore (``cursor="datastore"``).
- On Airflow >= 3.3 the trigger runs in the triggerer's shared-stream *ack mode*: the listing is a
  producer whose ``advance`` is called only after the event was stored in the metadata database,
  and only then is the cursor committed. A triggerer that dies before that commit lists again from
  the old cursor and offers those changes again: delivery is at least once. Offered unchanged, the
  batch keeps its ``event_id`` (a hash of the paths and their etags), so a repeat is recognisable
  (``change_events`` drops repeats within one run); if more files changed meanwhile, the repeat is a
  larger batch with a new id. The window for a repeat is the one state-sync round (about a second)
  between the event being stored and the cursor commit; an event Airflow did not store (the
  triggerer died first, or it was not confirmed) is offered again, never lost.
- Without ack mode (``run()``, older Airflow), the cursor is committed when the triggerer asks for
  the next event, i.e. after it took this one into its outbound queue: a crash in the second before
  the queue is flushed can lose that event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_mlpipe.exceptions import UserErrorException
from airflow_mlpipe.storage import Store, open_store
from airflow_mlpipe.storage.base import normalize_path
from airflow_mlpipe.storage.watch import EVENT_KIND, ChangeWatch, DatastoreCursor, Step, list_watched

try:  # Airflow >= 3.3: shared streams with persistence-gated advance, and the asset state store
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor
    from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

    HAS_ACK_MODE = True
except ImportError:  # pragma: no cover - Airflow 3.1 / 3.2
    AssetStateStoreAccessor = None  # type: ignore[assignment,misc]
    SharedStreamProducer = object  # type: ignore[assignment,misc]
    AdvanceItem = Any  # type: ignore[assignment,misc]
    HAS_ACK_MODE = False

CURSOR_KEY = "mlpipe_datastore_cursor"
CURSOR_KINDS = ("asset", "datastore")
STORE_TYPES = {"local": "path", "azure_blob": "container", "azure_data_lake_gen2": "filesystem"}
URI_SCHEME = "mlpipe-datastore"  # no normalizer needed: Airflow keeps URIs of unknown schemes as given
SAVE_ATTEMPTS = 3


def trigger_store_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger's primitive store arguments for a datastore spec (as ``open_store`` takes)."""
    kind = spec.get("type")
    if kind not in STORE_TYPES:
        raise UserErrorException(
            f"datastore {spec.get('name')!r} has type {kind!r}: a datastore-change schedule watches "
            f"{', '.join(sorted(STORE_TYPES))} datastores; watch one of those instead"
        )
    return {"store_type": kind, "conn_id": spec.get("conn_id"), "location": spec[STORE_TYPES[kind]]}


def watched_path(path: str, where: str) -> str:
    """The watched path relative to the datastore root ('/in/' and 'in' are one path, as in v1)."""
    return normalize_path(str(path or "").lstrip("/"), where=f"{where}: path_on_datastore")


class AssetStateCursor:
    """A watch's cursor in Airflow's asset state store (one key on the watched asset)."""

    def __init__(self, asset_name: str):
        self.accessor = AssetStateStoreAccessor(name=asset_name)

    async def load(self) -> dict[str, Any] | None:
        value = await self.accessor.aget(CURSOR_KEY)
        return value if isinstance(value, dict) else None

    async def save(self, cursor: dict[str, Any]) -> None:
        await self.accessor.aset(CURSOR_KEY, cursor)


class _AsyncDatastoreCursor:
    def __init__(self, store: Store, watch_id: str):
        self.inner = DatastoreCursor(store, watch_id)

    async def load(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.inner.load)

    async def save(self, cursor: dict[str, Any]) -> None:
        await asyncio.to_thread(self.inner.save, cursor)


class DatastoreWatch:
    """One running watch: lists through the store, steps the ``ChangeWatch``, saves its cursor."""

    def __init__(self, trigger: DatastoreChangeTrigger):
        self.trigger = trigger
        self.store = open_store(trigger.store_spec())
        if trigger.cursor == "asset":
            self.cursor_store: Any = AssetStateCursor(str(trigger.asset_name))
        else:
            self.cursor_store = _AsyncDatastoreCursor(self.store, trigger.watch_id)
        self.state: ChangeWatch | None = None

    async def open(self) -> DatastoreWatch:
        t = self.trigger
        scope = f"{t.store_type}:{t.location}:{t.path}:{'recursive' if t.recursive else 'children'}"
        self.state = ChangeWatch(t.watch_id, t.datastore, t.path, await self.cursor_store.load(), scope)
        return self

    async def poll(self) -> Step:
        t = self.trigger
        listing, fresh = await asyncio.to_thread(
            list_watched, self.store, t.path, recursive=t.recursive, since=t.since
        )
        assert self.state is not None
        return self.state.step(listing, fresh)

    async def commit(self, cursor: dict[str, Any]) -> None:
        """Save ``cursor`` (retried); a failure is logged and the next commit covers it."""
        assert self.state is not None
        if not self.state.commit(cursor):
            return
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                await self.cursor_store.save(cursor)
                return
            except Exception as exc:
                self.trigger.log.warning(
                    "watch %s: saving its cursor failed (attempt %s of %s): %s",
                    self.trigger.watch_id, attempt, SAVE_ATTEMPTS, exc,
                )  # fmt: skip
                await asyncio.sleep(attempt)

    async def steps(self) -> AsyncIterator[Step]:
        """One step per polling window, forever; a listing that fails is logged and retried."""
        while True:
            try:
                yield await self.poll()
            except Exception as exc:
                self.trigger.log.warning(
                    "watch %s: listing %s on datastore %s failed; retrying in %s min: %s",
                    self.trigger.watch_id, self.trigger.path, self.trigger.datastore,
                    self.trigger.polling_interval, exc,
                )  # fmt: skip
            await asyncio.sleep(self.trigger.polling_interval * 60)


class DatastoreChangeTrigger(BaseEventTrigger):
    """Fires one event per polling window in which files under ``path`` of datastore ``datastore``
    were added or modified; every ``polling_interval`` minutes; direct children of ``path`` only
    unless ``recursive``. ``watch_id`` names the watch (its cursor, its logs); the store is given
    by primitives (``store_type``, ``conn_id``, ``location``: folder / container / filesystem).
    ``cursor="asset"`` keeps the cursor in asset ``asset_name``'s state store (Airflow >= 3.3),
    ``"datastore"`` on the watched datastore."""

    def __init__(
        self,
        datastore: str,
        path: str,
        polling_interval: float,
        recursive: bool = False,
        *,
        watch_id: str,
        store_type: str,
        location: str,
        conn_id: str | None = None,
        cursor: str = "asset",
        asset_name: str | None = None,
        since: float | None = None,
    ):
        super().__init__()
        where = f"DatastoreChangeTrigger(watch_id={watch_id!r})"
        if not watch_id:
            raise UserErrorException(f"{where}: watch_id is empty; give the schedule's id")
        if not isinstance(polling_interval, (int, float)) or polling_interval <= 0:
            raise UserErrorException(
                f"{where}: polling_interval is {polling_interval!r}; give a positive number of minutes"
            )
        if store_type not in STORE_TYPES:
            raise UserErrorException(
                f"{where}: store_type {store_type!r} cannot be watched; use one of {sorted(STORE_TYPES)}"
            )
        if cursor not in CURSOR_KINDS:
            raise UserErrorException(f"{where}: cursor {cursor!r} is unknown; use 'asset' or 'datastore'")
        if cursor == "asset" and (not asset_name or not HAS_ACK_MODE):
            raise UserErrorException(
                f"{where}: cursor='asset' needs asset_name (the watched asset) and Airflow >= 3.3 (its "
                "asset state store); pass asset_name, or cursor='datastore'"
            )
        self.datastore, self.path = datastore, watched_path(path, where)
        self.polling_interval = float(polling_interval)
        self.recursive = bool(recursive)
        self.watch_id, self.store_type, self.location, self.conn_id = watch_id, store_type, location, conn_id
        self.cursor, self.asset_name = cursor, asset_name
        self.since = since  # when the watch was made: files written after it fire, first listing or not

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "datastore": self.datastore,
                "path": self.path,
                "polling_interval": self.polling_interval,
                "recursive": self.recursive,
                "watch_id": self.watch_id,
                "store_type": self.store_type,
                "location": self.location,
                "conn_id": self.conn_id,
                "cursor": self.cursor,
                "asset_name": self.asset_name,
                "since": self.since,
            },
        )

    def store_spec(self) -> dict[str, Any]:
        spec = {"type": self.store_type, "name": self.datastore, STORE_TYPES[self.store_type]: self.location}
        if self.conn_id:
            spec["conn_id"] = self.conn_id
        return spec

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The standalone loop (Airflow without ack mode; tests): the cursor is committed when the
        triggerer resumes this generator, i.e. after it queued the event."""
        watch = await DatastoreWatch(self).open()
        async for step in watch.steps():
            if step.payload is not None:
                self.log.info("watch %s: %s changed path(s)", self.watch_id, len(step.payload["paths"]))
                yield TriggerEvent(step.payload)
            if step.cursor is not None:
                await watch.commit(step.cursor)

    # --- ack mode (Airflow >= 3.3): the cursor advances only once Airflow stored the event ------

    def shared_stream_key(self) -> Hashable | None:
        if not HAS_ACK_MODE:
            return None
        return ("airflow_mlpipe.datastore_watch", self.watch_id, self.store_type, self.location, self.path)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> DatastoreWatchProducer:
        return DatastoreWatchProducer(cls(**kwargs))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for raw in shared_stream:
            payload = raw.get("event") if isinstance(raw, dict) else None
            if payload is not None:
                self.log.info("watch %s: %s changed path(s)", self.watch_id, len(payload["paths"]))
                yield TriggerEvent(payload)


class DatastoreWatchProducer(SharedStreamProducer):
    """The shared stream of one watch: a raw event per step that moves the cursor (the batch event,
    or None for a baseline / deletions); ``advance`` commits the cursor of each event Airflow has
    stored, and rolls the watch back to its committed cursor when one was not taken."""

    def __init__(self, trigger: DatastoreChangeTrigger):
        self.trigger = trigger
        self.watch: DatastoreWatch | None = None

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        self.watch = await DatastoreWatch(self.trigger).open()
        async for step in self.watch.steps():
            if step.cursor is not None:
                yield {"event": step.payload}, step.cursor

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        assert self.watch is not None and self.watch.state is not None
        for item in batch:
            cursor = item.broker_payload
            if item.outcome.is_clean:
                await self.watch.commit(cursor)
            elif cursor.get("generation") == self.watch.state.generation:
                self.trigger.log.warning(
                    "watch %s: an event was not taken by Airflow (%s); it will be offered again",
                    self.trigger.watch_id, item.outcome,
                )  # fmt: skip
                self.watch.state.rollback()


def datastore_asset(
    schedule_id: str,
    datastore: str,
    path: str,
    polling_interval: float,
    recursive: bool = False,
    *,
    spec: Mapping[str, Any],
    cursor: str | None = None,
    since: float | None = None,
) -> Any:
    """The Asset of a datastore-change schedule, watched by a ``DatastoreChangeTrigger``: name
    ``mlpipe_schedule_<id>``, URI ``mlpipe-datastore://<datastore>/<path>?schedule=<id>`` (Airflow
    wants URIs unique among active assets, so two schedules on one path get two assets). ``spec`` is
    the datastore's spec (``open_store``'s argument); ``cursor`` defaults to the asset state store
    where Airflow has one. ``since`` (epoch seconds): files written after it fire even if the watch
    first lists after they land (the schedule's creation; without it, the first listing is the
    baseline)."""
    from airflow.sdk import Asset, AssetWatcher

    name = f"mlpipe_schedule_{schedule_id}"
    clean = watched_path(path, f"schedule {schedule_id!r}")
    trigger = DatastoreChangeTrigger(
        datastore=datastore,
        path=clean,
        polling_interval=polling_interval,
        recursive=recursive,
        watch_id=str(schedule_id),
        cursor=cursor or ("asset" if HAS_ACK_MODE else "datastore"),
        asset_name=name,
        since=since,
        **trigger_store_settings(spec),
    )
    return Asset(
        name=name,
        uri=f"{URI_SCHEME}://{datastore}/{clean}?schedule={schedule_id}",
        group="mlpipe-datastore",
        watchers=[AssetWatcher(name=f"{name}_watch", trigger=trigger)],
    )


def change_events(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The datastore-change events that triggered this run (oldest first, repeats dropped)."""
    events = context.get("triggering_asset_events") or {}
    found: dict[str, dict[str, Any]] = {}
    for asset_events in events.values():
        for event in asset_events:
            payload = (getattr(event, "extra", None) or {}).get("payload")
            if isinstance(payload, dict) and payload.get("kind") == EVENT_KIND:
                found.setdefault(payload["event_id"], payload)
    return list(found.values())


def changed_paths(context: Mapping[str, Any]) -> list[str]:
    """Every path (sorted, once) the datastore-change events of this run name; empty when the run
    was not started by one (triggered by hand, or by another asset)."""
    return sorted({p for e in change_events(context) for p in e["paths"]})
