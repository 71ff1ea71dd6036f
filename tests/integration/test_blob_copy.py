"""Server-side copies between Blob datastores on a real Azurite (Copy Blob with a read-only SAS,
polled to completion, staged and moved into place)."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobServiceClient

from airflow_mlpipe.exceptions import DatastoreError
from airflow_mlpipe.storage.blob import BlobStore
from airflow_mlpipe.storage.blob_copy import copy_between, source_url

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
    seen = []
    out = copy_between(
        src,
        [(f"in/{rel}", f"out/{rel}") for rel in files],
        dst,
        progress=lambda n, b: seen.append((n, b)),
    )
    assert sorted(f.path for f in out) == ["out/a.csv", "out/sub/b.bin"]
    for rel, data in files.items():
        assert dst.read_bytes(f"out/{rel}") == data
    assert seen[-1] == (2, sum(len(d) for d in files.values()))
    assert [f.path for f in dst.list("")] == ["out/a.csv", "out/sub/b.bin"]  # no staging left


def test_a_failed_transfer_leaves_no_destination(stores, tmp_path):
    src, dst = stores
    (tmp_path / "one.txt").write_text("one")
    src.upload_file(tmp_path / "one.txt", "in/one.txt")
    with pytest.raises(DatastoreError, match="nothing at wasb://src-.*/in/missing.txt"):
        copy_between(src, [("in/one.txt", "out/one.txt"), ("in/missing.txt", "out/missing.txt")], dst)
    assert dst.list("") == []  # the first file was staged, never placed, and the staging is gone


def test_the_source_url_is_a_read_only_sas_that_works(stores, tmp_path):
    from urllib.parse import parse_qs, urlsplit

    import requests

    src, _ = stores
    (tmp_path / "f").write_text("data")
    src.upload_file(tmp_path / "f", "f")
    url = source_url(src, "f")
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"] and "se" in query and "sig" in query
    assert requests.get(url, timeout=10).content == b"data"
    assert (
        requests.put(url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403
    )
    assert requests.get(url.split("?")[0], timeout=10).status_code in (401, 403, 404)


def test_streamed_copies_between_local_and_blob_both_ways(stores, tmp_path):
    from airflow_mlpipe.storage.local import LocalStore
    from airflow_mlpipe.storage.stream_copy import stream_copy

    src, dst = stores
    local = LocalStore(tmp_path / "local")
    data = {"big.bin": bytes(range(256)) * 40000, "small.txt": b"hello", "empty": b""}  # 10 MB: 3 blocks
    for name, content in data.items():
        local.write_stream(f"in/{name}", [content])
    up = stream_copy(local, [(f"in/{n}", f"up/{n}") for n in data], dst)
    assert sorted((f.path, f.size) for f in up) == sorted((f"up/{n}", len(c)) for n, c in data.items())
    for name, content in data.items():
        assert dst.read_bytes(f"up/{name}") == content
        assert dst.stat(f"up/{name}").etag.startswith("md5-")  # committed with its Content-MD5
    seen = []
    stream_copy(dst, [(f"up/{n}", f"down/{n}") for n in data], local, progress=lambda f, b: seen.append(f))
    for name, content in data.items():
        assert (tmp_path / "local" / "down" / name).read_bytes() == content
    assert sorted(seen) == [1, 2, 3]


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
