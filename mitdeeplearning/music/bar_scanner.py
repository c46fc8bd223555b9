"""ABC bars measured: how long each bar of a tune lasts, and which bars disagree with the meter.

`BarScanner` reads the body of one ABC tune, line by line, and cuts it into bars at its bar
lines, adding up each bar's notes and rests in exact fractions of a whole note, as the ABC 2.1
standard defines them: unit note length (``L:``), length suffixes (``A3/2``, ``A//``),
tuplets, grace notes (no time), chords, broken rhythm (``>``, ``<``), ties, decorations, ``z``
and ``x`` rests, multi-bar rests, several voices (``V:``) and inline field changes
(``[M:3/4]``). It then says which bars do not last what the meter says, excusing the short bars
real tunes have: the first (a pickup), the last, and the two halves of a bar split by a section
boundary (a repeat sign, ``||``, ``|]``, a first or second ending, a new part).

The durations are measured here rather than read back from music21's score: music21's ABC
import splits an overfull bar in two (hiding an added note) and drops notes decorated with
``H`` (fermata) and ``x`` rests. `mitdeeplearning.music.tune_check.check_tune` turns what the
scanner finds into a verdict.

Examples
--------
>>> scanner = BarScanner("6/8", "1/8")
>>> scanner.line("GAB cBA | BGE E2 | GAB cBA | BGE E2D |]", line_number=5)
>>> scanner.finish()
>>> scanner.bar_count(), scanner.notes
(4, 21)
>>> scanner.odd_bars()
['bar 2 (line 5) lasts only 5/8 but the meter is 6/8']
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

__all__ = ["Bar", "BarScanner", "UnreadableTune", "section_start"]

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


class UnreadableTune(Exception):
    """A tune the scanner cannot measure: a meter, unit length, note length or tuplet that makes
    no sense (``M:seven``, ``L:1/0``, ``a0``, ``(0``).

    Raised from deep inside the scanner; the message is one plain-English phrase, which
    `check_tune` reports as its reason.
    """


def _parse_length(text: str) -> Fraction:
    """A note-length suffix (``""``, ``"2"``, ``"/"``, ``"//"``, ``"3/2"``) as a multiplier."""
    numerator, slashes, denominator = _LENGTH.fullmatch(text).groups()  # type: ignore[union-attr]
    if len(numerator) > 4 or len(denominator) > 4 or len(slashes) > 4:
        raise UnreadableTune(f"the note length {text!r} is not a sensible ABC length")
    top = int(numerator) if numerator else 1
    if not slashes:
        bottom = 1
    elif denominator:
        bottom = int(denominator) * 2 ** (len(slashes) - 1)
    else:
        bottom = 2 ** len(slashes)
    if top == 0 or bottom == 0:
        raise UnreadableTune(f"the note length {text!r} is zero or divides by zero")
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
        raise UnreadableTune(f"the meter M:{meter} is not one I understand")
    beats = sum(int(n) for n in match.group(1).split("+"))
    if beats == 0 or int(match.group(2)) == 0 or len(match.group(2)) > 3:
        raise UnreadableTune(f"the meter M:{meter} is not a real meter")
    return Fraction(beats, int(match.group(2))), meter


def _parse_unit(value: str) -> Fraction:
    match = _UNIT.fullmatch(value.strip())
    if not match or (match.group(2) and int(match.group(2)) == 0) or len(value) > 12:
        raise UnreadableTune(f"the unit note length L:{value.strip()} is not one I understand")
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
class Bar:
    """One bar as `BarScanner` measured it.

    Attributes
    ----------
    duration : Fraction
        What its notes and rests add up to, in whole notes (``Fraction(3, 4)``: three quarters).
    bar_length : Fraction or None
        What its meter says a bar lasts, in whole notes; None in free meter.
    meter : str
        Its meter as written (``"6/8"``, ``"C| (2/2)"``, ``"none"``).
    line : int
        The tune's line (from 1) where it starts.
    left, right : set of str
        The kinds of bar line on either side: ``"plain"``, ``"repeat_start"``,
        ``"repeat_end"``, ``"section"`` (``||``, ``|]``), ``"ending"``, ``"part"``, and
        ``"start"`` / ``"end"`` for the tune's start and end.
    multirest_bars : int
        How many bars of rest it stands for (``Z4``: 4), else 0.
    """

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
    bars: list[Bar] = dataclasses.field(default_factory=list)
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
                Bar(
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


class BarScanner:
    """Reads the body of one ABC tune into bars (with their durations) and counts its notes.

    Feed it the body in order: `field` for each field line (``M:``, ``L:``, ``V:``, ``P:``...),
    `line` for each line of music, then `finish` once; then ask `bar_count`, `notes` and
    `odd_bars`. See the module documentation for what is measured.

    Parameters
    ----------
    meter : str
        The header's ``M:`` value: ``"6/8"``, ``"2+3/8"``, ``"C"``, ``"C|"``, or ``"none"``
        (free meter: bars are counted, not measured).
    unit : str, optional
        The header's ``L:`` value, e.g. ``"1/8"``. None (no ``L:`` line) takes the ABC
        standard's default: 1/16 when the meter is below 3/4, else 1/8.

    Attributes
    ----------
    notes : int
        Notes and chords read so far, all voices together (rests and grace notes not counted).

    Raises
    ------
    UnreadableTune
        The meter or the unit length (here, or later in `field` or `line`: a note length or a
        tuplet) makes no sense.

    Examples
    --------
    >>> scanner = BarScanner("C", None)  # common time, unit 1/8
    >>> scanner.line("DFAF GBAG | FAdA BGEG |", line_number=1)
    >>> scanner.finish()
    >>> scanner.bar_count(), scanner.notes, scanner.odd_bars()
    (2, 16, [])
    """

    def __init__(self, meter: str, unit: str | None = None):
        bar_length, meter = _parse_meter(meter)
        if unit is not None:
            unit_length = _parse_unit(unit)
        elif bar_length is not None and bar_length < Fraction(3, 4):
            unit_length = Fraction(1, 16)  # the ABC standard's default unit note length
        else:
            unit_length = Fraction(1, 8)
        self.start = (bar_length, meter, unit_length)
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
        """A line of music (comments already removed); `line_number` counts from 1 in the tune."""
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
            raise UnreadableTune(f"the tuplet {match.group(0)!r} is not a real tuplet")
        voice.tuplet_ratio = Fraction(q, p)
        voice.tuplet_left = int(match.group("r")[:3]) if match.group("r") else p

    def finish(self) -> None:
        """The end of the tune: close each voice's open bar."""
        for voice in self.voices.values():
            voice.boundary({"end"})

    def bars(self) -> list[Bar]:
        """The bars closed so far in the voice being read (the last one last).

        Examples
        --------
        >>> scanner = BarScanner("3/4", "1/8")
        >>> scanner.line("D2 | G2 B2 d2 |", line_number=1)
        >>> [(str(bar.duration), sorted(bar.left), sorted(bar.right)) for bar in scanner.bars()]
        [('1/4', ['start'], ['plain']), ('3/4', ['plain'], ['plain'])]
        """
        return list(self.voice.bars)

    def bar_count(self) -> int:
        """Bars read: in a tune with several voices, those of the voice with most bars.

        A pickup and a closing short bar count one each, a multi-bar rest ``Z4`` four.
        """
        return max((voice.bar_count() for voice in self.voices.values()), default=0)

    def odd_bars(self) -> list[str]:
        """One phrase per bar, in all voices, that does not last what its meter says (and is
        not a short bar real tunes have), e.g. ``"bar 5 (line 7) lasts only 5/8 but the meter
        is 6/8"``."""
        return [problem for voice in self.voices.values() for problem in _odd_bars(voice.bars)]


def _is_compound(meter: str) -> bool:
    match = _METER.fullmatch(meter)
    if not match:
        return False
    beats = sum(int(n) for n in match.group(1).split("+"))
    return beats % 3 == 0 and beats > 3


def section_start(bars: list[Bar], index: int) -> int:
    """Index of the first bar of the section holding bar `index` (endings do not start one).

    A section starts at the tune's start, a repeat sign, ``||``, ``|]`` or a new part.

    Examples
    --------
    >>> scanner = BarScanner("2/4", "1/8")
    >>> scanner.line("A | ABcd | cBAG :|: d | efga | g3 :|", line_number=1)
    >>> section_start(scanner.bars(), 2), section_start(scanner.bars(), 5)
    (0, 3)
    """
    while index > 0 and not bars[index].left & _SECTION_STARTS:
        index -= 1
    return index


def _section_end(bars: list[Bar], index: int) -> int:
    """Index of the last bar of the section holding bar `index`."""
    while index < len(bars) - 1 and not bars[index].right & _SECTION_STARTS:
        index += 1
    return index


def _short_bar_fits(bars: list[Bar], index: int) -> bool:
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
        partners += [index + 1, section_start(bars, index), 0]
    if bar.left & _SECTION_BOUNDARIES:
        partners += [index - 1, _section_end(bars, index)]
    return any(
        bars[partner].duration < bar.bar_length  # type: ignore[operator]
        and bar.duration + bars[partner].duration == bar.bar_length
        for partner in partners
        if partner != index
    )


def _odd_bars(bars: list[Bar]) -> list[str]:
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
