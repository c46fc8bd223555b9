"""Hear a tune: ABC text → MIDI → WAV audio, and a player for notebooks, with pip packages only.

The reference lab turned ABC into sound with two apt packages (``abcmidi`` and ``timidity``);
outside Colab they were missing and ``play_song`` silently did nothing. Here music21 reads the
ABC, and pretty_midi writes the MIDI file and reads it back, so sound works wherever
``pip install`` does, and every failure raises an error that says what went wrong::

    >>> from mitdeeplearning.music import play
    >>> play(generated_tune)            # an IPython.display.Audio player  # doctest: +SKIP

How fast (`tune_to_midi`): repeats are played out, at the tune's own ``Q:`` tempo or else the
tempo a session plays its dance at, chosen from the meter (reels 110 half notes a minute, jigs
120 dotted quarters...: see `mitdeeplearning.music.performance`). The player says the tempo.
Bar lines are kept in the MIDI file as time signatures (a pickup is a short bar of its own), and
downbeats are played a little louder than the notes between beats.

How MIDI becomes sound (`midi_to_wav`): with FluidSynth and a General MIDI SoundFont when
pyfluidsynth is installed and can load the FluidSynth library (pretty_midi ships the small
``TimGM6mb.sf2`` SoundFont), so the violin sounds like a violin; otherwise with the NumPy fiddle
of `mitdeeplearning.music.synth` (harmonics, attack and release, vibrato; drums are silent), or
a timbre you name. Either way the audio is scaled to −20 dBFS RMS loudness without clipping and
lasts as long as the MIDI file plus half a second for the last note to ring out. To see a tune
rather than hear it, `mitdeeplearning.music.piano_roll` draws it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import numbers
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .._lazy import moved_names
from ..files import atomic_path
from .midi import is_whole_number, read_midi
from .performance import Tempo, score_to_midi, tune_tempo
from .synth import TAIL_SECONDS, Timbre, normalize_loudness, read_wav, synthesize, write_wav

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
_MIN_RATE, _MAX_RATE = 4_000, 192_000


def tune_to_midi(
    text: str, midi_path: str | os.PathLike, *, tempo: float | Tempo | None = None
) -> Path:
    """Turn one tune in ABC notation into a MIDI file, with music21 and pretty_midi.

    Repeats are played out (``|: ... :|`` sounds twice). The tempo is the tune's ``Q:`` header,
    else its meter's session tempo (`mitdeeplearning.music.performance.tune_tempo`), unless `tempo`
    says otherwise. Bar lines are written as time signatures, one wherever the bar length
    changes (a pickup bar, a short bar before a repeat), so ``PrettyMIDI.get_downbeats`` finds
    them. The file is written to a temporary file beside ``midi_path`` and renamed into place,
    so a failure leaves nothing at ``midi_path``.

    Parameters
    ----------
    text : str
        One ABC tune: header lines (``X:``, ``T:``, ``M:``, ``L:``, ``K:``) then the notes.
    midi_path : str or os.PathLike
        Where to write the MIDI file; parent folders are created, an existing file replaced.
    tempo : float or Tempo, optional
        Beats a minute, the beat being the tune's own (a half note in 2/2, a dotted quarter in
        6/8: the beat `tune_tempo` names), or a `Tempo`. Default: `tune_tempo` (text).

    Returns
    -------
    pathlib.Path
        ``midi_path``.

    Raises
    ------
    ValueError
        ``"Could not turn this tune ("<T: title>") into MIDI: <reason>"`` when music21 cannot
        parse the tune (whatever it raised, with its warnings silenced), when the tune has no
        notes, or when the text holds several tunes; or when `tempo` is not a positive number.

    Examples
    --------
    >>> import tempfile, pathlib, pretty_midi
    >>> tune = "X:1\\nT:Scale\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|\\n"
    >>> path = tune_to_midi(tune, pathlib.Path(tempfile.mkdtemp()) / "scale.mid")
    >>> midi = pretty_midi.PrettyMIDI(str(path))
    >>> [note.pitch for note in midi.instruments[0].notes]
    [62, 64, 66, 67, 69, 71, 73, 74]
    >>> round(float(midi.get_end_time()), 3)  # one bar of 4/4 at 110 half notes a minute
    1.091
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be ABC notation as a str, got {type(text).__name__}")
    chosen = _chosen_tempo(text, tempo)
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
    try:
        with _quiet():
            midi = score_to_midi(score, chosen)
        with atomic_path(midi_path) as partial:
            midi.write(str(partial))
    except Exception as error:
        raise failure(_describe(error)) from error
    return midi_path


def _chosen_tempo(text: str, tempo: object) -> Tempo:
    """`tempo` as a `Tempo`: the tune's own when None, its beat at `tempo` beats a minute."""
    if isinstance(tempo, Tempo):
        return tempo
    chosen = tune_tempo(text)
    if tempo is None:
        return chosen
    if not (
        isinstance(tempo, numbers.Real)
        and not isinstance(tempo, bool)
        and math.isfinite(tempo)
        and tempo > 0
    ):
        raise ValueError(f"tempo must be a positive number of beats a minute, got {tempo!r}")
    return Tempo(chosen.beat, float(tempo), "tempo=")


def midi_to_wav(
    midi_path: str | os.PathLike,
    wav_path: str | os.PathLike,
    *,
    fs: int = 16000,
    timbre: str | Timbre | None = None,
) -> Path:
    """Synthesise a MIDI file into a 16-bit mono WAV file.

    Uses FluidSynth with pretty_midi's SoundFont when pyfluidsynth works and `timbre` is None,
    the NumPy synthesiser of `mitdeeplearning.music.synth` otherwise (see the module
    documentation). The audio is scaled to −20 dBFS RMS (peak at most 0.98) and written to a
    temporary file beside ``wav_path``, then renamed into place.

    Parameters
    ----------
    midi_path : str or os.PathLike
        A MIDI file.
    wav_path : str or os.PathLike
        Where to write the WAV file; parent folders are created, an existing file replaced.
    fs : int, default 16000
        Sample rate in Hz, 4000-192000. 16 kHz keeps files small and is plenty for a melody.
    timbre : str or Timbre, optional
        ``"fiddle"``, ``"whistle"`` (see `mitdeeplearning.music.synth.TIMBRES`) or a `Timbre`:
        play every note with it. Default: FluidSynth if it works, else ``"fiddle"``.

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
        only drums, which the NumPy synthesiser does not play), ``fs`` is out of range or
        `timbre` unknown.

    Examples
    --------
    >>> import tempfile, pathlib, wave
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> midi = tune_to_midi("X:1\\nT:Scale\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|\\n", folder / "a.mid")
    >>> with wave.open(str(midi_to_wav(midi, folder / "a.wav", fs=8000))) as audio:
    ...     audio.getframerate(), audio.getsampwidth(), round(audio.getnframes() / 8000, 2)
    (8000, 2, 1.59)
    """
    _check_rate(fs)
    samples, _ = _render(read_midi(midi_path), fs, midi_path, timbre)
    return write_wav(samples, fs, Path(wav_path))


def play(
    tune_or_path: str | os.PathLike,
    *,
    fs: int = 16000,
    tempo: float | Tempo | None = None,
    timbre: str | Timbre | None = None,
) -> Audio:
    """An audio player for a tune: ABC text, or a ``.mid``/``.midi``/``.abc``/``.wav`` file.

    In a notebook, the returned object shows a player when it is the last value of a cell (or
    is passed to ``IPython.display.display``), with a line under it that says the tempo, how
    long the tune lasts and what played it. Intermediate files go to a temporary folder that is
    removed before returning. Nothing fails silently: every problem raises.

    Parameters
    ----------
    tune_or_path : str or os.PathLike
        ABC text, or a path. A ``str`` is taken as a path when it is a single line ending in
        ``.mid``, ``.midi``, ``.abc`` or ``.wav`` (any case), as ABC text otherwise.
    fs : int, default 16000
        Sample rate in Hz for synthesised audio. A ``.wav`` file plays at its own rate.
    tempo : float or Tempo, optional
        For ABC: beats a minute in the tune's own beat (see `tune_to_midi`). Default: the
        tune's ``Q:``, else the session tempo of its meter. A MIDI file plays at its own tempo.
    timbre : str or Timbre, optional
        As for `midi_to_wav`: ``"fiddle"`` or ``"whistle"``; default FluidSynth when it works.

    Returns
    -------
    IPython.display.Audio
        The player; its ``data`` holds the audio as WAV bytes, its ``tempo`` the `Tempo`
        played (None for a WAV file), ``seconds`` the audio's length and ``caption`` the line
        shown under it.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the tune cannot be turned into MIDI or audio (see `tune_to_midi`, `midi_to_wav`), a
        file is not what its suffix says, a path has another suffix, or `tempo` is given for a
        file.

    Examples
    --------
    >>> player = play("X:1\\nT:Scale\\nM:6/8\\nL:1/8\\nK:D\\nDEF GAB|cde fga|\\n", fs=8000)
    >>> player.data[:4]
    b'RIFF'
    >>> print(player.caption)
    Scale: 120 dotted quarter notes a minute (jigs, M:6/8), 2.0 s of music, played by a NumPy fiddle
    """
    _check_rate(fs)
    path = playable_path(tune_or_path)
    if path is not None and path.suffix.lower() == ".wav":
        if tempo is not None:
            raise ValueError(f"tempo={tempo!r}: a WAV file plays as recorded; pass ABC text")
        samples, rate = read_wav(path)
        return _player(samples, rate, None, path.name, None, "")

    with tempfile.TemporaryDirectory(prefix="mitdl-play-") as folder:
        if path is None or path.suffix.lower() == ".abc":
            from .abc import read_abc_file

            text = tune_or_path if path is None else read_abc_file(path)
            chosen = _chosen_tempo(text, tempo)
            midi_path = tune_to_midi(text, Path(folder) / "tune.mid", tempo=chosen)
            name = tune_title(text) or (path.name if path else "This tune")
        else:
            if tempo is not None:
                raise ValueError(f"tempo={tempo!r}: a MIDI file plays at its own tempo")
            midi_path, name = path, path.name
        midi = read_midi(midi_path)
        if path is not None and path.suffix.lower() in MIDI_SUFFIXES:
            chosen = Tempo(
                Fraction(1, 4),
                round(float(midi.get_tempo_changes()[1][0]), 1),
                "the MIDI file's first tempo",
            )
        samples, synthesiser = _render(midi, fs, midi_path, timbre)
    return _player(samples, fs, chosen, name, midi.get_end_time(), synthesiser)


@functools.cache
def _player_class() -> type:
    """`IPython.display.Audio` with a caption: defined on first use, as IPython is not cheap."""
    from html import escape

    from IPython.display import Audio

    class TunePlayer(Audio):
        """An audio player that says, under it, the tempo and length of what it plays."""

        tempo: Tempo | None = None
        seconds: float = 0.0
        caption: str = ""

        def _repr_html_(self) -> str:
            return f"{super()._repr_html_()}<br><small>{escape(self.caption)}</small>"

    return TunePlayer


def _player(
    samples: np.ndarray,
    rate: int,
    tempo: Tempo | None,
    name: str,
    music_seconds: float | None,
    synthesiser: str,
) -> Audio:
    """A `_player_class` player of float `samples` (shape (n,) or (channels, n)) at `rate`."""
    player = _player_class()(data=samples, rate=rate, normalize=False)
    player.tempo, player.seconds = tempo, samples.shape[-1] / rate
    if tempo is None:
        player.caption = f"{name}: {player.seconds:.1f} s of audio, as recorded"
    else:
        player.caption = f"{name}: {tempo}, {music_seconds:.1f} s of music, played by {synthesiser}"
    return player


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


def _render(
    midi: pretty_midi.PrettyMIDI, fs: int, source: object, timbre: str | Timbre | None
) -> tuple[np.ndarray, str]:
    """Mono float samples of shape (n,) at −20 dBFS RMS, and what played them, for a MIDI file
    that has notes."""
    import numpy as np

    if not any(instrument.notes for instrument in midi.instruments):
        raise ValueError(f"{source} has no notes; there is nothing to play")
    samples, synthesiser = None, ""
    soundfont = _soundfont() if timbre is None else None
    if soundfont is not None:
        try:
            samples = midi.fluidsynth(fs=fs, synthesizer=str(soundfont), normalize=False)
            synthesiser = f"FluidSynth ({soundfont.name})"
        except Exception as error:  # a broken FluidSynth install should not stop the music
            warnings.warn(
                f"FluidSynth failed ({error}); using the NumPy fiddle instead",
                RuntimeWarning,
                stacklevel=3,
            )
    if samples is None:
        timbre = "fiddle" if timbre is None else timbre
        samples = synthesize(midi, fs=fs, timbre=timbre)
        synthesiser = f"a NumPy {timbre if isinstance(timbre, str) else 'timbre of your own'}"
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[: math.ceil((midi.get_end_time() + TAIL_SECONDS) * fs)]
    if not (samples.size and np.all(np.isfinite(samples)) and np.any(samples)):
        raise ValueError(
            f"{source} is silent: it has no notes the synthesiser can play "
            "(the NumPy synthesiser does not play drums)"
        )
    return normalize_loudness(samples), synthesiser


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
