"""The NumPy synthesiser, loudness normalisation and WAV files."""

from __future__ import annotations

import time

import numpy as np
import pretty_midi
import pytest

from mitdeeplearning.music.synth import (
    TIMBRES,
    loudness_dbfs,
    normalize_loudness,
    read_wav,
    synthesize,
    write_wav,
)


def one_note(pitch, seconds=1.0, velocity=100, drum=False):
    midi = pretty_midi.PrettyMIDI()
    midi.instruments.append(pretty_midi.Instrument(0, is_drum=drum))
    midi.instruments[0].notes.append(pretty_midi.Note(velocity, pitch, 0.0, seconds))
    return midi


def test_no_harmonic_above_the_sample_rates_limit():
    samples = synthesize(one_note(93), fs=8000)  # A6, 1760 Hz: its 3rd harmonic would alias
    power = np.abs(np.fft.rfft(samples[:8000])) ** 2  # 1 Hz per bin
    assert power[3650:].sum() < 1e-3 * power.sum()  # nothing above 0.45 fs...
    assert power[:1700].sum() < 1e-3 * power.sum()  # ...nor folded back below the pitch
    assert power[1740:1780].sum() > 0.6 * power.sum()


def test_notes_swell_in_and_fade_out():
    samples = synthesize(one_note(69, seconds=0.5), fs=8000)
    assert np.abs(samples[:40]).max() < 0.5 * np.abs(samples[800:1600]).max()  # 5 ms in
    assert np.abs(samples[int(0.6 * 8000) :]).max() == 0  # silent once released
    assert len(samples) == 8000  # 0.5 s and the 0.5 s tail


def test_velocity_drums_and_timbres():
    loud, soft = synthesize(one_note(69, velocity=120)), synthesize(one_note(69, velocity=60))
    assert np.abs(loud).max() == pytest.approx(2 * np.abs(soft).max())
    assert not synthesize(one_note(38, drum=True)).any()
    assert set(TIMBRES) == {"fiddle", "whistle"}
    with pytest.raises(ValueError, match="timbre must be one of .*got 'kazoo'"):
        synthesize(one_note(69), timbre="kazoo")


def test_normalize_loudness_hits_minus_20_dbfs_without_clipping():
    rng = np.random.default_rng(0)
    noise = normalize_loudness(rng.normal(size=16000))
    assert loudness_dbfs(noise) == pytest.approx(-20.0)
    spike = np.zeros(1000)
    spike[10] = 1.0  # RMS -30 dBFS at full scale: reaching -20 would clip
    assert np.abs(normalize_loudness(spike)).max() == pytest.approx(0.98)
    with pytest.raises(ValueError, match="silent"):
        normalize_loudness(np.zeros(10))


def test_wav_round_trip(tmp_path):
    samples = 0.5 * np.sin(np.linspace(0, 50, 4000))
    read, rate = read_wav(write_wav(samples, 8000, tmp_path / "a" / "s.wav"))
    assert rate == 8000 and np.abs(read - samples).max() < 1e-4


def test_a_35_second_tune_renders_in_well_under_a_second_or_two():
    midi = pretty_midi.PrettyMIDI()
    fiddle = pretty_midi.Instrument(40)
    eighth = 60 / 220 / 2
    for i in range(256):  # 32 bars of 8 eighth notes at 110 half notes a minute
        start = i * eighth
        fiddle.notes.append(pretty_midi.Note(90, 62 + (i * 5) % 17, start, start + eighth))
    midi.instruments.append(fiddle)
    begin = time.process_time()
    samples = normalize_loudness(synthesize(midi, fs=16000))
    assert time.process_time() - begin < 2.0
    assert len(samples) / 16000 == pytest.approx(34.9 + 0.5, abs=0.05)
