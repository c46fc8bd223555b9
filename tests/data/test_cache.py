"""mitdeeplearning.data.cache: where fetched files live and the digest records beside them."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from mitdeeplearning import _lazy, data
from mitdeeplearning.data import cache as data_cache

FAST = {"backoff": 0.01, "progress": False}
PAYLOAD = b"some bytes to cache\n" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def test_cache_dir_argument_beats_environment(server, cache, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    elsewhere = tmp_path / "elsewhere"
    path = data.fetch(url, sha256=DIGEST, cache_dir=elsewhere, **FAST)
    assert path.is_relative_to(elsewhere)
    assert not cache.exists()


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MITDL_DATA", str(tmp_path / "x"))
    assert data.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MITDL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert data.default_cache_dir() == tmp_path / "xdg" / "mitdeeplearning"


def test_digest_record_round_trip_and_fast_path(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(PAYLOAD)
    assert data.sha256_file(path) == DIGEST
    data_cache.write_digest_record(path, DIGEST, "https://example.org/a.bin")
    record = data_cache.read_digest_record(path)
    assert record["sha256"] == DIGEST and record["size"] == len(PAYLOAD)
    assert data_cache.verify_cached(path, DIGEST, record) == DIGEST
    assert data_cache.verify_cached(path, "0" * 64, record) is None
    path.write_bytes(b"changed")  # size differs from the record: hashed again
    assert data_cache.verify_cached(path, DIGEST, record) is None


def test_malformed_digest_record_is_ignored(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(PAYLOAD)
    data_cache.digest_record_path(path).write_text(json.dumps({"sha256": "not hex"}))
    assert data_cache.read_digest_record(path) is None
    data_cache.digest_record_path(path).write_text("{ broken json")
    assert data_cache.read_digest_record(path) is None


def test_old_private_name_of_cache_root_still_works_and_warns(monkeypatch, tmp_path):
    monkeypatch.setattr(_lazy, "_warned", set())
    renamed = r"data\._cache_root has been renamed .*data\.cache_root"
    with pytest.warns(FutureWarning, match=renamed):
        assert data._cache_root(tmp_path) == data.cache_root(tmp_path) == tmp_path
