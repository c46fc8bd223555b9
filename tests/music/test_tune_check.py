"""mitdeeplearning.music.tune_check: the strict tune check, and the corruptions it must catch."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.music import TuneCheck, check_tune, corrupt_tune, load_tunes

REEL = """X:7
T:A Made-up Reel
M:4/4
L:1/8
K:D
|: DFAF GBAG | FAdA BGEG | DFAF GBAG | FAdA B2A2 :|
|: dfaf gbag | fadf ecAc | dfaf gbag | fedc d2d2 :|"""


# ## check_tune: valid tunes -----------------------------------------------------------------


def test_a_valid_tune():
    assert check_tune(REEL) == TuneCheck(valid=True, reason="ok", bars=8, notes=60)


def test_pickups_closing_bars_and_endings_are_accepted():
    jig = """X:1
M:6/8
L:1/8
K:G
D|:GAB cBA|BGE E2D|GAB cBA|1 BGG G2D:|2 BGG G2||
|:d|gfg aga|bge e2d|gfg aga|bgg g2:|"""
    verdict = check_tune(jig, max_odd_bars=0)
    assert verdict.valid, verdict.reason
    assert verdict.bars == 11


def test_every_kind_of_duration_is_measured_right():
    # Each bar lasts 2/4 only if its notation is measured as ABC defines it.
    tune = """X:1
M:2/4
L:1/8
K:G
(3ABc d2 | {g}A2 B2 | [CEG]2 [C2E2G2] | A>B c<d | A2- A2 | !trill!A2 ~B2 |
z2 x2 | Hd2 .e2 | A3/2B/ c2 | "Am"A2 "G"B2 | [M:3/4] A2 B2 c2 | A/B/c/d/ e4 |
(3:2:6A/B/c/d/e/f/ e4 | A4- A2 | ^c2 =c2 _B2 | [L:1/4] A B C |]"""
    verdict = check_tune(tune, max_odd_bars=0)
    assert verdict.valid, verdict.reason
    assert verdict.bars == 16


def test_unit_length_defaults_to_the_abc_standard():
    # No L: with M:2/4 means sixteenth notes, with M:6/8 eighth notes.
    two_four = "X:1\nM:2/4\nK:D\n" + "|: DFAF dfaf | gfed cBAG :|\n" * 4
    six_eight = "X:1\nM:6/8\nK:D\n" + "|: DFA dfa | gfe dcB :|\n" * 4
    assert check_tune(two_four, max_odd_bars=0).valid
    assert check_tune(six_eight, max_odd_bars=0).valid
    assert not check_tune(two_four.replace("M:2/4", "M:3/4"), max_odd_bars=0).valid


def test_free_meter_is_not_measured():
    tune = "X:1\nM:none\nL:1/8\nK:G\n" + "GAB | cdefg | A2 | Bcd efg a2 |\n" * 2
    assert check_tune(tune).valid
    assert not check_tune(tune.replace("M:none", "M:3/8")).valid


def test_fewer_bars_than_min_bars():
    tune = "X:1\nM:2/4\nL:1/8\nK:C\nCDEF | GABc | cBAG | FEDC |]"
    assert check_tune(tune) == TuneCheck(False, "only 4 bars (need at least 8)", 4, 16)
    assert check_tune(tune, min_bars=4).valid


def test_missing_headers():
    body = "|: DFAF GBAG | FAdA BGEG :|\n" * 4
    assert check_tune("X:1\nL:1/8\nK:D\n" + body).reason == "no M: header (the meter)"
    assert check_tune("X:1\nM:4/4\nL:1/8\n" + body).reason == "no K: header (the key)"
    assert "X:" in check_tune("T:No number\nM:4/4\nK:D\n" + body).reason
    assert check_tune("X:1\nM:seven\nK:D\n" + body).reason == (
        "the meter M:seven is not one I understand"
    )


# ## check_tune: what it must reject --------------------------------------------------------


def test_a_note_dropped_from_two_bars_is_rejected():
    verdict = check_tune(REEL.replace("FAdA BGEG", "FAA BGEG").replace("fadf", "fdf"))
    assert not verdict.valid
    assert verdict.reason == (
        "bar 2 (line 6) lasts only 7/8 but the meter is 4/4; "
        "bar 6 (line 7) lasts only 7/8 but the meter is 4/4 (1 odd bar allowed)"
    )
    assert verdict.notes == 58


def test_a_note_added_to_two_bars_is_rejected():
    verdict = check_tune(REEL.replace("GBAG | FAdA", "GBAGG | FAdA", 1).replace("ecAc", "ecAcc"))
    assert not verdict.valid
    assert "bar 1 (line 6) lasts 9/8 but the meter is 4/4" in verdict.reason


def test_one_odd_bar_is_forgiven_unless_asked_not_to():
    one_slip = REEL.replace("ecAc", "ecAcc")
    assert check_tune(one_slip).valid
    assert check_tune(one_slip, max_odd_bars=0).reason == (
        "bar 6 (line 7) lasts 9/8 but the meter is 4/4"
    )


def test_a_short_bar_that_no_pickup_completes_is_rejected():
    # Short bars before "||" that do not pair with a pickup: not the split bar real tunes have.
    tune = "X:1\nM:6/8\nL:1/8\nK:G\n" + "GAB cBA | BGE E2 || GAB cBA | BGE E ||\n" * 3
    verdict = check_tune(tune)
    assert not verdict.valid and "lasts only 5/8 but the meter is 6/8" in verdict.reason


def test_an_inline_meter_change_is_honoured():
    waltz_then_reel = "X:1\nM:3/4\nL:1/8\nK:G\n" + "GAB cBA | BGE E2D |\n" * 2
    waltz_then_reel += "[M:4/4] GABc dcBA | BGEG E2D2 |\n" * 2
    assert check_tune(waltz_then_reel, max_odd_bars=0).valid
    assert not check_tune(waltz_then_reel.replace("[M:4/4] ", "")).valid


def test_a_generated_looking_broken_tune_is_rejected():
    sample = """X:3
T:The Lonesome Chanter
M:6/8
L:1/8
K:Gmaj
|:GAB c2B|AGF GAB|c2d efg|fed cBA|GAB c2|
dBG AFD|GAB cde|d2c BAG:|
|:gfe dcB|ABc dB|gfe d2c|BAG FGA|"""
    verdict = check_tune(sample)
    assert not verdict.valid
    assert verdict.reason.startswith("bar 5 (line 6) lasts only 5/8 but the meter is 6/8; ")


def test_two_tunes_in_one_string_are_refused():
    verdict = check_tune(REEL + "\n\n" + REEL.replace("X:7", "X:8"))
    assert verdict == TuneCheck(
        False, "it holds 2 tunes (X: lines); check them one at a time", 0, 0
    )


def test_text_after_the_tunes_blank_line_is_not_part_of_it():
    assert check_tune(REEL + "\n\nNice tune | but this line is chatter ||| (((").valid


def gibberish(seed: int, length: int = 600) -> str:
    """What a barely trained model writes after a plausible header."""
    rng = random.Random(seed)
    return "X:1\nM:4/4\nK:C\n" + "".join(
        rng.choice('abcdefgABCDEFGz2/ |:>(3[]{}"\n') for _ in range(length)
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("   \n\n", "it is empty"),
        ("\x00\xff\xfe garbage \x01", "it does not start with an X: header line"),
        (gibberish(0), "bar 2 (line 6) lasts 31/16 but the meter is 4/4"),
        (gibberish(2), "only 2 bars (need at least 8)"),
        ("X:1\nM:4/4\nL:1/0\nK:C\nABCD|", "the unit note length L:1/0 is not one I understand"),
        ("X:1\nM:4/4\nK:C\na0 b/0 (0abc [M:0/0] |", "the note length '0' is zero"),
        ("X:1\nM:4/4\nK:C\n" + "(" * 10_000, "it has no notes"),
        ("X:1\nM:4/4\nK:C\n" + "A" * 200_000, "it is 200,014 characters long, too long"),
    ],
)
def test_garbage_gets_a_verdict_without_raising(text, reason):
    verdict = check_tune(text)
    assert verdict.valid is False
    assert verdict.reason.startswith(reason)


def test_non_text_gets_a_verdict():
    assert check_tune(b"X:1\nM:2/4\nK:C\n").reason == "expected the tune as text (str), not bytes"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="min_bars"):
        check_tune(REEL, min_bars=-1)
    with pytest.raises(ValueError, match="max_odd_bars"):
        check_tune(REEL, max_odd_bars=1.5)


def test_a_tune_music21_cannot_parse():
    # Bars in time by our count, but music21 cannot make a note from a "__^C".
    tune = "X:1\nM:2/4\nL:1/8\nK:C\n" + "__^C DEF | GABc |\n" * 4
    verdict = check_tune(tune)
    assert not verdict.valid
    assert verdict.reason.startswith("music21 could not parse it: AccidentalException")
    assert (verdict.bars, verdict.notes) == (8, 32)


def test_any_music21_exception_is_caught_and_its_chatter_silenced(monkeypatch, capsys):
    from music21.abcFormat import translate

    def broken(handler):
        print("abcFormat: WARNING: something odd")
        sys.stderr.write("abcFormat: WARNING: something odder\n")
        return 1 / 0

    monkeypatch.setattr(translate, "abcToStreamScore", broken)
    verdict = check_tune(REEL)
    assert verdict.reason == "music21 could not parse it: ZeroDivisionError: division by zero"
    assert capsys.readouterr() == ("", "")


def test_the_parse_skips_beaming_and_leaves_it_as_it_was(monkeypatch):
    # music21's beaming took three quarters of a check's time and decides nothing about
    # validity: it is skipped while the check parses, and back afterwards, error or not.
    from music21 import stream

    def beaming_fails(self, *args, **kwargs):
        raise RuntimeError("beaming ran")

    monkeypatch.setattr(stream.Stream, "makeBeams", beaming_fails)
    assert check_tune(REEL).valid
    assert not check_tune("X:1\nM:2/4\nL:1/8\nK:C\n" + "__^C DEF | GABc |\n" * 4).valid
    assert "makeBeams" not in vars(stream.Part)
    with pytest.raises(RuntimeError, match="beaming ran"):
        stream.Part().makeBeams()


# ## Calibration on real collections ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["oneills1850", "ryans-mammoth", "airds-airs"])
def test_real_tunes_pass_and_corrupted_ones_fail(name):
    rng = random.Random(2024)
    sample = rng.sample(load_tunes(name), 40)
    accepted = [tune for tune in sample if check_tune(tune).valid]
    assert len(accepted) >= 0.9 * len(sample)
    corrupted = [corrupt_tune(t, mode, rng) for t in accepted for mode in ("drop", "add")]
    corrupted = [tune for tune in corrupted if tune is not None]
    assert len(corrupted) >= 0.9 * 2 * len(accepted)
    rejected = sum(not check_tune(tune).valid for tune in corrupted)
    assert rejected >= 0.9 * len(corrupted)


# ## The module itself ------------------------------------------------------------------------


def test_importing_the_module_does_not_import_music21():
    code = (
        "import sys, mitdeeplearning.music.tune_check; "
        "assert 'music21' not in sys.modules, 'music21 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_corrupt_tune_edits_interior_bars_only():
    tune = "X:1\nM:4/4\nL:1/8\nK:D\n|DEFG ABcd|efge dcBA|DEFG ABcd|efdc d4|\n"
    dropped = corrupt_tune(tune, "drop", random.Random(0))
    added = corrupt_tune(tune, "add", random.Random(0))
    body = lambda t: t.split("K:D\n")[1]  # noqa: E731
    assert len(body(dropped)) == len(body(tune)) - 2 and len(body(added)) == len(body(tune)) + 2
    assert body(dropped).startswith("|DEFG ABcd|") and body(dropped).endswith("|efdc d4|\n")
    assert corrupt_tune("X:1\nM:4/4\nK:D\n|DEFG|\n", "drop", random.Random(0)) is None
    with pytest.raises(ValueError, match="mode"):
        corrupt_tune(tune, "swap", random.Random(0))


def test_the_old_home_in_the_abc_module_still_works_and_warns(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    from mitdeeplearning.music import abc

    with pytest.warns(FutureWarning, match=r"music\.abc\.check_tune has been renamed .*tune_check"):
        old = abc.check_tune
    assert old is check_tune
