"""AdlsGen2Store through the Azure provider's hook and the official SDK, against the DFS emulator."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
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
    """The emulator in its own process group on a free loopback port; killed when the test ends."""
    env = {**os.environ, "DFS_EMULATOR_KEY": KEY, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "tests.storage_emulators.dfs",
        "--root",
        str(tmp_path / "dfs"),
        "--page-size",
        "7",
        "--exit-with-stdin",  # gone even when the test run itself is killed
    ]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, text=True, **pipes)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"the emulator did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}/{ACCOUNT}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stdin.close()


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
