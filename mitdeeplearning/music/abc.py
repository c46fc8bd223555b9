"""ABC folk tunes: load a collection as one string per tune, and check that a tune is well formed.

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
music and the fields that change how it sounds. `check_tune` says whether one tune is valid,
strictly enough to tell a trained model's tunes from a barely trained one's: music21 parses
almost anything, so the check also counts bars and measures every bar against the meter.

## The algorithm

Bar durations are measured by our own small ABC scanner rather than read back from music21's
score: music21's ABC import splits an overfull bar in two (hiding an added note) and drops
notes decorated with ``H`` (fermata) and ``x`` rests. The scanner works in exact fractions of a
whole note. A bar must last what the meter says, except where real tunes leave bars short: the
first bar (a pickup), the last bar, and a bar split by a section boundary (a repeat sign,
``||``, ``|]``, a first or second ending, a ``P:`` part) into the section's closing bar and the
pickup that starts the same or the next section. Printed collections also have the odd slip (a
bar a note too long or short in about 1 tune in 20), so one odd bar is forgiven by default:
corrupting a tune by dropping or adding a note in two bars still makes it invalid.

## Let's test-drive it

>>> from mitdeeplearning.music import load_tunes, check_tune
>>> tunes = load_tunes("oneills1850", limit=3)
>>> check_tune(tunes[0])
TuneCheck(valid=True, reason='ok', bars=25, notes=121)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import random
import re
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["MAX_FILE_BYTES", "TuneCheck", "check_tune", "corrupt_tune", "load_tunes"]

#: Largest single ABC file `load_tunes` reads. All of O'Neill's 2,009 tunes take 0.8 MB, so a
#: bigger file is almost certainly not a tune collection (a dump, a binary, a wrong path).
MAX_FILE_BYTES = 50 * 1024 * 1024

#: Longest text `check_tune` looks at; O'Neill's longest tune has about 3,000 characters.
MAX_TUNE_CHARS = 100_000

# ## Loading --------------------------------------------------------------------------------

# Header fields that change the music (X reference number, T title, M meter, L unit length,
# K key, Q tempo, P parts, V voice); the rest (B book, N notes, Z transcriber, S source,
# O origin, R rhythm, A, C, D, F, G, H, I, ...) describe the tune but carry no music.
_KEPT_HEADER_FIELDS = frozenset("XTMLKQPV")
# Fields allowed inside a tune's body that change the music from there on.
_KEPT_BODY_FIELDS = frozenset("KLMPQV")
# A field line: a capital letter (or a lower-case field letter: w lyrics, s symbols, m macro,
# r remark; or + continuation) and a colon, but not a note followed by a repeat (``A:|``, ``B::``).
_FIELD_LINE = re.compile(r"^([A-Z]|[wsmr+]):(?![|:])")
_COMMENT = re.compile(r"(?<!\\)%.*")  # ``\%`` is an escaped percent sign, not a comment
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


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https", "file")


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
    if _is_url(source):
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


def _read_text(path: Path) -> str:
    """The file's text; refuses oversized, empty and binary files with a message naming it."""
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
    return " " + tidy if tidy and _FIELD_LINE.match(tidy) else tidy


def _split_tunes(text: str) -> Iterator[_TuneLines]:
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
        line = _COMMENT.sub("", line).rstrip()  # also drops %% directive lines
        if not line:
            continue
        field = _FIELD_LINE.match(line)
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
        for tune in _split_tunes(_read_text(file)):
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


# ## Checking -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TuneCheck:
    """The verdict of `check_tune`.

    Attributes
    ----------
    valid : bool
        True when the tune passed every check.
    reason : str
        ``"ok"`` when valid; otherwise one plain-English sentence saying what is wrong first,
        e.g. ``"bar 5 lasts 7/8 but the meter is 6/8"``.
    bars : int
        Bars found (a pickup and a closing short bar count one each; in a tune with several
        voices, the voice with most bars).
    notes : int
        Notes and chords found, all voices together (rests and grace notes not counted).
    """

    valid: bool
    reason: str
    bars: int
    notes: int


# Default tuplet ratios: (p notes in the time of q), per the ABC 2.1 standard; 5, 7 and 9 take
# q = 3 in compound meters (6/8, 9/8, 12/8) and 2 otherwise.
_TUPLET_TIME = {1: 1, 2: 3, 3: 2, 4: 3, 6: 2, 8: 3}

# One token of a music line. Order matters: inline fields and bar lines before chords, since all
# three can start with "[". An unclosed grace group ends at the next bar line, and an unclosed
# quote is skipped alone, so that one stray character cannot hide the bars after it.
_TOKEN = re.compile(
    r"""
    (?P<field>\[(?P<field_letter>[A-Za-z]):(?P<field_value>[^\]]*)\])
    | (?P<ending>\[\d+(?:[,\-]\d+)*)
    | (?P<bar>(?::*\[?\|[\]|]*:*|:{2,})(?P<bar_ending>\[?\d+(?:[,\-]\d+)*)?)
    | (?P<chord>\[(?P<chord_notes>[^\]\[|]*)\](?P<chord_length>\d*/*\d*))
    | (?P<grace>\{[^}|]*\}?)
    | (?P<annotation>"[^"]*")
    | (?P<decoration>![^!\s]*!|\+[^+\s]*\+)
    | (?P<tuplet>\((?P<p>\d+)(?::(?P<q>\d*))?(?::(?P<r>\d*))?)
    | (?P<note>(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*(?P<note_length>\d*/*\d*))
    | (?P<rest>[zx](?P<rest_length>\d*/*\d*))
    | (?P<multirest>[ZX](?P<multirest_bars>\d*))
    | (?P<broken>[<>]{1,3})
    | (?P<overlay>&)
    """,
    re.VERBOSE,
)
_CHORD_NOTE = re.compile(r"(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*(\d*/*\d*)")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
_METER = re.compile(r"\(?\s*(\d+(?:\s*\+\s*\d+)*)\s*\)?\s*/\s*(\d+)")
_UNIT = re.compile(r"(\d+)\s*/\s*(\d+)|(\d+)")

# Where a bar may be split in two short ones: a repeat sign, a double or final bar line, a
# first/second ending or a new part (and the tune's start and end).
_SECTION_BOUNDARIES = frozenset(
    {"start", "end", "section", "repeat_start", "repeat_end", "ending", "part"}
)
# The same, less endings: a first or second ending continues its section.
_SECTION_STARTS = _SECTION_BOUNDARIES - {"ending"}


class _BadTune(Exception):
    """What `check_tune` reports, raised from deep inside the scanner."""


def _parse_length(text: str) -> Fraction:
    """A note-length suffix (``""``, ``"2"``, ``"/"``, ``"//"``, ``"3/2"``) as a multiplier."""
    numerator, slashes, denominator = _LENGTH.fullmatch(text).groups()  # type: ignore[union-attr]
    if len(numerator) > 4 or len(denominator) > 4 or len(slashes) > 4:
        raise _BadTune(f"the note length {text!r} is not a sensible ABC length")
    top = int(numerator) if numerator else 1
    if not slashes:
        bottom = 1
    elif denominator:
        bottom = int(denominator) * 2 ** (len(slashes) - 1)
    else:
        bottom = 2 ** len(slashes)
    if top == 0 or bottom == 0:
        raise _BadTune(f"the note length {text!r} is zero or divides by zero")
    return Fraction(top, bottom)


def _parse_meter(value: str) -> tuple[Fraction | None, str]:
    """(bar length in whole notes or None for free meter, the meter as written)."""
    meter = value.strip()
    if meter.lower() in ("", "none"):
        return None, "none"
    if meter == "C":
        return Fraction(1), "C (4/4)"
    if meter == "C|":
        return Fraction(1), "C| (2/2)"
    match = _METER.fullmatch(meter)
    if not match:
        raise _BadTune(f"the meter M:{meter} is not one I understand")
    beats = sum(int(n) for n in match.group(1).split("+"))
    if beats == 0 or int(match.group(2)) == 0 or len(match.group(2)) > 3:
        raise _BadTune(f"the meter M:{meter} is not a real meter")
    return Fraction(beats, int(match.group(2))), meter


def _parse_unit(value: str) -> Fraction:
    match = _UNIT.fullmatch(value.strip())
    if not match or (match.group(2) and int(match.group(2)) == 0) or len(value) > 12:
        raise _BadTune(f"the unit note length L:{value.strip()} is not one I understand")
    if match.group(3):
        return Fraction(int(match.group(3)))
    return Fraction(int(match.group(1)), int(match.group(2)))


def _format_duration(duration: Fraction, meter: str, bar_length: Fraction) -> str:
    """A duration as the meter writes it: 7/8 in 6/8, 5/4 in 3/4, otherwise in lowest terms."""
    match = re.search(r"/\s*(\d+)", meter)  # "6/8", "C (4/4)", "2+3/8"
    denominator = int(match.group(1)) if match else bar_length.denominator
    count = duration * denominator
    if count.denominator == 1:
        return f"{count.numerator}/{denominator}"
    return f"{duration.numerator}/{duration.denominator}"


@dataclasses.dataclass
class _Bar:
    duration: Fraction
    bar_length: Fraction | None  # None in free meter
    meter: str
    line: int
    left: set[str]
    right: set[str] = dataclasses.field(default_factory=set)
    multirest_bars: int = 0


@dataclasses.dataclass
class _Voice:
    """Where the scanner is in one voice: its meter, unit length, bars so far, the open bar."""

    bar_length: Fraction | None
    meter: str
    unit: Fraction
    bars: list[_Bar] = dataclasses.field(default_factory=list)
    duration: Fraction = Fraction(0)
    events: int = 0
    multirest_bars: int = 0
    overlay: bool = False  # after "&": a second voice inside the bar, not measured twice
    bar_start_line: int = 0
    bar_start_length: Fraction | None = None
    bar_start_meter: str = ""
    pending_left: set[str] = dataclasses.field(default_factory=lambda: {"start"})
    tuplet_ratio: Fraction = Fraction(1)
    tuplet_left: int = 0
    broken_next: Fraction = Fraction(1)
    last_event: Fraction | None = None  # duration of the last note, for broken rhythm ("a>b")

    def add_event(self, length: Fraction, line: int) -> None:
        if self.overlay:
            return
        if self.events == 0:
            self.bar_start_line = line
            self.bar_start_length, self.bar_start_meter = self.bar_length, self.meter
        duration = self.unit * length * self.broken_next
        if self.tuplet_left > 0:
            duration *= self.tuplet_ratio
            self.tuplet_left -= 1
        self.broken_next = Fraction(1)
        self.duration += duration
        self.events += 1
        self.last_event = duration

    def broken_rhythm(self, marker: str) -> None:
        short = Fraction(1, 2 ** len(marker))
        first, second = (2 - short, short) if marker[0] == ">" else (short, 2 - short)
        if self.last_event is not None and self.events and not self.overlay:
            self.duration += self.last_event * (first - 1)
            self.last_event = None
            self.broken_next = second

    def boundary(self, kinds: set[str]) -> None:
        """A bar line (or ending, or part) of these kinds: close the open bar, if it has music."""
        if self.events or self.multirest_bars:
            self.bars.append(
                _Bar(
                    duration=self.duration,
                    bar_length=self.bar_start_length if self.events else self.bar_length,
                    meter=self.bar_start_meter if self.events else self.meter,
                    line=self.bar_start_line,
                    left=self.pending_left,
                    right=set(kinds),
                    multirest_bars=self.multirest_bars,
                )
            )
            self.pending_left = set(kinds)
        else:  # an empty stretch (":|" then "|:" on the next line): the marks add up
            if self.bars:
                self.bars[-1].right |= kinds
            self.pending_left |= kinds
        self.duration, self.events, self.multirest_bars = Fraction(0), 0, 0
        self.overlay = False
        self.last_event = None

    def bar_count(self) -> int:
        return sum(bar.multirest_bars or 1 for bar in self.bars)


def _bar_kinds(token: str) -> set[str]:
    kinds: set[str] = set()
    bar = token.rstrip("0123456789,-[")
    if bar.startswith(":") or ":|" in bar:
        kinds.add("repeat_end")
    if bar.endswith(":") or "|:" in bar:
        kinds.add("repeat_start")
    if "||" in bar or "]" in bar or "[|" in bar:
        kinds.add("section")
    if bar != token:
        kinds.add("ending")
    return kinds or {"plain"}


class _Scanner:
    """Reads a tune's text into bars (with their durations) and counts its notes."""

    def __init__(self, bar_length: Fraction | None, meter: str, unit: Fraction):
        self.start = (bar_length, meter, unit)
        self.voices: dict[str, _Voice] = {}
        self.voice = self._get_voice("")
        self.notes = 0

    def _get_voice(self, name: str) -> _Voice:
        if name not in self.voices:
            self.voices[name] = _Voice(*self.start)
        return self.voices[name]

    def field(self, letter: str, value: str) -> None:
        """A field in the body, on its own line or inline (``[M:3/4]``)."""
        if letter == "M":
            self.voice.bar_length, self.voice.meter = _parse_meter(value)
        elif letter == "L":
            self.voice.unit = _parse_unit(value)
        elif letter == "V":
            name = value.split()[0] if value.split() else ""
            unnamed = self.voices.get("")
            if unnamed is not None and not unnamed.bars and not unnamed.events:
                del self.voices[""]  # nothing was written before the first V:
            self.voice = self._get_voice(name)
        elif letter in ("P", "T"):  # a new part (or a titled section) starts here
            self.voice.boundary({"part"})

    def line(self, text: str, line_number: int) -> None:
        voice = self.voice
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup
            voice = self.voice
            if kind is None:
                continue
            if kind == "note":
                voice.add_event(_parse_length(match.group("note_length")), line_number)
                self.notes += 1
            elif kind == "rest":
                voice.add_event(_parse_length(match.group("rest_length")), line_number)
            elif kind == "chord":
                inner = _CHORD_NOTE.findall(match.group("chord_notes"))
                if inner:  # music21 skips an empty chord "[]": so do we
                    length = _parse_length(inner[0]) * _parse_length(match.group("chord_length"))
                    voice.add_event(length, line_number)
                    self.notes += 1
            elif kind == "bar":
                voice.boundary(_bar_kinds(match.group("bar")))
            elif kind == "ending":
                voice.boundary({"ending"})
            elif kind == "tuplet":
                self._tuplet(voice, match)
            elif kind == "broken":
                voice.broken_rhythm(match.group("broken"))
            elif kind == "field":
                self.field(match.group("field_letter"), match.group("field_value"))
            elif kind == "multirest":
                if not voice.events:
                    voice.bar_start_line = line_number
                voice.multirest_bars += int(match.group("multirest_bars") or 1)
            elif kind == "overlay":
                voice.overlay = True
        voice = self.voice
        # Some collections (Essen) end a line on a full bar without writing its bar line.
        line_full = voice.bar_length is not None and voice.duration == voice.bar_length
        if voice.events and line_full and not text.endswith("\\"):
            voice.boundary({"plain"})

    def _tuplet(self, voice: _Voice, match: re.Match) -> None:
        p = int(match.group("p")[:3])
        if match.group("q"):
            q = int(match.group("q")[:3])
        elif p in _TUPLET_TIME:
            q = _TUPLET_TIME[p]
        else:
            compound = voice.bar_length is not None and _is_compound(voice.meter)
            q = 3 if compound else 2
        if p == 0 or q == 0:
            raise _BadTune(f"the tuplet {match.group(0)!r} is not a real tuplet")
        voice.tuplet_ratio = Fraction(q, p)
        voice.tuplet_left = int(match.group("r")[:3]) if match.group("r") else p

    def finish(self) -> None:
        for voice in self.voices.values():
            voice.boundary({"end"})


def _is_compound(meter: str) -> bool:
    match = _METER.fullmatch(meter)
    if not match:
        return False
    beats = sum(int(n) for n in match.group(1).split("+"))
    return beats % 3 == 0 and beats > 3


def _section_start(bars: list[_Bar], index: int) -> int:
    """Index of the first bar of the section holding bar `index` (endings do not start one)."""
    while index > 0 and not bars[index].left & _SECTION_STARTS:
        index -= 1
    return index


def _section_end(bars: list[_Bar], index: int) -> int:
    """Index of the last bar of the section holding bar `index`."""
    while index < len(bars) - 1 and not bars[index].right & _SECTION_STARTS:
        index += 1
    return index


def _short_bar_fits(bars: list[_Bar], index: int) -> bool:
    """Whether a short bar is one of the two halves of a bar split by a section boundary.

    The first and last bars may be short. A short bar that closes a section must make a full
    bar together with a pickup: the next section's, its own section's or the tune's. A short
    bar that opens a section must make one with the bar that closed the section before, or
    with the bar that closes its own section.
    """
    bar = bars[index]
    if index in (0, len(bars) - 1):
        return True
    partners: list[int] = []
    if bar.right & _SECTION_BOUNDARIES:
        partners += [index + 1, _section_start(bars, index), 0]
    if bar.left & _SECTION_BOUNDARIES:
        partners += [index - 1, _section_end(bars, index)]
    return any(
        bars[partner].duration < bar.bar_length  # type: ignore[operator]
        and bar.duration + bars[partner].duration == bar.bar_length
        for partner in partners
        if partner != index
    )


def _odd_bars(bars: list[_Bar]) -> list[str]:
    """One phrase per bar that does not last what its meter says (and is not excused)."""
    problems = []
    for number, bar in enumerate(bars, start=1):
        if bar.bar_length is None or bar.multirest_bars or bar.duration == bar.bar_length:
            continue
        if bar.duration < bar.bar_length and _short_bar_fits(bars, number - 1):
            continue
        lasts = _format_duration(bar.duration, bar.meter, bar.bar_length)
        only = "only " if bar.duration < bar.bar_length else ""
        problems.append(
            f"bar {number} (line {bar.line}) lasts {only}{lasts} but the meter is {bar.meter}"
        )
    return problems


def _music21_error(text: str) -> str | None:
    """None when music21 parses `text` into a score; else its complaint, in one line."""
    try:
        from music21 import abcFormat
    except ImportError as exc:  # pragma: no cover - music21 is a dependency of the package
        raise ImportError("check_tune needs music21: pip install music21") from exc

    chatter = io.StringIO()  # music21 prints "abcFormat: WARNING ..." lines on odd input
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(chatter),
        contextlib.redirect_stderr(chatter),
    ):
        warnings.simplefilter("ignore")
        try:
            handler = abcFormat.ABCFile().readstr(text)
            abcFormat.translate.abcToStreamScore(handler)
        except Exception as exc:  # music21 raises a dozen unrelated types on malformed ABC
            message = " ".join(str(exc).split())[:200]
            return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return None


def check_tune(text: str, *, min_bars: int = 8, max_odd_bars: int = 1) -> TuneCheck:
    r"""Say whether an ABC tune is valid: complete headers, parseable, and its bars in time.

    Strict on purpose, so that it tells a tune from a barely trained model's gibberish (which
    music21 will usually parse). A valid tune

    * starts with an ``X:`` line and has ``M:`` (meter) and ``K:`` (key) in its header (``L:`` is
      optional: without it the unit is 1/16 when the meter is below 3/4, else 1/8);
    * has at least `min_bars` bars;
    * has bars that last what the meter says, measured as ABC 2.1 defines durations: tuplets,
      grace notes (no time), chords, broken rhythm (``>``, ``<``), ties, decorations, ``z`` and
      ``x`` rests; inline meter changes (``[M:3/4]``) are honoured and ``M:none`` is not
      measured. Short bars are fine where real tunes have them: the first (a pickup) and the
      last, and a bar split in two by a section boundary (a repeat sign, ``||``, ``|]``, a first
      or second ending, a new part), when the two halves (the section's closing bar and a pickup)
      make one full bar. At most `max_odd_bars` other bars may be off, since printed collections
      have the odd slip: one bar too long or too short in about 1 tune in 20;
    * is parsed by music21 without an error.

    The tune ends at its first blank line (ABC's rule): text after it is ignored, except another
    ``X:`` line, which makes it invalid (check tunes one at a time). Never raises on any text.

    Parameters
    ----------
    text : str
        One ABC tune.
    min_bars : int, default 8
        Fewest bars a valid tune has.
    max_odd_bars : int, default 1
        Most bars that may disagree with the meter. Corrupting a tune by dropping or adding a
        note in two of its bars makes it invalid with the default; 0 is stricter than most
        printed collections.

    Returns
    -------
    TuneCheck
        ``valid``, a one-sentence ``reason`` (``"ok"`` when valid), and the ``bars`` and
        ``notes`` found.

    Examples
    --------
    >>> from mitdeeplearning.music import check_tune
    >>> reel = "X:1\nM:4/4\nL:1/8\nK:D\n" + "|: DFAF GBAG | FAdA BGEG :|\n" * 4
    >>> check_tune(reel)
    TuneCheck(valid=True, reason='ok', bars=8, notes=64)
    >>> two_notes_added = check_tune(reel.replace("FAdA", "FAAdA", 2))
    >>> two_notes_added.valid
    False
    >>> print(two_notes_added.reason.replace("; ", "\n"))
    bar 2 (line 5) lasts 9/8 but the meter is 4/4
    bar 4 (line 6) lasts 9/8 but the meter is 4/4 (1 odd bar allowed)
    >>> check_tune("X:1\nM:6/8\nK:G\nGAB|").reason
    'only 1 bar (need at least 8)'
    """
    for name, value in (("min_bars", min_bars), ("max_odd_bars", max_odd_bars)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, not {value!r}.")
    if not isinstance(text, str):
        return TuneCheck(False, f"expected the tune as text (str), not {type(text).__name__}", 0, 0)
    if len(text) > MAX_TUNE_CHARS:
        return TuneCheck(False, f"it is {len(text):,} characters long, too long for one tune", 0, 0)
    try:
        return _check(text, min_bars, max_odd_bars)
    except _BadTune as problem:
        return TuneCheck(False, str(problem), 0, 0)


def _check(text: str, min_bars: int, max_odd_bars: int) -> TuneCheck:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    clean = [_COMMENT.sub("", line).rstrip() for line in lines]
    start = next((i for i, line in enumerate(clean) if line), None)
    if start is None:
        return TuneCheck(False, "it is empty", 0, 0)
    if not clean[start].startswith("X:"):
        return TuneCheck(False, "it does not start with an X: header line", 0, 0)
    extra_tunes = sum(line.startswith("X:") for line in clean[start + 1 :])
    if extra_tunes:
        return TuneCheck(
            False, f"it holds {extra_tunes + 1} tunes (X: lines); check them one at a time", 0, 0
        )

    # The header runs to the K: line; the tune, to the first blank line after some music.
    header: dict[str, str] = {}
    body_start = len(lines)
    for i in range(start + 1, len(lines)):
        field = _FIELD_LINE.match(clean[i])
        if field and field.group(1) == "K":
            header["K"] = clean[i][2:]
            body_start = i + 1
            break
        if field:
            header.setdefault(field.group(1), clean[i][2:])
        elif clean[i]:
            break  # music before any K:
    for letter, name in (("M", "meter"), ("K", "key")):
        if letter not in header:
            return TuneCheck(False, f"no {letter}: header (the {name})", 0, 0)
    end = len(lines)
    seen_music = False
    for i in range(body_start, len(lines)):
        if seen_music and not lines[i].strip():
            end = i
            break
        seen_music = seen_music or bool(clean[i])

    bar_length, meter = _parse_meter(header["M"])
    if "L" in header:
        unit = _parse_unit(header["L"])
    elif bar_length is not None and bar_length < Fraction(3, 4):
        unit = Fraction(1, 16)  # the ABC standard's default unit note length
    else:
        unit = Fraction(1, 8)
    scanner = _Scanner(bar_length, meter, unit)
    for i in range(body_start, end):
        field = _FIELD_LINE.match(clean[i])
        if field:
            scanner.field(field.group(1), clean[i][2:])
        elif clean[i]:
            scanner.line(clean[i], i + 1)
    scanner.finish()
    bars = max((voice.bar_count() for voice in scanner.voices.values()), default=0)
    notes = scanner.notes

    if notes == 0:
        return TuneCheck(False, "it has no notes", bars, notes)
    if bars < min_bars:
        return TuneCheck(
            False,
            f"only {bars} bar{'s' if bars != 1 else ''} (need at least {min_bars})",
            bars,
            notes,
        )
    odd = [problem for voice in scanner.voices.values() for problem in _odd_bars(voice.bars)]
    if len(odd) > max_odd_bars:
        listed = "; ".join(odd[:3]) + (f"; and {len(odd) - 3} more" if len(odd) > 3 else "")
        if max_odd_bars:
            listed += f" ({max_odd_bars} odd bar{'s' if max_odd_bars > 1 else ''} allowed)"
        return TuneCheck(False, listed, bars, notes)
    error = _music21_error("\n".join(lines[start:end]))
    if error:
        return TuneCheck(False, f"music21 could not parse it: {error}", bars, notes)
    return TuneCheck(True, "ok", bars, notes)


# ## Corrupting tunes on purpose --------------------------------------------------------------


# Pieces of a music line that hold no plain note of the bar (grace notes, annotations, inline
# fields, decorations, chords), then bar lines, then plain notes with their lengths.
_NOTE_PIECE = re.compile(
    r"""
    (?P<skip>\{[^}]*\}|"[^"]*"|\[[A-Za-z]:[^\]]*\]|![^!]*!|\[[^\]|]*\]\d*/*\d*)
    | (?P<bar>:*\[?\|[\]|]*:*\d*|:{2,}\d*|\[\d)
    | (?P<note>(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*\d*/*\d*)
    """,
    re.VERBOSE,
)


def _note_spans_by_bar(tune: str) -> list[list[tuple[int, int]]]:
    """The (start, end) offsets in `tune` of each bar's plain notes, for bars that have any."""
    bars: list[list[tuple[int, int]]] = [[]]
    offset, in_body = 0, False
    for line in tune.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        code = re.sub(r"(?<!\\)%.*", "", line)
        field = _FIELD_LINE.match(code)
        if field:
            in_body = in_body or field.group(1) == "K"
            continue
        if not in_body:
            continue
        for match in _NOTE_PIECE.finditer(code):
            if match.lastgroup == "bar" and bars[-1]:
                bars.append([])
            elif match.lastgroup == "note":
                bars[-1].append((line_start + match.start(), line_start + match.end()))
    return [notes for notes in bars if notes]


def corrupt_tune(tune: str, mode: str, rng: random.Random, n_bars: int = 2) -> str | None:
    """`tune` with one note dropped from ("drop") or duplicated in ("add") each of `n_bars`
    interior bars; None when it has too few interior bars (a drop needs bars of 2+ notes).

    The edits `check_tune` must catch: the calibration benchmark and the tests use it, and a
    student can use it to see what an invalid tune looks like.
    """
    if mode not in ("drop", "add"):
        raise ValueError(f"mode={mode!r}; expected 'drop' or 'add'.")
    fewest_notes = 2 if mode == "drop" else 1
    interior = [notes for notes in _note_spans_by_bar(tune)[1:-1] if len(notes) >= fewest_notes]
    if len(interior) < n_bars:
        return None
    edits = sorted((rng.choice(notes) for notes in rng.sample(interior, n_bars)), reverse=True)
    for start, end in edits:  # from the end, so earlier offsets stay right
        note = tune[start:end]
        tune = tune[:start] + ("" if mode == "drop" else note + note) + tune[end:]
    return tune
