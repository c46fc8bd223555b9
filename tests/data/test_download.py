"""mitdeeplearning.data.download: real downloads from a local HTTP server into the cache."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from mitdeeplearning import _lazy, data
from mitdeeplearning.data.cache import url_cache_path

FAST = {"backoff": 0.01, "progress": False}
PAYLOAD = os.urandom(300_000) + b"end"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def leftovers(root: Path) -> list[str]:
    """Files in the cache other than lock files: what a reader could see."""
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
    )


# ## Downloads ---------------------------------------------------------------------------------


def test_download_then_cache_hit_makes_no_request(server, cache):
    url = server.add("/tunes.abc", PAYLOAD)
    path = data.fetch(url, sha256=DIGEST, **FAST)
    assert path.read_bytes() == PAYLOAD
    assert path.is_relative_to(cache)
    assert server.count("/tunes.abc") == 1

    again = data.fetch(url, sha256=DIGEST, **FAST)
    assert again == path
    assert server.count("/tunes.abc") == 1  # served from the cache
    assert leftovers(cache) == sorted(
        [str(path.relative_to(cache)), str(path.relative_to(cache)) + ".sha256"]
    )


def test_checksum_mismatch_raises_and_leaves_nothing(server, cache):
    url = server.add("/bad.bin", PAYLOAD)
    wrong = "0" * 64
    with pytest.raises(data.ChecksumError) as info:
        data.fetch(url, sha256=wrong, **FAST)
    message = str(info.value)
    assert url in message and wrong in message and DIGEST in message
    assert (info.value.expected, info.value.actual) == (wrong, DIGEST)
    assert leftovers(cache) == []


def test_http_404_is_a_clear_error_without_retries(server, cache):
    url = server.url("/missing.abc")
    with pytest.raises(data.DownloadError, match=r"HTTP 404") as info:
        data.fetch(url, sha256=DIGEST, **FAST)
    assert url in str(info.value)
    assert server.count("/missing.abc") == 1
    assert leftovers(cache) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_says_how_to_get_the_file_by_hand(cache):
    url = f"http://127.0.0.1:{free_port()}/tunes.abc"
    with pytest.raises(data.DownloadError) as info:
        data.fetch(url, sha256=DIGEST, retries=1, **FAST)
    message = str(info.value)
    expected_path = url_cache_path(cache, url)
    assert "Connection refused" in message or "ConnectionRefusedError" in message
    assert "2 attempts" in message
    assert f"save it as {expected_path}" in message
    assert DIGEST in message
    assert leftovers(cache) == []


@pytest.mark.parametrize("failure", ["drop", "short"])
def test_broken_body_is_retried_then_fails_leaving_nothing(server, cache, failure):
    url = server.add("/big.bin", PAYLOAD, failures=[failure] * 10, ranges=False)
    with pytest.raises(data.DownloadError, match="3 attempts") as info:
        data.fetch(url, sha256=DIGEST, retries=2, **FAST)
    assert url in str(info.value)
    assert server.count("/big.bin") == 3
    assert leftovers(cache) == []


@pytest.mark.parametrize("ranges", [True, False])
def test_broken_body_then_success_resumes_or_restarts(server, cache, ranges):
    url = server.add("/big.bin", PAYLOAD, failures=["short", "short"], ranges=ranges)
    path = data.fetch(url, sha256=DIGEST, retries=3, **FAST)
    assert path.read_bytes() == PAYLOAD
    assert server.count("/big.bin") == 3
    range_headers = [r for p, r in server.requests if p == "/big.bin"]
    assert range_headers[0] is None  # a fresh download...
    assert all(r and r.startswith("bytes=") for r in range_headers[1:])  # ...then resumes


def test_transient_http_status_is_retried(server, cache):
    url = server.add("/busy.bin", PAYLOAD, failures=[503, 500])
    path = data.fetch(url, sha256=DIGEST, retries=2, **FAST)
    assert path.read_bytes() == PAYLOAD
    assert server.count("/busy.bin") == 3


def test_mirrors_are_tried_in_order(server, cache):
    good = server.add("/mirror.bin", PAYLOAD)
    data.register(
        data.Dataset(
            name="test-mirrored",
            title="t",
            license="l",
            citation="c",
            homepage="h",
            manual="m",
            files=(data.RemoteFile("m.bin", (server.url("/gone.bin"), good), DIGEST),),
        ),
        replace=True,
    )
    path = data.fetch("test-mirrored", **FAST)
    assert path.read_bytes() == PAYLOAD
    assert server.count("/gone.bin") == 1 and server.count("/mirror.bin") == 1


FETCH_IN_CHILD = textwrap.dedent(
    """
    import sys
    from mitdeeplearning import data
    path = data.fetch(sys.argv[1], sha256=sys.argv[2], progress=False)
    print(path)
    """
)


def test_two_processes_download_once_and_both_get_the_whole_file(server, cache):
    url = server.add("/slow.bin", PAYLOAD, chunk_delay=0.1)  # ~0.5 s download
    children = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_IN_CHILD, url, DIGEST],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [child.communicate(timeout=60) for child in children]
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    paths = {Path(out.strip()) for out, _ in results}
    assert len(paths) == 1
    assert paths.pop().read_bytes() == PAYLOAD
    assert server.count("/slow.bin") == 1


def test_reader_never_sees_a_partial_file(server, cache):
    url = server.add("/slow.bin", PAYLOAD, chunk_delay=0.1)
    child = subprocess.Popen([sys.executable, "-c", FETCH_IN_CHILD, url, DIGEST])
    target = url_cache_path(cache, url)
    deadline = time.monotonic() + 60
    seen_sizes = set()
    while child.poll() is None and time.monotonic() < deadline:
        if target.exists():
            seen_sizes.add(target.stat().st_size)
        time.sleep(0.005)
    assert child.wait(timeout=60) == 0
    assert seen_sizes <= {len(PAYLOAD)}  # the name only ever holds the complete file
    assert target.read_bytes() == PAYLOAD


# ## URLs without a sha256 ---------------------------------------------------------------------


def test_url_without_sha256_warns_records_and_verifies_later(server, cache):
    url = server.add("/tofu.bin", PAYLOAD)
    with pytest.warns(data.UnverifiedDownloadWarning, match=DIGEST):
        path = data.fetch(url, **FAST)
    record = path.with_name(path.name + ".sha256")
    assert DIGEST in record.read_text()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a verified cache hit warns no more
        assert data.fetch(url, **FAST).read_bytes() == PAYLOAD
    assert server.count("/tofu.bin") == 1

    # The file is damaged in the cache: the recorded digest catches it, and it is fetched again.
    path.write_bytes(b"garbage")
    assert data.fetch(url, **FAST).read_bytes() == PAYLOAD
    assert server.count("/tofu.bin") == 2

    # The server now serves something else: the recorded digest refuses it.
    path.unlink()
    server.routes["/tofu.bin"].content = b"something else"
    with pytest.raises(data.ChecksumError, match=DIGEST):
        data.fetch(url, **FAST)
    assert not path.exists()


def test_explicit_sha256_overrides_a_recorded_one(server, cache):
    url = server.add("/v.bin", PAYLOAD)
    with pytest.warns(data.UnverifiedDownloadWarning):
        data.fetch(url, **FAST)
    with pytest.raises(data.ChecksumError):
        data.fetch(url, sha256="1" * 64, **FAST)


def test_bad_sha256_argument_is_rejected_before_any_request(server, cache):
    url = server.add("/x.bin", PAYLOAD)
    with pytest.raises(ValueError, match="64 hex digits"):
        data.fetch(url, sha256="abc", **FAST)
    assert server.requests == []


def test_stalled_server_times_out_and_is_retried(server, cache):
    url = server.add("/stall.bin", PAYLOAD, chunk_delay=2.0)  # 2 s between chunks
    start = time.monotonic()
    with pytest.raises(data.DownloadError, match="2 attempts.*timed out"):
        data.fetch(url, sha256=DIGEST, retries=1, timeout=0.2, **FAST)
    assert time.monotonic() - start < 10
    assert leftovers(cache) == []


def test_progress_bar_is_silent_under_ci_and_on_request(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert data.progress_enabled(None) is False
    assert data.progress_enabled(True) is True
    monkeypatch.delenv("CI")
    monkeypatch.setitem(sys.modules, "ipykernel", object())  # running inside a notebook
    assert data.progress_enabled(None) is True
    assert data.progress_enabled(False) is False


def test_progress_bar_reports_bytes(server, cache, capsys):
    url = server.add("/p.bin", PAYLOAD)
    data.fetch(url, sha256=DIGEST, progress=True, backoff=0.01)
    err = capsys.readouterr().err
    assert "p.bin" in err and "293k" in err.replace("K", "k")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_cached_files_are_readable_by_the_course_not_private(server, cache):
    old = os.umask(0o022)
    try:
        path = data.fetch(server.add("/m.bin", PAYLOAD), sha256=DIGEST, **FAST)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_old_private_name_of_progress_enabled_still_works_and_warns(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"data\._progress_enabled has been renamed"):
        assert data._progress_enabled(False) is False
