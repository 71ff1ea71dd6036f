"""The datastore-change watch: listing diff, one event per window, cursor, and the trigger's loops
(standalone ``run()`` on a local folder and on Azurite; ack mode through Airflow's own
SharedStreamManager)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.local import LocalStore
from airflow_mlpipe.storage.watch import (
    ChangeWatch,
    DatastoreCursor,
    common_folder,
    diff_listings,
    list_watched,
    take_listing,
)
from airflow_mlpipe.triggers.datastore import (
    DatastoreChangeTrigger,
    changed_paths,
    datastore_asset,
)


def put(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def store(tmp_path) -> LocalStore:
    (tmp_path / "ds").mkdir()
    return LocalStore(str(tmp_path / "ds"))


def watch_step(watch: ChangeWatch, store: LocalStore, path: str = "in", recursive: bool = False):
    step = watch.step(take_listing(store, path, recursive=recursive))
    if step.cursor is not None:
        watch.commit(step.cursor)
    return step


# --- the diff and the batch --------------------------------------------------------------------


def test_files_written_after_the_schedule_was_made_fire_even_before_the_first_listing(store):
    import os

    root = Path(store.root)
    put(root, "in/old.csv", "1")
    os.utime(root / "in" / "old.csv", (1_000, 1_000))  # long before the schedule
    put(root, "in/new.csv", "2")  # after it, but before the watch's first listing
    listing, fresh = list_watched(store, "in", since=2_000)
    assert fresh == {"in/new.csv"} and set(listing) == {"in/old.csv", "in/new.csv"}
    step = ChangeWatch("s1", "lake", "in", None).step(listing, fresh)
    assert step.payload["paths"] == ["in/new.csv"] and step.cursor["listing"] == listing
    assert ChangeWatch("s1", "lake", "in", None).step(listing).payload is None  # no since: all baseline


def test_baseline_then_add_modify_delete(store):
    root = Path(store.root)
    put(root, "in/old.csv", "1")
    watch = ChangeWatch("s1", "lake", "in", None)
    base = watch_step(watch, store)
    assert base.payload is None and base.cursor["listing"] == take_listing(store, "in")  # old.csv: no event

    put(root, "in/new.csv", "22")
    added = watch_step(watch, store).payload
    assert (added["paths"], added["added"], added["modified"]) == (["in/new.csv"], ["in/new.csv"], [])

    put(root, "in/old.csv", "333")  # new size: new etag
    modified = watch_step(watch, store).payload
    assert (modified["paths"], modified["modified"]) == (["in/old.csv"], ["in/old.csv"])

    assert watch_step(watch, store).cursor is None  # nothing changed: nothing to commit

    (root / "in" / "new.csv").unlink()
    deleted = watch_step(watch, store)
    assert deleted.payload is None and "in/new.csv" not in deleted.cursor["listing"]
    put(root, "in/new.csv", "22")  # written again after its deletion: fires again
    assert watch_step(watch, store).payload["added"] == ["in/new.csv"]


def test_several_changes_in_one_window_are_one_event(store):
    root = Path(store.root)
    put(root, "in/a/keep.txt", "x")
    watch = ChangeWatch("s1", "lake", "in/a", None)
    watch_step(watch, store, "in/a")
    for name in ("z.csv", "b.csv", "m.csv"):
        put(root, f"in/a/{name}", name)
    put(root, "in/a/keep.txt", "changed")
    event = watch_step(watch, store, "in/a").payload
    assert event["paths"] == ["in/a/b.csv", "in/a/keep.txt", "in/a/m.csv", "in/a/z.csv"]
    assert event["common_folder"] == "in/a"
    assert event["watched_path"] == "in/a" and event["datastore"] == "lake"
    assert set(event["etags"]) == set(event["paths"])


def test_nested_folders_are_ignored_unless_recursive(store):
    root = Path(store.root)
    flat, deep = ChangeWatch("flat", "lake", "in", None), ChangeWatch("deep", "lake", "in", None)
    watch_step(flat, store)
    watch_step(deep, store, recursive=True)
    put(root, "in/sub/x.csv", "1")
    put(root, "in/sub/deeper/y.csv", "2")
    assert watch_step(flat, store).payload is None
    event = watch_step(deep, store, recursive=True).payload
    assert event["paths"] == ["in/sub/deeper/y.csv", "in/sub/x.csv"]
    assert event["common_folder"] == "in/sub"
    put(root, "in/top.csv", "3")
    assert watch_step(flat, store).payload["paths"] == ["in/top.csv"]


def test_a_path_naming_one_file_watches_that_file(store):
    root = Path(store.root)
    put(root, "in/model.pkl", "v1")
    put(root, "in/other.txt", "x")
    watch = ChangeWatch("f", "lake", "in/model.pkl", None)
    watch_step(watch, store, "in/model.pkl")
    put(root, "in/other.txt", "changed")
    assert watch_step(watch, store, "in/model.pkl").payload is None
    put(root, "in/model.pkl", "v2!")
    assert watch_step(watch, store, "in/model.pkl").payload["paths"] == ["in/model.pkl"]


def test_the_same_change_set_has_the_same_event_id(store):
    """A watch restarted from the committed cursor offers the change again with the same id."""
    root = Path(store.root)
    first = ChangeWatch("s1", "lake", "in", None)
    baseline = watch_step(first, store).cursor
    put(root, "in/a.csv", "1")
    offered = first.step(take_listing(store, "in")).payload  # offered, never committed
    again = ChangeWatch("s1", "lake", "in", baseline).step(take_listing(store, "in")).payload
    assert again["event_id"] == offered["event_id"]
    put(root, "in/a.csv", "changed")
    other = ChangeWatch("s1", "lake", "in", baseline).step(take_listing(store, "in")).payload
    assert other["event_id"] != offered["event_id"]


def test_rollback_offers_the_changes_again_and_drops_stale_cursors(store):
    root = Path(store.root)
    watch = ChangeWatch("s1", "lake", "in", None)
    watch_step(watch, store)
    put(root, "in/a.csv", "1")
    lost = watch.step(take_listing(store, "in"))
    put(root, "in/b.csv", "2")
    later = watch.step(take_listing(store, "in"))  # seen ran ahead: only b.csv
    assert later.payload["paths"] == ["in/b.csv"]
    watch.rollback()  # the first event was not taken
    assert watch.commit(later.cursor) is False  # would commit a.csv, whose event was lost
    redo = watch.step(take_listing(store, "in"))
    assert redo.payload["paths"] == ["in/a.csv", "in/b.csv"]
    assert watch.commit(redo.cursor) is True
    assert lost.payload["event_id"] != redo.payload["event_id"]


def test_a_cursor_of_another_scope_is_a_new_baseline(store):
    root = Path(store.root)
    put(root, "in/a.csv", "1")
    put(root, "other/b.csv", "2")
    old = ChangeWatch("s1", "lake", "in", None, scope="local:in")
    saved = watch_step(old, store).cursor
    moved = ChangeWatch("s1", "lake", "other", saved, scope="local:other")  # the schedule was updated
    assert moved.step(take_listing(store, "other")).payload is None  # b.csv existed: baseline
    same = ChangeWatch("s1", "lake", "in", saved, scope="local:in")
    put(root, "in/c.csv", "3")
    assert same.step(take_listing(store, "in")).payload["paths"] == ["in/c.csv"]


def test_common_folder_and_diff():
    assert common_folder(["a/b/c.csv", "a/b/d/e.csv"]) == "a/b"
    assert common_folder(["a/x.csv", "b/y.csv"]) == ""
    assert common_folder(["top.csv", "a/b.csv"]) == ""
    changes = diff_listings({"a": "1", "b": "1"}, {"b": "2", "c": "1"})
    assert (changes.added, changes.modified, changes.deleted) == (["c"], ["b"], ["a"])


def test_datastore_cursor_round_trip_is_not_watched(store):
    cursor_store = DatastoreCursor(store, "sched/1")
    assert cursor_store.load() is None
    cursor_store.save({"version": 1, "listing": {"x": "1"}, "last_event_id": None, "generation": 0})
    assert cursor_store.load()["listing"] == {"x": "1"}
    assert take_listing(store, "", recursive=True) == {}  # the cursor object itself never fires


def test_trigger_arguments_are_checked(tmp_path):
    base = {"datastore": "lake", "path": "in", "watch_id": "s", "store_type": "local", "location": "/x"}
    with pytest.raises(ValueError, match="polling_interval"):
        DatastoreChangeTrigger(**{**base, "polling_interval": 0, "cursor": "datastore"})
    with pytest.raises(ValueError, match="asset_name"):
        DatastoreChangeTrigger(**{**base, "polling_interval": 1})
    with pytest.raises(ValueError, match="store_type 'azure_file_share'"):
        DatastoreChangeTrigger(
            **{**base, "polling_interval": 1, "cursor": "datastore", "store_type": "azure_file_share"}
        )
    with pytest.raises(DatastoreError, match="outside the datastore"):
        DatastoreChangeTrigger(**{**base, "path": "../up", "polling_interval": 1, "cursor": "datastore"})


def test_datastore_asset_is_watched_by_the_trigger():
    spec = {"type": "azure_blob", "name": "lake", "conn_id": "azurite", "container": "c1"}
    asset = datastore_asset("nightly", "lake", "/in/", 2.5, True, spec=spec)
    assert asset.name == "mlpipe_schedule_nightly"
    assert asset.uri == "mlpipe-datastore://lake/in?schedule=nightly"
    classpath, kwargs = asset.watchers[0].trigger.serialize()
    assert classpath == "airflow_mlpipe.triggers.datastore.DatastoreChangeTrigger"
    assert kwargs == {
        "datastore": "lake", "path": "in", "polling_interval": 2.5, "recursive": True,
        "watch_id": "nightly", "store_type": "azure_blob", "location": "c1", "conn_id": "azurite",
        "cursor": "asset", "asset_name": "mlpipe_schedule_nightly", "since": None,
    }  # fmt: skip
    assert DatastoreChangeTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_changed_paths_reads_the_runs_asset_events():
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    asset = Asset(name="mlpipe_schedule_s", uri="mlpipe-datastore://lake/in?schedule=s")

    def event(payload):
        return AssetEventDagRunReferenceResult(
            asset={"name": asset.name, "uri": asset.uri, "extra": {}},
            extra={"from_trigger": True, "payload": payload},
            source_task_id=None, source_dag_id=None, source_run_id=None, source_map_index=-1,
            source_aliases=[], timestamp="2026-01-01T00:00:00Z", partition_key=None,
        )  # fmt: skip

    one = {"kind": "mlpipe.datastore_change", "event_id": "e1", "paths": ["in/b", "in/a"]}
    two = {"kind": "mlpipe.datastore_change", "event_id": "e2", "paths": ["in/c"]}
    events = TriggeringAssetEventsAccessor.build([event(one), event(one), event(two)])
    assert changed_paths({"triggering_asset_events": events}) == ["in/a", "in/b", "in/c"]
    assert changed_paths({"triggering_asset_events": TriggeringAssetEventsAccessor.build([])}) == []


# --- the trigger's loops -----------------------------------------------------------------------

INTERVAL = 0.05  # minutes: 3 s between listings


def local_trigger(store: LocalStore, watch_id: str = "w1", path: str = "in") -> DatastoreChangeTrigger:
    return DatastoreChangeTrigger(
        "lake", path, INTERVAL, watch_id=watch_id, store_type="local", location=store.root,
        cursor="datastore",
    )  # fmt: skip


async def until(check, what: str, timeout: float = 60.0):
    """``check()``'s first truthy value, looked for every 0.1 s on the running loop."""

    async def poll():
        while not (value := check()):
            await asyncio.sleep(0.1)
        return value

    try:
        return await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
        raise AssertionError(f"timed out waiting for {what}") from None


async def stop(task: asyncio.Future) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
        await task


async def take_baseline(trigger: DatastoreChangeTrigger, cursor: DatastoreCursor) -> None:
    """Run a watch until its baseline is committed, then stop it: changes made before the next
    instance starts all fall in that instance's first window (no timing involved)."""
    gen = trigger.run()
    first = asyncio.ensure_future(gen.__anext__())
    await until(cursor.load, "the baseline cursor")
    await stop(first)
    await gen.aclose()


def committed(store, watch_id: str = "w1"):
    return DatastoreCursor(store, watch_id).load()


def test_run_batches_a_window_and_survives_restarts(store):
    root = Path(store.root)
    put(root, "in/existing.csv", "old")

    async def scenario():
        gen = local_trigger(store).run()
        first = asyncio.ensure_future(gen.__anext__())
        await until(lambda: committed(store), "the baseline cursor")
        # written right after the baseline listing, well inside the 3 s window
        put(root, "in/batch/a.csv", "1")  # nested: not watched
        for name in ("x.csv", "y.csv", "z.csv"):
            put(root, f"in/{name}", name)
        event = (await asyncio.wait_for(first, 60)).payload
        assert event["paths"] == ["in/x.csv", "in/y.csv", "in/z.csv"]
        # the triggerer took the event and asks for the next one: the cursor is committed
        resumed = asyncio.ensure_future(gen.__anext__())
        await until(lambda: committed(store)["last_event_id"] == event["event_id"], "the commit")
        await stop(resumed)
        await gen.aclose()

        put(root, "in/while-down.csv", "4")  # changed while no triggerer ran
        gen = local_trigger(store).run()
        again = (await asyncio.wait_for(gen.__anext__(), 60)).payload
        assert again["paths"] == ["in/while-down.csv"]  # once, and the first batch not repeated
        # dies between the event and the commit: the change set is offered again, same id
        await gen.aclose()
        gen = local_trigger(store).run()
        repeat = (await asyncio.wait_for(gen.__anext__(), 60)).payload
        assert repeat["event_id"] == again["event_id"]
        await gen.aclose()

    asyncio.run(scenario())


def test_ack_mode_commits_only_what_airflow_stored(store):
    """Through the triggerer's own SharedStreamManager: the cursor moves when the event is
    confirmed persisted, not when it is yielded; an unconfirmed event is offered again."""
    from airflow.triggers.shared_stream import SharedStreamManager

    root = Path(store.root)

    async def scenario():
        manager = SharedStreamManager(ack_timeout=120)
        trigger = local_trigger(store)
        key = trigger.shared_stream_key()
        events = trigger.filter_shared_stream(manager.subscribe(trigger_id=1, trigger=trigger, key=key))
        pending = asyncio.ensure_future(events.__anext__())
        baseline = await until(lambda: committed(store), "the baseline cursor")
        for name in ("a.csv", "b.csv", "c.csv"):
            put(root, f"in/{name}", name)
        event = (await asyncio.wait_for(pending, 60)).payload
        seq = manager.bind_pending_event(trigger_id=1, key=key)  # as the triggerer does
        assert seq is not None
        pending = asyncio.ensure_future(events.__anext__())  # moves past the event
        await asyncio.sleep(2 * INTERVAL * 60)  # more polls: still nothing stored, nothing committed
        assert committed(store) == baseline
        manager.confirm_persisted([seq])
        await until(lambda: committed(store)["last_event_id"] == event["event_id"], "the commit")

        put(root, "in/d.csv", "4")
        lost = (await asyncio.wait_for(pending, 60)).payload
        manager.bind_pending_event(trigger_id=1, key=key)
        await manager.stop_all()  # the triggerer dies before Airflow stored it
        await stop(pending)

        manager = SharedStreamManager(ack_timeout=120)
        trigger = local_trigger(store)
        events = trigger.filter_shared_stream(manager.subscribe(trigger_id=2, trigger=trigger, key=key))
        again = (await asyncio.wait_for(events.__anext__(), 60)).payload
        assert (again["paths"], again["event_id"]) == (["in/d.csv"], lost["event_id"])
        await manager.stop_all()

    asyncio.run(scenario())


# --- Azure Blob through Azurite ----------------------------------------------------------------


@pytest.fixture(scope="module")
def azurite_conn(tmp_path_factory):
    from azurite_server import azurite

    with azurite(tmp_path_factory.mktemp("azurite")) as conn_string:
        yield json.dumps({"conn_type": "wasb", "extra": {"connection_string": conn_string}})


def test_run_on_blob_batches_a_window(azurite_conn, monkeypatch, tmp_path):
    from airflow_mlpipe.storage.blob import BlobStore

    monkeypatch.setenv("AIRFLOW_CONN_AZURITE", azurite_conn)
    blob = BlobStore("azurite", "watched")
    src = tmp_path / "f.txt"
    src.write_text("old")
    blob.upload_file(src, "in/existing.txt")

    def trigger():
        return DatastoreChangeTrigger(
            "lake", "in", 0.05, watch_id="blob1", store_type="azure_blob", location="watched",
            conn_id="azurite", cursor="datastore",
        )  # fmt: skip

    async def scenario():
        await take_baseline(trigger(), DatastoreCursor(blob, "blob1"))
        for name in ("c.txt", "a.txt", "b.txt"):
            src.write_text(name)
            blob.upload_file(src, f"in/{name}")
        blob.upload_file(src, "in/sub/nested.txt")
        gen = trigger().run()
        event = (await asyncio.wait_for(gen.__anext__(), 60)).payload
        assert event["paths"] == ["in/a.txt", "in/b.txt", "in/c.txt"]
        assert event["common_folder"] == "in"
        resumed = asyncio.ensure_future(gen.__anext__())
        await until(
            lambda: DatastoreCursor(blob, "blob1").load()["last_event_id"] == event["event_id"], "the commit"
        )
        src.write_text("modified content")
        blob.upload_file(src, "in/existing.txt")
        modified = (await asyncio.wait_for(resumed, 60)).payload
        assert (modified["modified"], modified["added"]) == (["in/existing.txt"], [])
        await gen.aclose()

    asyncio.run(scenario())


# --- ADLS Gen2 through the DFS emulator ----------------------------------------------------------


def test_run_on_adls_gen2_batches_a_window(tmp_path, monkeypatch):
    import base64

    from storage_emulators.dfs import start_dfs_emulator

    from airflow_mlpipe.storage.adls import AdlsGen2Store

    key = base64.b64encode(b"emulator-account-key-for-tests-only-0123456789").decode()
    emu = start_dfs_emulator(tmp_path / "dfs", key, account="devaccount", page_size=2)
    try:
        conn = {"conn_type": "adls", "host": "devaccount", "password": key, "extra": {"account_url": emu.url}}
        monkeypatch.setenv("AIRFLOW_CONN_LAKE", json.dumps(conn))
        lake, src = AdlsGen2Store("lake", "data", name="lake"), tmp_path / "f.txt"

        def write(path: str, text: str) -> None:
            src.write_text(text)
            lake.upload_file(src, path)

        write("in/existing.csv", "old")

        def trigger():
            return DatastoreChangeTrigger(
                "lake", "in", INTERVAL, watch_id="adls1", store_type="azure_data_lake_gen2",
                location="data", conn_id="lake", cursor="datastore",
            )  # fmt: skip

        async def scenario():
            await take_baseline(trigger(), DatastoreCursor(lake, "adls1"))
            for name in ("b.csv", "a.csv", "c.csv"):
                write(f"in/{name}", name)
            write("in/sub/nested.csv", "x")
            write("in/existing.csv", "new content")
            gen = trigger().run()
            event = (await asyncio.wait_for(gen.__anext__(), 60)).payload
            assert event["paths"] == ["in/a.csv", "in/b.csv", "in/c.csv", "in/existing.csv"]
            assert event["modified"] == ["in/existing.csv"]
            await gen.aclose()

        asyncio.run(scenario())
    finally:
        emu.stop()
