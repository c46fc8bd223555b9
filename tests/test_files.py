"""mitdeeplearning.files: a file (or folder) is replaced whole or not at all, and a failed
write leaves nothing behind."""

from __future__ import annotations

import os
import stat
import sys
import threading

import pytest

from mitdeeplearning.files import atomic_path, atomic_write, staged_folder


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file_in_text_and_bytes(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    with atomic_write(target) as f:
        f.write("caf\xe9\n")
    assert target.read_bytes() == "caf\xe9\n".encode()  # UTF-8, whatever the locale
    with atomic_write(target, "wb") as f:
        f.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and names(tmp_path) == ["notes.txt"]


def test_newline_is_passed_to_open(tmp_path):
    target = tmp_path / "grades.csv"
    with atomic_write(target, newline="") as f:
        f.write("a,b\r\n")
    assert target.read_bytes() == b"a,b\r\n"


@pytest.mark.parametrize("helper", ["atomic_write", "atomic_path"])
def test_an_error_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, helper):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        if helper == "atomic_write":
            with atomic_write(target) as f:
                f.write("half of the new")
                f.flush()
                raise RuntimeError("disk on fire")
        else:
            with atomic_path(target) as partial:
                partial.write_text("half of the new")
                raise RuntimeError("disk on fire")
    assert target.read_text() == "old" and names(tmp_path) == ["x.json"]


def test_an_error_before_the_first_write_creates_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "new.txt"):
        raise KeyboardInterrupt
    assert names(tmp_path) == []


def test_the_temporary_file_is_hidden_beside_the_target_and_keeps_its_suffix(tmp_path):
    with atomic_path(tmp_path / "tune.mid") as partial:
        assert partial.parent == tmp_path and partial.exists() and partial.stat().st_size == 0
        assert partial.name.startswith(".tune.") and partial.name.endswith(".part.mid")
        partial.write_bytes(b"MThd")
    assert names(tmp_path) == ["tune.mid"]


def test_two_writers_at_once_get_their_own_temporary_files(tmp_path):
    target = tmp_path / "x.txt"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first" and names(tmp_path) == ["x.txt"]  # the last to finish


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_file_gets_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shared.txt") as f:
            f.write("for the whole course")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644


def test_a_missing_folder_is_a_clear_error_and_is_not_created(tmp_path):
    target = tmp_path / "typo" / "x.txt"
    for helper in (atomic_write, atomic_path, staged_folder):
        with (
            pytest.raises(FileNotFoundError, match=r"the folder .*typo does not exist"),
            helper(target),
        ):
            pass
    assert names(tmp_path) == []


def test_a_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode='a'"), atomic_write(tmp_path / "x", "a"):
        pass
    with pytest.raises(ValueError, match="encoding="), atomic_write(tmp_path / "x", "wb",
                                                                   encoding="utf-8"):  # fmt: skip
        pass
    assert names(tmp_path) == []


def test_the_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    with atomic_write(tmp_path / "x.txt") as f:
        f.write("data")
    assert events == ["fsync", "replace"]


def test_a_reader_never_sees_a_partial_file(tmp_path):
    target = tmp_path / "big.bin"
    versions = [bytes([i]) * 200_000 for i in range(20)]  # each written in many small pieces
    target.write_bytes(versions[0])
    seen, done = set(), threading.Event()

    def read_all_the_time():
        while not done.is_set():
            seen.add(target.read_bytes())

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        for version in versions[1:]:
            with atomic_write(target, "wb") as f:
                for start in range(0, len(version), 4096):
                    f.write(version[start : start + 4096])
    finally:
        done.set()
        reader.join()
    assert seen and seen <= set(versions)
    assert target.read_bytes() == versions[-1] and names(tmp_path) == ["big.bin"]


def test_staged_folder_appears_whole_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "lab1"
    target.mkdir()
    (target / "stale.ipynb").write_text("old")
    with staged_folder(target) as staging:
        assert staging.parent == tmp_path and names(staging) == []
        assert names(target) == ["stale.ipynb"]  # untouched while the new one is made
        (staging / "new.ipynb").write_text("new")
    assert names(target) == ["new.ipynb"] and names(tmp_path) == ["lab1"]


def test_staged_folder_replaces_a_file_and_makes_a_new_folder(tmp_path):
    (tmp_path / "out").write_text("a file in the way")
    with staged_folder(tmp_path / "out") as staging:
        (staging / "a").write_text("a")
    with staged_folder(tmp_path / "fresh") as staging:
        (staging / "b").write_text("b")
    assert names(tmp_path / "out") == ["a"] and names(tmp_path / "fresh") == ["b"]
    assert names(tmp_path) == ["fresh", "out"]


def test_a_failed_staged_folder_keeps_the_old_folder_and_leaves_nothing(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "kept.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target) as staging:
        (staging / "sub").mkdir()
        (staging / "sub" / "half.txt").write_text("half")
        raise RuntimeError("archive damaged")
    assert names(target) == ["kept.txt"] and names(tmp_path) == ["data"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "data"
    target.mkdir()
    (target / "kept.txt").write_text("old")
    real_replace = os.replace

    def replace(source, dest):
        if ".part" in os.fspath(source):
            raise OSError("the disk went away")
        return real_replace(source, dest)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="went away"), staged_folder(target) as staging:
        (staging / "new.txt").write_text("new")
    assert names(target) == ["kept.txt"] and names(tmp_path) == ["data"]
