"""The errors and the warning that `mitdeeplearning.data` raises on purpose, and
`describe_error`, which puts any exception into a message in one line.

They live in one module because the registry, the cache, the download and the archive code all
raise them, and a caller catches them by one name (`DataError` for all of them).
"""

from __future__ import annotations

import urllib.error


def describe_error(error: BaseException) -> str:
    """One line for an error inside a message: ``"<type>: <text>"``.

    The type is not repeated when the text already names it, an exception without text is its
    type's name, and a `urllib.error.URLError` (no network, a refused connection) is described
    by its underlying reason.

    Examples
    --------
    >>> describe_error(ValueError("bad pitch")), describe_error(EOFError())
    ('ValueError: bad pitch', 'EOFError')
    >>> describe_error(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    'ConnectionRefusedError: [Errno 111] Connection refused'
    """
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


class DataError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownDatasetError(DataError, LookupError):
    """A dataset name that is not in the registry (the message lists the known ones)."""


class DownloadError(DataError):
    """A download failed for good: HTTP error, no network, or retries exhausted."""


class ManualDownloadRequired(DataError):
    """The dataset cannot be downloaded automatically; the message says how to get it."""


class ChecksumError(DataError):
    """A file's sha256 is not the expected one. Nothing unverified is left in the cache.

    Parameters
    ----------
    source : str
        The URL or path whose content was checked.
    expected, actual : str
        The expected and the computed hex digests (64 lower-case hex digits each).
    hint : str, optional
        What to do about it, appended to the message.

    Examples
    --------
    >>> error = ChecksumError("https://example.org/a.bin", "0" * 64, "1" * 64)
    >>> error.expected == "0" * 64, error.actual == "1" * 64
    (True, True)
    >>> str(error)
    'Checksum mismatch for https://example.org/a.bin: expected sha256 000...0, got 111...1.'
    """

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
