"""FileShareStore through the Azure provider's AzureFileShareHook and the official
azure-storage-file-share client, against the Azure Files emulator (Shared Key auth, real HTTP)."""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
import uuid

import pytest
from storage_emulators.files import start_file_emulator

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.fileshare import CHUNK, TMP_PREFIX, FileShareStore

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    # a small page size makes every folder listing of more than 3 entries use continuation markers
    emu = start_file_emulator(tmp_path_factory.mktemp("azfiles"), page_size=3)
    yield emu
    emu.stop()


def _connection(conn_string: str) -> str:
    return json.dumps({"conn_type": "azure_fileshare", "extra": {"connection_string": conn_string}})


@pytest.fixture
def store(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FILES_TEST", _connection(emulator.connection_string))
    return FileShareStore("files_test", f"share-{uuid.uuid4().hex[:8]}", name="lake_files")


def _raw_names(store: FileShareStore, folder: str) -> list[str]:
    """What the service itself lists in ``folder``, temporary names included."""
    return sorted(i.name for i in store.client.get_directory_client(folder).list_directories_and_files())


def test_every_store_method_round_trips(store, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    for i in range(5):  # more than a listing page
        (src / f"f{i}.csv").write_text(f"x\n{i}\n")
    (src / "notes.txt").write_text("n")
    (src / "sub" / "deeper" / "c.csv").write_text("ccc")
    listed = store.upload_dir(src, "data/set1")
    assert [f.path for f in listed] == [
        "data/set1/f0.csv", "data/set1/f1.csv", "data/set1/f2.csv", "data/set1/f3.csv",
        "data/set1/f4.csv", "data/set1/notes.txt", "data/set1/sub/deeper/c.csv",
    ]  # fmt: skip
    assert all(f.etag and f.mtime > 0 for f in listed)
    assert store.list("data/set1/f0.csv") == [listed[0]]
    assert store.stat("data/set1/f0.csv") == listed[0]
    assert store.stat("data/set1/sub") is None and store.stat("nothing") is None
    assert store.list("nothing/here") == []
    assert store.exists("data/set1") and store.exists("data/set1/sub/deeper/c.csv")
    assert not store.exists("data/other")
    assert [rel for _, rel in store.resolve("data/set1/*.csv")] == [f"f{i}.csv" for i in range(5)]
    assert [rel for _, rel in store.resolve("data/set1/**/c.csv")] == ["sub/deeper/c.csv"]

    out = tmp_path / "out"
    files = store.download("data/set1", out)
    assert len(files) == 7 and (out / "sub" / "deeper" / "c.csv").read_text() == "ccc"
    with pytest.raises(DatastoreError, match="nothing found"):
        store.download("nothing/here", out)

    assert store.read_bytes("meta/entry.json") is None
    store.write_bytes("meta/entry.json", b'{"a": 1}')
    assert store.read_bytes("meta/entry.json") == b'{"a": 1}'
    store.write_bytes("meta/entry.json", b"{}")
    assert store.read_bytes("meta/entry.json") == b"{}"

    store.delete("data/set1/notes.txt")
    assert not store.exists("data/set1/notes.txt")
    store.delete("data/set1")
    assert store.list("data") == [] and not store.exists("data/set1")
    store.upload_dir(src / "sub", "data/set1")  # the folders it deleted are created again
    assert [f.path for f in store.list("data")] == ["data/set1/deeper/c.csv"]
    assert store.location("data/x.csv").endswith(f"/{store.share}/data/x.csv")


def test_upload_skips_unchanged_content_and_respects_overwrite(store, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("one")
    assert store.upload_file(f, "keep/v.txt") is True
    first = store.stat("keep/v.txt")
    assert store.upload_file(f, "keep/v.txt") is False  # same bytes: the file and its etag stay
    assert store.stat("keep/v.txt") == first
    f.write_text("two")
    assert store.upload_file(f, "keep/v.txt", overwrite=False) is False
    assert store.read_bytes("keep/v.txt") == b"one"
    assert store.upload_file(f, "keep/v.txt") is True
    assert store.read_bytes("keep/v.txt") == b"two"
    assert store.stat("keep/v.txt").etag != first.etag
    assert _raw_names(store, "keep") == ["v.txt"]  # no temporary name left behind
    with pytest.raises(DatastoreError, match="share root"):
        store.upload_file(f, "")


def test_writes_are_invisible_until_complete_and_a_failed_one_leaves_nothing(store):
    seen = {}

    def chunks(fail: bool):
        yield b"a" * 1000
        seen["stat"] = store.stat("out/result.bin")
        seen["listed"] = store.list("out")
        seen["raw"] = _raw_names(store, "out")
        yield b"b" * 1000
        if fail:
            raise RuntimeError("the source broke midway")

    with pytest.raises(RuntimeError, match="midway"):
        store.write_stream("out/result.bin", chunks(fail=True))
    assert seen["stat"] is None and seen["listed"] == []
    assert len(seen["raw"]) == 1 and seen["raw"][0].startswith(TMP_PREFIX)  # the hidden temporary file
    assert _raw_names(store, "out") == []  # the failed write left no partial destination
    assert store.stat("out/result.bin") is None

    store.write_bytes("out/result.bin", b"old")
    info = store.write_stream("out/result.bin", chunks(fail=False))
    assert store.read_bytes("out/result.bin") == b"a" * 1000 + b"b" * 1000
    assert seen["stat"].size == 3  # readers saw the old file while the new one was written
    assert info == store.stat("out/result.bin") and info.size == 2000
    props = store._file("out/result.bin").get_file_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(b"a" * 1000 + b"b" * 1000).digest()
    assert _raw_names(store, "out") == ["result.bin"]


def test_nested_directories_are_created_and_a_file_in_the_way_is_named(store, tmp_path):
    store.write_bytes("a/b/c/d.txt", b"d")
    for folder in ("a", "a/b", "a/b/c"):
        assert store.client.get_directory_client(folder).exists()
    store.write_bytes("blocker", b"x")
    with pytest.raises(DatastoreError, match="'blocker' is a file"):
        store.write_bytes("blocker/inner.txt", b"y")


def test_streaming_keeps_memory_bounded_and_reads_from_an_offset(store):
    size = 96 * MiB + 12345
    pattern = bytes(range(256)) * 4096  # 1 MiB

    def source():
        sent = 0
        while sent < size:
            piece = pattern[: min(len(pattern) - 7, size - sent)]  # odd chunk sizes on purpose
            sent += len(piece)
            yield piece

    expected = hashlib.sha256()
    for piece in source():
        expected.update(piece)
    store.write_bytes("big/warm", b"w")  # imports and the client are a one-time cost, not the stream's
    tracemalloc.start()
    try:
        info = store.write_stream("big/file.bin", source())
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        sizes = []
        for chunk in store.open_read("big/file.bin"):
            got.update(chunk)
            sizes.append(len(chunk))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size and got.hexdigest() == expected.hexdigest()
    assert max(sizes) <= CHUNK and sum(sizes) == size
    assert write_peak < 40 * MiB, f"write_stream held {write_peak / MiB:.1f} MiB"
    assert read_peak < 24 * MiB, f"open_read held {read_peak / MiB:.1f} MiB"

    offset = 50 * MiB + 3
    tail = b"".join(store.open_read("big/file.bin", offset=offset))
    assert len(tail) == size - offset
    assert tail[:3] == bytes(
        ((offset + i) % (MiB - 7)) % 256 for i in range(3)
    )  # source pieces are 1 MiB - 7
    assert list(store.open_read("big/file.bin", offset=size)) == []
    with pytest.raises(DatastoreError, match="no file at"):
        list(store.open_read("big/missing.bin"))


def test_lease_is_exclusive_expires_and_cannot_be_renewed_once_taken(store):
    first = store.acquire_lease("leases/fp", "one", ttl=0.5)
    assert first is not None
    assert store.acquire_lease("leases/fp", "two", ttl=0.5) is None
    assert store.renew_lease(first) is True
    time.sleep(0.7)  # the holder stopped renewing, as a crashed one does
    second = store.acquire_lease("leases/fp", "two", ttl=5)
    assert second is not None
    assert store.renew_lease(first) is False
    store.release_lease(first)  # a stale holder's release does not free someone else's lease
    assert store.acquire_lease("leases/fp", "three", ttl=5) is None
    store.release_lease(second)
    third = store.acquire_lease("leases/fp", "three", ttl=5)
    assert third is not None
    store.delete("leases")  # deleting a leased lock file breaks its lease
    assert store.list("leases") == []


def test_a_wrong_key_names_the_datastore_and_keeps_the_key_secret(emulator, monkeypatch):
    wrong = (
        emulator.key[:-8] + ("A" * 7 if not emulator.key[-8:-1] == "A" * 7 else "B" * 7) + emulator.key[-1]
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_FILES_BAD", _connection(emulator.connection_string.replace(emulator.key, wrong))
    )
    store = FileShareStore("files_bad", "anyshare", name="lake_files")
    with pytest.raises(DatastoreError) as info:
        store.list("data")
    message = str(info.value)
    assert "'lake_files'" in message and "'files_bad'" in message and "AuthenticationFailed" in message
    assert wrong not in message and emulator.key not in message
    with pytest.raises(DatastoreError, match="refused"):
        store.write_bytes("x", b"y")


def test_a_missing_connection_is_named(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FILES_NONE", raising=False)
    store = FileShareStore("files_none", "s", name="lake_files")
    with pytest.raises(DatastoreError, match="connection 'files_none'"):
        store.list("x")


def test_emulator_answers_like_azure(emulator):
    """Protocol details our backend relies on: 4 MiB ranges, XML errors with codes, auth."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.storage.fileshare import ShareServiceClient

    share = ShareServiceClient.from_connection_string(emulator.connection_string).get_share_client("proto")
    share.create_share()
    f = share.get_file_client("f.bin")
    f.create_file(size=8 * MiB)
    with pytest.raises(HttpResponseError) as big:
        f.upload_range(b"x" * (4 * MiB + 1), 0, 4 * MiB + 1)
    assert big.value.status_code == 413
    with pytest.raises(HttpResponseError) as beyond:
        f.upload_range(b"x" * 10, 8 * MiB - 5, 10)
    assert beyond.value.error_code == "InvalidRange"
    with pytest.raises(ResourceNotFoundError) as missing:
        share.get_file_client("no/such/file").create_file(size=1)
    assert missing.value.error_code == "ParentNotFound"
    forged = emulator.connection_string.replace(emulator.key, "QUJD" + emulator.key[4:])
    with pytest.raises(ClientAuthenticationError) as denied:
        ShareServiceClient.from_connection_string(forged).get_share_client("proto").get_share_properties()
    assert denied.value.status_code == 403 and denied.value.error_code == "AuthenticationFailed"


# server-side copies (readable_url, copy_from_url, move) --------------------------------------


def test_move_replaces_the_destination_and_removes_the_source(store):
    store.write_bytes(".mlpipe-transfer/k/out/f.txt", b"new")
    store.write_bytes("out/f.txt", b"old")
    moved = store.move(".mlpipe-transfer/k/out/f.txt", "out/f.txt")
    assert moved == store.stat("out/f.txt") and store.read_bytes("out/f.txt") == b"new"
    assert store.stat(".mlpipe-transfer/k/out/f.txt") is None
    store.write_bytes(".mlpipe-transfer/k/g.txt", b"g")
    assert store.move(".mlpipe-transfer/k/g.txt", "brand/new/g.txt").size == 1  # folders made
    assert store.read_bytes("brand/new/g.txt") == b"g"
    with pytest.raises(DatastoreError, match="cannot move .*no such file"):
        store.move(".mlpipe-transfer/k/none", "out/none")


def test_the_read_url_is_a_read_only_file_sas_the_service_verifies(store, emulator):
    import datetime as dt

    import requests
    from azure.storage.fileshare import generate_file_sas

    store.write_bytes("in/r.bin", b"readable")
    url = store.readable_url("in/r.bin")
    assert requests.get(url, timeout=10).content == b"readable"
    put = requests.put(url, headers={"x-ms-type": "file", "x-ms-content-length": "1"}, timeout=10)
    assert put.status_code == 403 and put.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    base, expiry = url.split("?")[0], dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    signed = dict(account_key=emulator.key, expiry=expiry)
    write_only = generate_file_sas(emulator.account, store.share, ["in", "r.bin"], permission="w", **signed)
    other_path = generate_file_sas(emulator.account, store.share, ["in", "x.bin"], permission="r", **signed)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    expired = generate_file_sas(emulator.account, store.share, ["in", "r.bin"], emulator.key, "r", past)
    codes = [
        requests.get(f"{base}?{sas}", timeout=10).headers["x-ms-error-code"]
        for sas in (write_only, other_path, expired, "sv=2025-01-05&sp=r&sr=f")
    ]
    assert codes == ["AuthorizationPermissionMismatch"] + ["AuthenticationFailed"] * 3


def test_a_copy_that_does_not_finish_in_time_is_aborted(tmp_path, monkeypatch, store):
    slow = start_file_emulator(tmp_path / "slow", copy_delay=30)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SLOW_FILES", _connection(slow.connection_string))
        dst = FileShareStore("slow_files", "slow", name="slow")
        dst.copy_timeout = 1.0
        store.write_bytes("in/t.bin", b"tick")
        source = store.stat("in/t.bin")
        with pytest.raises(
            DatastoreError, match="copy of t: the service's copy did not finish within 1s and was aborted"
        ):
            dst.copy_from_url(store.readable_url("in/t.bin"), "t/t.bin", source, "copy of t")
        props = dst._properties("t/t.bin")
        assert props.copy.status == "aborted" and props.size == 0
        assert [e["source"].rsplit("/", 2)[1:] for e in slow.events("copy-fetch")] in ([], [["in", "t.bin"]])
    finally:
        slow.stop()
