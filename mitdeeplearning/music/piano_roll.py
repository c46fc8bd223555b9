"""See a tune: a piano roll of ABC text, a MIDI file, a PrettyMIDI or note tokens.

A piano roll draws time across and pitch up, each note a bar as long as it sounds, brighter
when louder: the shape of a melody at a glance, without reading notation::

    >>> from mitdeeplearning.music import plot_piano_roll
    >>> plot_piano_roll(generated_tune)                                    # doctest: +SKIP

ABC text goes through `mitdeeplearning.music.audio.tune_to_midi` first (music21), so a tune that
can be heard can be drawn, and the same errors say what is wrong with one that cannot.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .abc import read_abc_file
from .audio import MIDI_SUFFIXES, playable_path, tune_title, tune_to_midi
from .midi import is_whole_number, read_midi, tokens_to_pretty_midi

if TYPE_CHECKING:  # heavy modules are imported inside the functions, to keep imports cheap
    import matplotlib.axes
    import pretty_midi

__all__ = ["plot_piano_roll"]

# Semitones of empty space drawn above and below the notes of a piano roll.
_PITCH_MARGIN = 2


def plot_piano_roll(
    source: str | os.PathLike | pretty_midi.PrettyMIDI | Sequence[tuple[int | str, float]],
    *,
    ax: matplotlib.axes.Axes | None = None,
    fs: int = 100,
    pitch_range: tuple[int, int] | None = None,
    title: str | None = None,
) -> matplotlib.axes.Axes:
    """Draw a piano roll: time in seconds across, pitch up, brightness for loudness.

    Drums are left out (their "pitches" name drums, not notes). The pitch axis is cropped to the
    notes played plus two semitones either side and labelled with note names at each C (C4 is
    middle C, MIDI 60), or at every pitch when the range spans less than an octave. Colours use
    the perceptually uniform ``magma`` map (black is silence, brighter is louder).

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
        Lowest and highest MIDI pitch to show, inclusive. Default: the notes played, +/- 2.
    title : str, optional
        Title of the plot. Default: the tune's ``T:`` title, or the file's name.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; the roll is ``ax.images[0]``, an array of shape (pitches, columns).

    Raises
    ------
    ValueError
        If there are no pitched notes to draw, or an argument is out of range (see also
        `tune_to_midi` for ABC text).

    Examples
    --------
    >>> ax = plot_piano_roll([(60, 1.0), ("rest", 0.5), (64, 0.5), (67, 2.0)])
    >>> [float(y) for y in ax.get_ylim()]  # C4 to G4, two semitones either side
    [57.5, 69.5]
    """
    import matplotlib.pyplot as plt
    import pretty_midi

    if not (is_whole_number(fs) and fs > 0):
        raise ValueError(f"fs must be a positive number of columns per second, got {fs!r}")
    midi, default_title = _as_pretty_midi(source)
    pitches = [n.pitch for i in midi.instruments if not i.is_drum for n in i.notes]
    if not pitches:
        raise ValueError("There is nothing to draw: no pitched (non-drum) notes")
    if pitch_range is None:
        low = max(0, min(pitches) - _PITCH_MARGIN)
        high = min(127, max(pitches) + _PITCH_MARGIN)
    else:
        low, high = _check_pitch_range(pitch_range)

    # (128, columns) summed velocities; drums are all zeros.
    roll = midi.get_piano_roll(fs=fs)[low : high + 1]
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
        extent=(0, roll.shape[1] / fs, low - 0.5, high + 0.5),
    )
    step = 1 if high - low < 12 else None
    ticks = [p for p in range(low, high + 1) if step or p % 12 == 0]
    ax.set_yticks(ticks, [pretty_midi.note_number_to_name(p) for p in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    if title or default_title:
        ax.set_title(title or default_title)
    return ax


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
