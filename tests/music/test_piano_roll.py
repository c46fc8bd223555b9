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

from mitdeeplearning.music.audio import tune_to_midi  # noqa: E402
from mitdeeplearning.music.midi import notes_to_midi  # noqa: E402
from mitdeeplearning.music.piano_roll import bar_lines, plot_piano_roll  # noqa: E402

REEL = """X:1
T:Test Reel
M:4/4
L:1/8
K:D
|:DEFG ABcd|efge dcBA|DEFG ABcd|efdc d4:|
"""
# The reel's pitches, in D major (F and C sharp): D4 = 62 ... g = G5 = 79.
REEL_PITCHES = {62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 79}
# 4 bars of 4/4 played twice at a reel's session tempo, 110 half notes a minute.
BAR_SECONDS = 2 * 60 / 110
REEL_SECONDS = 8 * BAR_SECONDS
REEL_NAMES = ["D4", "E4", "F#4", "G4", "A4", "B4", "C#5", "D5", "E5", "F#5", "G5"]

SCALE = "X:2\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n"  # C4 to C5 in one bar


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_piano_roll_of_abc_text(private_tmp):
    ax = plot_piano_roll(REEL)
    low, high = ax.get_ylim()
    assert (low, high) == (62 - 1 - 0.5, 79 + 1 + 0.5)  # D4 to G5, a semitone either side
    assert [t.get_text() for t in ax.get_yticklabels()] == REEL_NAMES  # the notes played
    assert ax.get_yticks().tolist() == sorted(REEL_PITCHES)
    assert ax.get_xlim()[1] == pytest.approx(REEL_SECONDS, abs=0.01)  # 8 bars: the default
    # a line and a number at the start of each bar
    assert [line.get_xdata()[0] for line in ax.lines] == pytest.approx(
        [i * BAR_SECONDS for i in range(8)], abs=1e-3
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(1, 9)]
    assert ax.get_title() == "Test Reel"
    image = ax.images[0]
    assert image.get_cmap().name == "magma"
    roll = np.asarray(image.get_array())
    assert roll.shape[0] == high - low and abs(roll.shape[1] - 100 * REEL_SECONDS) <= 1
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
        assert ax.get_ylim() == (58.5, 68.5)
        assert ax.get_yticks().tolist() == [60, 64, 67]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["C4", "E4", "G4"]
        assert ax.get_xlim()[1] == pytest.approx(2.0)  # 4 beats at 120 per minute: one bar
        roll = np.asarray(ax.images[0].get_array())
        assert roll[60 - 59, :50].min() > 0 and roll[60 - 59, 50:].max() == 0
    assert plot_piano_roll(midi_path).get_title() == "t.mid"


def test_piano_roll_options(tmp_path):
    fig, ax = plt.subplots()
    returned = plot_piano_roll(SCALE, ax=ax, fs=20, pitch_range=(48, 84), title="Mine")
    assert returned is ax
    assert ax.get_ylim() == (47.5, 84.5)
    assert ax.get_yticks().tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    assert ax.get_title() == "Mine"
    shape = np.asarray(ax.images[0].get_array()).shape
    assert shape[0] == 37 and abs(shape[1] - 20 * BAR_SECONDS) <= 1  # one bar, 20 columns/s


def test_piano_roll_leaves_out_drums(tmp_path):
    song = pretty_midi.PrettyMIDI()
    kit, flute = pretty_midi.Instrument(0, is_drum=True), pretty_midi.Instrument(73)
    kit.notes.append(pretty_midi.Note(100, 36, 0.0, 1.0))
    flute.notes.append(pretty_midi.Note(100, 72, 0.0, 1.0))
    song.instruments += [kit, flute]
    assert plot_piano_roll(song).get_ylim() == (70.5, 73.5)
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
        (SCALE, {"bars": 0}, ValueError, "bars must be a number of bars >= 1"),
        (SCALE, {"bars": (2, 3)}, ValueError, r"first <= 1 \(the tune's last bar\)"),
        (SCALE, {"bars": (1, "2")}, ValueError, "bars must be"),
        (3.5, {}, TypeError, "ABC text or a path"),
    ],
)
def test_piano_roll_bad_input(source, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_piano_roll(source, **kwargs)


# A 6/8 jig in F with a pickup: 8 bars, each part repeated (32 bars as played), B flat in it.
JIG = """X:3
T:Pickup Jig
M:6/8
L:1/8
K:F
c|:FAc fcA|GBd gdB|FAc fcA|GBd c2c|FAc fcA|GBd gdB|fed cBA|GFE F2:|
|:c|fga agf|ecA AcA|fga agf|ecA G2c|fga agf|ecA AcA|fed cBA|GFE F2:|
"""
JIG_BAR = 1.0  # 2 dotted quarters at 120 a minute


def test_piano_roll_windows_the_bars_with_the_pickup_in_the_first(private_tmp):
    midi = pretty_midi.PrettyMIDI(str(tune_to_midi(JIG, private_tmp.parent / "jig.mid")))
    starts, numbers = bar_lines(midi)
    assert numbers[:3] == [0, 1, 2] and max(numbers) == 32
    pickup = 1 / 6  # an eighth note
    first = plot_piano_roll(midi, bars=4)
    assert first.get_xlim() == pytest.approx((0.0, pickup + 4 * JIG_BAR), abs=0.01)
    assert [t.get_text() for t in first.get_xticklabels()] == ["1", "2", "3", "4"]
    assert first.get_xticks().tolist() == pytest.approx([pickup + i for i in range(4)], abs=1e-3)
    assert "bars 0-4 of 32" in first.get_xlabel()
    middle = plot_piano_roll(midi, bars=(9, 12))
    # bar 8 is short (5/8: the repeat starts after the pickup), so bar 9 starts at 8 s
    assert middle.get_xlim() == pytest.approx((8.0, 12.0), abs=0.01)
    assert [t.get_text() for t in middle.get_xticklabels()] == ["9", "10", "11", "12"]
    assert [line.get_xdata()[0] for line in middle.lines] == pytest.approx(
        [8.0, 9.0, 10.0, 11.0], abs=1e-3
    )
    whole = plot_piano_roll(midi, bars=None)
    assert whole.get_xlim()[1] == pytest.approx(midi.get_end_time(), abs=0.01)
    assert len(whole.get_xticklabels()) <= 16  # every other bar numbered past 16 bars
    labels = [t.get_text() for t in first.get_yticklabels()]
    assert "Bb4" in labels and "A#4" not in labels  # spelled as F major spells it
    assert abs(np.asarray(first.images[0].get_array()).shape[1] - 100 * (pickup + 4)) <= 1


def test_bar_lines_count_a_bar_split_by_a_repeat_as_one():
    song = pretty_midi.PrettyMIDI(initial_tempo=120)  # a quarter note lasts 0.5 s
    song.instruments.append(pretty_midi.Instrument(0))
    song.instruments[0].notes.append(pretty_midi.Note(100, 60, 0.0, 6.0))
    song.time_signature_changes = [
        pretty_midi.TimeSignature(1, 4, 0.0),  # pickup
        pretty_midi.TimeSignature(4, 4, 0.5),
        pretty_midi.TimeSignature(3, 4, 2.5),  # the bar before :|
        pretty_midi.TimeSignature(1, 4, 4.0),  # the pickup again
        pretty_midi.TimeSignature(4, 4, 4.5),
    ]
    assert bar_lines(song) == ([0.0, 0.5, 2.5, 4.5], [0, 1, 2, 3])


def test_importing_the_module_loads_no_heavy_library():
    code = (
        "import sys, mitdeeplearning.music.piano_roll\n"
        "print(sorted(m for m in ('music21', 'pretty_midi', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
