"""Web (http/https) files: fingerprints, the cache and its failure modes, against a real loopback
HTTP server (tests/web_server.py)."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from pathlib import Path

import pytest
import requests
from web_server import serve_folder

from airflow_mlpipe.exceptions import DatastoreError, UserErrorException
from airflow_mlpipe.storage import web

SECRET = "s3cr3tSIG"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(web, "RETRY_WAIT", 0.01)


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "iris.csv").write_text("sepal,petal\n1,2\n3,4\n")
    with serve_folder(folder) as server:
        yield folder, server


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _everything_shown(exc: BaseException) -> str:
    """The printed traceback plus every chained exception's message (what a log or an error
    tracker may show)."""
    text = "".join(traceback.format_exception(exc))
    while exc is not None:
        text += repr(exc)
        exc = exc.__cause__ or exc.__context__
    return text


# --- URLs ---------------------------------------------------------------------------------------


def test_is_url_and_check_url():
    assert web.is_url("https://example.org/a.csv")
    assert web.is_url("  HTTP://example.org/a.csv")
    assert not web.is_url("ftp://example.org/a.csv")
    assert not web.is_url("data/a.csv")
    assert not web.is_url(None)
    assert web.check_url(" HTTPS://Example.ORG:8443/a b.csv#frag ") == "https://example.org:8443/a%20b.csv"
    assert web.check_url("http://example.org") == "http://example.org/"
    with pytest.raises(UserErrorException, match="scheme 'ftp'.*only http:// and https://"):
        web.check_url("ftp://example.org/a.csv")
    with pytest.raises(UserErrorException, match="scheme '\\(none\\)'"):
        web.check_url("data/a.csv")
    with pytest.raises(UserErrorException, match="no host"):
        web.check_url("https:///a.csv")
    with pytest.raises(UserErrorException, match="malformed"):
        web.check_url("http://example.org:notaport/a.csv")
    with pytest.raises(UserErrorException, match="http:// or https:// URL"):
        web.check_url("")


def test_check_url_error_hides_credentials():
    with pytest.raises(UserErrorException) as err:
        web.check_url(f"wasbs://user:pw@acct.blob.example/c/a.csv?sv=1&sig={SECRET}")
    assert SECRET not in str(err.value) and "pw" not in str(err.value)
    assert "acct.blob.example/c/a.csv" in str(err.value)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://h/data/iris.csv", "iris.csv"),
        ("https://h/data/iris.csv?sv=1&sig=x", "iris.csv"),
        ("https://h/data/my%20file.csv", "my file.csv"),
        ("https://h/data/", "index"),
        ("https://h", "index"),
        ("https://h/a/..", "index"),
        ("https://h/a/%2E%2E", "index"),
        ("https://h/a/..%2F..%2Fetc%2Fpasswd", "._._etc_passwd"),
        ("https://h/a/b%5Cc", "b_c"),
        ("https://h/a/x..csv", "x.csv"),
        ("https://h/a/nul%00byte", "nul_byte"),
    ],
)
def test_url_file_name(url, name):
    got = web.url_file_name(url)
    assert got == name
    assert "/" not in got and "\\" not in got and ".." not in got


def test_url_file_name_long_keeps_extension():
    got = web.url_file_name("https://h/" + "x" * 400 + ".parquet")
    assert got.endswith(".parquet") and len(got.encode()) <= 200


def test_redact_url():
    assert web.redact_url(f"https://u:p@h/c/a.csv?sv=2022&se=2030&sp=r&sig={SECRET}") == "https://h/c/a.csv"
    assert web.redact_url(f"https://h/a.csv?versionid=3&sv=1&sig={SECRET}") == "https://h/a.csv?versionid=3"
    assert web.redact_url(f"https://h/a?token={SECRET}&x=1") == "https://h/a?token=REDACTED&x=1"
    assert web.redact_url("https://h/a.csv?x=1&y=%20") == "https://h/a.csv?x=1&y=%20"  # untouched
    assert SECRET not in web.scrub(f"failed: GET https://u:pw@h/a?sig={SECRET}&sv=1 (reason)")


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_with_etag_uses_head_and_changes_with_content(site):
    folder, server = site
    fp = web.fingerprint(server.url("iris.csv"))
    assert set(fp) == {"url", "etag", "size", "last_modified"}
    assert fp["url"] == server.url("iris.csv") and fp["size"] == len((folder / "iris.csv").read_bytes())
    assert server.requests == [("HEAD", "/iris.csv")]
    assert web.fingerprint(server.url("iris.csv")) == fp  # stable

    (folder / "iris.csv").write_text("sepal,petal\n5,6\n")
    changed = web.fingerprint(server.url("iris.csv"))
    assert changed["etag"] != fp["etag"] and changed["size"] != fp["size"]


def test_fingerprint_without_etag_hashes_the_content(site, tmp_path):
    folder, server = site
    server.set_etags(False)
    fp = web.fingerprint(server.url("iris.csv"))
    assert set(fp) == {"url", "content", "size"} and fp["size"] == 20
    assert server.requests == [("HEAD", "/iris.csv"), ("GET", "/iris.csv")]
    assert web.fingerprint(server.url("iris.csv")) == fp
    (folder / "iris.csv").write_text("sepal,petal\n1,2\n3,5\n")  # same size, other bytes
    assert web.fingerprint(server.url("iris.csv"))["content"] != fp["content"]

    # with a cache folder the body read for the hash is kept: fetch then reads nothing
    cache = tmp_path / "cache"
    fp2 = web.fingerprint(server.url("iris.csv"), cache_dir=cache)
    server.clear()
    path, got = web.fetch(server.url("iris.csv"), cache, fp2)
    assert got == fp2 and path.read_text() == "sepal,petal\n1,2\n3,5\n"
    assert server.requests == []


def test_fingerprint_falls_back_to_get_when_head_is_refused(site):
    _, server = site
    server.refuse_head()
    fp = web.fingerprint(server.url("iris.csv"))
    assert fp["etag"] and fp["size"] == 20
    assert server.requests == [("HEAD", "/iris.csv"), ("GET", "/iris.csv")]
    server.set_etags(False)
    assert "content" in web.fingerprint(server.url("iris.csv"))

    # a URL signed for GET only answers HEAD with 403 (S3, GCS): the GET decides
    server.refuse_head(False)
    server.set_etags(True)
    server.clear()
    server.fail_next(1, status=403)
    assert web.fingerprint(server.url("iris.csv"))["etag"]
    assert server.requests == [("HEAD", "/iris.csv"), ("GET", "/iris.csv")]


# --- fetch and the cache -----------------------------------------------------------------------


def test_fetch_caches_and_revalidates_with_304(site, tmp_path):
    folder, server = site
    cache = tmp_path / "cache"
    url = server.url("iris.csv")
    path, fp = web.fetch(url, cache)
    assert path.name == "iris.csv" and path.read_text() == (folder / "iris.csv").read_text()
    assert fp == web.fingerprint(url)  # the same form as fingerprint()
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # the cache is read-only
    server.clear()

    # second fetch (no fingerprint given): a conditional GET answered 304, no body
    again, fp2 = web.fetch(url, cache)
    assert (again, fp2) == (path, fp)
    assert server.requests == [("GET", "/iris.csv")]
    assert server.headers[0]["If-None-Match"] == fp["etag"]

    # the file changes: the new version is downloaded and its fingerprint returned
    (folder / "iris.csv").write_text("sepal,petal\n9,9\n")
    newer, fp3 = web.fetch(url, cache, fp)
    assert fp3["etag"] != fp["etag"] and newer.read_text() == "sepal,petal\n9,9\n"
    assert path.read_text() == "sepal,petal\n1,2\n3,4\n"  # the old version stays intact
    assert server.count("GET", "iris.csv") == 2


def test_fetch_without_etags_downloads_each_time_but_caches_by_content(site, tmp_path):
    folder, server = site
    server.set_etags(False)
    cache = tmp_path / "cache"
    p1, fp1 = web.fetch(server.url("iris.csv"), cache)
    p2, fp2 = web.fetch(server.url("iris.csv"), cache)
    assert (p1, fp1) == (p2, fp2) and "content" in fp1
    assert server.count("GET") == 2
    assert len([f for f in _files(cache) if f.name == "iris.csv"]) == 1


def test_fetch_with_a_fingerprint_of_another_url_is_refused(site, tmp_path):
    _, server = site
    fp = web.fingerprint(server.url("iris.csv"))
    with pytest.raises(UserErrorException, match="fingerprint given is of"):
        web.fetch(server.url("other.csv"), tmp_path, fp)
    with pytest.raises(UserErrorException, match="is not a fingerprint"):
        web.fetch(server.url("iris.csv"), tmp_path, {"size": 3})


def test_short_read_is_retried_then_fails_leaving_no_cached_file(site, tmp_path, caplog):
    folder, server = site
    cache = tmp_path / "cache"
    server.cut_next(1)
    path, _ = web.fetch(server.url("iris.csv"), cache)  # cut once, retried
    assert path.read_bytes() == (folder / "iris.csv").read_bytes()
    assert server.count("GET") == 2

    (folder / "big.bin").write_bytes(os.urandom(300_000))
    server.cut_next(web.RETRY_ATTEMPTS)
    with caplog.at_level(logging.WARNING), pytest.raises(DatastoreError, match="short read") as err:
        web.fetch(server.url("big.bin"), cache)
    assert server.url("big.bin") in str(err.value) and "gave up after" in str(err.value)
    assert not [f for f in _files(cache) if f.name == "big.bin" or f.name.startswith(".part-")]
    assert "retrying" in caplog.text


def test_5xx_is_retried_then_succeeds_or_gives_up(site, tmp_path):
    _, server = site
    server.fail_next(2, status=503)
    path, _ = web.fetch(server.url("iris.csv"), tmp_path / "cache")
    assert path.is_file() and server.count("GET") == 3

    server.fail_next(web.RETRY_ATTEMPTS, status=500)
    with pytest.raises(web.HttpError, match="HTTP 500 Internal Server Error.*gave up after 4") as err:
        web.fingerprint(server.url("iris.csv"))
    assert err.value.status == 500


def test_404_and_other_4xx_fail_at_once_naming_url_and_status(site, tmp_path):
    _, server = site
    with pytest.raises(
        DatastoreError, match=r"GET .*/missing\.csv: HTTP 404 Not Found; there is no file"
    ) as err:
        web.fetch(server.url("missing.csv"), tmp_path / "cache")
    assert err.value.status == 404 and server.count("GET") == 1  # not retried
    with pytest.raises(DatastoreError, match="HEAD .*: HTTP 404"):
        web.fingerprint(server.url("missing.csv"))


def test_errors_and_logs_never_show_credentials(site, tmp_path, caplog):
    _, server = site
    url = server.url("missing.csv", query=f"sv=2022-11-02&sp=r&sig={SECRET}", userinfo="alice:hunter2")
    with caplog.at_level(logging.DEBUG), pytest.raises(DatastoreError) as err:
        web.fetch(url, tmp_path / "cache")
    assert "HTTP 404" in str(err.value) and "/missing.csv" in str(err.value)
    shown = _everything_shown(err.value)
    assert SECRET not in shown and "hunter2" not in shown and "alice" not in shown

    # the token and the user info are sent to the server all the same
    assert server.requests[-1] == ("GET", f"/missing.csv?sv=2022-11-02&sp=r&sig={SECRET}")
    assert server.headers[-1]["Authorization"].startswith("Basic ")

    # retried failures are logged, without the token either
    server.fail_next(web.RETRY_ATTEMPTS)
    with caplog.at_level(logging.DEBUG), pytest.raises(DatastoreError) as err:
        web.fingerprint(url)
    assert "HTTP 500" in str(err.value) and SECRET not in _everything_shown(err.value)
    assert "retrying" in caplog.text
    assert SECRET not in caplog.text and "hunter2" not in caplog.text


def test_connection_refused_and_timeout(tmp_path, caplog):
    with serve_folder(tmp_path) as server:
        url = server.url("x.csv", query=f"sig={SECRET}", userinfo="alice:hunter2")
    # the server is gone: connection refused (requests' own message quotes the URL), retried
    with caplog.at_level(logging.DEBUG), pytest.raises(DatastoreError, match="cannot connect") as err:
        web.fetch(url, tmp_path / "cache")
    assert "127.0.0.1" in str(err.value) and "gave up after" in str(err.value)
    for text in (_everything_shown(err.value), caplog.text):
        assert SECRET not in text and "hunter2" not in text

    (tmp_path / "slow.csv").write_text("a\n")
    with serve_folder(tmp_path) as server:
        server.set_delay(0.5)
        with pytest.raises(DatastoreError, match="timed out"):
            web.fingerprint(server.url("slow.csv"), timeout=(2, 0.1))
        assert server.count("HEAD") == web.RETRY_ATTEMPTS


def test_concurrent_fetches_are_atomic(site, tmp_path):
    folder, server = site
    data = os.urandom(4 << 20)
    (folder / "big.bin").write_bytes(data)
    cache = tmp_path / "cache"
    url = server.url("big.bin")
    results: list[tuple[Path, dict]] = []
    errors: list[BaseException] = []
    partial: list[int] = []
    done = threading.Event()

    def watch() -> None:  # whenever the cached file is visible, it is complete
        while not done.is_set():
            for f in _files(cache) if cache.exists() else []:
                if f.name == "big.bin" and (size := f.stat().st_size) != len(data):
                    partial.append(size)
            time.sleep(0.001)

    def run() -> None:
        try:
            results.append(web.fetch(url, cache))
        except BaseException as exc:  # reported below
            errors.append(exc)

    server.set_delay(0.2)  # every thread's GET arrives before any answer: all download at once
    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert not errors and not partial
    assert server.count("GET") == 8
    assert len({p for p, _ in results}) == 1 and len({fp["etag"] for _, fp in results}) == 1
    assert results[0][0].read_bytes() == data
    assert [f.name for f in _files(cache) if not f.name.endswith(".json")] == ["big.bin"]


def test_download_copies_or_links_from_the_cache(site, tmp_path):
    folder, server = site
    cache, target = tmp_path / "cache", tmp_path / "inputs"
    dest = web.download(server.url("iris.csv"), target, cache)
    assert dest == target / "iris.csv" and dest.read_text() == (folder / "iris.csv").read_text()
    dest.write_text("changed by the step\n")  # a copy: the cache is untouched
    cached, _ = web.fetch(server.url("iris.csv"), cache)
    assert cached.read_text() == "sepal,petal\n1,2\n3,4\n"

    linked = web.download(server.url("iris.csv"), target, cache, link=True)
    assert linked == dest and linked.samefile(cached) and linked.read_text() == cached.read_text()
    assert [p.name for p in target.iterdir()] == ["iris.csv"]


def test_evict_removes_versions_not_used_lately(site, tmp_path):
    folder, server = site
    cache = tmp_path / "cache"
    old, _ = web.fetch(server.url("iris.csv"), cache)
    past = time.time() - 3600
    os.utime(old.parent, (past, past))
    (folder / "iris.csv").write_text("new\n")
    new, _ = web.fetch(server.url("iris.csv"), cache)
    assert web.evict(cache, older_than=600) == 1
    assert not old.exists() and new.exists()


def test_server_shuts_down_without_leaving_threads(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    before = set(threading.enumerate())
    with serve_folder(tmp_path) as server:
        session = requests.Session()  # a kept-alive connection the server must close
        assert session.get(server.url("a.txt")).text == "a"
        web.fetch(server.url("a.txt"), tmp_path / "cache", session=session)
    session.close()
    assert set(threading.enumerate()) <= before
