r"""Are generated tunes valid, varied and new? One summary against a reference collection.

A model can buy validity by writing the same safe reel in G again and again, or by copying the
tunes it learned from. `tune_stats` measures all three sides at once:

* **valid**: the share of tunes `check_tune` accepts, with its reasons for the rest counted;
* **varied**: how keys and meters are spread (each written one way: `normalise_key`,
  `normalise_meter`), and how long the tunes are in bars; against a reference collection, the
  total-variation distance of the key and meter distributions to the reference's;
* **new**: the share of each tune's 24-character windows of music found anywhere in the
  reference (a copied phrase), the longest copied stretch, whole tunes copied, and tunes
  repeated within the set.

## The algorithm

The total-variation (TV) distance between two distributions ``p`` and ``q`` over the same
categories is ``0.5 * sum(|p_i - q_i|)``: 0 when they are equal, 1 when they share nothing; it
is the largest difference in probability the two give any set of categories. For scale: 500
tunes drawn at random from O'Neill's are 0.05 (keys) and 0.04 (meters) from the whole.

The music of a tune is its body (from the line after ``K:``), field lines such as a key change
dropped and every space and line break removed, so that the same notes written with other
spacing or line breaks count as the same. Held-out O'Neill's tunes share about 9 % of their
windows with the training tunes (the collection holds variants of the same tunes): that is the
novelty of new music written by people, the mark to compare a model's with.

## Let's test-drive it

>>> jig = "X:1\nT:Jig\nM:6/8\nL:1/8\nK:G\n" + "|:GAB c2d|edc BAG|GAB c2d|edc BAG:|\n" * 2
>>> reel = "X:2\nT:Reel\nM:C|\nL:1/8\nK:D\n" + "|:DFAF GFED|FAdA BGEG:|\n" * 4
>>> print(tune_stats([jig, reel, "not ABC"], reference=[jig]))
2 of 3 tunes valid (67%)
  rejected: it does not start with an X: header line (1)
keys:   (none) 33% (ref 0%), Dmaj 33% (ref 0%), Gmaj 33% (ref 100%)
meters: (none) 33% (ref 0%), 2/2 33% (ref 0%), 6/8 33% (ref 100%)
distance to the reference's 1 tunes (total variation, 0 = the same spread): keys 0.67, meters 0.67
length: median 8 bars; 0 tunes repeating another
copied from the reference: 50.0% of 24-character windows on average; longest copied run 62
characters; 1 whole tune copied
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

from .abc import FIELD_LINE_PATTERN
from .headers import header_fields, normalise_key, normalise_meter
from .tune_check import check_tune

__all__ = ["MISSING", "TuneStats", "music_text", "reason_kind", "total_variation", "tune_stats"]

#: The category of a tune with no ``K:`` (or ``M:``) header, counted in the distributions.
MISSING = "(none)"
_WHITESPACE = re.compile(r"\s+")


def total_variation(p: dict, q: dict) -> float:
    """Total-variation distance ``0.5 * sum(|p_i - q_i|)`` between two distributions.

    Parameters
    ----------
    p, q : dict
        Category → probability (or count: each is divided by its total first). A category
        missing from one counts as 0 there.

    Returns
    -------
    float
        In ``[0, 1]``.

    Examples
    --------
    >>> total_variation({"G": 0.5, "D": 0.5}, {"G": 1.0})
    0.5
    >>> total_variation({"6/8": 3, "2/2": 1}, {"6/8": 1, "2/2": 1})
    0.25
    """
    p_total, q_total = sum(p.values()), sum(q.values())
    if p_total <= 0 or q_total <= 0:
        raise ValueError("total_variation needs two non-empty distributions with positive mass.")
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0) / p_total - q.get(k, 0) / q_total) for k in keys)


def music_text(tune: str) -> str:
    r"""The music of a tune, for comparing tunes: its body without field lines, comments or
    any whitespace.

    Parameters
    ----------
    tune : str
        One ABC tune.

    Returns
    -------
    str
        The notes and bar lines after the ``K:`` line, e.g. ``"|:GABc2d|edcBAG:|"``; empty for
        text with no ``K:`` line.

    Examples
    --------
    >>> music_text("X:1\nT:Jig\nM:6/8\nK:G\n|:GAB c2d|\nK:Em % a key change\nedc BAG:|\n")
    '|:GABc2d|edcBAG:|'
    """
    if not isinstance(tune, str):
        return ""
    lines = tune.replace("\r", "\n").split("\n")
    body = None
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            body = lines[i + 1 :]
            break
    if body is None:
        return ""
    kept = []
    for line in body:
        if not line.strip() and kept:
            break  # a blank line ends the tune
        if not FIELD_LINE_PATTERN.match(line):
            kept.append(re.sub(r"(?<!\\)%.*", "", line))
    return _WHITESPACE.sub("", "".join(kept))


def reason_kind(reason: str) -> str:
    """A `check_tune` reason without its numbers, so that reasons can be counted.

    Examples
    --------
    >>> reason_kind("bar 5 (line 7) lasts 7/8 but the meter is 6/8; bar 9 lasts 5/8 but ...")
    'bars off the meter (the first too long)'
    >>> reason_kind("only 3 bars (need at least 8)")
    'fewer bars than min_bars'
    >>> reason_kind("music21 could not parse it: ABCTokenException: no such note")
    'music21 could not parse it: ABCTokenException'
    """
    if "lasts" in reason:
        first_problem = reason.split(";")[0]
        too = "too short" if " only " in first_problem else "too long"
        return f"bars off the meter (the first {too})"
    if reason.startswith("only "):
        return "fewer bars than min_bars"
    if reason.startswith("music21 could not parse it"):
        return ":".join(reason.split(":")[:2])
    return re.sub(r"\d+", "N", reason)


@dataclasses.dataclass
class TuneStats:
    """What `tune_stats` measured; ``print(stats)`` gives a readable summary.

    Attributes
    ----------
    tunes : int
        Tunes measured.
    valid : int
        Tunes `check_tune` accepts; ``valid_share`` is ``valid / tunes``.
    reasons : dict
        Why the others were rejected: `reason_kind` → count, most common first.
    keys, meters : dict
        Normalised key (``"Gmaj"``) or meter (``"6/8"``) → share of the tunes, largest first;
        `MISSING` for tunes without the header.
    bars : dict
        Bars in a tune (as `check_tune` counts them) → share of the tunes, in order of bars.
    median_bars : float
        The median number of bars.
    reference_tunes : int or None
        The reference collection's size (None without one; then the fields below are None).
    reference_keys, reference_meters : dict or None
        The reference's distributions, written the same way.
    key_tv, meter_tv : float or None
        Total-variation distance of ``keys`` and ``meters`` to the reference's.
    copied_windows : float or None
        The mean, over tunes with at least one window, of the share of a tune's `window`-
        character windows of music that occur in the reference's music: 0 is all new, 1 all
        copied. (Lower is newer; held-out O'Neill's tunes score about 0.09 against the rest.)
    copied_windows_per_tune : list of float or None
        That share for each tune (NaN for a tune with no window).
    longest_copied : int or None
        The longest stretch of one tune's music, in characters, covered by consecutive windows
        found in the reference (an unbroken copied run; 0 when no window is).
    copies : int or None
        Tunes whose whole music is that of a reference tune.
    duplicates : int
        Tunes whose music (spaces removed) repeats an earlier tune's in the set.
    window : int
        The window length used for novelty.
    checks : list of TuneCheck
        `check_tune`'s verdict on each tune, in order (e.g. to pick the valid ones).
    """

    tunes: int
    valid: int
    reasons: dict
    keys: dict
    meters: dict
    bars: dict
    median_bars: float
    duplicates: int
    window: int
    reference_tunes: int | None = None
    reference_keys: dict | None = None
    reference_meters: dict | None = None
    key_tv: float | None = None
    meter_tv: float | None = None
    copied_windows: float | None = None
    copied_windows_per_tune: list | None = dataclasses.field(default=None, repr=False)
    longest_copied: int | None = None
    copies: int | None = None
    checks: list = dataclasses.field(default_factory=list, repr=False)

    @property
    def valid_share(self) -> float:
        """The share of tunes `check_tune` accepts."""
        return self.valid / self.tunes

    def as_dict(self) -> dict:
        """The figures as plain numbers and dicts (for ``metrics.json``), shares rounded."""
        out = dataclasses.asdict(self)
        out.pop("copied_windows_per_tune")
        out.pop("checks")
        out["valid_share"] = round(self.valid_share, 4)
        for name in ("key_tv", "meter_tv", "copied_windows"):
            if out[name] is not None:
                out[name] = round(out[name], 4)
        for name in ("keys", "meters", "bars", "reference_keys", "reference_meters"):
            if out[name] is not None:
                out[name] = {str(k): round(v, 4) for k, v in out[name].items()}
        return out

    def __str__(self) -> str:
        lines = [f"{self.valid} of {self.tunes} tunes valid ({self.valid_share:.0%})"]
        if self.reasons:
            lines.append("  rejected: " + "; ".join(f"{k} ({n})" for k, n in self.reasons.items()))
        lines.append("keys:   " + _top(self.keys, self.reference_keys))
        lines.append("meters: " + _top(self.meters, self.reference_meters))
        if self.reference_tunes is not None:
            lines.append(
                f"distance to the reference's {self.reference_tunes} tunes (total variation, "
                f"0 = the same spread): keys {self.key_tv:.2f}, meters {self.meter_tv:.2f}"
            )
        lines.append(
            f"length: median {self.median_bars:g} bars; "
            f"{self.duplicates} tune{'s' if self.duplicates != 1 else ''} repeating another"
        )
        if self.copied_windows is not None:
            lines.append(
                f"copied from the reference: {self.copied_windows:.1%} of {self.window}-character "
                f"windows on average; longest copied run {self.longest_copied} characters; "
                f"{self.copies} whole tune{'s' if self.copies != 1 else ''} copied"
            )
        return "\n".join(lines)


def _top(shares: dict, reference: dict | None, n: int = 6) -> str:
    parts = []
    for key, share in list(shares.items())[:n]:
        ref = "" if reference is None else f" (ref {reference.get(key, 0):.0%})"
        parts.append(f"{key} {share:.0%}{ref}")
    more = len(shares) - n
    return ", ".join(parts) + (f", {more} more" if more > 0 else "")


def _shares(counts: Counter) -> dict:
    total = sum(counts.values())
    return {key: n / total for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _key_and_meter(tune: str) -> tuple[str, str]:
    fields = header_fields(tune)
    key = normalise_key(fields["K"]) if "K" in fields else MISSING
    meter = normalise_meter(fields["M"]) if "M" in fields else MISSING
    return key, meter


def _windows(music: str, window: int) -> Iterable[str]:
    return (music[i : i + window] for i in range(len(music) - window + 1))


def _copied(music: str, seen: set, window: int) -> tuple[float, int]:
    """The share of `music`'s windows in `seen`, and the longest run they cover (characters)."""
    hits = [w in seen for w in _windows(music, window)]
    if not hits:
        return float("nan"), 0
    longest = run = 0
    for hit in hits:
        run = run + 1 if hit else 0
        longest = max(longest, run)
    return sum(hits) / len(hits), (longest + window - 1 if longest else 0)


def tune_stats(
    tunes: Sequence[str], reference: Sequence[str] | None = None, *, window: int = 24
) -> TuneStats:
    r"""Validity, variety and novelty of a set of tunes, against a reference collection.

    Parameters
    ----------
    tunes : sequence of str
        The tunes to measure (e.g. generated ones). Text that is not ABC is counted as invalid,
        with `check_tune`'s reason; nothing raises on a tune's content.
    reference : sequence of str, optional
        The collection to compare with, e.g. the training tunes. Only its headers and music are
        read (its tunes are not checked), so a large reference costs little.
    window : int, default 24
        Length of the music windows compared for novelty (characters, spaces removed).

    Returns
    -------
    TuneStats
        ``valid``, ``reasons``, ``keys``, ``meters``, ``bars``, ``duplicates``; with a
        reference also ``key_tv``, ``meter_tv``, ``copied_windows``, ``longest_copied`` and
        ``copies``. Print it for a summary.

    Raises
    ------
    ValueError
        `tunes` (or a given `reference`) is empty or a single string, or `window` is not a
        positive whole number.

    Examples
    --------
    Two jigs in G and a reel in D, against a reference of two jigs in G and two reels in D
    (keys 2/3 and 1/3 against 1/2 and 1/2: a distance of 1/6):

    >>> jig = "X:1\nT:J\nM:6/8\nL:1/8\nK:G\n|:GAB c2d|edc BAG|GAB c2d|edc BAG:|\n"
    >>> reel = "X:2\nT:R\nM:C|\nL:1/8\nK:D\n|:DFAF GFED|FAdA BGEG|DFAF GFED|FAdA BGEG:|\n"
    >>> stats = tune_stats([jig, jig.replace("c2d", "c3"), reel], reference=[jig, jig, reel, reel])
    >>> round(stats.key_tv, 3), round(stats.meter_tv, 3), stats.copies, stats.duplicates
    (0.167, 0.167, 2, 0)
    >>> tune_stats([])
    Traceback (most recent call last):
    ...
    ValueError: tunes is empty: expected a list of ABC tunes (strings) to measure.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window={window!r} must be a positive whole number of characters.")
    for name, value in (("tunes", tunes), ("reference", reference)):
        if value is None and name == "reference":
            continue
        if isinstance(value, str):
            raise ValueError(f"{name} is one string: pass a list of tunes (e.g. [tune]).")
        if value is None or len(value) == 0:
            raise ValueError(f"{name} is empty: expected a list of ABC tunes (strings) to measure.")
    valid, reasons, bars = 0, Counter(), Counter()
    keys, meters = Counter(), Counter()
    musics, checks = [], []
    for tune in tunes:
        verdict = check_tune(tune)
        checks.append(verdict)
        valid += verdict.valid
        if not verdict.valid:
            reasons[reason_kind(verdict.reason)] += 1
        bars[verdict.bars] += 1
        key, meter = _key_and_meter(tune)
        keys[key] += 1
        meters[meter] += 1
        musics.append(music_text(tune))
    seen_music: set[str] = set()
    duplicates = 0
    for music in musics:
        duplicates += bool(music) and music in seen_music
        seen_music.add(music)
    stats = TuneStats(
        tunes=len(tunes),
        valid=valid,
        reasons=dict(reasons.most_common()),
        keys=_shares(keys),
        meters=_shares(meters),
        bars={n: bars[n] / len(tunes) for n in sorted(bars)},
        median_bars=statistics.median(bars.elements()),
        duplicates=duplicates,
        window=window,
        checks=checks,
    )
    if reference is not None:
        _compare(stats, musics, reference, window)
    return stats


def _compare(stats: TuneStats, musics: list[str], reference: Sequence[str], window: int) -> None:
    """Fill in `stats`' fields that compare the tunes with the `reference` collection."""
    ref_keys, ref_meters = Counter(), Counter()
    ref_windows: set[str] = set()
    ref_music: set[str] = set()
    for tune in reference:
        key, meter = _key_and_meter(tune)
        ref_keys[key] += 1
        ref_meters[meter] += 1
        music = music_text(tune)
        ref_music.add(music)
        ref_windows.update(_windows(music, window))
    stats.reference_tunes = len(reference)
    stats.reference_keys = _shares(ref_keys)
    stats.reference_meters = _shares(ref_meters)
    stats.key_tv = total_variation(stats.keys, stats.reference_keys)
    stats.meter_tv = total_variation(stats.meters, stats.reference_meters)
    copied = [_copied(music, ref_windows, window) for music in musics]
    stats.copied_windows_per_tune = [share for share, _ in copied]
    measured = [share for share in stats.copied_windows_per_tune if share == share]  # NaN != NaN
    stats.copied_windows = statistics.fmean(measured) if measured else None
    stats.longest_copied = max(run for _, run in copied)
    stats.copies = sum(bool(music) and music in ref_music for music in musics)
