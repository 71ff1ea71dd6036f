"""Server-side copies on a real Azurite (Copy Blob with a read-only SAS, polled to completion,
staged and moved into place), and from Azurite into the ADLS Gen2 and Azure Files emulators (the
destination service fetches the SAS URL itself)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
from urllib.parse import quote

import pytest
from azure.storage.blob import BlobServiceClient
from azurite_server import DEV_KEY

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.base import FileInfo
from airflow_mlpipe.storage.blob import BlobStore
from airflow_mlpipe.storage.blob_copy import source_url
from airflow_mlpipe.storage.transfer_copy import copy_files

pytestmark = pytest.mark.integration


@pytest.fixture
def stores(azurite, request):
    service = BlobServiceClient.from_connection_string(azurite)
    name = request.node.name.replace("_", "-")[:40].strip("-").lower()
    src = BlobStore("unused", f"src-{name}", service_client=service)
    dst = BlobStore("unused", f"dst-{name}", service_client=service)
    return src, dst


def test_a_folder_is_copied_by_the_service_and_verified(stores, tmp_path):
    src, dst = stores
    files = {"a.csv": b"x,y\n1,2\n", "sub/b.bin": bytes(range(256)) * 5000}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
        src.upload_file(tmp_path / rel, f"in/{rel}")
    out, report = copy_files(src, [(f"in/{rel}", f"out/{rel}") for rel in files], dst, key="t")
    assert sorted(f.path for f in out) == ["out/a.csv", "out/sub/b.bin"]
    for rel, data in files.items():
        assert dst.read_bytes(f"out/{rel}") == data
    assert (report.files, report.bytes, report.server_side) == (2, sum(len(d) for d in files.values()), 2)
    assert [f.path for f in dst.list("")] == ["out/a.csv", "out/sub/b.bin"]  # no staging left


def test_a_failed_transfer_leaves_no_destination(stores, tmp_path):
    src, dst = stores
    (tmp_path / "one.txt").write_text("one")
    src.upload_file(tmp_path / "one.txt", "in/one.txt")
    with pytest.raises(DatastoreError, match="nothing at wasb://src-.*/in/missing.txt"):
        copy_files(src, [("in/one.txt", "out/one.txt"), ("in/missing.txt", "out/missing.txt")], dst, key="t")
    assert dst.list("") == []  # the first file was staged, never placed, and the staging is gone


def test_the_source_url_is_a_read_only_sas_that_works(stores, tmp_path):
    from urllib.parse import parse_qs, urlsplit

    import requests

    src, _ = stores
    (tmp_path / "f").write_text("data")
    src.upload_file(tmp_path / "f", "f")
    url = source_url(src, "f")
    assert src.readable_url("f").split("?")[0] == url.split("?")[0]
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"] and "se" in query and "sig" in query
    assert requests.get(url, timeout=10).content == b"data"
    assert (
        requests.put(url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403
    )
    assert requests.get(url.split("?")[0], timeout=10).status_code in (401, 403, 404)


def test_streamed_copies_between_local_and_blob_both_ways(stores, tmp_path):
    from airflow_mlpipe.storage.local import LocalStore

    src, dst = stores
    local = LocalStore(tmp_path / "local")
    data = {"big.bin": bytes(range(256)) * 40000, "small.txt": b"hello", "empty": b""}  # 10 MB: 3 blocks
    for name, content in data.items():
        local.write_stream(f"in/{name}", [content])
    up, report = copy_files(local, [(f"in/{n}", f"up/{n}") for n in data], dst, key="t")
    assert report.streamed == 3  # a local folder has no URL a service could fetch
    assert sorted((f.path, f.size) for f in up) == sorted((f"up/{n}", len(c)) for n, c in data.items())
    for name, content in data.items():
        assert dst.read_bytes(f"up/{name}") == content
        assert dst.stat(f"up/{name}").etag.startswith("md5-")  # committed with its Content-MD5
    seen: list[str] = []
    _, report = copy_files(
        dst, [(f"up/{n}", f"down/{n}") for n in data], local, key="t", say=lambda f, *a: seen.append(f % a)
    )
    for name, content in data.items():
        assert (tmp_path / "local" / "down" / name).read_bytes() == content
    assert report.streamed == 3 and seen[-1].startswith("copy: 3/3 files")


def test_an_interrupted_stream_leaves_nothing_visible(stores, tmp_path):
    from airflow_mlpipe.storage.local import LocalStore

    _, dst = stores
    local = LocalStore(tmp_path / "local")

    def broken():
        yield b"x" * (5 * 1024 * 1024)  # one block staged...
        raise ConnectionError("source went away")

    for store in (dst, local):
        with pytest.raises(ConnectionError):
            store.write_stream("half/file.bin", broken())
        assert store.stat("half/file.bin") is None and store.list("half") == []


# Blob -> ADLS Gen2 and Azure Files: the destination emulator fetches the Azurite SAS URL ---------

LAKE_KEY = base64.b64encode(b"emulator-account-key-for-tests-only-0123456789").decode()
MiB = 1024 * 1024


@pytest.fixture
def lakes(tmp_path):
    """An ADLS Gen2 and an Azure Files datastore on their emulators (own process groups)."""
    from azure.storage.filedatalake import DataLakeServiceClient
    from azure.storage.fileshare import ShareServiceClient
    from storage_emulators.dfs import start_dfs_emulator
    from storage_emulators.files import start_file_emulator

    from airflow_mlpipe.storage.adls import AdlsGen2Store
    from airflow_mlpipe.storage.fileshare import FileShareStore

    dfs = start_dfs_emulator(tmp_path / "dfs", LAKE_KEY)
    files = start_file_emulator(tmp_path / "files")
    try:
        lake = DataLakeServiceClient(
            dfs.url, credential={"account_name": "devaccount", "account_key": LAKE_KEY}
        )
        share = ShareServiceClient.from_connection_string(files.connection_string)
        yield {
            "adls": (dfs, AdlsGen2Store("-", "data", service_client=lake)),
            "files": (files, FileShareStore("-", "data", service_client=share)),
        }
    finally:
        dfs.stop()
        files.stop()


def test_blob_to_adls_and_files_is_copied_by_the_destination_service(stores, lakes):
    src, _ = stores
    data = os.urandom(2 * MiB + 3)
    src.write_stream("in/a.bin", [data])  # committed with its Content-MD5
    source = src.stat("in/a.bin")
    assert source.etag.startswith("md5-")
    what = "copy of in/a.bin for step 'to_lake'"
    for emu, dst in lakes.values():
        got = dst.copy_from_url(src.readable_url("in/a.bin"), ".mlpipe-transfer/k/a.bin", source, what)
        assert got == dst.stat(".mlpipe-transfer/k/a.bin") and got.size == len(data)
        assert dst.read_bytes(".mlpipe-transfer/k/a.bin") == data
        fetched = emu.events("copy-fetch")  # the service fetched it from Azurite, not this worker
        assert [(e["source"], e["bytes"]) for e in fetched] == [
            (src.client.get_blob_client("in/a.bin").url, len(data))
        ]
        wrong = FileInfo(source.path, source.size, "md5-" + "0" * 32)
        with pytest.raises(DatastoreError, match=f"{what}: the copy's Content-MD5 differs"):
            dst.copy_from_url(src.readable_url("in/a.bin"), "x/a.bin", wrong, what)
        assert dst.move(".mlpipe-transfer/k/a.bin", "out/a.bin").size == len(data)
        assert dst.read_bytes("out/a.bin") == data and dst.stat(".mlpipe-transfer/k/a.bin") is None


def test_a_forged_or_expired_blob_sas_fails_naming_the_copy_without_secrets(stores, lakes):
    from azure.storage.blob import generate_blob_sas

    src, _ = stores
    src.write_stream("in/s.bin", [b"secret-free"])
    source, url = src.stat("in/s.bin"), src.readable_url("in/s.bin")
    forged = re.sub(r"sig=[^&]+", "sig=" + quote(base64.b64encode(b"f" * 32).decode(), safe=""), url)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    sas = generate_blob_sas(
        "devstoreaccount1", src.container, "in/s.bin", account_key=DEV_KEY, permission="r", expiry=past
    )
    expired = f"{url.split('?')[0]}?{sas}"
    what = "copy of in/s.bin for step 'to_lake'"
    for emu, dst in lakes.values():
        for bad in (forged, expired):
            with pytest.raises(DatastoreError) as info:
                dst.copy_from_url(bad, "out/s.bin", source, what)
            text = str(info.value)
            assert text.startswith(what) and "CannotVerifyCopySource" in text
            assert "sig=" not in text and DEV_KEY not in text and LAKE_KEY not in text
        assert emu.events("copy-fetch") == [] and dst.stat("out/s.bin") is None


def test_azurite_copies_only_within_itself_and_moves_replace(stores, lakes):
    src, dst = stores
    src.write_stream("in/b.bin", [b"blob to blob"])
    source = src.stat("in/b.bin")
    for _, lake in lakes.values():
        lake.write_bytes("in/f.bin", b"foreign")
        foreign = lake.readable_url("in/f.bin")
        assert dst.copy_from_url(foreign, "x/f.bin", lake.stat("in/f.bin"), "copy of in/f.bin") is None
    got = dst.copy_from_url(
        src.readable_url("in/b.bin"), ".mlpipe-transfer/k/b.bin", source, "copy of in/b.bin"
    )
    assert got.etag == source.etag and dst.read_bytes(".mlpipe-transfer/k/b.bin") == b"blob to blob"
    dst.write_bytes("out/b.bin", b"old")
    moved = dst.move(".mlpipe-transfer/k/b.bin", "out/b.bin")
    assert moved == dst.stat("out/b.bin") and dst.read_bytes("out/b.bin") == b"blob to blob"
    assert dst.stat(".mlpipe-transfer/k/b.bin") is None
    with pytest.raises(DatastoreError, match="cannot move .*no such blob"):
        dst.move(".mlpipe-transfer/k/none", "out/none")
