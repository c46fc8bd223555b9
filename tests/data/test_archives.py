"""mitdeeplearning.data.archives: safe tar/zip extraction, on archives built in the test."""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import zipfile

import pytest

from mitdeeplearning import data


def make_tar(path, entries, mode="w:gz"):
    """entries: (name, bytes) files, or TarInfo objects for links, devices and folders."""
    with tarfile.open(path, mode) as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                name, content = entry
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def tar_info(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, b"/etc/passwd")
            else:
                zf.writestr(*entry)
    return path


def test_tar_gz_extracts_files_and_folders(tmp_path):
    archive = make_tar(
        tmp_path / "ok.tar.gz",
        [tar_info("images", tarfile.DIRTYPE), ("images/a.png", b"A"), ("labels.csv", b"x,y\n")],
    )
    dest = data.extract(archive, tmp_path / "out")
    assert (dest / "images" / "a.png").read_bytes() == b"A"
    assert (dest / "labels.csv").read_bytes() == b"x,y\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.tar.gz", "out"]  # no staging left


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_extracted_folder_gets_the_usual_permissions(tmp_path):
    # It was made with tempfile.mkdtemp (0700), so a shared course cache was readable by one user.
    archive = make_zip(tmp_path / "ok.zip", [("a.txt", "hello")])
    old = os.umask(0o022)
    try:
        dest = data.extract(archive, tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_zip_extracts(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", [("a/b.txt", "hello"), ("c.txt", "world")])
    dest = data.extract(archive, tmp_path / "out")
    assert (dest / "a" / "b.txt").read_text() == "hello"


UNSAFE_TAR = {
    "dotdot": [("ok.txt", b"fine"), ("../evil.txt", b"x")],
    "nested-dotdot": [("a/../../evil.txt", b"x")],
    "absolute": [("/tmp/evil.txt", b"x")],
    "symlink": [tar_info("link", tarfile.SYMTYPE, "/etc/passwd")],
    "relative-symlink": [tar_info("link", tarfile.SYMTYPE, "../../outside")],
    "hardlink": [tar_info("hard", tarfile.LNKTYPE, "/etc/passwd")],
    "char-device": [tar_info("dev", tarfile.CHRTYPE)],
    "block-device": [tar_info("blk", tarfile.BLKTYPE)],
    "fifo": [tar_info("pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TAR))
def test_unsafe_tar_is_refused_and_nothing_is_written(tmp_path, case):
    archive = make_tar(tmp_path / "bad.tar", UNSAFE_TAR[case], mode="w")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(data.UnsafeArchiveError, match="Refusing to extract") as info:
        data.extract(archive, work / "out")
    assert str(archive) in str(info.value)
    assert list(work.iterdir()) == []  # no partial output, no staging folder
    assert not (tmp_path / "evil.txt").exists()


def zip_link(name):
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix, so the mode bits are read
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


UNSAFE_ZIP = {
    "dotdot": [("ok.txt", "fine"), ("../evil.txt", "x")],
    "backslash-dotdot": [("..\\evil.txt", "x")],
    "absolute": [("/tmp/evil.txt", "x")],
    "drive-letter": [("C:/evil.txt", "x")],
    "symlink": [zip_link("link")],
}


@pytest.mark.parametrize("case", sorted(UNSAFE_ZIP))
def test_unsafe_zip_is_refused_and_nothing_is_written(tmp_path, case):
    archive = make_zip(tmp_path / "bad.zip", UNSAFE_ZIP[case])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(data.UnsafeArchiveError, match="Refusing to extract"):
        data.extract(archive, work / "out")
    assert list(work.iterdir()) == []


def test_existing_destination_needs_overwrite(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", [("new.txt", "new")])
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(data.DataError, match="overwrite=True"):
        data.extract(archive, dest)
    assert (dest / "old.txt").exists()
    data.extract(archive, dest, overwrite=True)
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive")
    with pytest.raises(data.DataError, match="neither a tar nor a zip"):
        data.extract(junk, tmp_path / "out")
    with pytest.raises(data.DataError, match="does not exist"):
        data.extract(tmp_path / "missing.zip", tmp_path / "out")
