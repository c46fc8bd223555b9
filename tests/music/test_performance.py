"""Tempo choice (session tempi, Q: headers) and how a score is played: repeats and bars."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mitdeeplearning.music.performance import (
    Tempo,
    bar_signatures,
    session_tempo,
    tune_tempo,
)


@pytest.mark.parametrize(
    ("meter", "quarters_a_minute"),
    [("C|", 220), ("2/2", 220), ("4/4", 220), ("C", 220), ("6/8", 180), ("9/8", 180),
     ("12/8", 180), ("2/4", 130), ("3/4", 120), ("5/4", 120), (None, 120)],
)  # fmt: skip
def test_session_tempo_by_meter(meter, quarters_a_minute):
    assert session_tempo(meter).quarter_notes_per_minute == quarters_a_minute


@pytest.mark.parametrize(
    ("q", "beat", "beats_a_minute"),
    [
        ("1/4=100", Fraction(1, 4), 100),
        (" 3/8 = 90", Fraction(3, 8), 90),
        ('"Allegro" 1/2=105', Fraction(1, 2), 105),
        ("1/8 3/8=40", Fraction(1, 2), 40),
        ("150", Fraction(1, 8), 150),  # the old form: unit notes (L:1/8) a minute
    ],
)
def test_a_q_header_wins(q, beat, beats_a_minute):
    tempo = tune_tempo(f"X:1\nT:t\nM:6/8\nL:1/8\nQ:{q}\nK:D\nDEF|\n")
    assert (tempo.beat, tempo.beats_per_minute) == (beat, beats_a_minute)
    assert tempo.reason.startswith("the tune's Q:")


@pytest.mark.parametrize("q", ['"Allegro"', "fast", "0", "1/4=0"])
def test_a_q_header_without_a_usable_number_is_ignored(q):
    tempo = tune_tempo(f"X:1\nM:6/8\nL:1/8\nQ:{q}\nK:D\nDEF|\n")
    assert tempo == session_tempo("6/8")


def test_only_the_header_is_read():
    assert tune_tempo("X:1\nM:6/8\nL:1/8\nK:D\nDEF|\nQ:1/4=60\n") == session_tempo("6/8")
    assert str(Tempo(Fraction(3, 8), 120.0)) == "120 dotted quarter notes a minute"


def test_bar_signatures_keep_the_meter_and_mark_short_bars():
    bars = [(0.0, 0.5), (0.5, 3.0), (3.5, 2.5), (6.0, 0.5), (6.5, 3.0)]
    assert bar_signatures(bars, (6, 8)) == [(1, 8, 0.0), (6, 8, 0.5), (5, 8, 3.5), (1, 8, 6.0),
                                            (6, 8, 6.5)]  # fmt: skip
    assert bar_signatures([], (3, 4)) == [(3, 4, 0.0)]
    triplet = [(0.0, 4.0), (4.0, 1 / 3), (4.0 + 1 / 3, 4.0)]
    assert bar_signatures(triplet, (4, 4)) == [(4, 4, 0.0)]  # no time signature holds 1/3
