"""See a tune: a piano roll of ABC text, a MIDI file, a PrettyMIDI or note tokens.

A piano roll draws time across and pitch up, each note a bar as long as it sounds, brighter
when louder: the shape of a melody at a glance, without reading notation. It shows 8 bars at a
time (``bars=``), with numbered bar lines and the names of the notes played::

    >>> from mitdeeplearning.music import plot_piano_roll
    >>> plot_piano_roll(generated_tune)                                    # doctest: +SKIP

ABC text goes through `mitdeeplearning.music.audio.tune_to_midi` first (music21), so a tune that
can be heard can be drawn, and the same errors say what is wrong with one that cannot.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .abc import read_abc_file
from .audio import MIDI_SUFFIXES, playable_path, tune_title, tune_to_midi
from .midi import is_whole_number, read_midi, tokens_to_pretty_midi

if TYPE_CHECKING:  # heavy modules are imported inside the functions, to keep imports cheap
    import matplotlib.axes
    import pretty_midi

__all__ = ["bar_lines", "note_name", "plot_piano_roll"]

# Semitones of empty space drawn above and below the notes of a piano roll.
_PITCH_MARGIN = 1
# Past this many different pitches, only the natural notes are named on the pitch axis.
_MAX_PITCH_LABELS = 24
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Black keys a key signature flattens, in order: B, E, A, D, G (a sixth and seventh flat fall
# on white keys, named as such).
_FLATTENED = (10, 3, 8, 1, 6)


def plot_piano_roll(
    source: str | os.PathLike | pretty_midi.PrettyMIDI | Sequence[tuple[int | str, float]],
    *,
    ax: matplotlib.axes.Axes | None = None,
    fs: int = 100,
    pitch_range: tuple[int, int] | None = None,
    title: str | None = None,
    bars: int | tuple[int, int] | None = 8,
) -> matplotlib.axes.Axes:
    """Draw a piano roll, a few bars at a time: time across, pitch up, brightness for loudness.

        Drums are left out (their "pitches" name drums, not notes). The pitch axis spans the notes
        of the whole tune, one semitone either side, and names each pitch played (C4 is middle C,
        MIDI 60; only the natural notes when more than 24 different pitches are played), with flats
    where the file's key signature has them. Bar lines
        are drawn and numbered along the time axis: bars come from the MIDI file's time signatures
        (`tune_to_midi` writes a pickup as a short bar 0; a file without any is read as 4/4), and a
        short bar followed by another (a bar split by a repeat sign) counts as one. Colours use the
        perceptually uniform ``magma`` map (black is silence, brighter is louder).

        Parameters
        ----------
        source : str, os.PathLike, pretty_midi.PrettyMIDI or list of (pitch, duration)
            ABC text; a path to a ``.mid``, ``.midi`` or ``.abc`` file (a ``str`` counts as a path
            when it is one line ending in one of those); a `pretty_midi.PrettyMIDI`; or tokens from
            `~mitdeeplearning.music.midi_to_notes`, drawn at 120 quarter notes per minute.
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new 10 x 3.5 inch figure when None.
        fs : int, default 100
            Columns of the piano roll per second.
        pitch_range : (int, int), optional
            Lowest and highest MIDI pitch to show, inclusive. Default: the notes played, +/- 1.
        title : str, optional
            Title of the plot. Default: the tune's ``T:`` title, or the file's name.
        bars : int or (int, int) or None, default 8
            Which bars to draw: the first `bars` bars (with the pickup before bar 1, if any),
            bars ``first`` to ``last`` inclusive (numbered from 1), or None for the whole tune.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on; the roll is ``ax.images[0]``, an array of shape (pitches, columns)
            covering the bars shown; the bar lines are ``ax.lines``.

        Raises
        ------
        ValueError
            If there are no pitched notes to draw, or an argument is out of range (see also
            `tune_to_midi` for ABC text).

        Examples
        --------
        >>> ax = plot_piano_roll([(60, 1.0), ("rest", 0.5), (64, 0.5), (67, 2.0)] * 3, bars=2)
        >>> [float(y) for y in ax.get_ylim()]  # C4 to G4, one semitone either side
        [58.5, 68.5]
        >>> [label.get_text() for label in ax.get_yticklabels()]
        ['C4', 'E4', 'G4']
        >>> [float(x) for x in ax.get_xlim()], [label.get_text() for label in ax.get_xticklabels()]
        ([0.0, 4.0], ['1', '2'])
    """
    import matplotlib.pyplot as plt

    if not (is_whole_number(fs) and fs > 0):
        raise ValueError(f"fs must be a positive number of columns per second, got {fs!r}")
    midi, default_title = _as_pretty_midi(source)
    pitches = sorted({n.pitch for i in midi.instruments if not i.is_drum for n in i.notes})
    if not pitches:
        raise ValueError("There is nothing to draw: no pitched (non-drum) notes")
    if pitch_range is None:
        low = max(0, pitches[0] - _PITCH_MARGIN)
        high = min(127, pitches[-1] + _PITCH_MARGIN)
    else:
        low, high = _check_pitch_range(pitch_range)
    starts, numbers = bar_lines(midi)
    first, last = _check_bars(bars, numbers)
    shown = [i for i, number in enumerate(numbers) if first <= number <= last]
    # The pickup (bar 0) goes with bar 1.
    begin = 0.0 if first <= 1 else starts[shown[0]]
    after = shown[-1] + 1
    end = starts[after] if after < len(starts) else midi.get_end_time()

    # (pitches, columns) summed velocities of the bars shown; drums are all zeros.
    roll = midi.get_piano_roll(fs=fs)[low : high + 1]
    roll = roll[:, round(begin * fs) : max(round(end * fs), round(begin * fs) + 1)]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5))
    ax.imshow(
        roll,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap="magma",
        vmin=0,
        vmax=max(float(roll.max()), 1.0),
        extent=(begin, begin + roll.shape[1] / fs, low - 0.5, high + 0.5),
    )
    for index in shown:
        ax.axvline(starts[index], color="0.6", linewidth=0.8, alpha=0.8)
    every = math.ceil(len(shown) / 16)
    labelled = [
        i
        for i in shown
        if numbers[i] and numbers[i] % every == 0 and (i == 0 or numbers[i - 1] != numbers[i])
    ]
    ax.set_xticks([starts[i] for i in labelled], [str(numbers[i]) for i in labelled])
    ax.set_xlim(begin, begin + roll.shape[1] / fs)
    named = [p for p in pitches if low <= p <= high]
    if len(named) > _MAX_PITCH_LABELS:
        named = [p for p in named if p % 12 in (0, 2, 4, 5, 7, 9, 11)]
    flats = _key_flats(midi)
    ax.set_yticks(named, [note_name(p, flats=flats) for p in named])
    ax.tick_params(axis="y", labelsize=8 if len(named) > 12 else 10)
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlabel(
        f"bar (bars {numbers[shown[0]]}-{numbers[shown[-1]]} of {max(numbers)}: "
        f"{begin:.1f}-{end:.1f} s of {midi.get_end_time():.1f} s)"
    )
    ax.set_ylabel("pitch")
    if title or default_title:
        ax.set_title(title or default_title)
    return ax


def note_name(pitch: int, *, flats: int = 0) -> str:
    """The name of a MIDI pitch, octave included (C4 is middle C, 60), as a key spells it.

    Black keys are sharps, except those the key signature flattens: with ``flats=2`` (F major,
    G minor) B flat and E flat are Bb and Eb, and F sharp is still F#.

    Examples
    --------
    >>> note_name(60), note_name(66), note_name(70), note_name(70, flats=2), note_name(66, flats=2)
    ('C4', 'F#4', 'A#4', 'Bb4', 'F#4')
    """
    pitch_class = pitch % 12
    names = _FLAT_NAMES if pitch_class in _FLATTENED[:flats] else _SHARP_NAMES
    name = names[pitch_class]
    return f"{name}{pitch // 12 - 1}"


def _key_flats(midi: pretty_midi.PrettyMIDI) -> int:
    """How many flats the MIDI file's first key signature has (0 for none, or sharps)."""
    if not midi.key_signature_changes:
        return 0
    number = midi.key_signature_changes[0].key_number
    major = number if number < 12 else (number - 12 + 3) % 12  # a minor key's relative major
    sharps = major * 7 % 12
    return 12 - sharps if sharps > 6 else 0


def bar_lines(midi: pretty_midi.PrettyMIDI) -> tuple[list[float], list[int]]:
    """Where each bar of a MIDI file starts, in seconds, and its number.

    Bars follow the file's time signatures (4/4 before the first, or throughout when there is
    none) up to the end of the last note. Two short bars in a row that together last no more
    than a full bar (a bar split by a repeat sign) are one bar. Bars are numbered 1, 2...: a
    first bar shorter than the usual bar is a pickup, numbered 0, and so is any later bar
    shorter than half the usual bar (it shares the number of the bar before); the last bar
    always has a number of its own.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI
        A MIDI file with notes.

    Returns
    -------
    (list of float, list of int)
        Bar starts in seconds, increasing, and the bar numbers (0 for a pickup, then 1, 2...).

    Examples
    --------
    >>> import pretty_midi
    >>> midi = pretty_midi.PrettyMIDI(initial_tempo=120)  # a quarter note lasts 0.5 s
    >>> midi.instruments.append(pretty_midi.Instrument(0))
    >>> midi.instruments[0].notes.append(pretty_midi.Note(100, 60, 0.0, 4.25))
    >>> midi.time_signature_changes = [pretty_midi.TimeSignature(1, 4, 0.0),
    ...                                pretty_midi.TimeSignature(4, 4, 0.5)]
    >>> bar_lines(midi)
    ([0.0, 0.5, 2.5], [0, 1, 2])
    """
    import pretty_midi

    end = midi.time_to_tick(midi.get_end_time())
    signatures = sorted(midi.time_signature_changes, key=lambda s: s.time)
    if not signatures or signatures[0].time > 0:
        signatures.insert(0, pretty_midi.TimeSignature(4, 4, 0.0))
    ticks: list[tuple[int, float]] = []  # (start tick, length in ticks)
    for index, signature in enumerate(signatures):
        start = midi.time_to_tick(signature.time)
        stop = midi.time_to_tick(signatures[index + 1].time) if index + 1 < len(signatures) else end
        length = midi.resolution * 4 * signature.numerator / signature.denominator
        tick = float(start)
        while tick < stop - 1e-6 or (not ticks and tick == start):
            ticks.append((round(tick), length))
            tick += length
    counts = Counter(length for _, length in ticks)
    full = max(counts, key=lambda length: (counts[length], length))  # the usual bar
    merged: list[tuple[int, float]] = []
    for tick, length in ticks:
        previous = merged[-1][1] if merged else full
        if previous < full and length < full and previous + length <= full + 1e-6:
            merged[-1] = (merged[-1][0], previous + length)
        else:
            merged.append((tick, length))
    numbers, number = [], 0
    for index, (_, length) in enumerate(merged):
        # A bar of at least half the usual length counts (a short bar before a repeat); a shorter
        # one (a pickup) shares the number of the bar before, 0 at the start; the last counts.
        number += (index > 0 and length >= full / 2 - 1e-6) or length >= full - 1e-6
        number += index == len(merged) - 1 and number == (numbers[-1] if numbers else 0)
        numbers.append(number)
    return [float(midi.tick_to_time(tick)) for tick, _ in merged], numbers


def _check_bars(bars: object, numbers: list[int]) -> tuple[int, int]:
    """``(first, last)`` bar numbers to draw, within the tune's."""
    highest = max(numbers)
    if bars is None:
        return 0, highest
    if is_whole_number(bars) and bars >= 1:
        return 0, min(int(bars), highest)
    if (
        isinstance(bars, Sequence)
        and len(bars) == 2
        and all(is_whole_number(b) for b in bars)
        and 1 <= bars[0] <= bars[1]
        and bars[0] <= highest
    ):
        return int(bars[0]), min(int(bars[1]), highest)
    raise ValueError(
        f"bars must be a number of bars >= 1, (first, last) bar numbers with "
        f"1 <= first <= last and first <= {highest} (the tune's last bar), or None; got {bars!r}"
    )


def _check_pitch_range(pitch_range: object) -> tuple[int, int]:
    if (
        isinstance(pitch_range, Sequence)
        and len(pitch_range) == 2
        and all(is_whole_number(p) and 0 <= p <= 127 for p in pitch_range)
        and pitch_range[0] <= pitch_range[1]
    ):
        return int(pitch_range[0]), int(pitch_range[1])
    raise ValueError(
        f"pitch_range must be (lowest, highest) MIDI pitches, 0 <= lowest <= highest <= 127, "
        f"got {pitch_range!r}"
    )


def _as_pretty_midi(source: object) -> tuple[pretty_midi.PrettyMIDI, str | None]:
    """A PrettyMIDI for any `plot_piano_roll` source, and a default title."""
    import pretty_midi

    if isinstance(source, pretty_midi.PrettyMIDI):
        return source, None
    if isinstance(source, Sequence) and not isinstance(source, str):
        return tokens_to_pretty_midi(source), None
    path = playable_path(source)
    if path is not None and path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi(path), path.name
    if path is not None and path.suffix.lower() == ".wav":
        raise ValueError(f"{path}: a WAV file has no notes to draw; pass its MIDI file")
    text = read_abc_file(path) if path is not None else source
    with tempfile.TemporaryDirectory(prefix="mitdl-roll-") as folder:
        midi = read_midi(tune_to_midi(text, Path(folder) / "tune.mid"))
    return midi, tune_title(text) or (path.name if path else None)
