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

The package has one module per idea, and every public name is available from here:

* `registry`: `Dataset`, `RemoteFile`, `register`, `datasets`, `get_dataset`, and the course's
  datasets with their credits;
* `cache`: where files live (`default_cache_dir`, `cache_root`, `dataset_status`) and the digest
  records beside them (`sha256_file`);
* `download`: `fetch`, `is_url` and the HTTP download machinery (retries, resume, lock, atomic
  rename);
* `archives`: `extract` and its safety checks;
* `errors`: the exceptions all of them raise (`DataError` and its subclasses), and
  `describe_error`, one line for any exception in a message.
"""

from __future__ import annotations

from .._lazy import moved_names
from .archives import extract
from .cache import cache_root, dataset_status, default_cache_dir, sha256_file
from .download import fetch, is_url, progress_enabled
from .errors import (
    ChecksumError,
    DataError,
    DownloadError,
    ManualDownloadRequired,
    UnknownDatasetError,
    UnsafeArchiveError,
    UnverifiedDownloadWarning,
    describe_error,
)
from .registry import Dataset, RemoteFile, datasets, get_dataset, register

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
    "cache_root",
    "dataset_status",
    "datasets",
    "default_cache_dir",
    "describe_error",
    "extract",
    "fetch",
    "get_dataset",
    "is_url",
    "progress_enabled",
    "register",
    "sha256_file",
]

#: Helpers that other packages reached under a private name before they were made public: the
#: old names still work, warning once.
__getattr__ = moved_names(
    __name__, {"_cache_root": "cache_root", "_progress_enabled": "progress_enabled"}, globals()
)
