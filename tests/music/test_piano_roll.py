"""plot_piano_roll: a tune drawn as time across, pitch up, brightness for loudness."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pretty_midi
import pytest

matplotlib.use("Agg")  # headless: no display needed
import matplotlib.pyplot as plt  # noqa: E402

from mitdeeplearning.music.midi import notes_to_midi  # noqa: E402
from mitdeeplearning.music.piano_roll import plot_piano_roll  # noqa: E402

REEL = """X:1
T:Test Reel
M:4/4
L:1/8
K:D
|:DEFG ABcd|efge dcBA|DEFG ABcd|efdc d4:|
"""
# The reel's pitches, in D major (F and C sharp): D4 = 62 ... g = G5 = 79.
REEL_PITCHES = {62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 79}
# 4 bars of 4/4 played twice at music21's default 120 quarter notes per minute.
REEL_SECONDS = 16.0

SCALE = "X:2\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n"  # C4 to C5 in 2 s


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_piano_roll_of_abc_text(private_tmp):
    ax = plot_piano_roll(REEL)
    low, high = ax.get_ylim()
    assert (low, high) == (62 - 2 - 0.5, 79 + 2 + 0.5)  # D4 to G5, two semitones either side
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C4", "C5"]
    assert ax.get_yticks().tolist() == [60, 72]
    assert ax.get_xlim()[1] == pytest.approx(REEL_SECONDS)
    assert ax.get_title() == "Test Reel"
    image = ax.images[0]
    assert image.get_cmap().name == "magma"
    roll = np.asarray(image.get_array())
    assert roll.shape == (high - low, 100 * REEL_SECONDS)
    assert np.count_nonzero(roll.any(axis=1)) == len(REEL_PITCHES)  # one row per pitch
    ax.figure.canvas.draw()
    pixels = np.asarray(ax.figure.canvas.buffer_rgba())[..., :3]
    assert (pixels.sum(axis=-1) > 600).sum() > 1000  # many bright (loud note) pixels
    assert list(private_tmp.iterdir()) == []


def test_piano_roll_of_tokens_midi_files_and_pretty_midi(tmp_path):
    tokens = [(60, 1.0), ("rest", 0.5), (64, 0.5), (67, 2.0)]
    midi_path = notes_to_midi(tokens, tmp_path / "t.mid")
    for source in [tokens, midi_path, str(midi_path), pretty_midi.PrettyMIDI(str(midi_path))]:
        ax = plot_piano_roll(source)
        assert ax.get_ylim() == (57.5, 69.5)
        # every pitch labelled when the range is under an octave
        assert ax.get_yticks().tolist() == list(range(58, 70))
        assert "C4" in [t.get_text() for t in ax.get_yticklabels()]
        assert ax.get_xlim()[1] == pytest.approx(2.0)  # 4 beats at 120 per minute
        roll = np.asarray(ax.images[0].get_array())
        assert roll[60 - 58, :50].min() > 0 and roll[60 - 58, 50:].max() == 0
    assert plot_piano_roll(midi_path).get_title() == "t.mid"


def test_piano_roll_options(tmp_path):
    fig, ax = plt.subplots()
    returned = plot_piano_roll(SCALE, ax=ax, fs=20, pitch_range=(48, 84), title="Mine")
    assert returned is ax
    assert ax.get_ylim() == (47.5, 84.5)
    assert ax.get_yticks().tolist() == [48, 60, 72, 84]
    assert ax.get_title() == "Mine"
    assert np.asarray(ax.images[0].get_array()).shape == (37, 40)  # 2 s at 20 columns/s


def test_piano_roll_leaves_out_drums(tmp_path):
    song = pretty_midi.PrettyMIDI()
    kit, flute = pretty_midi.Instrument(0, is_drum=True), pretty_midi.Instrument(73)
    kit.notes.append(pretty_midi.Note(100, 36, 0.0, 1.0))
    flute.notes.append(pretty_midi.Note(100, 72, 0.0, 1.0))
    song.instruments += [kit, flute]
    assert plot_piano_roll(song).get_ylim() == (69.5, 74.5)
    song.instruments.remove(flute)
    with pytest.raises(ValueError, match="no pitched"):
        plot_piano_roll(song)


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "message"),
    [
        ("X:1\nT:Silence\nM:4/4\nL:1/8\nK:D\n", {}, ValueError, "Could not turn this tune"),
        ([(60, 1.0), (300, 1.0)], {}, ValueError, "token 1"),
        (SCALE, {"pitch_range": (80, 60)}, ValueError, "pitch_range must be"),
        (SCALE, {"pitch_range": (0, 128)}, ValueError, "pitch_range must be"),
        (SCALE, {"fs": 0}, ValueError, "fs must be a positive"),
        (3.5, {}, TypeError, "ABC text or a path"),
    ],
)
def test_piano_roll_bad_input(source, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_piano_roll(source, **kwargs)


def test_importing_the_module_loads_no_heavy_library():
    code = (
        "import sys, mitdeeplearning.music.piano_roll\n"
        "print(sorted(m for m in ('music21', 'pretty_midi', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
