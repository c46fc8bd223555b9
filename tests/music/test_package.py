"""The public names of mitdeeplearning.music resolve, lazily."""

from __future__ import annotations

import subprocess
import sys

import mitdeeplearning.music as music

PUBLIC = [
    "load_tunes",
    "encode_midi",
    "decode_notes",
    "CharVocab",
    "get_batch",
    "build_model",
    "generate",
    "check_tune",
    "tune_to_midi",
    "midi_to_wav",
    "play",
    "plot_piano_roll",
]


def test_every_public_name_resolves():
    assert set(PUBLIC) <= set(music.__all__)
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
