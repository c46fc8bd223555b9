"""`extract`: unpack a tar or zip archive, refusing anything that could escape its folder.

Every entry is checked before anything is written (absolute paths, ``..``, links, device files),
and the archive is unpacked into a temporary folder that takes `dest`'s place at the end
(`mitdeeplearning.files.staged_folder`).
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..files import staged_folder
from .errors import DataError, UnsafeArchiveError

__all__ = ["extract"]


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name is unsafe, or None."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in parts:
        return "would be written outside the target folder"
    if "\0" in name:
        return "has a NUL byte in its name"
    return None


def _check_members(archive: Path, entries: Iterable[tuple[str, str | None]]) -> None:
    for name, problem in entries:
        problem = problem or _unsafe_name(name)
        if problem:
            raise UnsafeArchiveError(
                f"Refusing to extract {archive}: entry {name!r} {problem}. Nothing was "
                "extracted. The archive is damaged or malicious; get a fresh copy from its source."
            )


def _tar_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r}); links are not allowed"
    if member.isdev():
        return "is a device file or FIFO; only files and folders are allowed"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file or folder"
    return None


def _zip_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link; links are not allowed"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is a device file or FIFO; only files and folders are allowed"
    return None


def extract(
    archive: str | os.PathLike, dest: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Safely extract a tar (plain, gz, bz2, xz) or zip archive into `dest`.

    Every entry is checked before anything is written: absolute paths, entries that would land
    outside `dest` (``../``), symbolic and hard links, and device files are refused with an
    `UnsafeArchiveError`. Extraction happens in a temporary folder beside `dest` that is renamed
    into place at the end, so `dest` never holds a half-extracted archive.

    Parameters
    ----------
    archive : path
        The archive file.
    dest : path
        Folder to create. If it exists and is not empty, `overwrite=True` replaces it.

    overwrite : bool
        Replace a `dest` that exists and is not empty.

    Returns
    -------
    pathlib.Path
        `dest`.

    Raises
    ------
    UnsafeArchiveError
        An entry is unsafe; nothing was extracted.
    DataError
        The archive is missing, damaged or of another kind, or `dest` is in the way.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     archive = Path(folder) / "notes.zip"
    ...     with zipfile.ZipFile(archive, "w") as zf:
    ...         zf.writestr("notes/week1.txt", "hello")
    ...     extract(archive, Path(folder) / "out").joinpath("notes", "week1.txt").read_text()
    'hello'
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     archive = Path(folder) / "evil.zip"
    ...     with zipfile.ZipFile(archive, "w") as zf:
    ...         zf.writestr("../evil.txt", "x")
    ...     extract(archive, Path(folder) / "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitdeeplearning.data.errors.UnsafeArchiveError: Refusing to extract ...
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise DataError(f"Archive {archive} does not exist.")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not overwrite:
        raise DataError(
            f"Cannot extract {archive.name} into {dest}: it exists and is not empty. "
            "Remove it or pass overwrite=True."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        kind = "zip"
        with zipfile.ZipFile(archive) as zf:
            _check_members(archive, ((i.filename, _zip_problem(i)) for i in zf.infolist()))
    elif tarfile.is_tarfile(archive):
        kind = "tar"
        with tarfile.open(archive) as tf:
            _check_members(archive, ((m.name, _tar_problem(m)) for m in tf.getmembers()))
    else:
        raise DataError(f"{archive} is neither a tar nor a zip archive (or it is damaged).")

    with staged_folder(dest) as staging:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence
                    tf.extractall(staging, filter="data")
                else:  # pragma: no cover
                    tf.extractall(staging)
    return dest
