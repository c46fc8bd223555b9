"""mitdeeplearning.music.abc: finding, reading, cleaning and splitting ABC collections."""

from __future__ import annotations

import logging
import random
import re
import subprocess
import sys
import warnings

import pytest

from mitdeeplearning import data
from mitdeeplearning.music import abc as abc_module
from mitdeeplearning.music import check_tune, load_tunes

LOGGER = "mitdeeplearning.music.abc"


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def skip_summary(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


# ## Splitting a file into tunes -------------------------------------------------------------


def test_splits_at_x_lines_leaving_out_prose_and_normalising_crlf(tmp_path):
    text = (
        "A collection of two tunes, typed in 1998.\n\n"
        "X:1\nT:First\nM:6/8\nL:1/8\nK:G\nGAB cde|\n\n"
        "This prose sits between the tunes and is no ABC at all.\n"
        "Nor is this line.\n\n"
        "X:2\nT:Second\nM:2/4\nL:1/8\nK:D\nDEFG|ABcd|\n"
    ).replace("\n", "\r\n")
    tunes = load_tunes(write(tmp_path, "two.abc", text))
    assert tunes == [
        "X:1\nT:First\nM:6/8\nL:1/8\nK:G\nGAB cde|",
        "X:2\nT:Second\nM:2/4\nL:1/8\nK:D\nDEFG|ABcd|",
    ]


def test_a_blank_line_ends_the_tune_and_old_mac_line_endings_work(tmp_path):
    text = "X:1\rM:3/4\rK:A\rABc|\r\rThe tune above is lovely | really.\rX:2\rM:3/4\rK:A\rcBA|\r"
    tunes = load_tunes(write(tmp_path, "mac.abc", text))
    assert tunes == ["X:1\nM:3/4\nK:A\nABc|", "X:2\nM:3/4\nK:A\ncBA|"]


def test_tunes_keep_the_music_and_drop_comments_lyrics_and_fields_without_music(tmp_path):
    text = """%abc-2.1
%%pagewidth 21cm
X: 12
T: The Kept Title
B: O'Neill's 12
N: "Slow"
Z: Transcribed by someone
R: air
S: a source
M: 3/4   % three beats
Q: 1/4=90
P: AB
K: G
L: 1/8
P:A
ABc d2 e | w: lyrics go away   % and so does this comment
w: la la la
W: more words
[K:D] def [M:2/4] ga [I:MIDI=program 1] | 50\\% off is kept |
%% a directive inside the body
P:B
gfe dcB |"""
    (tune,) = load_tunes(write(tmp_path, "fields.abc", text))
    assert tune.splitlines() == [
        "X: 12",
        "T: The Kept Title",
        "M: 3/4",
        "Q: 1/4=90",
        "P: AB",
        "L: 1/8",  # written after K: but before the music: moved up, so K: ends the header
        "K: G",
        "P:A",
        "ABc d2 e | w: lyrics go away",
        "[K:D] def [M:2/4] ga | 50\\% off is kept |",  # the [I:...] field went
        "P:B",
        "gfe dcB |",
    ]


def test_exact_duplicates_are_removed_and_logged_as_counts(tmp_path, caplog):
    text = (
        "X:1\nT:Jig\nM:6/8\nK:G\nGAB cde|\n\n"
        "X:2\nT:Jig\nM:6/8\nK:G\nGAB   cde|   \n\n"  # the same tune, renumbered and respaced
        "X:3\nT:Jig\nM:6/8\nK:G\nGAB cdf|\n\n"
        "X:4\nT:Jig\nM:6/8\nK:G\nGAB cde|\n"
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        tunes = load_tunes(write(tmp_path, "dups.abc", text))
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:3"]
    (summary,) = skip_summary(caplog)
    assert "Loaded 2 tunes" in summary and "duplicate: 2" in summary


def test_tunes_without_a_key_or_music_are_skipped_and_counted(tmp_path, caplog):
    text = (
        "X:1\nT:No key\nM:6/8\nGAB cde|\n\n"
        "X:2\nT:No music\nM:6/8\nK:G\n\n"
        "X:3\nT:Fine\nM:6/8\nK:G\nGAB cde|\n"
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        tunes = load_tunes(write(tmp_path, "skips.abc", text))
    assert len(tunes) == 1 and tunes[0].startswith("X:3")
    (summary,) = skip_summary(caplog)
    assert "no K: header: 1" in summary and "no music after K:: 1" in summary


# ## Sources ---------------------------------------------------------------------------------


def test_a_folder_is_read_recursively_in_sorted_order(tmp_path):
    for name in ("b.abc", "a.ABC", "sub/c.abc"):
        write(tmp_path, name, f"X:1\nT:{name}\nM:2/4\nK:C\nCDEF|\n")
    write(tmp_path, "notes.txt", "X:1\nT:not an abc file\nM:2/4\nK:C\nCDEF|\n")
    titles = [t.splitlines()[1] for t in load_tunes(tmp_path)]
    assert titles == ["T:a.ABC", "T:b.abc", "T:sub/c.abc"]


def test_a_file_given_as_str_or_path(tmp_path):
    path = write(tmp_path, "one.abc", "X:1\nM:2/4\nK:C\nCDEF|\n")
    assert load_tunes(str(path)) == load_tunes(path) == ["X:1\nM:2/4\nK:C\nCDEF|"]


@pytest.mark.parametrize("name", ["oneills1850", "ryans-mammoth", "airds-airs", "essen"])
def test_registry_names_give_clean_tunes(name):
    tunes = load_tunes(name, limit=5)
    assert len(tunes) == 5
    for tune in tunes:
        lines = tune.splitlines()
        assert lines[0].startswith("X:")
        header_end = next(i for i, line in enumerate(lines) if line.startswith("K:"))
        assert all(re.match(r"[XTMLQPV]:", line) for line in lines[1:header_end])
        assert len(lines) > header_end + 1
        assert "%" not in tune and "\r" not in tune and tune == tune.strip()


def test_oneills_yields_its_tunes_once_each():
    tunes = load_tunes("oneills1850")
    assert 1850 <= len(tunes) <= 2009
    assert len(set(tunes)) == len(tunes)


def test_a_url_is_fetched_through_the_data_module(server, cache):
    url = server.add("/tunes.abc", b"X:1\nM:2/4\nK:C\nCDEF|\n\nX:2\nM:2/4\nK:C\nFEDC|\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.UnverifiedDownloadWarning)
        tunes = load_tunes(url)
    assert tunes == ["X:1\nM:2/4\nK:C\nCDEF|", "X:2\nM:2/4\nK:C\nFEDC|"]
    assert server.count("/tunes.abc") == 1


def test_an_unknown_name_lists_the_collections():
    with pytest.raises(data.UnknownDatasetError) as info:
        load_tunes("oneils1850")  # misspelt
    message = str(info.value)
    for name in ("oneills1850", "ryans-mammoth", "airds-airs", "essen"):
        assert name in message
    assert "nih-chestxray14" not in message


def test_a_dataset_without_tunes_is_refused_before_any_download(monkeypatch):
    def no_fetch(*args, **kwargs):
        raise AssertionError("fetch must not be called")

    monkeypatch.setattr(data, "fetch", no_fetch)
    with pytest.raises(ValueError, match="holds no ABC tunes.*oneills1850"):
        load_tunes("nih-chestxray14")


# ## Bad input -------------------------------------------------------------------------------


def test_an_empty_file_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, "empty.abc", "  \n\n")
    with pytest.raises(ValueError, match=r"empty\.abc is empty"):
        load_tunes(path)


def test_a_binary_file_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, "tunes.abc", random.Random(0).randbytes(5000))
    with pytest.raises(ValueError, match=r"tunes\.abc looks like binary data"):
        load_tunes(path)


def test_a_file_without_tunes_says_what_was_looked_for_and_where(tmp_path):
    path = write(tmp_path, "prose.abc", "Just a shopping list.\nMilk, eggs.\n")
    with pytest.raises(ValueError, match=r"No ABC tunes found in .*prose\.abc.*'X:'"):
        load_tunes(path)


def test_an_oversized_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(abc_module, "MAX_FILE_BYTES", 100)
    path = write(tmp_path, "big.abc", "X:1\nM:2/4\nK:C\n" + "CDEF|" * 40)
    with pytest.raises(ValueError, match=r"big\.abc is .* MB, over the .* limit"):
        load_tunes(path)


def test_latin1_and_utf16_files_are_decoded(tmp_path):
    latin1 = write(tmp_path, "a.abc", "X:1\nT:Caf\xe9\nM:2/4\nK:C\nCDEF|\n".encode("latin-1"))
    utf16 = write(tmp_path, "b.abc", "X:1\nT:Caf\xe9\nM:2/4\nK:C\nCDEF|\n".encode("utf-16"))
    assert load_tunes(latin1)[0].splitlines()[1] == "T:Caf\xe9"
    assert load_tunes(utf16)[0].splitlines()[1] == "T:Caf\xe9"


def test_limit_keeps_the_first_tunes_and_must_be_positive(tmp_path):
    text = "".join(f"X:{i}\nM:2/4\nK:C\nCDE{'FGAB'[i]}|\n\n" for i in range(4))
    path = write(tmp_path, "four.abc", text)
    assert [t.splitlines()[0] for t in load_tunes(path, limit=2)] == ["X:0", "X:1"]
    assert len(load_tunes(path, limit=10)) == 4
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="limit"):
            load_tunes(path, limit=bad)


# ## The module itself ------------------------------------------------------------------------


def test_importing_the_package_does_not_import_music21():
    code = (
        "import sys, mitdeeplearning, mitdeeplearning.music, mitdeeplearning.music.abc; "
        "assert 'music21' not in sys.modules, 'music21 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spacing_in_the_music_is_tidied_without_changing_it(tmp_path):
    text = "X:1\nT:Two  words\nM:4/4\nL:1/8\nK:G\n      GABc   dedB |\tdBAG\t\tFGAB |\n   K:D\n"
    (tune,) = load_tunes(write(tmp_path, "spaced.abc", text))
    lines = tune.splitlines()
    assert lines[1] == "T:Two  words"  # header fields are left as written
    assert lines[5] == "GABc dedB | dBAG FGAB |"  # one space, no indentation
    assert lines[6] == " K:D"  # would read as a field without its leading space
    assert check_tune(tune).bars == check_tune(text).bars
