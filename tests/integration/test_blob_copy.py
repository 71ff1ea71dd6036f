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
