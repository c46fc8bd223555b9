"""ABC folk tunes: find, read, clean and split a collection into one string per tune.

ABC is a plain-text music notation (https://abcnotation.com/wiki/abc:standard:v2.1). A tune is a
header of ``Field:value`` lines, from ``X:`` (its reference number) to ``K:`` (its key), then a
body of music in which ``|`` separates bars::

    X:1
    T:The Enchanted Valley
    M:2/4
    L:1/16
    K:Gm
    G3-A (Bcd=e) | f4 (g2dB) | ...

## Setup

`load_tunes` turns a collection (a name from `mitdeeplearning.data`, a URL, an ``.abc`` file or a
folder of them) into a list of tune strings, keeping only what a model should learn from: the
music and the fields that change how it sounds. Whether a tune is well formed is another
question, answered by `mitdeeplearning.music.tune_check.check_tune`.

## The algorithm

Each file is read as text (UTF-8, else Latin-1; UTF-16 with a byte-order mark) after refusing
what cannot be a tune collection: an empty, binary or oversized file. A tune starts at a line
beginning ``X:`` and ends at the first blank line after some music (ABC's own rule); comments,
lyrics and fields that carry no music are dropped line by line, spacing in the music is tidied,
and tunes without a key or without music, or repeating an earlier tune, are skipped and
counted.

## Let's test-drive it

>>> from mitdeeplearning.music import load_tunes
>>> tunes = load_tunes("oneills1850", limit=3)
>>> print(tunes[0].splitlines()[:3])
['X: 1', 'T: The Enchanted Valley', 'M: 2/4']
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .._lazy import moved_names

log = logging.getLogger(__name__)

__all__ = ["COMMENT_PATTERN", "FIELD_LINE_PATTERN", "MAX_FILE_BYTES", "load_tunes", "read_abc_file"]

#: Largest single ABC file `load_tunes` reads. All of O'Neill's 2,009 tunes take 0.8 MB, so a
#: bigger file is almost certainly not a tune collection (a dump, a binary, a wrong path).
MAX_FILE_BYTES = 50 * 1024 * 1024

# Header fields that change the music (X reference number, T title, M meter, L unit length,
# K key, Q tempo, P parts, V voice); the rest (B book, N notes, Z transcriber, S source,
# O origin, R rhythm, A, C, D, F, G, H, I, ...) describe the tune but carry no music.
_KEPT_HEADER_FIELDS = frozenset("XTMLKQPV")
# Fields allowed inside a tune's body that change the music from there on.
_KEPT_BODY_FIELDS = frozenset("KLMPQV")
#: A field line: a capital letter (or a lower-case field letter: w lyrics, s symbols, m macro,
#: r remark; or + continuation) and a colon, but not a note followed by a repeat (``A:|``,
#: ``B::``). Group 1 is the field's letter.
FIELD_LINE_PATTERN = re.compile(r"^([A-Z]|[wsmr+]):(?![|:])")
#: A comment, from ``%`` to the end of the line (``\%`` is an escaped percent sign, not one).
COMMENT_PATTERN = re.compile(r"(?<!\\)%.*")
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):[^\]\n]*\]")
_SPACES = re.compile(r"[ \t]+")
_WHITESPACE = re.compile(r"\s+")

_SKIP_NO_KEY = "no K: header"
_SKIP_NO_BODY = "no music after K:"
_SKIP_DUPLICATE = "duplicate"


def _abc_collections() -> list[str]:
    """Names of the registered datasets that hold ABC tunes."""
    from mitdeeplearning import data

    return [
        entry.name
        for entry in data.datasets()
        if (entry.bundled or "").startswith("music21:")
        or any(f.filename.lower().endswith(".abc") for f in entry.files)
    ]


def _resolve_source(source: str | os.PathLike) -> Path:
    """A local file or folder for `source`: a path, a URL or a registry name."""
    from mitdeeplearning import data

    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a collection name, a URL or a path, not {type(source).__name__}."
        )
    if isinstance(source, os.PathLike):
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"No such ABC file or folder: {path}")
        return path
    if data.is_url(source):
        return data.fetch(source)
    path = Path(source).expanduser()
    if source and path.exists():
        return path
    collections = _abc_collections()
    try:
        entry = data.get_dataset(source)
    except data.UnknownDatasetError:
        raise data.UnknownDatasetError(
            f"{source!r} is not an existing file or folder, a URL, or a known collection. "
            f"ABC collections: {', '.join(collections)}."
        ) from None
    if entry.name not in collections:
        raise ValueError(
            f"Dataset {source!r} holds no ABC tunes. ABC collections: {', '.join(collections)}."
        )
    return data.fetch(source)


def _abc_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".abc" and p.is_file())
    if not files:
        raise ValueError(f"No .abc files in the folder {path}.")
    return files


def read_abc_file(path: str | os.PathLike) -> str:
    r"""The text of an ``.abc`` file, read as it is (not split or cleaned).

    UTF-8 (a byte-order mark dropped), else Latin-1, in which older collections are written;
    UTF-16 when it starts with a byte-order mark (Windows editors).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        Its text.

    Raises
    ------
    ValueError
        The file is empty, larger than `MAX_FILE_BYTES`, or binary (over 5% control bytes); the
        message names it.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cafe.abc"
    >>> _ = path.write_bytes("X:1\nT:Caf\xe9\nK:C\nCDEF|\n".encode("latin-1"))
    >>> read_abc_file(path).splitlines()[1]
    'T:Café'
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"{path} is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit for one "
            "ABC file; that is not a tune collection. Split it, or check the path."
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty: expected ABC tunes (lines starting X:, then K:).")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte-order mark (Windows editors)
        return raw.decode("utf-16", errors="replace")
    # Text has no control bytes besides tab, newline, form feed and carriage return.
    control = sum(raw.count(bytes([b])) for b in (*range(9), 11, *range(14, 32), 127))
    if control > 0.05 * len(raw):
        raise ValueError(
            f"{path} looks like binary data, not ABC text ({control} of its {len(raw)} bytes "
            "are NUL or other control characters)."
        )
    text = raw.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text:  # not UTF-8: older ABC files are mostly Latin-1, where every byte decodes
        text = raw.decode("latin-1")
    return text


@dataclasses.dataclass
class _TuneLines:
    reference: str  # the X: line
    header: list[str] = dataclasses.field(default_factory=list)
    key: str | None = None
    body: list[str] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        return "\n".join([self.reference, *self.header, self.key or "", *self.body])


def _tidy_spacing(line: str) -> str:
    """One space wherever a music line has several (or tabs), and no indentation.

    In ABC, spacing only separates beamed groups, so this changes nothing in the music; the
    column alignment of some transcriptions would otherwise teach a model long runs of spaces.
    A line that would then read as a field (``K:...``) keeps one leading space.
    """
    tidy = _SPACES.sub(" ", line).strip()
    return " " + tidy if tidy and FIELD_LINE_PATTERN.match(tidy) else tidy


def _tunes_in_text(text: str) -> Iterator[_TuneLines]:
    """Tunes in an ABC file, cleaned: one per X: line, ending at the first blank line after it.

    Text before the first X:, and anything between a tune's closing blank line and the next
    X:, belongs to no tune. Comments, lyrics and header fields that carry no music are dropped.
    """
    tune: _TuneLines | None = None
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw_line.rstrip()
        if line.startswith("X:"):
            if tune is not None:
                yield tune
            tune = _TuneLines(reference=line)
            continue
        if tune is None:
            continue
        if not line:
            # ABC's own rule: a blank line ends the tune. One inside the header (before any
            # music) is tolerated, as a few transcriptions have one.
            if tune.body:
                yield tune
                tune = None
            continue
        line = COMMENT_PATTERN.sub("", line).rstrip()  # also drops %% directive lines
        if not line:
            continue
        field = FIELD_LINE_PATTERN.match(line)
        letter = field.group(1) if field else None
        if tune.key is None:
            if letter == "K":
                tune.key = line
            elif letter in _KEPT_HEADER_FIELDS:
                tune.header.append(line)
            elif letter is None:
                tune.body.append(line)  # music before any K:; the tune is skipped later
        elif letter is None:
            kept = _INLINE_FIELD.sub(
                lambda m: m.group(0) if m.group(1) in _KEPT_BODY_FIELDS else "", line
            )
            kept = _tidy_spacing(kept)
            if kept:
                tune.body.append(kept)
        elif letter in _KEPT_BODY_FIELDS:
            if letter in "MLQ" and not tune.body:
                tune.header.append(line)  # written after K: but before any music: same meaning
            else:
                tune.body.append(line)
    if tune is not None:
        yield tune


def load_tunes(source: str | os.PathLike = "oneills1850", *, limit: int | None = None) -> list[str]:
    """Load ABC tunes as a list of strings, one per tune, cleaned for training a model.

    A tune starts at a line beginning ``X:`` and ends at the first blank line after it (ABC's
    own rule), so text before the first tune and prose between tunes are left out. Line endings
    become ``\\n``; in the music, runs of spaces become one and indentation goes (ABC spacing
    only separates beamed notes, so the music is unchanged). Each tune keeps its X, T, M, L,
    K, Q, P and V fields (K last in the header), its music and inline fields such as
    ``[K:G]``; comments (``%``, but not ``\\%``), ``%%`` directives, lyrics (``w:``, ``W:``)
    and fields that carry no music (``B:``, ``N:``, ``Z:``, ``S:``, ``O:``, ``R:``...) are
    dropped. Tunes without a ``K:`` line
    or without music after it are skipped, and so are exact repeats of an earlier tune (the
    same text apart from the ``X:`` line and spacing). One INFO message on the
    ``mitdeeplearning.music.abc`` logger counts what was skipped and why.

    Parameters
    ----------
    source : str or path-like, default "oneills1850"
        A collection name from `mitdeeplearning.data` (``"oneills1850"``, ``"ryans-mammoth"``,
        ``"airds-airs"``, ``"essen"``, ``"mit-irish-tunes"``), an ``http(s)://`` URL of an
        ``.abc`` file (fetched and cached by `mitdeeplearning.data.fetch`), a path to an
        ``.abc`` file, or a folder whose ``*.abc`` files are all read (recursively, sorted by
        path so the order never changes).
    limit : int, optional
        Keep only the first `limit` tunes (after duplicates are removed). Must be positive.

    Returns
    -------
    list of str
        The tunes, in file order, each without a trailing newline. The ``X:`` numbers are kept as
        written.

    Raises
    ------
    ValueError
        `limit` is not positive; a file is empty, binary or over `MAX_FILE_BYTES`; no tunes
        were found; or a registry name names a dataset that holds no ABC.
    mitdeeplearning.data.UnknownDatasetError
        `source` is not a file, a folder, a URL or a known collection (the message lists them).
    FileNotFoundError
        `source` is a `pathlib.Path` (or other path-like object) that does not exist.

    Examples
    --------
    >>> from mitdeeplearning.music import load_tunes
    >>> tunes = load_tunes("oneills1850", limit=2)
    >>> len(tunes)
    2
    >>> print(tunes[0].splitlines()[:5])
    ['X: 1', 'T: The Enchanted Valley', 'M: 2/4', 'L: 1/16', 'K:Gm']
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive whole number or None, not {limit!r}.")
    path = _resolve_source(source)
    tunes: list[str] = []
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    for file in _abc_files(path):
        for tune in _tunes_in_text(read_abc_file(file)):
            if tune.key is None:
                skipped[_SKIP_NO_KEY] += 1
                continue
            if not tune.body:
                skipped[_SKIP_NO_BODY] += 1
                continue
            text = tune.text()
            fingerprint = _WHITESPACE.sub(" ", text.partition("\n")[2]).strip()
            if fingerprint in seen:
                skipped[_SKIP_DUPLICATE] += 1
                continue
            seen.add(fingerprint)
            tunes.append(text)
            if limit is not None and len(tunes) >= limit:
                break
        if limit is not None and len(tunes) >= limit:
            break
    if not tunes:
        raise ValueError(
            f"No ABC tunes found in {path}: looked for tunes starting with an 'X:' line and "
            f"holding a 'K:' line followed by music"
            + (f" (skipped: {_format_counts(skipped)})." if skipped else ".")
        )
    log.info(
        "Loaded %d tunes from %s; skipped %s.",
        len(tunes),
        path,
        _format_counts(skipped) if skipped else "none",
    )
    return tunes


def _format_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in counts.most_common())


#: The tune checker's names moved to `mitdeeplearning.music.tune_check` when it got its own
#: module; they are still importable from here, warning once.
__getattr__ = moved_names(
    __name__,
    {
        name: f"mitdeeplearning.music.tune_check:{name}"
        for name in ("MAX_TUNE_CHARS", "TuneCheck", "check_tune", "corrupt_tune")
    },
    globals(),
)
