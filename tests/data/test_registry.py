"""mitdeeplearning.data.registry: registering datasets, and fetching them by name."""

from __future__ import annotations

import hashlib

import pytest

from mitdeeplearning import data

FAST = {"backoff": 0.01, "progress": False}
PAYLOAD = b"X:1\nT:Test tune\nK:G\nGABc dedB|" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def make_entry(name: str, *files: data.RemoteFile, **extra) -> data.Dataset:
    fields = dict(title="Test", license="MIT", citation="c", homepage="https://example.org",
                  manual="Ask the instructor.")  # fmt: skip
    fields.update(extra)
    return data.register(data.Dataset(name=name, files=files, **fields), replace=True)


def test_registry_name_downloads_into_its_folder(server, cache):
    make_entry("test-single", data.RemoteFile("t.abc", (server.add("/t", PAYLOAD),), DIGEST))
    path = data.fetch("test-single", **FAST)
    assert path == cache / "test-single" / "t.abc"
    assert path.read_bytes() == PAYLOAD
    assert data.dataset_status("test-single") == "cached"


def test_multi_file_dataset_returns_its_folder(server, cache):
    other = b"second file"
    make_entry(
        "test-multi",
        data.RemoteFile("a.bin", (server.add("/a", PAYLOAD),), DIGEST),
        data.RemoteFile("b.bin", (server.add("/b", other),), hashlib.sha256(other).hexdigest()),
    )
    assert data.dataset_status("test-multi") == "not cached"
    one = data.fetch("test-multi/b.bin", **FAST)
    assert one.read_bytes() == other
    assert data.dataset_status("test-multi") == "partial (1/2)"
    folder = data.fetch("test-multi", **FAST)
    assert folder == cache / "test-multi"
    assert (folder / "a.bin").read_bytes() == PAYLOAD
    assert server.count("/b") == 1
    with pytest.raises(data.UnknownDatasetError, match="a.bin, b.bin"):
        data.fetch("test-multi/c.bin", **FAST)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(data.UnknownDatasetError) as info:
        data.fetch("no-such-dataset")
    for name in ("oneills1850", "mit-irish-tunes", "nih-chestxray14", "siim-acr-pneumothorax"):
        assert name in str(info.value)


def test_login_only_dataset_says_how_to_get_it():
    with pytest.raises(data.ManualDownloadRequired) as info:
        data.fetch("siim-acr-pneumothorax")
    message = str(info.value)
    assert "Kaggle" in message and "train-rle.csv" in message and "mitdl convert siim" in message


def test_manual_file_is_used_once_placed_by_hand(cache):
    content = b"image,label\n"
    digest = hashlib.sha256(content).hexdigest()
    make_entry("test-manual", data.RemoteFile("labels.csv", sha256=digest))
    target = cache / "test-manual" / "labels.csv"
    with pytest.raises(data.ManualDownloadRequired, match=f"Save the file as {target}"):
        data.fetch("test-manual")
    target.write_bytes(b"wrong content")
    with pytest.raises(data.ChecksumError, match=digest):
        data.fetch("test-manual")
    assert target.exists()  # a file the user placed is never deleted behind their back
    target.write_bytes(content)
    assert data.fetch("test-manual") == target


def test_bundled_corpus_resolves_without_network():
    pytest.importorskip("music21")
    path = data.fetch("oneills1850")
    assert path.is_dir() and len(list(path.glob("*.abc"))) > 30
    assert data.dataset_status("oneills1850") == "bundled"


def test_registry_entries_are_complete():
    names = [d.name for d in data.datasets()]
    assert names == sorted(names) and len(names) >= 8
    for entry in data.datasets():
        assert entry.license and entry.citation and entry.homepage and entry.manual, entry.name
        assert entry.bundled or entry.files or entry.builder, entry.name
        for f in entry.files:
            assert all(u.startswith("https://") for u in f.urls), entry.name
    essen = data.get_dataset("essen")
    assert "non-commercial" in essen.license


@pytest.mark.parametrize(
    "bad", ["UPPER", "has space", "../x", ""], ids=["upper", "space", "dots", "empty"]
)
def test_register_rejects_bad_names(bad):
    with pytest.raises(ValueError, match="not valid"):
        make_entry(bad)


def test_register_refuses_duplicates_unless_replaced():
    make_entry("test-dup")
    with pytest.raises(ValueError, match="already registered"):
        data.register(data.get_dataset("test-dup"))
