"""Named datasets, and the one place the course touches the network.

Topic code asks for a dataset by name and gets back a local path::

    >>> from mitdeeplearning import data
    >>> path = data.fetch("mit-irish-tunes")          # doctest: +SKIP
    >>> path.name                                      # doctest: +SKIP
    'irish.abc'

What `fetch` promises:

* Files are cached in ``$MITDL_DATA`` or, without it, in a per-user cache folder
  (`default_cache_dir`). A cached file is never downloaded twice.
* A download goes to a temporary file beside its destination and is renamed into place only
  after its sha256 matches, so no reader ever sees a partial or corrupt file. Two processes
  fetching the same file at once download it once (a file lock).
* Transient failures (dropped connections, short bodies, HTTP 5xx/429) are retried with
  exponential backoff, resuming where the server allows it.
* Without a network, the error says where to download the file by hand and the exact path to put
  it. Datasets that need a login (SIIM-ACR) or are too large to fetch blindly say how to get them
  and what to point the builders at.
* A URL fetched without a sha256 is accepted with an `UnverifiedDownloadWarning`; the digest seen
  is recorded next to the file (``<file>.sha256``) and later fetches are verified against it.

`extract` unpacks tar and zip archives, refusing entries that would escape the target folder,
links and device files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ._version import __version__

log = logging.getLogger(__name__)

__all__ = [
    "ChecksumError",
    "DataError",
    "Dataset",
    "DownloadError",
    "ManualDownloadRequired",
    "RemoteFile",
    "UnknownDatasetError",
    "UnsafeArchiveError",
    "UnverifiedDownloadWarning",
    "dataset_status",
    "datasets",
    "default_cache_dir",
    "extract",
    "fetch",
    "get_dataset",
    "register",
    "sha256_file",
]

_CHUNK = 1 << 20  # bytes read and hashed at a time
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_HEX64 = re.compile(r"[0-9a-f]{64}")


# ## Errors ---------------------------------------------------------------------------------


class DataError(Exception):
    """Base class of every error this module raises on purpose."""


class UnknownDatasetError(DataError, LookupError):
    """A dataset name that is not in the registry (the message lists the known ones)."""


class DownloadError(DataError):
    """A download failed for good: HTTP error, no network, or retries exhausted."""


class ManualDownloadRequired(DataError):
    """The dataset cannot be downloaded automatically; the message says how to get it."""


class ChecksumError(DataError):
    """A file's sha256 is not the expected one. Nothing unverified is left in the cache."""

    def __init__(self, source: str, expected: str, actual: str, hint: str = ""):
        self.source, self.expected, self.actual = source, expected, actual
        super().__init__(
            f"Checksum mismatch for {source}: expected sha256 {expected}, got {actual}."
            + (f" {hint}" if hint else "")
        )


class UnsafeArchiveError(DataError):
    """An archive entry escapes the target folder, or is a link or a device file."""


class UnverifiedDownloadWarning(UserWarning):
    """A file was downloaded without a known sha256; its digest was recorded for next time."""


# ## The registry ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Parameters
    ----------
    filename : str
        Name of the file in the dataset's cache folder.
    urls : tuple of str
        Where to download it, tried in order (mirrors). Empty when the file can only be obtained
        by hand.
    sha256 : str or None
        Expected hex digest. None when it cannot be known in advance: the first download is then
        recorded and later ones are verified against it.
    size : int or None
        Size in bytes, when known.
    """

    filename: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A registry entry: what a dataset is, where it comes from, and how to get it by hand."""

    name: str
    title: str
    license: str
    citation: str
    homepage: str
    manual: str
    files: tuple[RemoteFile, ...] = ()
    #: ``"<package>:<folder>"`` for data that ships inside an installed package (no download).
    bundled: str | None = None
    #: What to do with the files once they are here (e.g. the builder command to run).
    builder: str = ""
    #: Total size in bytes when the files are not listed one by one (large archives).
    approx_size: int | None = None

    @property
    def size(self) -> int | None:
        """Total download size in bytes, or None when unknown."""
        sizes = [f.size for f in self.files]
        if sizes and all(s is not None for s in sizes):
            return sum(sizes)  # type: ignore[arg-type]
        return self.approx_size

    @property
    def downloadable(self) -> bool:
        return bool(self.files) and all(f.urls for f in self.files)


_NIH_ARCHIVES = (
    "vfk49d74nhbxq3nqjg0900w5nvkorp5c",
    "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1",
    "f1t00wrtdk94satdfb9olcolqx20z2jp",
    "0aowwzs5lhjrceb3qp67ahp0rd1l1etg",
    "v5e3goj22zr6h8tzualxfsqlqaygfbsn",
    "asi7ikud9jwnkrnkj99jnpfkjdes7l6l",
    "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n",
    "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j",
    "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj",
    "l6nilvfa9cg3s28tqv1qc1olm3gnz54p",
    "hhq8fkdgvcari67vfhs7ppg2w6ni4jze",
    "ioqwiy20ihqwyr8pf4c24eazhh281pbu",
)
_NIH_HOME = "https://nihcc.app.box.com/v/ChestXray-NIHCC"
_NIH_CITATION = (
    "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest X-ray "
    "Database and Benchmarks on Weakly-Supervised Classification and Localization of Common "
    "Thorax Diseases. CVPR 2017. Images courtesy of the NIH Clinical Center."
)
_MUSIC21_CREDIT = (
    "Distributed with music21 (Cuthbert & Ariza, ISMIR 2010) with the encoders' permission."
)

_REGISTRY: dict[str, Dataset] = {}


def _check_filename(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a valid file name for the data cache.")


def register(dataset: Dataset, *, replace: bool = False) -> Dataset:
    """Add a dataset to the registry (instructors can add their own)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", dataset.name):
        raise ValueError(
            f"Dataset name {dataset.name!r} is not valid: use lower-case letters, digits, '-', "
            "'_' and '.'."
        )
    if dataset.name in _REGISTRY and not replace:
        raise ValueError(f"A dataset named {dataset.name!r} is already registered.")
    for f in dataset.files:
        if f.sha256 is not None and not _HEX64.fullmatch(f.sha256):
            raise ValueError(
                f"{dataset.name}/{f.filename}: sha256 must be 64 lower-case hex digits."
            )
        _check_filename(f.filename)
    _REGISTRY[dataset.name] = dataset
    return dataset


for _entry in (
    Dataset(
        name="oneills1850",
        title="O'Neill's Music of Ireland (1850 tunes), ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "Francis O'Neill, O'Neill's Music of Ireland (1903). ABC transcriptions by Norbert "
            "Paap, John Chambers and others. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/oneills1850",
        approx_size=848_000,
    ),
    Dataset(
        name="ryans-mammoth",
        title="Ryan's Mammoth Collection (1,059 tunes), ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "William Bradbury Ryan, Ryan's Mammoth Collection (1883). ABC transcriptions by "
            "Bill Black and Andrew Kuntz. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/ryansMammoth",
        approx_size=4_200_000,
    ),
    Dataset(
        name="airds-airs",
        title="Aird's Selection of Scotch, English, Irish and Foreign Airs, ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "James Aird, A Selection of Scotch, English, Irish and Foreign Airs (1782-1803). "
            "ABC transcriptions by John Chambers. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/airdsAirs",
        approx_size=428_000,
    ),
    Dataset(
        name="essen",
        title="Essen Folksong Collection (8,514 songs), ABC",
        license="Research and teaching use only (non-commercial)",
        citation=(
            "Helmut Schaffrath, The Essen Folksong Collection, ed. David Huron (1995). ABC "
            "conversion distributed with music21. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/essenFolksong",
        approx_size=2_600_000,
    ),
    Dataset(
        name="mit-irish-tunes",
        title="The 817 Irish tunes of MIT 6.S191's music lab (2020-2025), ABC",
        license="MIT (introtodeeplearning repository); tunes from thesession.org",
        citation=(
            "A. Amini et al., MIT 6.S191 Introduction to Deep Learning, lab 1 (2020-2025); tunes "
            "collected from thesession.org."
        ),
        homepage="https://github.com/aamini/introtodeeplearning",
        manual="Save the raw file from the homepage's mitdeeplearning/data/irish.abc.",
        files=(
            RemoteFile(
                "irish.abc",
                urls=(
                    "https://raw.githubusercontent.com/aamini/introtodeeplearning/master/"
                    "mitdeeplearning/data/irish.abc",
                ),
                sha256="df3782d5f7b5a2f4c66aa7c13f13008d5f48757b3f5f51620cd6c1ceb2c53023",
                size=197_618,
            ),
        ),
    ),
    Dataset(
        name="nih-chestxray14",
        title="NIH ChestX-ray14: 112,120 frontal chest radiographs (PNG, 1024x1024)",
        license="No restrictions on use; cite the paper and credit the NIH Clinical Center",
        citation=_NIH_CITATION,
        homepage=_NIH_HOME,
        manual=(
            f"Download images_001.tar.gz ... images_012.tar.gz from {_NIH_HOME} (folder 'images'). "
            "The archives change rarely but carry no published checksum: the first download "
            "is recorded and later ones are verified against it."
        ),
        files=tuple(
            RemoteFile(
                f"images_{i:03d}.tar.gz",
                urls=(f"https://nihcc.box.com/shared/static/{key}.gz",),
            )
            for i, key in enumerate(_NIH_ARCHIVES, start=1)
        ),
        builder=(
            "Extract the archives into one folder, then: mitdl build nih --images DIR "
            "--csv Data_Entry_2017.csv [--bbox BBox_List_2017.csv]"
        ),
        approx_size=45_000_000_000,
    ),
    Dataset(
        name="nih-chestxray14-labels",
        title="NIH ChestX-ray14 labels (Data_Entry_2017.csv) and boxes (BBox_List_2017.csv)",
        license="No restrictions on use; cite the paper and credit the NIH Clinical Center",
        citation=_NIH_CITATION,
        homepage=_NIH_HOME,
        manual=(
            f"Open {_NIH_HOME} in a browser and download Data_Entry_2017.csv (or its "
            "Data_Entry_2017_v2020.csv revision) and BBox_List_2017.csv. The box list, with its 98 "
            "pneumothorax boxes, also ships inside the torchxrayvision package."
        ),
        files=(RemoteFile("Data_Entry_2017.csv"), RemoteFile("BBox_List_2017.csv")),
        builder="mitdl build nih --images DIR --csv Data_Entry_2017.csv --bbox BBox_List_2017.csv",
    ),
    Dataset(
        name="siim-acr-pneumothorax",
        title="SIIM-ACR Pneumothorax Segmentation (DICOM images, masks as RLE)",
        license="Kaggle competition rules: non-commercial research and education",
        citation=(
            "Society for Imaging Informatics in Medicine (SIIM) and American College of "
            "Radiology (ACR), SIIM-ACR Pneumothorax Segmentation challenge, 2019."
        ),
        homepage="https://www.kaggle.com/c/siim-acr-pneumothorax-segmentation",
        manual=(
            "Needs a Kaggle account that accepted the competition rules. Download the "
            "competition data (dicom-images-train/ and train-rle.csv) from the homepage, or with "
            "the Kaggle CLI (kaggle competitions download -c siim-acr-pneumothorax-segmentation)."
        ),
        builder="mitdl build siim --images DIR --rle train-rle.csv",
    ),
    Dataset(
        name="mit-2018-pneumothorax",
        title="MIT 6.S191 (2018) pneumothorax subset of ChestX-ray14, HDF5 (image, label)",
        license="Derived from NIH ChestX-ray14 (no restrictions on use)",
        citation=_NIH_CITATION + " Subset prepared for MIT 6.S191 (2018).",
        homepage="https://github.com/aamini/introtodeeplearning_labs",
        manual=(
            "The 2018 course shared this file through Dropbox links that no longer work "
            "reliably. If you have a copy, put it in the data cache as shown; `mitdl build nih` "
            "makes an equivalent file from the NIH images."
        ),
        files=(RemoteFile("pneumothorax.h5"),),
    ),
):
    register(_entry)


def datasets() -> list[Dataset]:
    """All registered datasets, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_dataset(name: str) -> Dataset:
    """The registry entry called `name`; an `UnknownDatasetError` lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(_REGISTRY))}. "
            "A URL (http:// or https://) can be fetched too."
        ) from None


# ## Where files live --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The cache folder: ``$MITDL_DATA`` if set, else the platform's per-user cache folder.

    Linux ``$XDG_CACHE_HOME/mitdeeplearning`` (``~/.cache/mitdeeplearning``), macOS
    ``~/Library/Caches/mitdeeplearning``, Windows ``%LOCALAPPDATA%\\mitdeeplearning\\Cache``.
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


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _bundled_path(entry: Dataset) -> Path:
    package, _, folder = entry.bundled.partition(":")  # type: ignore[union-attr]
    import importlib.util

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
    """One word or phrase for `mitdl datasets`: bundled, cached, partial (k/n), missing..."""
    entry = get_dataset(name)
    if entry.bundled:
        try:
            _bundled_path(entry)
        except ManualDownloadRequired:
            return "not installed"
        return "bundled"
    if not entry.files:
        return "manual"
    folder = _cache_root(cache_dir) / entry.name
    present = sum((folder / f.filename).is_file() for f in entry.files)
    if present == len(entry.files):
        return "cached"
    if present:
        return f"partial ({present}/{len(entry.files)})"
    return "not cached" if entry.downloadable else "manual"


# ## Checksums ---------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(_record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _HEX64.fullmatch(str(record.get("sha256", ""))):
        return None
    return record


def _write_record(path: Path, digest: str, source: str) -> None:
    st = path.stat()
    record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "source": source}
    tmp = _record_path(path).with_suffix(".sha256.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, _record_path(path))


def _verify_cached(path: Path, pin: str | None, record: dict | None) -> str | None:
    """The cached file's digest if it may be used (matches `pin`, or nothing is pinned)."""
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


# ## Fetching ----------------------------------------------------------------------------------


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https", "file")


def _url_cache_path(root: Path, url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.unquote(parts.path.rstrip("/").rpartition("/")[2]) or "download"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[-80:].lstrip(".") or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    return root / "urls" / f"{key}-{base}"


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI"):
        return False
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr is not None and sys.stderr.isatty()


def fetch(
    name_or_url: str,
    *,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Return a local path to a registered dataset or a URL, downloading it if needed.

    Parameters
    ----------
    name_or_url : str
        A registry name (see `datasets`; ``"name/filename"`` picks one file of a multi-file
        dataset), or an ``http(s)://`` URL.
    sha256 : str, optional
        Expected hex digest. Required for a verified URL download; for a registry name it
        overrides the registry's digest (single-file datasets only).
    cache_dir : path, optional
        Cache folder; default `default_cache_dir()`.
    progress : bool, optional
        Show a progress bar. Default: on a terminal or in a notebook, never when ``$CI`` is set.
    retries : int
        How many times a transient failure is retried (so up to ``retries + 1`` attempts).
    timeout : float
        Seconds to wait for the server to answer or send more data.
    backoff : float
        Seconds before the first retry; doubled at each retry.

    Returns
    -------
    pathlib.Path
        The file (single-file datasets and URLs), the folder holding all of a dataset's files,
        or, for data bundled with an installed package, that package's folder.

    Raises
    ------
    UnknownDatasetError
        The name is neither registered nor a URL.
    ChecksumError
        The download (or a file put in the cache by hand) does not have the expected sha256.
    DownloadError
        HTTP errors, no network, or transient failures that outlasted the retries.
    ManualDownloadRequired
        The dataset cannot be downloaded automatically; the message says how to get it.

    Examples
    --------
    >>> fetch("oneills1850").name                      # doctest: +SKIP
    'oneills1850'
    """
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not _HEX64.fullmatch(sha256):
            raise ValueError(f"sha256={sha256!r} is not a sha256 hex digest (64 hex digits).")
    if retries < 0:
        raise ValueError(f"retries={retries} must be 0 or more.")
    options = {
        "progress": _progress_enabled(progress),
        "retries": retries,
        "timeout": timeout,
        "backoff": backoff,
    }
    root = _cache_root(cache_dir)

    if _is_url(name_or_url):
        dest = _url_cache_path(root, name_or_url)
        remote = RemoteFile(dest.name.partition("-")[2], (name_or_url,), sha256)
        return _fetch_file(remote, dest, **options)

    name, _, member = name_or_url.partition("/")
    entry = get_dataset(name)
    if entry.bundled:
        return _bundled_path(entry)
    if not entry.files:
        raise ManualDownloadRequired(
            f"Dataset {entry.name!r} ({entry.title}) cannot be downloaded automatically. "
            f"{entry.manual}" + (f" Then: {entry.builder}" if entry.builder else "")
        )
    files = entry.files
    if member:
        files = tuple(f for f in entry.files if f.filename == member)
        if not files:
            known = ", ".join(f.filename for f in entry.files)
            raise UnknownDatasetError(
                f"Dataset {name!r} has no file {member!r}. Its files: {known}."
            )
    if sha256 is not None:
        if len(files) != 1:
            raise ValueError(
                f"sha256= applies to one file, but {entry.name!r} has {len(files)}; "
                "fetch them one at a time as 'name/filename'."
            )
        files = (dataclasses.replace(files[0], sha256=sha256),)
    folder = root / entry.name
    paths = [_fetch_file(f, folder / f.filename, entry=entry, **options) for f in files]
    return paths[0] if len(entry.files) == 1 or member else folder


def _manual_hint(remote: RemoteFile, dest: Path, entry: Dataset | None) -> str:
    where = " or ".join(remote.urls) if remote.urls else (entry.homepage if entry else "")
    hint = f"Without a network, download it by hand from {where} and save it as {dest}"
    if remote.sha256:
        hint += f" (its sha256 must be {remote.sha256})"
    hint += "; the next fetch will use it."
    if entry is not None and entry.manual and not remote.urls:
        hint = f"{entry.manual} Save the file as {dest}; the next fetch will use it."
    return hint


def _fetch_file(
    remote: RemoteFile,
    dest: Path,
    *,
    entry: Dataset | None = None,
    progress: bool,
    retries: int,
    timeout: float,
    backoff: float,
) -> Path:
    from filelock import FileLock

    dest.parent.mkdir(parents=True, exist_ok=True)
    source = remote.urls[0] if remote.urls else str(dest)
    with FileLock(str(dest) + ".lock"):
        record = _read_record(dest)
        pin = remote.sha256 or (record["sha256"] if record else None)
        if dest.is_file():
            digest = _verify_cached(dest, pin, record)
            if digest is not None:
                if record is None or record.get("sha256") != digest:
                    _write_record(dest, digest, source)
                return dest
            if not remote.urls:  # placed by hand, so never deleted behind the user's back
                raise ChecksumError(
                    str(dest),
                    pin,  # type: ignore[arg-type]
                    sha256_file(dest),
                    f"Replace it with a good copy. {_manual_hint(remote, dest, entry)}",
                )
            log.warning("Cached %s does not match its sha256; downloading it again.", dest)
            dest.unlink()
        if not remote.urls:
            label = entry.name if entry else dest.name
            raise ManualDownloadRequired(
                f"{label}: {dest.name} is not in the cache and cannot be downloaded "
                f"automatically. {_manual_hint(remote, dest, entry)}"
                + (f" Then: {entry.builder}" if entry and entry.builder else "")
            )
        digest = _download(
            remote,
            dest,
            expected=pin,
            hint=_manual_hint(dataclasses.replace(remote, sha256=pin), dest, entry),
            progress=progress,
            retries=retries,
            timeout=timeout,
            backoff=backoff,
        )
        if pin is None:
            warnings.warn(
                f"Downloaded {source} without a known sha256 (got {digest}); recorded it in "
                f"{_record_path(dest).name}, and later fetches will be verified against it. "
                "Pass sha256= to verify the first download too.",
                UnverifiedDownloadWarning,
                stacklevel=3,
            )
        _write_record(dest, digest, source)
        return dest


class _ShortBody(Exception):
    """The server closed the connection before sending Content-Length bytes."""


def _download(
    remote: RemoteFile,
    dest: Path,
    *,
    expected: str | None,
    hint: str,
    progress: bool,
    retries: int,
    timeout: float,
    backoff: float,
) -> str:
    """Download into a temporary file beside `dest`, verify, then rename. Returns the digest."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    error: DataError | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            for url in remote.urls:  # mirrors, in order
                out.seek(0)
                out.truncate()
                try:
                    digest = _download_one(
                        url, out, label=remote.filename, size=remote.size, progress=progress,
                        retries=retries, timeout=timeout, backoff=backoff, hint=hint,
                    )  # fmt: skip
                except DownloadError as exc:
                    error = exc
                    continue
                if expected is not None and digest != expected:
                    error = ChecksumError(
                        url, expected, digest, "The download was deleted; nothing was cached."
                    )
                    continue
                out.flush()
                os.fsync(out.fileno())
                break
            else:
                raise error  # type: ignore[misc]
        # mkstemp makes the file private (0600); a shared course cache needs the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
        return digest
    finally:
        tmp.unlink(missing_ok=True)


def _content_range_start(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", value or "")
    return int(match.group(1)) if match else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _download_one(
    url: str,
    out,
    *,
    label: str,
    size: int | None,
    progress: bool,
    retries: int,
    timeout: float,
    backoff: float,
    hint: str,
) -> str:
    """Stream `url` into the open file `out`, retrying transient failures. Returns the digest."""
    from tqdm.auto import tqdm

    hasher = hashlib.sha256()
    written = 0
    attempt = 0
    with tqdm(
        total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
        disable=not progress, leave=True,
    ) as bar:  # fmt: skip
        while True:
            retry_after = 0.0
            try:
                headers = {"User-Agent": f"mitdeeplearning/{__version__}"}
                if written:
                    headers["Range"] = f"bytes={written}-"
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status = getattr(response, "status", None) or 200
                    resumed = (
                        written > 0
                        and status == 206
                        and _content_range_start(response.headers.get("Content-Range")) == written
                    )
                    if written and not resumed:  # the server ignored Range: start over
                        out.seek(0)
                        out.truncate()
                        hasher, written = hashlib.sha256(), 0
                        bar.reset()
                    length = response.headers.get("Content-Length")
                    total = written + int(length) if length and length.isdigit() else None
                    if total is not None:
                        bar.total = total
                        bar.refresh()
                    while chunk := response.read(_CHUNK):
                        _write(out, chunk, label)
                        hasher.update(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
                    if total is not None and written < total:
                        raise _ShortBody(f"connection closed after {written} of {total} bytes")
                return hasher.hexdigest()
            except urllib.error.HTTPError as exc:
                if exc.code not in _TRANSIENT_HTTP:
                    raise DownloadError(
                        f"Could not download {url}: the server answered HTTP {exc.code} "
                        f"{exc.reason}. {hint}"
                    ) from None
                reason = f"HTTP {exc.code} {exc.reason}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, OSError, http.client.HTTPException, _ShortBody) as exc:
                reason = _describe(exc)
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"Could not download {url} ({attempt} attempts; last error: {reason}). {hint}"
                )
            delay = max(backoff * 2 ** (attempt - 1), retry_after)
            log.info("Download of %s failed (%s); retry %d in %.1f s", url, reason, attempt, delay)
            time.sleep(delay)


class _WriteError(DataError):
    pass


def _write(out, chunk: bytes, label: str) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # a full disk is not a network hiccup: do not retry
        raise _WriteError(f"Could not write {label} to the data cache: {exc}") from exc


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), 60.0) if value else 0.0
    except ValueError:
        return 0.0


# ## Archives ----------------------------------------------------------------------------------


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

    Returns
    -------
    pathlib.Path
        `dest`.
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

    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence
                    tf.extractall(staging, filter="data")
                else:  # pragma: no cover
                    tf.extractall(staging)
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest
