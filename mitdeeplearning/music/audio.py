"""Hear a tune: ABC text → MIDI → WAV audio, and a player for notebooks, with pip packages only.

The reference lab turned ABC into sound with two apt packages (``abcmidi`` and ``timidity``);
outside Colab they were missing and ``play_song`` silently did nothing. Here music21 turns ABC
into MIDI and pretty_midi turns MIDI into samples, so sound works wherever ``pip install`` does,
and every failure raises an error that says what went wrong::

    >>> from mitdeeplearning.music import play
    >>> play(generated_tune)            # an IPython.display.Audio player  # doctest: +SKIP

How MIDI becomes sound (`midi_to_wav`): with FluidSynth and a General MIDI SoundFont when
pyfluidsynth is installed and can load the FluidSynth library (pretty_midi ships the small
``TimGM6mb.sf2`` SoundFont), so instruments sound like instruments; otherwise with pretty_midi's
own synthesiser, one decaying sine wave per note (drums are silent). Either way the audio is
scaled to a peak of 0.9 and lasts as long as the MIDI file plus half a second for the last note
to ring out. To see a tune rather than hear it, `mitdeeplearning.music.piano_roll` draws it.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .._lazy import moved_names
from ..files import atomic_path
from .midi import is_whole_number, read_midi

if TYPE_CHECKING:  # heavy modules are imported inside the functions, to keep imports cheap
    import numpy as np
    import pretty_midi
    from IPython.display import Audio

__all__ = [
    "MIDI_SUFFIXES",
    "midi_to_wav",
    "play",
    "playable_path",
    "tune_title",
    "tune_to_midi",
]

#: Suffixes of the MIDI files `play` and `plot_piano_roll` accept (any case).
MIDI_SUFFIXES = (".mid", ".midi")
_PLAYABLE_SUFFIXES = (*MIDI_SUFFIXES, ".abc", ".wav")
# Seconds of audio kept after the MIDI file ends, for the last note's release.
_TAIL_SECONDS = 0.5
_PEAK = 0.9
_MIN_RATE, _MAX_RATE = 4_000, 192_000


def tune_to_midi(text: str, midi_path: str | os.PathLike) -> Path:
    """Turn one tune in ABC notation into a MIDI file, with music21.

    Repeats are played out (``|: ... :|`` sounds twice). The file is written to a temporary file
    beside ``midi_path`` and renamed into place, so a failure leaves nothing at ``midi_path``.

    Parameters
    ----------
    text : str
        One ABC tune: header lines (``X:``, ``T:``, ``M:``, ``L:``, ``K:``) then the notes.
    midi_path : str or os.PathLike
        Where to write the MIDI file; parent folders are created, an existing file replaced.

    Returns
    -------
    pathlib.Path
        ``midi_path``.

    Raises
    ------
    ValueError
        ``"Could not turn this tune ("<T: title>") into MIDI: <reason>"`` when music21 cannot
        parse or write the tune (whatever it raised, with its warnings silenced), when the tune
        has no notes, or when the text holds several tunes.

    Examples
    --------
    >>> import tempfile, pathlib, pretty_midi
    >>> tune = "X:1\\nT:Scale\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|\\n"
    >>> path = tune_to_midi(tune, pathlib.Path(tempfile.mkdtemp()) / "scale.mid")
    >>> [note.pitch for note in pretty_midi.PrettyMIDI(str(path)).instruments[0].notes]
    [62, 64, 66, 67, 69, 71, 73, 74]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be ABC notation as a str, got {type(text).__name__}")
    title = tune_title(text)
    named = f' ("{title}")' if title else ""

    def failure(reason: str) -> ValueError:
        return ValueError(f"Could not turn this tune{named} into MIDI: {reason}")

    if not text.strip():
        raise failure("the text is empty")
    with _quiet():
        import music21
    try:
        with _quiet():
            # parseData, not parse: parse() would read a file if the text looked like a path.
            score = music21.converter.parseData(text, format="abc")
    except Exception as error:
        raise failure(_describe(error)) from error

    if isinstance(score, music21.stream.Opus):
        tunes = list(score.scores)
        if len(tunes) != 1:
            raise failure(f"the text holds {len(tunes)} tunes; pass one tune at a time")
        score = tunes[0]
    if not score.flatten().notes:
        raise failure("it has no notes")

    midi_path = Path(midi_path)
    midi_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(midi_path) as partial:
        try:
            with _quiet():
                score.write("midi", fp=str(partial))
        except Exception as error:
            # music21's MIDI writer trips over some valid tunes (about 1 in 10 of O'Neill's:
            # "TimeSignature ... is already found in this Stream"); its parse is fine, so write
            # the notes it parsed ourselves.
            try:
                with _quiet():
                    _score_to_pretty_midi(score).write(str(partial))
            except Exception:
                raise failure(_describe(error)) from error
    return midi_path


def _score_to_pretty_midi(score) -> pretty_midi.PrettyMIDI:
    """The notes of a parsed music21 score (repeats played out when they are well formed) as a
    one-instrument piano MIDI, at the score's first tempo mark or 120 quarter notes a minute."""
    import music21
    import pretty_midi

    with contextlib.suppress(music21.repeat.ExpanderException):  # badly formed: play as written
        score = score.expandRepeats()
    flat = score.flatten()
    marks = list(flat.getElementsByClass(music21.tempo.MetronomeMark))
    quarters_per_minute = marks[0].getQuarterBPM() if marks and marks[0].number else 120.0
    seconds_per_quarter = 60.0 / quarters_per_minute
    midi = pretty_midi.PrettyMIDI(initial_tempo=quarters_per_minute)
    piano = pretty_midi.Instrument(program=0)
    for element in flat.notes:
        start = float(element.offset) * seconds_per_quarter
        end = start + float(element.quarterLength) * seconds_per_quarter
        if end <= start:  # grace notes take no time in the score
            continue
        for pitch in element.pitches:
            piano.notes.append(
                pretty_midi.Note(velocity=90, pitch=pitch.midi, start=start, end=end)
            )
    if not piano.notes:
        raise ValueError("no notes with a duration")
    midi.instruments.append(piano)
    return midi


def midi_to_wav(
    midi_path: str | os.PathLike, wav_path: str | os.PathLike, *, fs: int = 16000
) -> Path:
    """Synthesise a MIDI file into a 16-bit mono WAV file.

    Uses FluidSynth with pretty_midi's SoundFont when pyfluidsynth works, pretty_midi's sine-wave
    synthesiser otherwise (see the module documentation). The audio is scaled to a peak of 0.9
    and written to a temporary file beside ``wav_path``, then renamed into place.

    Parameters
    ----------
    midi_path : str or os.PathLike
        A MIDI file.
    wav_path : str or os.PathLike
        Where to write the WAV file; parent folders are created, an existing file replaced.
    fs : int, default 16000
        Sample rate in Hz, 4000-192000. 16 kHz keeps files small and is plenty for a melody.

    Returns
    -------
    pathlib.Path
        ``wav_path``.

    Raises
    ------
    FileNotFoundError
        If ``midi_path`` does not exist.
    ValueError
        If the file is not a readable MIDI file, it has no notes, its audio is silent (e.g.
        only drums, which the sine-wave synthesiser does not play), or ``fs`` is out of range.

    Examples
    --------
    >>> import tempfile, pathlib, wave
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> midi = tune_to_midi("X:1\\nT:Scale\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|\\n", folder / "a.mid")
    >>> with wave.open(str(midi_to_wav(midi, folder / "a.wav", fs=8000))) as audio:
    ...     audio.getframerate(), audio.getsampwidth(), audio.getnframes() / 8000
    (8000, 2, 2.5)
    """
    _check_rate(fs)
    samples = _render(read_midi(midi_path), fs, midi_path)
    return _write_wav(samples, fs, Path(wav_path))


def play(tune_or_path: str | os.PathLike, *, fs: int = 16000) -> Audio:
    """An audio player for a tune: ABC text, or a ``.mid``/``.midi``/``.abc``/``.wav`` file.

    In a notebook, the returned object shows a player when it is the last value of a cell (or
    is passed to ``IPython.display.display``). Intermediate files go to a temporary folder that
    is removed before returning. Nothing fails silently: every problem raises.

    Parameters
    ----------
    tune_or_path : str or os.PathLike
        ABC text, or a path. A ``str`` is taken as a path when it is a single line ending in
        ``.mid``, ``.midi``, ``.abc`` or ``.wav`` (any case), as ABC text otherwise.
    fs : int, default 16000
        Sample rate in Hz for synthesised audio. A ``.wav`` file plays at its own rate.

    Returns
    -------
    IPython.display.Audio
        The player; its ``data`` holds the audio as WAV bytes.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the tune cannot be turned into MIDI or audio (see `tune_to_midi`, `midi_to_wav`), a
        file is not what its suffix says, or a path has another suffix.

    Examples
    --------
    >>> player = play("X:1\\nT:Scale\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|\\n", fs=8000)
    >>> player.data[:4]
    b'RIFF'
    """
    from IPython.display import Audio

    _check_rate(fs)
    path = playable_path(tune_or_path)
    if path is not None and path.suffix.lower() == ".wav":
        samples, rate = _read_wav(path)
        return Audio(data=samples, rate=rate, normalize=False)

    with tempfile.TemporaryDirectory(prefix="mitdl-play-") as folder:
        if path is None:
            midi_path = tune_to_midi(tune_or_path, Path(folder) / "tune.mid")
        elif path.suffix.lower() == ".abc":
            from .abc import read_abc_file

            midi_path = tune_to_midi(read_abc_file(path), Path(folder) / "tune.mid")
        else:
            midi_path = path
        samples = _render(read_midi(midi_path), fs, midi_path)
    return Audio(data=samples, rate=fs, normalize=False)


# ## Helpers


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence music21: it prints "abcFormat: WARNING" lines and issues Python warnings."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def tune_title(text: str) -> str | None:
    r"""The first ``T:`` (title) field of ABC text, stripped; None when it has none.

    Examples
    --------
    >>> tune_title("X:1\nT: The Enchanted Valley\nT:alternative title\nK:Gm\nGABc|")
    'The Enchanted Valley'
    >>> tune_title("X:1\nK:D\nDEFG|") is None
    True
    """
    match = re.search(r"^T:(.*)$", text, flags=re.MULTILINE)
    return (match.group(1).strip() or None) if match else None


def _describe(error: Exception) -> str:
    from ..data import describe_error  # imported on failure only: the data package is not cheap

    reason = describe_error(error)
    if "no active default note length" in reason:
        # music21's most common complaint, about a tune without L: or M: before its notes
        reason += " (the tune needs an L: (unit note length) or M: (meter) line before K:)"
    return reason


def _check_rate(fs: object) -> None:
    if not (is_whole_number(fs) and _MIN_RATE <= fs <= _MAX_RATE):
        raise ValueError(f"fs must be a sample rate in Hz, {_MIN_RATE}-{_MAX_RATE}, got {fs!r}")


def playable_path(source: object) -> Path | None:
    r"""The file `source` names, or None when `source` is ABC text.

    A path-like object is a path; a `str` is a path when it is one line ending in ``.mid``,
    ``.midi``, ``.abc`` or ``.wav`` (any case), ABC text otherwise. `play` and
    `plot_piano_roll` accept either.

    Parameters
    ----------
    source : str or os.PathLike
        ABC text, or the path of a MIDI, ABC or WAV file.

    Returns
    -------
    pathlib.Path or None
        The existing file, or None for ABC text.

    Raises
    ------
    TypeError
        `source` is neither a `str` nor path-like.
    ValueError
        A path with another suffix.
    FileNotFoundError
        A path to a file that does not exist.

    Examples
    --------
    >>> playable_path("X:1\nK:D\nDEFG|") is None
    True
    >>> playable_path("missing.mid")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No such file: missing.mid
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif (
        isinstance(source, str)
        and "\n" not in source
        and source.strip().lower().endswith(_PLAYABLE_SUFFIXES)
    ):
        path = Path(source.strip())
    elif isinstance(source, str):
        return None
    else:
        raise TypeError(f"Expected ABC text or a path, got {type(source).__name__}")
    if path.suffix.lower() not in _PLAYABLE_SUFFIXES:
        raise ValueError(f"{path}: expected a file ending in {', '.join(_PLAYABLE_SUFFIXES)}")
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    return path


def _soundfont() -> Path | None:
    """pretty_midi's SoundFont when FluidSynth can use it, else None."""
    try:
        from pretty_midi import fluidsynth as pm_fluidsynth
    except Exception:
        return None
    # pretty_midi sets this flag when `import fluidsynth` (pyfluidsynth, which loads the
    # FluidSynth shared library) succeeded.
    if not getattr(pm_fluidsynth, "_HAS_FLUIDSYNTH", False):
        return None
    name = getattr(pm_fluidsynth, "DEFAULT_SF2", "TimGM6mb.sf2")
    soundfont = Path(pm_fluidsynth.__file__).with_name(name)
    return soundfont if soundfont.is_file() else None


def _render(midi: pretty_midi.PrettyMIDI, fs: int, source: object) -> np.ndarray:
    """Mono float samples of shape (n,), peak 0.9, for a MIDI file that has notes."""
    import numpy as np

    if not any(instrument.notes for instrument in midi.instruments):
        raise ValueError(f"{source} has no notes; there is nothing to play")
    samples = None
    soundfont = _soundfont()
    if soundfont is not None:
        try:
            samples = midi.fluidsynth(fs=fs, synthesizer=str(soundfont), normalize=False)
        except Exception as error:  # a broken FluidSynth install should not stop the music
            warnings.warn(
                f"FluidSynth failed ({error}); using pretty_midi's sine-wave synthesiser",
                RuntimeWarning,
                stacklevel=3,
            )
    if samples is None:
        samples = midi.synthesize(fs=fs, normalize=False)
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[: math.ceil((midi.get_end_time() + _TAIL_SECONDS) * fs)]
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if not (peak > 0 and math.isfinite(peak)):
        raise ValueError(
            f"{source} is silent: it has no notes the synthesiser can play "
            "(pretty_midi's sine-wave synthesiser does not play drums)"
        )
    return samples * (_PEAK / peak)


def _write_wav(samples: np.ndarray, fs: int, wav_path: Path) -> Path:
    """Write float samples in [-1, 1] as 16-bit little-endian mono PCM."""
    import numpy as np

    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(wav_path) as partial, wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(fs)
        out.writeframes(pcm.tobytes())
    return wav_path


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1] (shape (n,) or (channels, n)) and the rate of a PCM WAV file."""
    import numpy as np

    try:
        with wave.open(str(path), "rb") as audio:
            channels, width = audio.getnchannels(), audio.getsampwidth()
            rate, frames = audio.getframerate(), audio.readframes(audio.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a readable PCM WAV file ({error})") from error
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(frames, np.uint8).astype(np.float64) - 128) / 128
    elif width in (2, 3, 4):
        # Put each little-endian sample in the high bytes of an int32, so 16-, 24- and 32-bit
        # samples all read as fractions of 2**31 with their sign intact.
        padded = np.zeros((len(frames) // width, 4), np.uint8)
        padded[:, 4 - width :] = np.frombuffer(frames, np.uint8).reshape(-1, width)
        samples = padded.view("<i4").ravel().astype(np.float64) / 2.0**31
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported")
    if samples.size == 0:
        raise ValueError(f"{path} holds no audio")
    samples = samples[: samples.size - samples.size % channels]
    return (samples.reshape(-1, channels).T if channels > 1 else samples), rate


#: ``plot_piano_roll`` moved to its own module, and ``read_abc_file`` to `abc` (where
#: `load_tunes` reads files the same way); both are still importable from here, warning once.
__getattr__ = moved_names(
    __name__,
    {
        "plot_piano_roll": "mitdeeplearning.music.piano_roll:plot_piano_roll",
        "read_abc_file": "mitdeeplearning.music.abc:read_abc_file",
    },
    globals(),
)
