"""Bring your own music: a MIDI file's melody as a list of note tokens, and back.

The 2018 version of this lab learned from pop-song MIDI files, predicting the next note. The same
next-token model trains on any folder of MIDI files once each file is a sequence of tokens::

    >>> tokens = midi_to_notes("song.mid")                   # doctest: +SKIP
    >>> tokens[:4]                                           # doctest: +SKIP
    [(62, 0.5), (64, 0.5), (66, 1.0), ('rest', 0.5)]
    >>> notes_to_midi(tokens, "melody.mid")                  # doctest: +SKIP
    PosixPath('melody.mid')

A token is a hashable, readable tuple ``(pitch, duration)``: ``pitch`` is a MIDI note number
0-127 (60 is middle C, C4) or the string ``"rest"``; ``duration`` is in quarter notes (beats), a
multiple of the quantisation grid. Tokens can go straight into a vocabulary, as characters do.

How a file becomes tokens (`midi_to_notes`):

1. **Choose the melody instrument.** Drums are ignored. Unless ``instrument=`` names one, the
   melody is the instrument with the highest mean pitch among those holding at least a tenth as
   many notes as the busiest instrument (so a handful of high bell notes does not win over the
   tune, and a busy accompaniment does not crowd the tune out).
2. **Quantise to the grid.** Note times are converted from seconds to beats with the file's tempo
   map, then rounded to the nearest multiple of ``grid`` (a 16th note by default). A note shorter
   than half a grid step vanishes (grace and ghost notes); one of at least half a step lasts at
   least one step.
3. **Skyline.** At every grid step the highest sounding note of the melody instrument is kept, so
   chords in the melody become their top note. When a higher note ends while a lower one is still
   held, the rest of the lower note becomes a token of its own. Gaps become rest tokens; silence
   before the first note and after the last one is dropped.
4. **Cap durations.** A note longer than ``max_duration`` is cut to ``max_duration`` and the time
   it would still have sounded becomes a rest, so every later note keeps its place in the bar
   (splitting it into repeated notes of the same pitch would re-strike it, a different melody).
   Rests longer than ``max_duration`` are shortened to it.

`notes_to_midi` writes tokens back as a one-instrument MIDI file. The two are inverses on what
`midi_to_notes` produces: ``midi_to_notes(notes_to_midi(tokens, path)) == tokens`` for any token
list that starts and ends with a note, never has two rests in a row, and whose durations are
multiples of ``grid`` no longer than ``max_duration``. Their names read like the package's other
conversions, `tune_to_midi` and `midi_to_wav` (they were once ``encode_midi`` and
``decode_notes``).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._lazy import moved_names
from ..files import atomic_path

if TYPE_CHECKING:  # pretty_midi is imported inside the functions, to keep imports cheap
    import pretty_midi

__all__ = [
    "REST",
    "is_whole_number",
    "midi_to_notes",
    "notes_to_midi",
    "read_midi",
    "tokens_to_pretty_midi",
]

#: The pitch of a rest token.
REST = "rest"

# Ticks per quarter note of the files notes_to_midi writes: divisible by 2, 3, 4, 5, 8, 16 and
# 32, so common grids (16ths, triplets, quintuplets) land on whole ticks.
_RESOLUTION = 480
# The velocity of every decoded note: tokens carry no dynamics.
_VELOCITY = 100
# An instrument with fewer notes than this fraction of the busiest one is not a melody candidate.
_MIN_NOTE_SHARE = 0.1


def midi_to_notes(
    path: str | os.PathLike,
    *,
    grid: float = 0.25,
    max_duration: float = 4.0,
    instrument: int | None = None,
) -> list[tuple[int | str, float]]:
    """Turn the melody of a MIDI file into a list of ``(pitch, duration)`` tokens.

    See the module documentation for how the melody is chosen, quantised and capped.

    Parameters
    ----------
    path : str or os.PathLike
        A Standard MIDI File (``.mid`` / ``.midi``).
    grid : float, default 0.25
        Quantisation step in quarter notes: 0.25 is a 16th note, 1/3 an eighth-note triplet.
    max_duration : float, default 4.0
        Longest duration of a token, in quarter notes (4.0 is a whole note in 4/4). Must be at
        least ``grid``; it is rounded down to a multiple of ``grid``.
    instrument : int or None, default None
        Index into the file's instruments (``pretty_midi.PrettyMIDI(path).instruments``) of the
        melody instrument. None chooses it automatically.

    Returns
    -------
    list of tuple
        Tokens ``(pitch, duration)``: ``pitch`` an int 0-127 or ``"rest"``, ``duration`` a
        positive float, a multiple of ``grid``, at most ``max_duration``. The first and last
        tokens are notes.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable MIDI file, has no pitched (non-drum) notes, or an argument
        is out of range.

    See Also
    --------
    notes_to_midi : write tokens back as a MIDI file.

    Examples
    --------
    >>> import pretty_midi, tempfile, pathlib
    >>> song = pretty_midi.PrettyMIDI(initial_tempo=120)
    >>> piano = pretty_midi.Instrument(program=0)
    >>> piano.notes += [pretty_midi.Note(100, 60, 0.0, 0.5), pretty_midi.Note(100, 64, 1.0, 1.25)]
    >>> song.instruments.append(piano)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "song.mid"
    >>> song.write(str(path))
    >>> midi_to_notes(path)  # at 120 beats per minute, 0.5 s is one beat
    [(60, 1.0), ('rest', 1.0), (64, 0.5)]
    """
    if not (isinstance(grid, numbers.Real) and math.isfinite(grid) and grid > 0):
        raise ValueError(f"grid must be a positive number of quarter notes, got {grid!r}")
    if not (
        isinstance(max_duration, numbers.Real)
        and math.isfinite(max_duration)
        and max_duration >= grid
    ):
        raise ValueError(
            f"max_duration must be a number of quarter notes >= grid ({grid}), got {max_duration!r}"
        )
    # A small tolerance so that e.g. max_duration=1.0 with grid=0.1 gives 10 steps, not 9.
    max_steps = math.floor(max_duration / grid + 1e-9)

    midi = read_midi(path)
    melody = _choose_melody(midi, path, instrument)

    # Each note in grid steps: (start step, end step, pitch).
    def to_steps(seconds: float) -> float:
        return midi.time_to_tick(seconds) / midi.resolution / grid

    quantised = []
    for note in melody.notes:
        start = _round_half_up(to_steps(note.start))
        length = _round_half_up(to_steps(note.end) - to_steps(note.start))
        if length > 0:  # shorter than half a grid step: a grace or ghost note, dropped
            quantised.append((start, start + length, int(note.pitch)))
    if not quantised:
        raise ValueError(
            f"{path}: every note of the melody is shorter than half a grid step ({grid / 2} "
            "quarter notes); use a finer grid"
        )

    runs = _skyline(quantised)
    return _runs_to_tokens(runs, max_steps, grid)


def notes_to_midi(
    tokens: Sequence[tuple[int | str, float]],
    midi_path: str | os.PathLike,
    *,
    tempo: float = 120.0,
    program: int = 0,
) -> Path:
    """Write ``(pitch, duration)`` tokens as a one-instrument MIDI file.

    Notes follow one another; a rest token advances time without sounding. The file is written
    to a temporary file beside ``midi_path`` and renamed into place, so readers never see a
    half-written file. Parent folders are created.

    Parameters
    ----------
    tokens : sequence of (pitch, duration)
        ``pitch`` is a MIDI note number 0-127 or ``"rest"``; ``duration`` is a positive number
        of quarter notes. Lists ``[pitch, duration]`` are accepted too (as read back from JSON).
    midi_path : str or os.PathLike
        Where to write the MIDI file; replaced if it exists.
    tempo : float, default 120.0
        Quarter notes per minute.
    program : int, default 0
        General MIDI program (instrument) number 0-127; 0 is an acoustic grand piano.

    Returns
    -------
    pathlib.Path
        ``midi_path``.

    Raises
    ------
    ValueError
        If a token is malformed (the message names it and its index), no token is a note, or
        ``tempo`` or ``program`` is out of range.

    See Also
    --------
    midi_to_notes : the inverse, from a MIDI file to tokens.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out" / "tune.mid"
    >>> tokens = [(62, 0.5), (66, 0.5), ("rest", 1.0), (69, 2.0)]
    >>> notes_to_midi(tokens, path).exists()
    True
    >>> midi_to_notes(path) == tokens
    True
    """
    midi = tokens_to_pretty_midi(tokens, tempo=tempo, program=program)
    midi_path = Path(midi_path)
    midi_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(midi_path) as partial:
        midi.write(str(partial))
    return midi_path


# ## Reading and writing files


def read_midi(path: str | os.PathLike) -> pretty_midi.PrettyMIDI:
    """Load a MIDI file with pretty_midi, turning mido's and pretty_midi's many failures (EOFError,
    OSError, KeyError...) into one `ValueError` that names the file.

    Parameters
    ----------
    path : str or os.PathLike
        A Standard MIDI File.

    Returns
    -------
    pretty_midi.PrettyMIDI
        The file's instruments, notes and tempo map.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If it is not a readable MIDI file.
    """
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No MIDI file at {path}")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # EOFError, OSError, KeyError, ValueError... from mido
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise ValueError(f"{path} is not a readable MIDI file ({reason})") from error


def tokens_to_pretty_midi(
    tokens: Sequence[tuple[int | str, float]], *, tempo: float = 120.0, program: int = 0
) -> pretty_midi.PrettyMIDI:
    """Check ``(pitch, duration)`` tokens and build a one-instrument `pretty_midi.PrettyMIDI`.

    What `notes_to_midi` writes, without the file: `plot_piano_roll` draws tokens from it.

    Parameters
    ----------
    tokens : sequence of (pitch, duration)
        As for `notes_to_midi`: ``pitch`` a MIDI note number 0-127 or ``"rest"``, ``duration``
        a positive number of quarter notes.
    tempo : float, default 120.0
        Quarter notes per minute.
    program : int, default 0
        General MIDI program (instrument) number 0-127.

    Returns
    -------
    pretty_midi.PrettyMIDI
        One instrument named ``"melody"``, its notes one after another (velocity 100).

    Raises
    ------
    ValueError
        A malformed token (named with its index), no notes at all, or `tempo` or `program` out
        of range.

    Examples
    --------
    >>> midi = tokens_to_pretty_midi([(60, 1.0), ("rest", 0.5), (64, 0.5)])
    >>> [(n.pitch, n.start, n.end) for n in midi.instruments[0].notes]
    [(60, 0.0, 0.5), (64, 0.75, 1.0)]
    """
    import pretty_midi

    if not (isinstance(tempo, numbers.Real) and math.isfinite(tempo) and tempo > 0):
        raise ValueError(f"tempo must be a positive number of quarter notes per minute: {tempo!r}")
    if not (is_whole_number(program) and 0 <= program <= 127):
        raise ValueError(f"program must be a General MIDI program number 0-127, got {program!r}")
    if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence):
        raise ValueError(f"tokens must be a list of (pitch, duration) tuples, got {tokens!r}")

    seconds_per_beat = 60.0 / tempo
    midi = pretty_midi.PrettyMIDI(resolution=_RESOLUTION, initial_tempo=float(tempo))
    melody = pretty_midi.Instrument(program=int(program), name="melody")
    beat = 0.0
    for index, token in enumerate(tokens):
        pitch, duration = _check_token(token, index)
        if pitch != REST:
            start, end = beat * seconds_per_beat, (beat + duration) * seconds_per_beat
            melody.notes.append(pretty_midi.Note(_VELOCITY, pitch, start, end))
        beat += duration
    if not melody.notes:
        raise ValueError(f"tokens hold no notes (only rests, or none at all): {list(tokens)!r}")
    midi.instruments.append(melody)
    return midi


def _check_token(token: object, index: int) -> tuple[int | str, float]:
    """Return ``(pitch, duration)`` of a valid token; raise a ValueError naming a bad one."""
    if isinstance(token, str | bytes) or not isinstance(token, Sequence) or len(token) != 2:
        raise ValueError(f"token {index} is {token!r}; expected a (pitch, duration) pair")
    pitch, duration = token
    if pitch != REST and not (is_whole_number(pitch) and 0 <= pitch <= 127):
        raise ValueError(
            f"token {index} {token!r}: pitch must be a MIDI note number 0-127 or {REST!r}"
        )
    if not (
        isinstance(duration, numbers.Real)
        and not isinstance(duration, bool)
        and math.isfinite(duration)
        and duration > 0
    ):
        raise ValueError(
            f"token {index} {token!r}: duration must be a positive number of quarter notes"
        )
    return (REST if pitch == REST else int(pitch)), float(duration)


def is_whole_number(value: object) -> bool:
    """Whether `value` is an integer (Python or NumPy), but not a bool.

    Examples
    --------
    >>> is_whole_number(60), is_whole_number(60.0), is_whole_number(True)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# ## The algorithm


def _choose_melody(
    midi: pretty_midi.PrettyMIDI, path: str | os.PathLike, instrument: int | None
) -> pretty_midi.Instrument:
    """The instrument named by ``instrument=``, else the highest-pitched busy one."""
    if instrument is not None:
        if not (is_whole_number(instrument) and 0 <= instrument < len(midi.instruments)):
            raise ValueError(
                f"instrument must be an index 0-{len(midi.instruments) - 1} into the "
                f"{len(midi.instruments)} instruments of {path}, got {instrument!r}"
            )
        chosen = midi.instruments[instrument]
        if chosen.is_drum or not chosen.notes:
            kind = "a drum track" if chosen.is_drum else "an instrument without notes"
            raise ValueError(f"instrument {instrument} of {path} is {kind}; it has no melody")
        return chosen

    pitched = [i for i in midi.instruments if not i.is_drum and i.notes]
    if not pitched:
        raise ValueError(f"{path} has no pitched notes (no notes, or only drums)")
    busiest = max(len(i.notes) for i in pitched)
    candidates = [i for i in pitched if len(i.notes) >= _MIN_NOTE_SHARE * busiest]
    return max(candidates, key=lambda i: sum(n.pitch for n in i.notes) / len(i.notes))


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even, which would make a note of exactly half a step
    # vanish or not depending on its position; the tolerance absorbs float error in x.
    return math.floor(x + 0.5 + 1e-9)


def _skyline(notes: list[tuple[int, int, int]]) -> list[tuple[int | str, int]]:
    """Runs ``(pitch or "rest", steps)`` of the highest note sounding at each grid step.

    ``notes`` holds ``(start step, end step, pitch)``. Starts at the first note and ends at the
    last note's end. A new run starts whenever the highest sounding note changes, including a
    re-struck note of the same pitch.
    """
    first = min(start for start, _, _ in notes)
    last = max(end for _, end, _ in notes)
    # The index into `notes` of the note on top at each step (-1: silence). Painting the notes
    # from lowest to highest pitch (later starts over earlier ones at equal pitch) leaves the
    # highest, most recently struck note on top.
    on_top = [-1] * (last - first)
    order = sorted(range(len(notes)), key=lambda i: (notes[i][2], notes[i][0]))
    for index in order:
        start, end, _ = notes[index]
        on_top[start - first : end - first] = [index] * (end - start)

    runs: list[tuple[int | str, int]] = []
    previous = None
    for index in on_top:
        if index == previous:
            pitch, steps = runs[-1]
            runs[-1] = (pitch, steps + 1)
        else:
            runs.append((REST if index < 0 else notes[index][2], 1))
            previous = index
    return runs


def _runs_to_tokens(
    runs: list[tuple[int | str, int]], max_steps: int, grid: float
) -> list[tuple[int | str, float]]:
    """Cap notes (the held remainder becomes rest), merge adjacent rests, cap rests."""
    capped: list[tuple[int | str, int]] = []
    for pitch, steps in runs:
        pieces = [(pitch, steps)]
        if pitch != REST and steps > max_steps:
            pieces = [(pitch, max_steps), (REST, steps - max_steps)]
        for piece in pieces:
            if piece[0] == REST and capped and capped[-1][0] == REST:
                capped[-1] = (REST, capped[-1][1] + piece[1])
            else:
                capped.append(piece)
    # A note cut short at the very end leaves a trailing rest: silence after the last note.
    if capped[-1][0] == REST:
        capped.pop()
    return [(pitch, float(min(steps, max_steps) * grid)) for pitch, steps in capped]


#: The old names of `midi_to_notes` and `notes_to_midi` still work, warning once, and so does
#: ``atomic_output``, now `mitdeeplearning.files.atomic_path` (which does not create folders).
__getattr__ = moved_names(
    __name__,
    {
        "encode_midi": "midi_to_notes",
        "decode_notes": "notes_to_midi",
        "atomic_output": "mitdeeplearning.files:atomic_path",
    },
    globals(),
)
