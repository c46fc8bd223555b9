r"""A small NumPy synthesiser: MIDI notes → samples that sound like a fiddle or a tin whistle.

pretty_midi's own synthesiser plays one sine wave per note: a test tone, not an instrument.
Real instruments differ from a sine in three ways this module copies, each a few lines:

* **Harmonics.** A bowed string sounds at its pitch *f* and at 2f, 3f, 4f... with amplitudes
  falling roughly as 1/k (a sawtooth's spectrum); a whistle is nearly pure, with a weak second
  and third harmonic. Each note sums its harmonics, leaving out those above 0.45 of the sample
  rate (they would fold back as out-of-tune aliases).
* **An envelope.** The sound swells in over a few tens of milliseconds (the attack), settles
  to a sustained level (the decay), and fades out after the note ends (the release), so that
  repeated notes are heard as separate notes.
* **Vibrato.** Players waver the pitch a few cents, five or six times a second, on held notes:
  the wavering fades in after the note starts, so quick notes stay clean.

`normalize_loudness` then scales the tune to a standard loudness, −20 dBFS RMS (an RMS of 0.1,
full scale being 1.0), without letting any sample clip. `write_wav` and `read_wav` store and
load samples as PCM WAV files with the standard library's `wave` module.

## Let's test-drive it

>>> import pretty_midi
>>> midi = pretty_midi.PrettyMIDI()
>>> fiddle = pretty_midi.Instrument(program=40)
>>> fiddle.notes += [pretty_midi.Note(100, 62, 0.0, 0.5), pretty_midi.Note(100, 66, 0.5, 1.0)]
>>> midi.instruments.append(fiddle)
>>> samples = normalize_loudness(synthesize(midi, fs=8000))
>>> samples.shape, round(loudness_dbfs(samples), 1)  # 1 s of notes, then 0.5 s to ring out
((12000,), -20.0)
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_path

if TYPE_CHECKING:  # heavy modules are imported inside the functions, to keep imports cheap
    import numpy as np
    import pretty_midi

__all__ = [
    "TIMBRES",
    "Timbre",
    "loudness_dbfs",
    "normalize_loudness",
    "read_wav",
    "synthesize",
    "write_wav",
]

#: Seconds of audio kept after the last note ends, for its release to ring out.
TAIL_SECONDS = 0.5


@dataclass(frozen=True)
class Timbre:
    """The sound of an instrument, for `synthesize`.

    Attributes
    ----------
    harmonics : tuple of float
        Amplitude of the 1st (the pitch itself), 2nd, 3rd... harmonic.
    attack, decay, release : float
        Seconds to swell in, to settle to `sustain` (a time constant), and to fade out after
        the note ends.
    sustain : float
        Level held after the attack, as a fraction of its peak (0-1].
    vibrato_hz, vibrato_cents, vibrato_delay : float
        Vibrato rate, depth (a cent is 1/100 of a semitone) and the seconds it takes to fade in.
    """

    harmonics: tuple[float, ...]
    attack: float
    decay: float
    sustain: float
    release: float
    vibrato_hz: float
    vibrato_cents: float
    vibrato_delay: float


#: The timbres `synthesize` knows by name.
TIMBRES = {
    # Bowed string: a sawtooth-like 1/k spectrum, a little rolled off; quick bow attack.
    "fiddle": Timbre(
        harmonics=(1.0, 0.55, 0.4, 0.28, 0.2, 0.14, 0.1, 0.07, 0.05),
        attack=0.025,
        decay=0.12,
        sustain=0.7,
        release=0.07,
        vibrato_hz=5.5,
        vibrato_cents=15.0,
        vibrato_delay=0.25,
    ),
    # Tin whistle: nearly a sine, a breathy swell, a narrower vibrato.
    "whistle": Timbre(
        harmonics=(1.0, 0.15, 0.06, 0.02),
        attack=0.03,
        decay=0.2,
        sustain=0.8,
        release=0.05,
        vibrato_hz=5.0,
        vibrato_cents=10.0,
        vibrato_delay=0.3,
    ),
}


def synthesize(
    midi: pretty_midi.PrettyMIDI, fs: int = 16000, *, timbre: str | Timbre = "fiddle"
) -> np.ndarray:
    """Render the pitched notes of a MIDI file with a NumPy timbre (drums are left out).

    Every note of every non-drum instrument is played with the same timbre, louder for a higher
    velocity (amplitude proportional to velocity / 127).

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI
        The notes to play.
    fs : int, default 16000
        Sample rate in Hz.
    timbre : str or Timbre, default "fiddle"
        A name in `TIMBRES` (``"fiddle"``, ``"whistle"``) or a `Timbre` of your own.

    Returns
    -------
    numpy.ndarray
        float64 samples of shape (ceil((end time + 0.5 s) * fs),), not normalised: pass them to
        `normalize_loudness`. All zeros when there are no pitched notes.

    Raises
    ------
    ValueError
        An unknown timbre name.

    Examples
    --------
    >>> import numpy as np, pretty_midi
    >>> midi = pretty_midi.PrettyMIDI()
    >>> midi.instruments.append(pretty_midi.Instrument(0))
    >>> midi.instruments[0].notes.append(pretty_midi.Note(100, 69, 0.0, 1.0))  # A4, 440 Hz
    >>> samples = synthesize(midi, fs=8000)
    >>> power = np.abs(np.fft.rfft(samples[:8000])) ** 2  # the first second, 1 Hz per bin
    >>> bands = [power[hz - 20 : hz + 21].sum() for hz in (440, 880, 1320, 1760)]  # +/- 20 Hz
    >>> [round(float(np.sqrt(band / bands[0])), 2) for band in bands]  # amplitude vs A4's
    [1.0, 0.55, 0.4, 0.28]
    """
    import numpy as np

    if isinstance(timbre, str):
        if timbre not in TIMBRES:
            raise ValueError(f"timbre must be one of {sorted(TIMBRES)} or a Timbre, got {timbre!r}")
        timbre = TIMBRES[timbre]
    samples = np.zeros(math.ceil((midi.get_end_time() + TAIL_SECONDS) * fs))
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            start = round(note.start * fs)
            if note.end <= note.start or start >= samples.size:
                continue
            sound = _note(note.pitch, note.end - note.start, fs, timbre)[: samples.size - start]
            samples[start : start + sound.size] += (note.velocity / 127) * sound
    return samples


def _note(pitch: int, seconds: float, fs: int, timbre: Timbre) -> np.ndarray:
    """One note of `seconds` plus its release: float64 samples of shape (n,), peak about 1."""
    import numpy as np

    n = max(1, round((seconds + timbre.release) * fs))
    t = np.arange(n) / fs
    hz = 440.0 * 2.0 ** ((pitch - 69) / 12)
    # Vibrato: the frequency wavers by +/- vibrato_cents, fading in over vibrato_delay seconds.
    depth = (2.0 ** (timbre.vibrato_cents / 1200) - 1) * np.minimum(t / timbre.vibrato_delay, 1)
    wobble = 1 + depth * np.sin(2 * np.pi * timbre.vibrato_hz * t)
    phase = 2 * np.pi * hz / fs * np.cumsum(wobble)
    # sin(k x) for k = 1, 2, ... by the recurrence sin(kx) = 2 cos(x) sin((k-1)x) - sin((k-2)x):
    # one multiply-add per harmonic instead of a sine.
    twice_cos, previous, current = 2 * np.cos(phase), np.zeros(n), np.sin(phase)
    wave_ = np.zeros(n)
    for k, amplitude in enumerate(timbre.harmonics, start=1):
        if k * hz >= 0.45 * fs:
            break
        wave_ += amplitude * current
        previous, current = current, twice_cos * current - previous
    wave_ /= sum(timbre.harmonics)
    return wave_ * _envelope(t, seconds, timbre)


def _envelope(t: np.ndarray, seconds: float, timbre: Timbre) -> np.ndarray:
    """Attack, decay to sustain, and release after `seconds`: levels in [0, 1] at times `t`."""
    import numpy as np

    attack = np.minimum(t / timbre.attack, 1.0)
    after_attack = np.maximum(t - timbre.attack, 0.0)
    level = timbre.sustain + (1 - timbre.sustain) * np.exp(-after_attack / timbre.decay)
    release = np.clip(1 - (t - seconds) / timbre.release, 0.0, 1.0)
    return attack * level * release


def loudness_dbfs(samples: np.ndarray) -> float:
    """RMS loudness in dB relative to full scale (1.0): ``20 log10(RMS)``; -inf for silence.

    Examples
    --------
    >>> import numpy as np
    >>> round(loudness_dbfs(np.full(100, 0.1)), 6)
    -20.0
    """
    import numpy as np

    rms = float(np.sqrt(np.mean(np.square(samples)))) if np.size(samples) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def normalize_loudness(
    samples: np.ndarray, *, target_dbfs: float = -20.0, peak: float = 0.98
) -> np.ndarray:
    """Scale samples to `target_dbfs` RMS loudness, or less if a sample would exceed `peak`.

    Parameters
    ----------
    samples : numpy.ndarray
        Audio samples of any shape, not all zero.
    target_dbfs : float, default -20.0
        The RMS loudness wanted, in dB relative to full scale (see `loudness_dbfs`).
    peak : float, default 0.98
        The largest absolute sample allowed, so that nothing clips: a very spiky sound ends up
        quieter than `target_dbfs`.

    Returns
    -------
    numpy.ndarray
        float64 samples, the shape of `samples`.

    Raises
    ------
    ValueError
        If the samples are silent or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> out = normalize_loudness(np.sin(np.linspace(0, 100, 8000)))
    >>> round(loudness_dbfs(out), 2), round(float(np.abs(out).max()), 3)
    (-20.0, 0.141)
    """
    import numpy as np

    samples = np.asarray(samples, dtype=np.float64)
    top = float(np.max(np.abs(samples))) if samples.size else 0.0
    if not (top > 0 and math.isfinite(top)):
        raise ValueError("samples are silent (or not finite): there is nothing to normalise")
    rms = float(np.sqrt(np.mean(np.square(samples))))
    gain = min(10 ** (target_dbfs / 20) / rms, peak / top)
    return samples * gain


def write_wav(samples: np.ndarray, fs: int, wav_path: Path) -> Path:
    """Write float samples in [-1, 1], shape (n,), as a 16-bit mono PCM WAV file, atomically.

    Parent folders are created; values outside [-1, 1] are clipped.
    """
    import numpy as np

    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    wav_path = Path(wav_path)
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(wav_path) as partial, wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(fs)
        out.writeframes(pcm.tobytes())
    return wav_path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1] (shape (n,), or (channels, n)) and the sample rate of a PCM WAV file.

    Raises
    ------
    ValueError
        The file is not a readable PCM WAV file, holds no audio, or has samples wider than 32
        bits.
    """
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
