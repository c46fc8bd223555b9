"""mitdeeplearning.music.bar_scanner: bars measured in exact fractions of a whole note."""

from __future__ import annotations

import pytest

from mitdeeplearning.music.bar_scanner import BarScanner, UnreadableTune


def scan(meter: str, unit: str | None, *lines: str) -> BarScanner:
    scanner = BarScanner(meter, unit)
    for number, line in enumerate(lines, start=1):
        if line[:2] in ("V:", "M:", "L:", "P:"):
            scanner.field(line[0], line[2:])
        else:
            scanner.line(line, number)
    scanner.finish()
    return scanner


def test_the_unit_defaults_to_the_abc_standard():
    # No L: means sixteenths below a 3/4 meter, eighths from 3/4 up.
    assert scan("2/4", None, "DFAF dfaf | gfed cBAG |").odd_bars() == []
    assert scan("3/4", None, "DFA dfa | gfe dcB |").odd_bars() == []
    too_long = scan("2/4", "1/8", "DFAF dfaf | gfed cBAG |").odd_bars()  # eighths: 4/4 a bar
    assert too_long == [
        "bar 1 (line 1) lasts 4/4 but the meter is 2/4",
        "bar 2 (line 1) lasts 4/4 but the meter is 2/4",
    ]


def test_voices_are_measured_apart_and_the_longest_counts():
    scanner = scan("2/4", "1/8", "V:1", "ABcd | efga | bagf |", "V:2", "A,4 | D4 |")
    assert scanner.bar_count() == 3 and scanner.notes == 14
    assert scanner.odd_bars() == []


@pytest.mark.parametrize(
    ("meter", "unit", "line", "message"),
    [
        ("seven", None, "", "the meter M:seven is not one I understand"),
        ("0/4", None, "", "the meter M:0/4 is not a real meter"),
        ("4/4", "1/0", "", "the unit note length L:1/0 is not one I understand"),
        ("4/4", "1/8", "a0 b |", "the note length '0' is zero or divides by zero"),
        ("4/4", "1/8", "(0abc |", "the tuplet '(0' is not a real tuplet"),
    ],
)
def test_what_cannot_be_measured_raises_unreadable_tune(meter, unit, line, message):
    with pytest.raises(UnreadableTune, match=f"^{message}$".replace("(", r"\(")):
        scan(meter, unit, line)
