r"""How a tune is played in time: its tempo, its bars, and the lilt of its beats.

A score (music21's reading of the ABC) says which notes come in which order; a performance
adds how fast, where the bars fall, and which notes lean. `score_to_midi` plays a score out
(repeats expanded) at a `Tempo`, with bar lines kept as MIDI time signatures and the beats of
each bar louder than the notes between them.

How fast: its own ``Q:`` header, or the tempo a session plays its dance at.

ABC tunes rarely say how fast they go, and a MIDI file needs a tempo. music21 plays every tune
without a ``Q:`` header at 120 quarter notes a minute, which makes a reel crawl (a 32-bar reel
lasts a minute) and a slow air gallop. Irish dance music has customary tempi, counted in the
beat a dancer feels, and the meter (``M:``) says which dance a tune most likely is:

=================  ==========================  ======================  ======================
``M:``             dances                      beat                    beats a minute
=================  ==========================  ======================  ======================
``C|``, 2/2, 4/4,  reels, hornpipes,           half note               110
``C``, 3/2         marches, triple hornpipes
6/8, 9/8, 12/8     jigs, slip jigs, slides     dotted quarter          120
2/4                polkas (and some airs)      quarter note            130
3/4                waltzes, mazurkas, airs     quarter note            120
anything else      (5/4, 7/8, none...)         quarter note            120
=================  ==========================  ======================  ======================

A tune's own ``Q:`` header wins: ``Q:1/4=100``, ``Q:3/8=120``, ``Q:"Allegro" 1/2=90`` (the text
is ignored), ``Q:1/8 3/8=40`` (the beats are added: 1/2=40), or the old ``Q:120`` (120 unit
notes of ``L:`` a minute). A slow air in 3/4 or 2/4 sounds hurried at dance tempo: give it a
``Q:`` header, or pass ``tempo=`` to `mitdeeplearning.music.play`.

## Let's test-drive it

>>> reel = "X:1\nT:A Reel\nM:C|\nL:1/8\nK:D\n|:DFAF GFED:|\n"
>>> tune = tune_tempo(reel)
>>> print(tune)
110 half notes a minute (reels and hornpipes, M:C|)
>>> tune.quarter_notes_per_minute
220.0
>>> print(tune_tempo("X:1\nM:6/8\nL:1/8\nQ:3/8=100\nK:G\nGAB|"))
100 dotted quarter notes a minute (the tune's Q:3/8=100)
"""

from __future__ import annotations

import bisect
import contextlib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from .headers import header_fields

if TYPE_CHECKING:  # heavy modules are imported inside the functions, to keep imports cheap
    import music21
    import pretty_midi

__all__ = [
    "SESSION_TEMPI",
    "VIOLIN",
    "Tempo",
    "bar_lengths",
    "bar_signatures",
    "close_open_repeats",
    "score_to_midi",
    "session_tempo",
    "tune_tempo",
]

#: The General MIDI program (0-based) the tunes are written for: a violin, for FluidSynth.
VIOLIN = 40
# Velocities of a note on the first beat of a bar, on another beat, and between beats.
_DOWNBEAT, _ON_BEAT, _OFF_BEAT = 110, 95, 80

#: Customary session tempi by meter: meter → (beat in whole notes, beats a minute, dances).
SESSION_TEMPI: dict[str, tuple[Fraction, float, str]] = {
    "2/2": (Fraction(1, 2), 110.0, "reels and hornpipes"),
    "4/4": (Fraction(1, 2), 110.0, "reels and hornpipes"),
    "3/2": (Fraction(1, 2), 110.0, "triple hornpipes"),
    "6/8": (Fraction(3, 8), 120.0, "jigs"),
    "9/8": (Fraction(3, 8), 120.0, "slip jigs"),
    "12/8": (Fraction(3, 8), 120.0, "slides"),
    "2/4": (Fraction(1, 4), 130.0, "polkas"),
    "3/4": (Fraction(1, 4), 120.0, "waltzes and airs"),
}
_DEFAULT = (Fraction(1, 4), 120.0, "no customary tempo for this meter")
_METER_SYMBOLS = {"C": "4/4", "C|": "2/2"}
_BEAT_NAMES = {
    Fraction(1, 1): "whole notes",
    Fraction(1, 2): "half notes",
    Fraction(3, 4): "dotted half notes",
    Fraction(1, 4): "quarter notes",
    Fraction(3, 8): "dotted quarter notes",
    Fraction(1, 8): "eighth notes",
    Fraction(3, 16): "dotted eighth notes",
    Fraction(1, 16): "sixteenth notes",
}


@dataclass(frozen=True)
class Tempo:
    """A tempo: so many beats a minute, a beat being a note of `beat` whole notes.

    Attributes
    ----------
    beat : fractions.Fraction
        The beat's length in whole notes: ``Fraction(1, 2)`` a half note, ``Fraction(3, 8)`` a
        dotted quarter.
    beats_per_minute : float
        Beats a minute, positive.
    reason : str
        Where the tempo comes from, e.g. ``"jigs, M:6/8"`` or ``"the tune's Q:1/4=100"``.

    Examples
    --------
    >>> tempo = Tempo(Fraction(3, 8), 120.0, "jigs, M:6/8")
    >>> tempo.quarter_notes_per_minute, str(tempo)
    (180.0, '120 dotted quarter notes a minute (jigs, M:6/8)')
    """

    beat: Fraction
    beats_per_minute: float
    reason: str = ""

    @property
    def quarter_notes_per_minute(self) -> float:
        """The tempo as MIDI counts it: quarter notes a minute."""
        return float(self.beats_per_minute * self.beat * 4)

    def __str__(self) -> str:
        name = _BEAT_NAMES.get(self.beat, f"{self.beat} notes")
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.beats_per_minute:g} {name} a minute{reason}"


def session_tempo(meter: str | None) -> Tempo:
    """The customary session tempo for a meter (the table in the module documentation).

    Parameters
    ----------
    meter : str or None
        An ABC meter such as ``"6/8"``, ``"C|"`` or ``"C"``; None or ``"none"`` for no meter.

    Returns
    -------
    Tempo
        Its beat, beats a minute and the dances it is for.

    Examples
    --------
    >>> print(session_tempo("9/8"))
    120 dotted quarter notes a minute (slip jigs, M:9/8)
    >>> print(session_tempo("7/8"))
    120 quarter notes a minute (no customary tempo for this meter, M:7/8)
    """
    written = (meter or "none").strip()
    key = _METER_SYMBOLS.get(written, written.replace(" ", ""))
    beat, beats_per_minute, dances = SESSION_TEMPI.get(key, _DEFAULT)
    return Tempo(beat, beats_per_minute, f"{dances}, M:{written}")


def tune_tempo(text: str) -> Tempo:
    """The tempo to play an ABC tune at: its ``Q:`` header, else its meter's session tempo.

    Only the header (the lines up to ``K:``) is read. A ``Q:`` field without a number (only a
    word such as ``"Allegro"``) is ignored.

    Parameters
    ----------
    text : str
        One ABC tune.

    Returns
    -------
    Tempo
        The tempo, with the reason it was chosen.

    Examples
    --------
    >>> print(tune_tempo("X:1\\nM:3/4\\nL:1/8\\nK:G\\nG2 AB c2|"))
    120 quarter notes a minute (waltzes and airs, M:3/4)
    >>> print(tune_tempo("X:1\\nM:4/4\\nL:1/8\\nQ:120\\nK:G\\nGABc dedB|"))
    120 eighth notes a minute (the tune's Q:120)
    """
    fields = header_fields(text)
    if "Q" in fields:
        tempo = _parse_q(fields["Q"], _unit_length(fields.get("L"), fields.get("M")))
        if tempo is not None:
            return tempo
    return session_tempo(fields.get("M"))


def _parse_q(value: str, unit: Fraction) -> Tempo | None:
    """A `Tempo` from a ``Q:`` field's value, or None when it holds no usable number."""
    bare = re.sub(r'"[^"]*"', " ", value).strip()  # drop quoted words such as "Allegro"
    reason = f"the tune's Q:{value}"
    old_style = re.fullmatch(r"(\d+(?:\.\d+)?)", bare)
    if old_style:
        beat, number = unit, float(old_style.group(1))
    else:
        match = re.fullmatch(r"((?:\s*\d+/\d+)+)\s*=\s*(\d+(?:\.\d+)?)", bare)
        if not match:
            return None
        beat = sum((Fraction(f) for f in match.group(1).split()), Fraction(0))
        number = float(match.group(2))
    if beat <= 0 or number <= 0:
        return None
    return Tempo(beat, number, reason)


def _unit_length(length: str | None, meter: str | None) -> Fraction:
    """The unit note length: ``L:``, else ABC's default (1/16 for meters under 3/4, else 1/8)."""
    if length:
        try:
            return Fraction(length.strip())
        except (ValueError, ZeroDivisionError):
            pass
    written = _METER_SYMBOLS.get((meter or "").strip(), (meter or "").strip())
    try:
        return Fraction(1, 16) if Fraction(written) < Fraction(3, 4) else Fraction(1, 8)
    except (ValueError, ZeroDivisionError):
        return Fraction(1, 8)


# ## Playing a score


def score_to_midi(score: music21.stream.Score, tempo: Tempo) -> pretty_midi.PrettyMIDI:
    """Play a parsed music21 score at `tempo`: a one-instrument (violin) `pretty_midi.PrettyMIDI`.

    Repeats are played out when they are well formed (as written otherwise), tied notes are
    joined, grace notes left out. Bar lines become time signatures (`bar_signatures`), and a
    note sounds louder on the bar's first beat (velocity 110) than on another beat (95) or
    between beats (80): the lilt of dance music, which the synthesisers follow.

    Parameters
    ----------
    score : music21.stream.Score
        One tune, as ``music21.converter.parseData(text, format="abc")`` returns it.
    tempo : Tempo
        How fast to play it, e.g. `tune_tempo` (text).

    Returns
    -------
    pretty_midi.PrettyMIDI
        One instrument (General MIDI program 40, a violin) named ``"fiddle"``.

    Raises
    ------
    ValueError
        If no note of the score lasts any time.
    """
    import music21
    import pretty_midi

    for part in score.parts:
        close_open_repeats(part)
    with contextlib.suppress(music21.repeat.ExpanderException, music21.stream.StreamException):
        score = score.expandRepeats()  # badly formed repeats, or no bars: play as written
    score = score.stripTies()
    seconds_per_quarter = 60.0 / tempo.quarter_notes_per_minute
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo.quarter_notes_per_minute)
    bars = bar_lengths(score)  # (start, length) in quarter notes
    starts = [start for start, _ in bars]
    beat = float(tempo.beat * 4)
    violin = pretty_midi.Instrument(program=VIOLIN, name="fiddle")
    for element in score.flatten().notes:
        offset, length = float(element.offset), float(element.quarterLength)
        if length <= 0:  # grace notes take no time in the score
            continue
        # Where the note falls in its bar (a pickup bar ends on the next downbeat).
        index = max(bisect.bisect_right(starts, offset + 1e-9) - 1, 0)
        bar_start, bar_length = bars[index] if bars else (0.0, 0.0)
        if index == 0 and len(bars) > 1 and bar_length < bars[1][1]:
            bar_start -= bars[1][1] - bar_length
        position = offset - bar_start
        on_beat = abs(position / beat - round(position / beat)) < 1e-6
        velocity = _DOWNBEAT if abs(position) < 1e-6 else _ON_BEAT if on_beat else _OFF_BEAT
        start = offset * seconds_per_quarter
        for pitch in element.pitches:
            end = start + length * seconds_per_quarter
            violin.notes.append(pretty_midi.Note(velocity, pitch.midi, start, end))
    if not violin.notes:
        raise ValueError("no notes with a duration")
    midi.instruments.append(violin)
    key = next(iter(score.flatten().getElementsByClass(music21.key.KeySignature)), None)
    if key is not None:  # as its relative major: MIDI keys are major or minor, not modal
        midi.key_signature_changes = [pretty_midi.KeySignature(key.sharps * 7 % 12, 0.0)]
    meter = next(iter(score.flatten().getElementsByClass(music21.meter.TimeSignature)), None)
    written = (meter.numerator, meter.denominator) if meter else (4, 4)
    midi.time_signature_changes = [
        pretty_midi.TimeSignature(numerator, denominator, start * seconds_per_quarter)
        for numerator, denominator, start in bar_signatures(bars, written)
    ]
    return midi


def close_open_repeats(part: music21.stream.Part) -> int:
    """Start each repeated section where a player would: after the previous section's end.

    In ABC a second part is often written ``F|GBB B>AG|...|A>GF E2:|`` with no ``|:``: a player
    repeats that part alone, from the previous ``:|`` or double bar. music21 repeats it from the
    start of the tune instead (a 16-bar jig then lasts 48 bars). So the first bar after each
    ``:|``, ``||`` or ``|]`` gets a start-repeat when its section ends in ``:|`` without one;
    a second ending (``[2``) is left alone: it is the same section's way out.

    Parameters
    ----------
    part : music21.stream.Part
        One part of a parsed tune, changed in place.

    Returns
    -------
    int
        How many start-repeats were added.
    """
    import music21

    measures = list(part.getElementsByClass(music21.stream.Measure))
    added, section_start = 0, 0
    for index, measure in enumerate(measures):
        left, right = measure.leftBarline, measure.rightBarline
        if isinstance(left, music21.bar.Repeat) and left.direction == "start":
            section_start = None  # this section opens its own repeat
        ends_repeat = isinstance(right, music21.bar.Repeat) and right.direction == "end"
        if ends_repeat and section_start not in (None, 0):
            measures[section_start].leftBarline = music21.bar.Repeat(direction="start")
            added += 1
        if ends_repeat or (right is not None and right.type in ("double", "final")):
            following = measures[index + 1] if index + 1 < len(measures) else None
            second_ending = following is not None and any(
                isinstance(spanner, music21.spanner.RepeatBracket)
                for spanner in following.getSpannerSites()
            )
            if not second_ending:
                section_start = index + 1
    return added


def bar_lengths(score: music21.stream.Score) -> list[tuple[float, float]]:
    """``(start, length)`` in quarter notes of each bar of a music21 score's first part, as
    long as its notes last (a pickup is short); empty when music21 made no bars."""
    import music21

    parts = list(score.parts) or [score]
    measures = parts[0].getElementsByClass(music21.stream.Measure)
    return [(float(m.offset), float(m.duration.quarterLength)) for m in measures]


def bar_signatures(
    bars: list[tuple[float, float]], meter: tuple[int, int]
) -> list[tuple[int, int, float]]:
    """``(numerator, denominator, start in quarter notes)`` wherever the bar length changes.

    MIDI files have no bar lines, only time signatures; a bar of another length (a pickup, a
    short bar before a repeat) gets a time signature of its own, so that
    ``pretty_midi.PrettyMIDI.get_downbeats`` and `mitdeeplearning.music.plot_piano_roll`
    find every bar line.

    A bar as long as the meter's bar keeps the meter (6/8 stays 6/8, not 3/4); another bar gets
    the smallest power-of-two denominator, at least the meter's, that counts it in whole notes
    (a pickup eighth in 4/4 is 1/8). A bar no MIDI time signature can hold (a triplet) is
    left in the bar before it.

    Parameters
    ----------
    bars : list of (float, float)
        ``(start, length)`` of each bar in quarter notes, as `bar_lengths` returns.
    meter : (int, int)
        The tune's time signature, e.g. ``(6, 8)``.

    Returns
    -------
    list of (int, int, float)
        The first at time 0 (the meter when there are no bars).

    Examples
    --------
    >>> bar_signatures([(0.0, 1.0), (1.0, 4.0), (5.0, 4.0), (9.0, 3.0)], (4, 4))  # pickup, end
    [(1, 4, 0.0), (4, 4, 1.0), (3, 4, 9.0)]
    >>> bar_signatures([(0.0, 3.0), (3.0, 3.0)], (6, 8))
    [(6, 8, 0.0)]
    """
    changes = [(meter[0], meter[1], 0.0)]
    full = Fraction(4 * meter[0], meter[1])
    for start, length in bars:
        quarters = Fraction(length).limit_denominator(96)
        signature = meter
        if quarters != full:
            fitting = [d for d in (1, 2, 4, 8, 16, 32) if d >= meter[1]]
            counts = [(quarters * d / 4, d) for d in fitting if (quarters * d / 4).denominator == 1]
            if not counts or counts[0][0] < 1:
                continue
            signature = (int(counts[0][0]), counts[0][1])
        if signature != changes[-1][:2]:
            if start <= changes[-1][2] + 1e-9:  # two changes at one time: keep the later one
                changes.pop()
            changes.append((*signature, start))
    return changes
