"""The public names of mitdeeplearning.music resolve, lazily."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import mitdeeplearning.music as music
from mitdeeplearning import _lazy

PUBLIC = [
    "load_tunes",
    "check_tune",
    "corrupt_tune",
    "TuneCheck",
    "midi_to_notes",
    "notes_to_midi",
    "Vocab",
    "split_tunes",
    "join_tunes",
    "get_batch",
    "make_dataset",
    "stream_batches",
    "build_model",
    "train",
    "TrainResult",
    "evaluate_bits",
    "LAB_CONFIG",
    "generate",
    "sampling_step",
    "tune_to_midi",
    "midi_to_wav",
    "play",
    "plot_piano_roll",
    "bar_lines",
    "tune_tempo",
    "session_tempo",
    "Tempo",
    "synthesize",
    "draw_headers",
    "tune_stats",
    "TuneStats",
]

#: Old public names → their new names; each still works, warning once.
RENAMED = {"CharVocab": "Vocab", "encode_midi": "midi_to_notes", "decode_notes": "notes_to_midi"}


def test_every_public_name_resolves():
    assert sorted(PUBLIC) == music.__all__
    for name in music.__all__:
        value = getattr(music, name)
        assert callable(value) or (name == "LAB_CONFIG" and "rnn_units" in value), name


def test_importing_the_package_loads_nothing_heavy():
    code = (
        "import sys, mitdeeplearning.music\n"
        "heavy = [m for m in ('tensorflow', 'music21', 'pretty_midi') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_attribute_is_an_attribute_error():
    try:
        music.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


@pytest.mark.parametrize(("old", "new"), RENAMED.items())
def test_each_old_name_still_works_and_warns_once(monkeypatch, old, new):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=rf"music\.{old} has been renamed music\.{new}"):
        assert getattr(music, old) is getattr(music, new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(music, old) is getattr(music, new)  # no second warning
    assert old not in dir(music) and old not in music.__all__
