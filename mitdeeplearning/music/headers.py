r"""ABC header fields: a tune's key and meter written one way, and headers drawn from a collection.

The same key can be written many ways in ABC: ``K:G``, ``K: Gmaj``, ``K:G major`` and
``K:Gion`` are all G major; ``K:Em``, ``K:Emin`` and ``K:E minor`` are E minor. Meters too:
``M:C`` is common time (4/4) and ``M:C|`` cut time (2/2). To count keys and meters across tunes
(`mitdeeplearning.music.stats.tune_stats`), each is first written one way by `normalise_key`
and `normalise_meter`. `draw_headers` picks whole headers (meter, unit length and key together)
from a collection, so that a model can be asked for tunes whose keys and meters are spread as a
collection's are (`mitdeeplearning.music.sampling.generate`'s ``headers=``).

## Let's test-drive it

>>> normalise_key("G"), normalise_key(" Em"), normalise_key("ADor"), normalise_key("Bb major")
('Gmaj', 'Emin', 'Ador', 'Bbmaj')
>>> normalise_meter("C|"), normalise_meter(" 6/8")
('2/2', '6/8')
>>> tune = "X: 1\nT: A Reel\nM: C|\nL: 1/8\nK:D\n|:DFAF GFED:|\n"
>>> header_fields(tune)
{'X': '1', 'T': 'A Reel', 'M': 'C|', 'L': '1/8', 'K': 'D'}
>>> print(tune_header(tune))
M: C|
L: 1/8
K:D
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

from .abc import COMMENT_PATTERN, FIELD_LINE_PATTERN

__all__ = ["draw_headers", "header_fields", "normalise_key", "normalise_meter", "tune_header"]

# ABC 2.1, section 3.1.14: only the first three letters of a mode count, in any case; "m" alone
# is minor. Ionian is major and aeolian minor (the same notes); the other modes stay apart.
_MODES = {
    "": "maj", "maj": "maj", "ion": "maj",
    "m": "min", "min": "min", "aeo": "min",
    "mix": "mix", "dor": "dor", "phr": "phr", "lyd": "lyd", "loc": "loc",
}  # fmt: skip
# Words that may follow the tonic in a K: field without being a mode.
_NOT_MODES = ("clef", "middle", "transpose", "octave", "stafflines", "treble", "bass", "alto")
_KEY = re.compile(r"^([A-Ga-g])([#b]?)\s*([A-Za-z]*)")
#: The fields a header passed to `generate` may hold, K last (the unit, the meter, the key, and
#: the tempo and parts, which change how the tune sounds).
HEADER_FIELDS = ("M", "L", "Q", "P", "K")


def normalise_key(key: str) -> str:
    """A key signature written one way: tonic, then ``maj``, ``min``, ``mix``, ``dor``...

    Parameters
    ----------
    key : str
        The value of a ``K:`` field (without ``K:``), e.g. ``"G"``, ``"Em"``, ``"A Dorian"``.

    Returns
    -------
    str
        ``"Gmaj"``, ``"Emin"``, ``"Ador"``: the tonic in capitals (``#`` or ``b`` kept) and
        the mode's three letters (major and ionian are ``maj``, minor and aeolian ``min``).
        Clefs and other words after the mode are ignored. ``"none"`` and the Highland-pipes
        keys (``"HP"``, ``"Hp"``) come back as they are, in lower case; anything else that is
        no key comes back stripped, with a ``?`` in front (``"?Bn"``), so it is still counted.

    Examples
    --------
    >>> [normalise_key(k) for k in ("G", "Gmaj", "G major", "Gion", "g")]
    ['Gmaj', 'Gmaj', 'Gmaj', 'Gmaj', 'Gmaj']
    >>> [normalise_key(k) for k in ("Em", "Emin", "E minor", "Eaeolian", "AMix", "F#m")]
    ['Emin', 'Emin', 'Emin', 'Emin', 'Amix', 'F#min']
    >>> normalise_key("Bn"), normalise_key("none"), normalise_key("D clef=treble")
    ('?Bn', 'none', 'Dmaj')
    """
    text = COMMENT_PATTERN.sub("", str(key)).strip()
    if text.lower() in ("none", "hp"):
        return text.lower()
    match = _KEY.match(text)
    if match:
        tonic, accidental, word = match.groups()
        word = word.lower()
        if word.startswith(_NOT_MODES):
            word = ""  # a clef or transposition after a major key's tonic
        mode = _MODES.get(word if word in ("", "m") else word[:3])
        if mode:
            return tonic.upper() + accidental + mode
    return "?" + text


def normalise_meter(meter: str) -> str:
    """A time signature written one way: ``C`` is ``4/4``, ``C|`` is ``2/2``, no spaces.

    Parameters
    ----------
    meter : str
        The value of an ``M:`` field (without ``M:``), e.g. ``" 6/8"``, ``"C|"``.

    Returns
    -------
    str
        ``"6/8"``, ``"2/2"``...; ``"none"`` for free meter; other text (``"2+3/8"``) without
        its spaces.

    Examples
    --------
    >>> [normalise_meter(m) for m in ("C", "C|", "4/4", " 6/8 ", "NONE", "2 + 3/8")]
    ['4/4', '2/2', '4/4', '6/8', 'none', '2+3/8']
    """
    text = re.sub(r"\s+", "", COMMENT_PATTERN.sub("", str(meter)))
    if text.lower() == "none":
        return "none"
    return {"C": "4/4", "C|": "2/2"}.get(text, text)


def header_fields(tune: str) -> dict[str, str]:
    r"""The fields of a tune's header, from ``X:`` to ``K:``: letter → value (the first of each).

    Parameters
    ----------
    tune : str
        One ABC tune.

    Returns
    -------
    dict
        E.g. ``{"X": "1", "T": "A Reel", "M": "C|", "L": "1/8", "K": "D"}``, values stripped;
        empty for text that is not a tune (no field lines at its start). Fields after ``K:``
        (key or meter changes inside the music) are not included.

    Examples
    --------
    >>> header_fields("X:3\nT:One\nT:Two\nK:Em\nEFGA|\nK:G\n")
    {'X': '3', 'T': 'One', 'K': 'Em'}
    >>> header_fields("not a tune")
    {}
    """
    fields: dict[str, str] = {}
    if not isinstance(tune, str):
        return fields
    for line in tune.replace("\r", "\n").split("\n"):
        line = COMMENT_PATTERN.sub("", line).rstrip()
        if not line:
            if fields:
                break  # a blank line ends a tune
            continue
        field = FIELD_LINE_PATTERN.match(line)
        if not field:
            break  # music before any K:
        fields.setdefault(field.group(1), line[2:].strip())
        if field.group(1) == "K":
            break
    return fields


def tune_header(tune: str) -> str | None:
    r"""The lines of a tune's header that set how its music reads: ``M:``, ``L:``, ``Q:``,
    ``P:`` and ``K:`` (the title and number left out), as written, K last.

    Parameters
    ----------
    tune : str
        One ABC tune.

    Returns
    -------
    str or None
        E.g. ``"M: 6/8\nL: 1/8\nK:G"``; None when the tune has no ``K:`` line in its header.

    Examples
    --------
    >>> tune_header("X:1\nT:Jig\nM:6/8\nK:G\nGAB|\n")
    'M:6/8\nK:G'
    >>> tune_header("X:1\nT:No key\n") is None
    True
    """
    lines = []
    for line in tune.replace("\r", "\n").split("\n"):
        line = COMMENT_PATTERN.sub("", line).rstrip()
        field = FIELD_LINE_PATTERN.match(line)
        if not field:
            if line or lines:
                return None  # music (or a blank line) before any K:
            continue
        if field.group(1) in HEADER_FIELDS:
            lines.append(line)
        if field.group(1) == "K":
            return "\n".join(lines)
    return None


def draw_headers(
    tunes: Sequence[str], n: int, *, seed: int | None = None, units: str = "drawn"
) -> list[str]:
    r"""`n` headers (meter, unit length, key: `tune_header`) drawn from `tunes` at random.

    Each header is a whole tune's, so meters, keys and unit lengths come in the combinations
    the collection has (its joint distribution: a 9/8 slip jig in D, not a 9/8 tune with the
    unit of a 2/4 hornpipe), each in proportion to how often the collection has it.

    Parameters
    ----------
    tunes : sequence of str
        The collection to draw from, e.g. the training tunes.
    n : int
        How many headers to draw (with replacement).
    seed : int, optional
        The same seed and tunes give the same headers.
    units : {"drawn", "usual"}
        ``"drawn"``: each header's unit length (``L:``) as its tune has it. ``"usual"``: the
        unit most tunes of the same meter have in `tunes` (O'Neill's writes most 2/4 tunes in
        sixteenths, ``L:1/16``, and a few in eighths). The unit is a way of writing, not part
        of the music: the keys and meters drawn are the same, and a model writes the usual
        way of each meter more surely than the rare ones.

    Returns
    -------
    list of str
        `n` headers such as ``"M: 6/8\nL: 1/8\nK:G"``, to pass to
        ``generate(..., headers=...)``.

    Examples
    --------
    >>> jig = "X:1\nT:A Jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|\n"
    >>> reel = "X:2\nT:A Reel\nM:C|\nL:1/8\nK:D\nDFAF GFED|\n"
    >>> draw_headers([jig, reel], 3, seed=0)
    ['M:C|\nL:1/8\nK:D', 'M:C|\nL:1/8\nK:D', 'M:6/8\nL:1/8\nK:G']
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a positive whole number of headers.")
    if isinstance(tunes, str):
        raise ValueError("tunes must be a list of tunes, not one string.")
    if units not in ("drawn", "usual"):
        raise ValueError(f"units={units!r}; expected 'drawn' or 'usual'.")
    headers = [header for header in map(tune_header, tunes) if header is not None]
    if not headers:
        raise ValueError(
            f"None of the {len(tunes)} tunes has a header ending in a K: line to draw from."
        )
    rng = random.Random(seed)
    drawn = [rng.choice(headers) for _ in range(n)]
    return (
        drawn if units == "drawn" else [_with_usual_unit(h, _usual_units(headers)) for h in drawn]
    )


def _fields_of(header: str) -> dict[str, str]:
    return {line[0]: line[2:].strip() for line in header.split("\n")}


def _usual_units(headers: list[str]) -> dict[str, str | None]:
    """Each meter (normalised) → the unit most headers with it give (None: most give none)."""
    counts: dict[str, Counter] = {}
    for header in headers:
        fields = _fields_of(header)
        meter = normalise_meter(fields.get("M", ""))
        counts.setdefault(meter, Counter())[fields.get("L")] += 1
    return {meter: count.most_common(1)[0][0] for meter, count in counts.items()}


def _with_usual_unit(header: str, usual: dict[str, str | None]) -> str:
    lines = [line for line in header.split("\n") if not line.startswith("L:")]
    unit = usual.get(normalise_meter(_fields_of(header).get("M", "")))
    if unit is not None:
        lines.insert(
            next((i + 1 for i, x in enumerate(lines) if x.startswith("M:")), 0), f"L:{unit}"
        )
    return "\n".join(lines)
