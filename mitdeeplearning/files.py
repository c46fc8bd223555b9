"""Write a file or a folder all at once: a reader sees the old version or the new one, never a
half-written one, and a failed write leaves nothing behind.

`atomic_write` yields an open file, `atomic_path` a path (for libraries that write by name:
h5py, pretty_midi, music21, `wave`). Both write to a temporary file beside the target and rename
it onto the target (`os.replace`, atomic on one file system) only when the block ends without
an error; on any error the temporary file is removed and the target is left as it was.
`staged_folder` does the same for a folder (an extracted archive, a release).

>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "notes.txt"
>>> with atomic_write(target) as f:
...     _ = f.write("C D E")
>>> with atomic_write(target) as f:  # fails half-way: the old file stays, nothing else appears
...     _ = f.write("F G")
...     raise RuntimeError("interrupted")
Traceback (most recent call last):
...
RuntimeError: interrupted
>>> target.read_text(), [p.name for p in target.parent.iterdir()]
('C D E', ['notes.txt'])

What was decided, and why:

* The data is flushed to disk (fsync) before the rename. The rename alone already hides a
  partial file from other processes; the fsync is for a crash or power cut, after which some
  file systems (XFS, btrfs, ext4 with ``noauto_da_alloc``) can show the renamed name holding an
  empty or truncated file. On the test machine (ext4 on a virtual disk) it makes writing a
  1 kB file take 0.25 ms instead of 0.08 ms, and a 64 MB file 70-130 ms instead of 65 ms: the
  wait for the disk, which a download hides behind the network. The folder is not fsynced:
  losing the rename in a crash leaves the old file, which is whole.
* The target's folder must exist: a missing one is a `FileNotFoundError` that names it, rather
  than created, so that a mistyped path fails instead of growing a new tree. Callers that
  promise to create folders (`~mitdeeplearning.music.midi.notes_to_midi`, `save_h5`) create
  them first.
* The temporary file, ``.<stem>.<8 hex digits>.part<suffix>``, is hidden, keeps the target's
  suffix (for writers that choose a format by it) and gets the usual permissions (``0666``
  less the umask, as `open` gives, not the ``0600`` of `tempfile.mkstemp`).
* Text is UTF-8 unless told otherwise, whatever the platform's locale.
* A folder cannot take an existing folder's place in one rename (POSIX renames only onto an
  empty folder, Windows onto nothing), so the file helpers do not cover folders: `staged_folder`
  moves the old folder aside, renames the new one in, then deletes the old one. A reader may
  find no folder for the instant between the two renames, never a half-filled one. Its files
  are not fsynced: an extracted archive can hold hundreds of thousands of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "staged_folder"]

_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation on the raw descriptor


def _beside(path: Path, make) -> Path:
    """Create, with `make`, a new hidden entry in `path`'s folder and return its path."""
    while True:
        candidate = path.with_name(f".{path.stem}.{os.urandom(4).hex()}.part{path.suffix}")
        try:
            make(candidate)
        except FileExistsError:  # another writer drew the same name: draw again
            continue
        except FileNotFoundError:
            if path.parent.is_dir():
                raise
            raise FileNotFoundError(
                f"Cannot write {path}: the folder {path.parent} does not exist. Create it first."
            ) from None
        return candidate


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | _BINARY)  # Windows cannot fsync a read-only descriptor
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed onto `path` if the block
    succeeds, removed if it fails.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, replaced if it exists. Its folder must exist.

    Yields
    ------
    pathlib.Path
        An empty file beside `path`, e.g. ``.tune.1a2b3c4d.part.mid``, for a library to
        overwrite by name. It is fsynced and renamed onto `path` when the block ends.

    Raises
    ------
    FileNotFoundError
        The folder of `path` does not exist.

    See Also
    --------
    atomic_write : the same, yielding an open file.

    Examples
    --------
    >>> import tempfile, wave
    >>> target = Path(tempfile.mkdtemp()) / "silence.wav"
    >>> with atomic_path(target) as partial, wave.open(str(partial), "wb") as out:
    ...     out.setnchannels(1); out.setsampwidth(2); out.setframerate(8000)
    ...     out.writeframes(bytes(1600))
    >>> target.stat().st_size, [p.name for p in target.parent.iterdir()]
    (1644, ['silence.wav'])
    """
    path = Path(path)
    partial = _beside(path, _new_file)
    try:
        yield partial
        _fsync(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "w",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO]:
    """An open file whose content replaces `path` if the block succeeds, and is thrown away if
    it fails.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, replaced if it exists. Its folder must exist.
    mode : {"w", "wb"}
        Text or bytes.
    encoding : str, optional
        Text mode only; default ``"utf-8"``.
    newline : str, optional
        Text mode only, as for `open` (``""`` writes line endings untranslated, as `csv` wants).

    Yields
    ------
    file object
        Open for writing, positioned at the start of an empty temporary file beside `path`.

    Raises
    ------
    ValueError
        `mode` is not ``"w"`` or ``"wb"``, or `encoding` or `newline` is given with ``"wb"``.
    FileNotFoundError
        The folder of `path` does not exist.

    See Also
    --------
    atomic_path : the same for libraries that write to a path.

    Examples
    --------
    >>> import json, tempfile
    >>> target = Path(tempfile.mkdtemp()) / "metrics.json"
    >>> with atomic_write(target) as f:
    ...     json.dump({"loss": 1.25}, f)
    >>> json.loads(target.read_text())
    {'loss': 1.25}
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: expected 'w' (text) or 'wb' (bytes).")
    if mode == "wb" and (encoding is not None or newline is not None):
        raise ValueError("encoding= and newline= apply to text (mode='w'), not to mode='wb'.")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as partial, open(partial, mode, encoding=encoding, newline=newline) as f:
        yield f


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """An empty folder to fill with `path`'s new content; put in `path`'s place (replacing
    what is there) if the block succeeds, deleted if it fails.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to make. Whatever is at `path` (a folder or a file) is replaced. Its parent
        folder must exist.

    Yields
    ------
    pathlib.Path
        A new empty folder beside `path`, e.g. ``.lab1.1a2b3c4d.part``, with the usual
        permissions.

    Raises
    ------
    FileNotFoundError
        The parent folder of `path` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> release = Path(tempfile.mkdtemp()) / "lab1"
    >>> with staged_folder(release) as staging:
    ...     _ = (staging / "Part1.ipynb").write_text("{}")
    >>> sorted(p.name for p in release.iterdir()), [p.name for p in release.parent.iterdir()]
    (['Part1.ipynb'], ['lab1'])
    """
    path = Path(path)
    staging = _beside(path, os.mkdir)
    try:
        yield staging
        if not (path.exists() or path.is_symlink()):
            os.replace(staging, path)
            return
        old = path.with_name(f".{path.name}.{os.urandom(4).hex()}.old")
        os.replace(path, old)  # the old one, moved aside
        try:
            os.replace(staging, path)
        except BaseException:
            os.replace(old, path)  # put it back
            raise
        _remove(old)
    finally:
        _remove(staging)
