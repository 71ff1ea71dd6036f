"""AdlsGen2Store through the Azure provider's hook and the official SDK, against the DFS emulator."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.adls import AdlsGen2Store

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devaccount"
KEY = base64.b64encode(b"emulator-account-key-for-tests-only-0123456789").decode()
MiB = 1024 * 1024


@pytest.fixture
def dfs(tmp_path):
    """The emulator in its own process group on a free loopback port (small listing pages); killed
    when the test ends, and gone with this process even when the test run itself is killed."""
    from storage_emulators.dfs import start_dfs_emulator

    emu = start_dfs_emulator(tmp_path / "dfs", KEY, account=ACCOUNT, page_size=7)
    try:
        yield emu.url
    finally:
        emu.stop()


def connect(monkeypatch, url: str, conn_id: str = "lake", key: str = KEY) -> None:
    conn = {"conn_type": "adls", "host": ACCOUNT, "password": key, "extra": {"account_url": url}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def store(dfs, monkeypatch):
    connect(monkeypatch, dfs)
    return AdlsGen2Store("lake", "data", name="lake")


def test_every_store_method_round_trips(store, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("x,y\n1,2\n")
    (src / "b.txt").write_text("22")
    (src / "empty").write_bytes(b"")
    (src / "sub" / "c.csv").write_text("333")
    listed = store.upload_dir(src, "set")
    assert [(f.path, f.size) for f in listed] == [
        ("set/a.csv", 8), ("set/b.txt", 2), ("set/empty", 0), ("set/sub/c.csv", 3)
    ]  # fmt: skip
    assert all(store.stat(f.path) == f for f in listed)  # listings and properties agree
    assert [rel for _, rel in store.resolve("set/**/*.csv")] == ["a.csv", "sub/c.csv"]
    assert store.exists("set") and store.exists("set/sub/c.csv") and not store.exists("set/nope")
    assert store.list("set/b.txt") == [store.stat("set/b.txt")]
    assert store.stat("set/sub") is None and store.stat("nothing") is None

    out = tmp_path / "out"
    store.download("set", out)
    assert (out / "sub" / "c.csv").read_text() == "333" and (out / "empty").read_bytes() == b""

    odd = "odd names/with space/ü+%#=&.txt"  # signed and routed percent-encoded
    store.write_bytes(odd, b"odd")
    assert store.read_bytes(odd) == b"odd" and [f.path for f in store.list("odd names")] == [odd]
    store.write_bytes("small/obj.json", b'{"a": 1}')
    assert store.read_bytes("small/obj.json") == b'{"a": 1}'
    assert store.read_bytes("small/none.json") is None

    store.delete("set/sub")
    assert [f.path for f in store.list("set")] == ["set/a.csv", "set/b.txt", "set/empty"]
    store.delete("set/a.csv")
    store.delete("set/never-there")
    assert [f.path for f in store.list("set")] == ["set/b.txt", "set/empty"]
    assert store.location("set/b.txt") == "abfss://data@devaccount/set/b.txt"


def test_upload_keeps_unchanged_files_and_respects_overwrite(store, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("one")
    assert store.upload_file(f, "keep/v.txt") is True
    first = store.stat("keep/v.txt")
    assert store.upload_file(f, "keep/v.txt") is False  # same bytes: nothing written
    assert store.stat("keep/v.txt") == first
    f.write_text("two")
    assert store.upload_file(f, "keep/v.txt", overwrite=False) is False
    assert store.read_bytes("keep/v.txt") == b"one"
    assert store.upload_file(f, "keep/v.txt") is True
    assert store.read_bytes("keep/v.txt") == b"two" and store.stat("keep/v.txt").etag != first.etag
    with pytest.raises(DatastoreError, match="exists already"):
        store.write_stream("keep/v.txt", [b"three"], overwrite=False)
    assert store.read_bytes("keep/v.txt") == b"two"
    with pytest.raises(DatastoreError, match=r"publish 'keep' failed with HTTP 409 DirectoryNotEmpty"):
        store.upload_file(f, "keep")  # a folder that holds files is not replaced by a file
    assert not [p.name for p in store.client.get_paths(recursive=True) if ".mlpipe-tmp-" in p.name]


def test_listing_follows_continuations_and_hides_writes_in_progress(store):
    for i in range(20):  # the emulator pages 7 paths at a time
        store.write_bytes(f"many/d{i % 3}/f{i:02d}", str(i).encode())
    file = store.client.get_file_client("many/d0/.mlpipe-tmp-x-f99")
    file.create_file()
    file.append_data(b"partial", offset=0, length=7)  # a writer that died before its flush
    listed = store.list("many")
    assert len(listed) == 20 and all(".mlpipe-tmp-" not in f.path for f in listed)
    assert [f.path for f in store.list("many/d1")] == [f"many/d1/f{i:02d}" for i in range(1, 20, 3)]


def test_a_stream_is_invisible_until_complete_and_a_failed_one_leaves_nothing(store):
    store.write_bytes("out/model.bin", b"old")
    seen: list[bytes | None] = []

    def chunks():
        yield b"n" * (5 * MiB)  # one append already sent
        seen.append(store.read_bytes("out/model.bin"))
        yield b"e" * MiB

    info = store.write_stream("out/model.bin", chunks())
    assert seen == [b"old"] and info.size == 6 * MiB and store.stat("out/model.bin") == info

    def failing():
        yield b"x" * (5 * MiB)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        store.write_stream("out/other.bin", failing())
    assert store.stat("out/other.bin") is None
    assert [p.name for p in store.client.get_paths(path="out", recursive=True)] == ["out/model.bin"]


def test_streaming_holds_bounded_memory(store, tmp_path):
    size = 48 * MiB
    piece = bytes(range(256)) * 4096  # 1 MiB
    store.write_bytes("big/warm", b"w")  # clients built and modules imported before measuring
    assert b"".join(store.open_read("big/warm")) == b"w"

    tracemalloc.start()
    try:
        info = store.write_stream("big/blob.bin", (piece for _ in range(size // MiB)))
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total, first = 0, None
        for chunk in store.open_read("big/blob.bin"):
            first = first or chunk[:4]
            total += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size and total == size and first == piece[:4]
    assert write_peak < 20 * MiB and read_peak < 20 * MiB, (write_peak, read_peak)
    tail = b"".join(store.open_read("big/blob.bin", offset=size - 10))
    assert tail == piece[-10:]

    local = tmp_path / "big.bin"
    local.write_bytes(piece * 9)  # 9 MiB: parallel appends of 4 MiB chunks
    assert store.upload_file(local, "big/up.bin") is True
    store.download_file("big/up.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == local.read_bytes()


def test_leases_are_exclusive_and_renewable(store):
    held = store.acquire_lease("locks/step", "worker-1", ttl=30)
    assert held is not None
    assert store.acquire_lease("locks/step", "worker-2", ttl=30) is None
    assert store.renew_lease(held) is True
    store.release_lease(held)
    other = store.acquire_lease("locks/step", "worker-2", ttl=30)
    assert other is not None and store.renew_lease(held) is False
    store.release_lease(other)


def test_concurrent_writers_of_one_path_leave_one_whole_version(store):
    def write(tag: bytes) -> None:
        store.write_stream("race/f", (tag * MiB for _ in range(5)))

    threads = [threading.Thread(target=write, args=(t,)) for t in (b"a", b"b", b"c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = store.read_bytes("race/f")
    assert len(data) == 5 * MiB and len(set(data)) == 1


def test_a_wrong_key_names_the_datastore_and_hides_the_key(dfs, monkeypatch, caplog, capsys):
    # the SDK's HTTP log, where the refusal shows; the Azure provider's WasbHook lowers it to WARNING
    # for the whole process once any Blob hook was made, so this test sets the level it reads
    caplog.set_level(logging.INFO, logger="azure.core.pipeline.policies.http_logging_policy")
    wrong = base64.b64encode(b"not-the-account-key").decode()
    connect(monkeypatch, dfs, "badlake", key=wrong)
    store = AdlsGen2Store("badlake", "data", name="lake")
    with pytest.raises(DatastoreError) as err:
        store.list("anything")
    text = str(err.value)
    assert "ADLS Gen2 datastore 'lake'" in text and "'badlake'" in text and "AuthenticationFailed" in text
    assert wrong not in text and KEY not in text
    assert wrong not in repr(store)
    logged = caplog.text + "".join(capsys.readouterr())
    assert "AuthenticationFailed" in logged and wrong not in logged and KEY not in logged


def test_a_missing_connection_names_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    with pytest.raises(DatastoreError, match="connection 'nowhere'"):
        AdlsGen2Store("nowhere", "data").list("x")


def test_emulator_speaks_azure_errors(dfs, monkeypatch):
    """The protocol the SDK relies on: flush makes data visible, errors carry Azure's codes."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    connect(monkeypatch, dfs)
    fs = AdlsGen2Store("lake", "raw").client
    fs.create_file_system()
    f = fs.get_file_client("d/f.txt")
    f.create_file()
    f.append_data(b"hello", offset=0, length=5)
    assert f.get_file_properties().size == 0  # appended, not flushed
    with pytest.raises(HttpResponseError) as gap:
        f.flush_data(9)
    assert gap.value.error_code == "InvalidFlushPosition"
    f.flush_data(5)
    assert f.download_file().readall() == b"hello"
    assert f.download_file(offset=1, length=3).readall() == b"ell"
    with pytest.raises(ResourceNotFoundError) as missing:
        fs.get_file_client("d/none").download_file()
    assert missing.value.error_code == "BlobNotFound"
    with pytest.raises(HttpResponseError) as not_empty:
        fs.get_file_client("d").delete_file()  # not recursive
    assert not_empty.value.error_code == "DirectoryNotEmpty"
    fs.get_directory_client("d").delete_directory()  # recursive
    with pytest.raises(ResourceNotFoundError) as gone:
        f.delete_file()
    assert gone.value.error_code == "PathNotFound"


def test_an_expired_lease_is_taken_and_its_holder_cannot_renew(store):
    import time

    held = store.acquire_lease("locks/slow", "worker-1", ttl=15)  # Azure's shortest lease
    assert held is not None and store.acquire_lease("locks/slow", "worker-2", ttl=15) is None
    time.sleep(15.5)
    taker = store.acquire_lease("locks/slow", "worker-2", ttl=15)
    assert taker is not None and store.renew_lease(held) is False and store.renew_lease(taker) is True


# server-side copies (readable_url, copy_from_url, move) --------------------------------------


@pytest.fixture
def share(tmp_path, monkeypatch):
    """An Azure Files datastore on the Files emulator (its own process group; stopped after)."""
    from storage_emulators.files import start_file_emulator

    from airflow_mlpipe.storage.fileshare import FileShareStore

    emu = start_file_emulator(tmp_path / "files")
    conn = {"conn_type": "azure_fileshare", "extra": {"connection_string": emu.connection_string}}
    monkeypatch.setenv("AIRFLOW_CONN_SHARE", json.dumps(conn))
    try:
        yield emu, FileShareStore("share", "data", name="share")
    finally:
        emu.stop()


def _events(tmp_path: Path, event: str) -> list[dict]:
    from storage_emulators.copying import read_events

    return read_events(tmp_path / "dfs", event)


def test_adls_to_files_and_back_the_services_move_the_bytes(store, share, tmp_path):
    import hashlib

    emu, files = share
    data = os.urandom(3 * MiB + 5)
    store.write_bytes("in/a.bin", data)
    source, what = store.stat("in/a.bin"), "copy of in/a.bin for step 'move_data'"
    got = files.copy_from_url(store.readable_url("in/a.bin"), ".mlpipe-transfer/k1/out/a.bin", source, what)
    assert got == files.stat(".mlpipe-transfer/k1/out/a.bin") and got.size == len(data)
    assert files.read_bytes(".mlpipe-transfer/k1/out/a.bin") == data
    # the Files service fetched the bytes from the DFS endpoint with the SAS, not this worker
    assert [(e["source"].split("/", 3)[3], e["bytes"]) for e in emu.events("copy-fetch")] == [
        (f"{ACCOUNT}/data/in/a.bin", len(data))
    ]
    assert [(e["path"], e["method"]) for e in _events(tmp_path, "sas-read")] == [("data/in/a.bin", "GET")]
    digest = files._properties(".mlpipe-transfer/k1/out/a.bin").content_settings.content_md5
    assert bytes(digest) == hashlib.md5(data).digest()  # Copy File kept the source's Content-MD5

    url = files.readable_url(".mlpipe-transfer/k1/out/a.bin")
    back = store.copy_from_url(url, ".mlpipe-transfer/k2/back/a.bin", got, what)
    assert back == store.stat(".mlpipe-transfer/k2/back/a.bin")
    assert store.read_bytes(".mlpipe-transfer/k2/back/a.bin") == data
    assert [e["source"].split("/", 3)[3] for e in _events(tmp_path, "copy-fetch")] == [
        "devstoreaccount1/data/.mlpipe-transfer/k1/out/a.bin"
    ]
    assert [e["path"] for e in emu.events("sas-read")] == ["data/.mlpipe-transfer/k1/out/a.bin"]

    # verification: a copy whose size or MD5 differs from what the source said is an error
    wrong_size = type(source)(source.path, source.size + 1, source.etag)
    with pytest.raises(
        DatastoreError, match=f"{what}: the service copied {len(data)} bytes of {len(data) + 1}"
    ):
        files.copy_from_url(store.readable_url("in/a.bin"), "x/a.bin", wrong_size, what)
    wrong_md5 = type(source)(source.path, source.size, "md5-" + "0" * 32)
    with pytest.raises(DatastoreError, match="Content-MD5 differs"):
        store.copy_from_url(files.readable_url("x/a.bin"), "x/a.bin", wrong_md5, what)
    right_md5 = type(source)(source.path, source.size, "md5-" + hashlib.md5(data).hexdigest())
    assert store.copy_from_url(files.readable_url("x/a.bin"), "y/a.bin", right_md5, what).size == len(data)


def test_a_bad_expired_or_unsigned_source_url_fails_naming_the_copy_without_secrets(store, share, tmp_path):
    import datetime as dt
    import re
    from urllib.parse import quote

    from azure.storage.filedatalake import generate_file_sas

    emu, files = share
    store.write_bytes("in/a.bin", b"payload")
    source, url = store.stat("in/a.bin"), store.readable_url("in/a.bin")
    forged = re.sub(r"sig=[^&]+", "sig=" + quote(base64.b64encode(b"f" * 32).decode(), safe=""), url)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    expired = url.split("?")[0] + "?" + generate_file_sas(ACCOUNT, "data", "in", "a.bin", KEY, "r", past)
    what = "copy of in/a.bin for step 'move_data'"
    for bad in (forged, expired, url.split("?")[0]):
        with pytest.raises(DatastoreError) as info:
            files.copy_from_url(bad, "out/a.bin", source, what)
        text = str(info.value)
        assert text.startswith(what) and "CannotVerifyCopySource" in text
        assert "sig=" not in text and "se=" not in text and KEY not in text and emu.key not in text
    assert [e["code"] for e in _events(tmp_path, "sas-refused")] == ["AuthenticationFailed"] * 2
    assert files.stat("out/a.bin") is None and emu.events("copy-fetch") == []


def test_the_read_url_is_a_read_only_sas_the_endpoint_verifies(store):
    import requests

    store.write_bytes("in/r.bin", b"readable")
    url = store.readable_url("in/r.bin")
    assert requests.get(url, timeout=10).content == b"readable"
    put = requests.put(url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10)
    assert put.status_code == 403 and put.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    other = url.replace("/in/r.bin?", "/in/other.bin?")  # signed for another path
    assert requests.get(other, timeout=10).headers["x-ms-error-code"] == "AuthenticationFailed"


def test_move_replaces_the_destination_and_removes_the_source(store):
    store.write_bytes(".mlpipe-transfer/k/out/f.txt", b"new")
    store.write_bytes("out/f.txt", b"old")
    moved = store.move(".mlpipe-transfer/k/out/f.txt", "out/f.txt")
    assert moved == store.stat("out/f.txt") and store.read_bytes("out/f.txt") == b"new"
    assert store.stat(".mlpipe-transfer/k/out/f.txt") is None
    store.write_bytes(".mlpipe-transfer/k/g.txt", b"g")
    assert store.move(".mlpipe-transfer/k/g.txt", "brand/new/folder/g.txt").size == 1  # parents made
    assert store.read_bytes("brand/new/folder/g.txt") == b"g"
    with pytest.raises(DatastoreError, match="cannot move .*no such file"):
        store.move(".mlpipe-transfer/k/none", "out/none")


def test_a_copy_that_does_not_finish_in_time_is_aborted(store, tmp_path, monkeypatch):
    from storage_emulators.dfs import start_dfs_emulator

    slow = start_dfs_emulator(tmp_path / "slow", KEY, copy_delay=30)
    try:
        connect(monkeypatch, slow.url, conn_id="slowlake")
        dst = AdlsGen2Store("slowlake", "data")
        dst.copy_timeout = 1.0
        store.write_bytes("in/t.bin", b"tick")
        with pytest.raises(
            DatastoreError, match="copy of t: the service's copy did not finish within 1s and was aborted"
        ):
            dst.copy_from_url(store.readable_url("in/t.bin"), "t/t.bin", store.stat("in/t.bin"), "copy of t")
        props = dst.blob_service.get_blob_client("data", "t/t.bin").get_blob_properties()
        assert props.copy.status == "aborted" and props.size == 0
    finally:
        slow.stop()
