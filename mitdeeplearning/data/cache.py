"""Where fetched files live, and the digest records that let a cache hit skip re-hashing.

Files are cached in ``$MITDL_DATA`` or, without it, in a per-user cache folder
(`default_cache_dir`): a registered dataset's files in ``<cache>/<name>/``, a URL's file in
``<cache>/urls/<hash>-<name>``. Beside each verified file, ``<file>.sha256`` records its digest,
size and modification time, so a later fetch trusts an unchanged file without reading it again.

>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as folder:
...     path = Path(folder) / "tunes.abc"
...     _ = path.write_bytes(b"X:1")
...     write_digest_record(path, sha256_file(path), "https://example.org/tunes.abc")
...     read_digest_record(path)["sha256"] == sha256_file(path)
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

from ..files import atomic_write
from .errors import ManualDownloadRequired
from .registry import SHA256_HEX, Dataset, get_dataset

__all__ = [
    "CHUNK_SIZE",
    "bundled_path",
    "cache_root",
    "dataset_status",
    "default_cache_dir",
    "digest_record_path",
    "read_digest_record",
    "sha256_file",
    "url_cache_path",
    "verify_cached",
    "write_digest_record",
]

#: Bytes read (and hashed) at a time, from a file or from the network.
CHUNK_SIZE = 1 << 20


# ## Where files live --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The cache folder: ``$MITDL_DATA`` if set, else the platform's per-user cache folder.

    Linux ``$XDG_CACHE_HOME/mitdeeplearning`` (``~/.cache/mitdeeplearning``), macOS
    ``~/Library/Caches/mitdeeplearning``, Windows ``%LOCALAPPDATA%\\mitdeeplearning\\Cache``.

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"MITDL_DATA": "/srv/course-data"}):
    ...     default_cache_dir()
    PosixPath('/srv/course-data')
    """
    env = os.environ.get("MITDL_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "mitdeeplearning" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mitdeeplearning"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mitdeeplearning"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """The cache folder to use: `cache_dir` when given (``~`` expanded), else the default.

    Examples
    --------
    >>> cache_root("/tmp/cache")
    PosixPath('/tmp/cache')
    >>> cache_root(None) == default_cache_dir()
    True
    """
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def url_cache_path(root: Path, url: str) -> Path:
    """Where the file downloaded from `url` is cached under `root`.

    ``<root>/urls/<first 12 hex digits of the URL's sha256>-<the URL's file name>``, the file
    name reduced to ``[A-Za-z0-9._-]`` (at most 80 characters, no leading dot).

    Examples
    --------
    >>> url_cache_path(Path("/cache"), "https://example.org/a/tunes%20v2.abc")
    PosixPath('/cache/urls/...-tunes_v2.abc')
    """
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.unquote(parts.path.rstrip("/").rpartition("/")[2]) or "download"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[-80:].lstrip(".") or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    return root / "urls" / f"{key}-{base}"


def bundled_path(entry: Dataset) -> Path:
    """The folder of a dataset that ships inside an installed package (``entry.bundled``).

    The package is located without being imported.

    Raises
    ------
    ManualDownloadRequired
        The package is not installed, or its copy lacks the folder; the message says what to
        install.

    Examples
    --------
    >>> entry = Dataset("notes", "t", "l", "c", "h", "m", bundled="json:no-such-folder")
    >>> bundled_path(entry)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitdeeplearning.data.errors.ManualDownloadRequired: Dataset 'notes' should be at ...
    """
    package, _, folder = entry.bundled.partition(":")  # type: ignore[union-attr]
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ManualDownloadRequired(
            f"Dataset {entry.name!r} ships with the {package} package, which is not installed. "
            f"Install it: pip install {package}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / folder
    if not path.exists():
        raise ManualDownloadRequired(
            f"Dataset {entry.name!r} should be at {path}, but the installed {package} does not "
            f"include it. Reinstall it: pip install --force-reinstall {package}"
        )
    return path


def dataset_status(name: str, *, cache_dir: str | os.PathLike | None = None) -> str:
    """One word or phrase for `mitdl datasets`.

    Returns
    -------
    str
        ``"bundled"`` or ``"not installed"`` (data inside a package), ``"cached"``,
        ``"partial (k/n)"``, ``"not cached"`` (downloadable), or ``"manual"`` (by hand only).

    Examples
    --------
    >>> dataset_status("siim-acr-pneumothorax")
    'manual'
    >>> dataset_status("mit-irish-tunes", cache_dir="/nonexistent")
    'not cached'
    """
    entry = get_dataset(name)
    if entry.bundled:
        try:
            bundled_path(entry)
        except ManualDownloadRequired:
            return "not installed"
        return "bundled"
    if not entry.files:
        return "manual"
    folder = cache_root(cache_dir) / entry.name
    present = sum((folder / f.filename).is_file() for f in entry.files)
    if present == len(entry.files):
        return "cached"
    if present:
        return f"partial ({present}/{len(entry.files)})"
    return "not cached" if entry.downloadable else "manual"


# ## Digests and their records -----------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     sha256_file(f.name)  # an empty file
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            h.update(chunk)
    return h.hexdigest()


def digest_record_path(path: Path) -> Path:
    """Where the digest record of the cached file `path` lives: ``<path>.sha256``.

    Examples
    --------
    >>> digest_record_path(Path("/cache/essen/a.abc"))
    PosixPath('/cache/essen/a.abc.sha256')
    """
    return path.with_name(path.name + ".sha256")


def read_digest_record(path: Path) -> dict | None:
    """The digest record of `path`, or None when it is missing, unreadable or malformed.

    Returns
    -------
    dict or None
        ``{"sha256": str, "size": int, "mtime_ns": int, "source": str}`` as written by
        `write_digest_record`.

    Examples
    --------
    >>> read_digest_record(Path("/nonexistent/file")) is None
    True
    """
    try:
        record = json.loads(digest_record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not SHA256_HEX.fullmatch(str(record.get("sha256", ""))):
        return None
    return record


def write_digest_record(path: Path, digest: str, source: str) -> None:
    """Record `digest` as the verified sha256 of `path` (with its size and mtime), atomically.

    Parameters
    ----------
    path : pathlib.Path
        The cached file, already verified.
    digest : str
        Its hex sha256.
    source : str
        Where it came from (a URL, or the path itself for a file placed by hand).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.bin"
    ...     _ = path.write_bytes(b"")
    ...     write_digest_record(path, sha256_file(path), str(path))
    ...     sorted(read_digest_record(path))
    ['mtime_ns', 'sha256', 'size', 'source']
    """
    st = path.stat()
    record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "source": source}
    with atomic_write(digest_record_path(path)) as f:
        f.write(json.dumps(record, indent=1) + "\n")


def verify_cached(path: Path, pin: str | None, record: dict | None) -> str | None:
    """The cached file's digest if it may be used (matches `pin`, or nothing is pinned).

    A file whose size and mtime match its `record` is trusted without reading it again (it was
    verified when the record was written); otherwise it is hashed.

    Parameters
    ----------
    path : pathlib.Path
        The cached file.
    pin : str or None
        The sha256 it must have, or None to accept any content.
    record : dict or None
        Its digest record (`read_digest_record`).

    Returns
    -------
    str or None
        Its hex sha256, or None when it does not match `pin`.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.bin"
    ...     _ = path.write_bytes(b"")
    ...     verify_cached(path, "0" * 64, None) is None, verify_cached(path, None, None)[:8]
    (True, 'e3b0c442')
    """
    st = path.stat()
    unchanged = (
        record is not None
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )
    if unchanged and (pin is None or record["sha256"] == pin):  # type: ignore[index]
        return record["sha256"]  # type: ignore[index]  # verified when it was written
    digest = sha256_file(path)
    return digest if pin is None or digest == pin else None
