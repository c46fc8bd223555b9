"""tune_stats: validity, the spread of keys and meters, novelty and duplicates; and the header
helpers it counts with (normalised keys and meters, headers drawn from a collection)."""

from __future__ import annotations

import json
import math
import random

import pytest

from mitdeeplearning.music.headers import (
    draw_headers,
    header_fields,
    normalise_key,
    normalise_meter,
    tune_header,
)
from mitdeeplearning.music.stats import (
    MISSING,
    music_text,
    reason_kind,
    total_variation,
    tune_stats,
)

# Eight bars of each, so that check_tune accepts them.
JIG_BARS = "|:GAB c2d|edc BAG|GAB c2d|edc BAG:|\n" * 2
REEL_BARS = "|:DFAF GFED|FAdA BGEG:|\n" * 4


def tune(key: str, meter: str = "6/8", body: str | None = None, number: int = 1) -> str:
    if body is None:
        body = JIG_BARS if meter in ("6/8",) else REEL_BARS
    return f"X:{number}\nT:Tune {number}\nM:{meter}\nL:1/8\nK:{key}\n{body}"


# ## Normalised keys and meters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("G", "Gmaj"), ("Gmaj", "Gmaj"), ("G major", "Gmaj"), ("Gion", "Gmaj"), (" G ", "Gmaj"),
        ("Em", "Emin"), ("Emin", "Emin"), ("E minor", "Emin"), ("EAeolian", "Emin"),
        ("Ador", "Ador"), ("ADor", "Ador"), ("A dorian", "Ador"), ("AMix", "Amix"),
        ("Dmix", "Dmix"), ("Bphr", "Bphr"), ("Glyd", "Glyd"), ("F#m", "F#min"),
        ("Bb", "Bbmaj"), ("Ebm", "Ebmin"), ("D clef=bass", "Dmaj"), ("G % comment", "Gmaj"),
        ("none", "none"), ("HP", "hp"), ("Bn", "?Bn"), ("", "?"),
    ],
)  # fmt: skip
def test_keys_are_written_one_way(written, normal):
    assert normalise_key(written) == normal


def test_modes_stay_apart():
    # Same key signature, different music: dorian, mixolydian and major are not merged.
    assert len({normalise_key(k) for k in ("Ador", "Amix", "A", "Am", "Gmaj")}) == 5


@pytest.mark.parametrize(
    ("written", "normal"),
    [("C", "4/4"), ("4/4", "4/4"), ("C|", "2/2"), ("2/2", "2/2"), (" 6/8 ", "6/8"),
     ("3/4", "3/4"), ("none", "none"), ("None", "none"), ("2+3/8", "2+3/8")],
)  # fmt: skip
def test_meters_are_written_one_way(written, normal):
    assert normalise_meter(written) == normal


def test_header_fields_stop_at_the_key_and_at_a_blank_line():
    text = "X: 4\nT: A\nT: B\nM: C|\nL: 1/8\nK:Ador\n|:ABcd:|\nK:G\nM:6/8\n"
    assert header_fields(text) == {"X": "4", "T": "A", "M": "C|", "L": "1/8", "K": "Ador"}
    assert header_fields("X:1\nT:A\n\nM:6/8\nK:G\n") == {"X": "1", "T": "A"}
    assert header_fields(None) == {} and header_fields("ABC|def|") == {}


def test_tune_header_keeps_the_fields_that_change_the_music():
    text = "X:9\nT:Title\nM:3/4\nL:1/8\nQ:1/4=120\nK:D\nABc|\n"
    assert tune_header(text) == "M:3/4\nL:1/8\nQ:1/4=120\nK:D"
    assert tune_header("X:1\nT:no key\nABC|\n") is None


# ## Headers drawn from a collection -------------------------------------------------------------


def test_draw_headers_follows_the_joint_distribution():
    jigs = [tune("G", "6/8", number=i) for i in range(3)]
    reel = tune("D", "C|")
    drawn = draw_headers([*jigs, reel], 4000, seed=0)
    assert set(drawn) == {"M:6/8\nL:1/8\nK:G", "M:C|\nL:1/8\nK:D"}  # never a 6/8 tune in D
    share = drawn.count("M:6/8\nL:1/8\nK:G") / len(drawn)
    assert abs(share - 0.75) < 0.03
    assert draw_headers(jigs + [reel], 5, seed=1) == draw_headers(jigs + [reel], 5, seed=1)


def test_draw_headers_can_give_each_meter_its_usual_unit():
    sixteenths = [tune("G", "2/4", number=i).replace("L:1/8", "L:1/16") for i in range(3)]
    eighths = tune("D", "2/4").replace("K:D", "Q:1/4=90\nK:D")
    jig = tune("A", "6/8")
    drawn = draw_headers([*sixteenths, eighths, jig], 400, seed=0, units="usual")
    assert set(drawn) == {"M:2/4\nL:1/16\nK:G", "M:2/4\nL:1/16\nQ:1/4=90\nK:D", "M:6/8\nL:1/8\nK:A"}
    as_drawn = draw_headers([*sixteenths, eighths, jig], 400, seed=0)
    keys = [h[-1] for h in drawn]
    assert keys == [h[-1] for h in as_drawn]  # the same keys and meters, only the unit differs
    no_unit = "X:1\nM:6/8\nK:G\nGAB|\n"
    # Most 6/8 tunes here give no unit, so none is given (ABC's default for 6/8 is 1/8).
    usual = draw_headers([no_unit, no_unit, jig], 50, seed=0, units="usual")
    assert set(usual) == {"M:6/8\nK:G", "M:6/8\nK:A"}


def test_draw_headers_bad_arguments():
    with pytest.raises(ValueError, match=r"n=0 must be a positive"):
        draw_headers([tune("G")], 0)
    with pytest.raises(ValueError, match="not one string"):
        draw_headers(tune("G"), 3)
    with pytest.raises(ValueError, match="None of the 1 tunes has a header"):
        draw_headers(["no header at all"], 3)
    with pytest.raises(ValueError, match="units='rare'; expected 'drawn' or 'usual'"):
        draw_headers([tune("G")], 3, units="rare")


# ## Distances, by hand --------------------------------------------------------------------------


def test_total_variation_by_hand():
    p = {"a": 0.5, "b": 0.25, "c": 0.25}
    q = {"a": 0.25, "b": 0.5, "d": 0.25}
    # |0.5-0.25| + |0.25-0.5| + |0.25-0| + |0-0.25| = 1.0, halved.
    assert total_variation(p, q) == pytest.approx(0.5)
    assert total_variation(p, p) == 0 and total_variation({"a": 1}, {"b": 1}) == 1
    assert total_variation({"a": 2, "b": 2}, {"a": 0.5, "b": 0.5}) == 0  # counts or shares
    with pytest.raises(ValueError, match="non-empty"):
        total_variation({}, {"a": 1})


def test_key_and_meter_distances_of_a_hand_made_case():
    # Generated: G, G, D, Em (written "G", "Gmaj", "D", "Em"); meters 6/8, 6/8, C|, 3/4.
    generated = [
        tune("G", "6/8"), tune("Gmaj", "6/8"), tune("D", "C|"),
        tune("Em", "3/4", body="|:E2 F2 G2|A2 B2 c2:|\n" * 4),
    ]  # fmt: skip
    # Reference: G, D, D, Ador; meters 6/8, 2/2 (written C|, then 2/2), C (= 4/4), 6/8.
    reference = [tune("G", "6/8"), tune("D", "C|"), tune("D", "2/2"), tune("ADor", "C")]
    stats = tune_stats(generated, reference=reference)
    assert stats.keys == {"Gmaj": 0.5, "Dmaj": 0.25, "Emin": 0.25}
    assert stats.reference_keys == {"Dmaj": 0.5, "Ador": 0.25, "Gmaj": 0.25}
    # keys: |0.50-0.25| (G) + |0.25-0.50| (D) + |0.25-0| (Em) + |0-0.25| (Ador) = 1.0 → 0.5
    assert stats.key_tv == pytest.approx(0.5)
    assert stats.meters == {"6/8": 0.5, "2/2": 0.25, "3/4": 0.25}
    assert stats.reference_meters == {"2/2": 0.5, "4/4": 0.25, "6/8": 0.25}
    # meters: |0.5-0.25| (6/8) + |0.25-0.5| (2/2) + 0.25 (3/4) + 0.25 (4/4) = 1.0 → 0.5
    assert stats.meter_tv == pytest.approx(0.5)
    assert stats.valid == 4 and stats.reasons == {}
    assert [check.valid for check in stats.checks] == [True] * 4
    assert stats.bars == {8: 1.0} and stats.median_bars == 8


def test_tunes_without_a_key_count_as_missing():
    stats = tune_stats([tune("G"), "X:1\nT:No key\nM:6/8\n"], reference=[tune("G")])
    assert stats.keys == {MISSING: 0.5, "Gmaj": 0.5}
    assert stats.key_tv == pytest.approx(0.5)


# ## Novelty and duplicates ---------------------------------------------------------------------


def test_music_text_drops_headers_field_lines_comments_and_spaces():
    text = "X:1\nT:T\nM:6/8\nK:G\n|:GAB c2d| % first\nP:B\nedc  BAG:|\n\nafter the end"
    assert music_text(text) == "|:GABc2d|edcBAG:|"
    assert music_text("no key here") == "" and music_text(None) == ""


def test_copied_windows_by_hand():
    reference_music = "ABCDEFGabcdefgABCDEFGabcdefgABCD"  # 32 characters
    reference = [f"X:1\nM:4/4\nK:C\n{reference_music}\n"]
    copied = f"X:2\nM:4/4\nK:C\n{reference_music[:30]}\n" + "z" * 30 + "\n"  # 60 characters
    new = "X:3\nM:4/4\nK:C\n" + "^c" * 30 + "\n"
    whole = f"X:4\nM:4/4\nK:C\n{reference_music[:16]} {reference_music[16:]}\n"  # other spacing
    stats = tune_stats([copied, new, whole], reference=reference)
    # 60 characters give 37 windows of 24; the 7 inside the first 30 characters are copied.
    assert stats.copied_windows_per_tune == pytest.approx([7 / 37, 0.0, 1.0])
    assert stats.copied_windows == pytest.approx((7 / 37 + 0 + 1) / 3)
    assert stats.longest_copied == 32  # the whole reference, in tune 4
    assert stats.copies == 1
    short = tune_stats([copied], reference=reference)
    assert short.longest_copied == 30


def test_tunes_shorter_than_a_window_are_left_out_of_the_mean():
    reference = [tune("G")]
    stats = tune_stats([tune("G"), "X:1\nM:4/4\nK:C\nABC|\n"], reference=reference)
    assert math.isnan(stats.copied_windows_per_tune[1])
    assert stats.copied_windows == 1.0


def test_duplicates_ignore_spacing_and_headers():
    a = tune("G", number=1)
    b = tune("D", number=2, body=JIG_BARS.replace(" ", "").replace("\n", "\n\t"))
    other = tune("G", "C|", number=3)
    stats = tune_stats([a, b, a, other])
    assert stats.duplicates == 2  # b and the second a repeat the first a's music
    assert tune_stats([a, other]).duplicates == 0


def test_without_a_reference_only_the_set_itself_is_measured():
    stats = tune_stats([tune("G")])
    assert stats.key_tv is None and stats.copied_windows is None and stats.copies is None
    assert "distance" not in str(stats) and "1 of 1 tunes valid (100%)" in str(stats)


# ## Bad input ----------------------------------------------------------------------------------


def test_empty_or_one_string_is_a_clear_error():
    with pytest.raises(ValueError, match="tunes is empty"):
        tune_stats([])
    with pytest.raises(ValueError, match="reference is empty"):
        tune_stats([tune("G")], reference=[])
    with pytest.raises(ValueError, match=r"tunes is one string: pass a list of tunes"):
        tune_stats(tune("G"))
    with pytest.raises(ValueError, match="window=0 must be a positive"):
        tune_stats([tune("G")], window=0)


def test_text_that_is_not_abc_is_counted_invalid_never_raised():
    rng = random.Random(0)
    garbage = [
        "hello world",
        "",
        None,
        42,
        "X:1\nM:4/4\nK:G\n" + "|[[((&&^^__==>>" * 12,
        "X:1\nM:6/8\nK:G\n" + "".join(rng.choice("ABCabc|:[]()/<>^_=,'23z-{}") for _ in range(400)),
        "X:1\nM:zz\nL:0/0\nK:Q#\n|ABC|" * 3,
    ]
    stats = tune_stats(garbage, reference=[tune("G"), "nonsense"])
    assert stats.tunes == len(garbage) and stats.valid == 0
    assert sum(stats.reasons.values()) == len(garbage)
    assert "it does not start with an X: header line" in stats.reasons
    json.dumps(stats.as_dict())  # plain values, ready for metrics.json


def test_summary_reads_well():
    stats = tune_stats([tune("G"), tune("D", "C|")], reference=[tune("G")] * 3)
    text = str(stats)
    assert "2 of 2 tunes valid (100%)" in text
    assert "Gmaj 50% (ref 100%)" in text and "2/2 50% (ref 0%)" in text
    assert "keys 0.50, meters 0.50" in text
    assert stats.as_dict()["valid_share"] == 1.0 and stats.valid_share == 1.0


def test_reason_kinds_drop_the_numbers():
    assert reason_kind("bar 3 (line 6) lasts only 5/8 but the meter is 6/8") == (
        "bars off the meter (the first too short)"
    )
    assert reason_kind("it holds 3 tunes (X: lines); check them one at a time") == (
        "it holds N tunes (X: lines); check them one at a time"
    )
