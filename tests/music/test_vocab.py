"""Vocabularies, splits and batches."""

from __future__ import annotations

import numpy as np
import pytest

from mitdeeplearning.music import CharVocab, get_batch, make_dataset, split_tunes
from mitdeeplearning.music.vocab import TUNE_SEPARATOR, eval_windows, join_tunes

TUNES = ["X:1\nT:A\nK:D\nABcd|", "X:2\nT:B\nK:G\nGABc|", "X:3\nT:C\nK:A\nefga|"]


def test_char_vocab_round_trip():
    vocab = CharVocab.from_texts(TUNES)
    text = join_tunes(TUNES)
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.tokens == sorted(vocab.tokens)  # deterministic ids
    assert "\n" in vocab and len(vocab) == len(set(text))


def test_unknown_characters_are_named_with_the_fix():
    vocab = CharVocab.from_texts(["abc"])
    with pytest.raises(ValueError) as info:
        vocab.encode("abcé€é")
    message = str(info.value)
    assert "'é' (U+00E9) x2" in message and "'€'" in message and "on_unknown='skip'" in message
    assert vocab.decode(vocab.encode("abé", on_unknown="skip")) == "ab"
    with pytest.raises(ValueError, match="unknown=<token>"):
        vocab.encode("é", on_unknown="replace")
    with_unk = CharVocab.from_texts(["abc"], unknown="?")
    assert with_unk.decode(with_unk.encode("aéb", on_unknown="replace")) == "a?b"


def test_token_vocab_for_notes():
    songs = [[(60, 1.0), (62, 0.5), ("rest", 0.5)], [(60, 1.0), (64, 2.0)]]
    vocab = CharVocab.from_sequences(songs)
    assert vocab.tokens[0] == (60, 1.0)  # most frequent first
    ids = vocab.encode(songs[0])
    assert vocab.decode(ids) == songs[0]  # a list of tuples, not a string
    with pytest.raises(ValueError, match=r"\(61, 1.0\)"):
        vocab.encode([(61, 1.0)])


def test_vocab_saves_and_loads(tmp_path):
    for vocab in (
        CharVocab.from_texts(TUNES, unknown="?"),
        CharVocab.from_sequences([[(60, 1.0), ("rest", 0.25)]]),
    ):
        path = vocab.save(tmp_path / "vocab.json")
        assert CharVocab.load(path) == vocab
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="Not a saved vocabulary"):
        CharVocab.load(tmp_path / "junk.json")


def test_decode_rejects_out_of_range_ids():
    vocab = CharVocab.from_texts(["ab"])
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vocab.decode([0, 7])


def test_split_is_by_tune_and_seeded():
    tunes = [f"X:{i}\nK:D\nA|" for i in range(50)]
    train, val = split_tunes(tunes, 0.1, seed=3)
    assert len(val) == 5 and len(train) == 45
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(tunes)
    assert split_tunes(tunes, 0.1, seed=3) == (train, val)
    assert split_tunes(tunes, 0.1, seed=4) != (train, val)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_tunes(tunes, 1.5)


def test_get_batch_shapes_and_shift():
    ids = np.arange(1000, dtype=np.int32)
    x, y = get_batch(ids, seq_length=20, batch_size=8, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (8, 20)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(y, x + 1)  # ids are consecutive, so the shift is visible
    x2, _ = get_batch(ids, 20, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)  # seeded


def test_get_batch_edge_cases():
    ids = np.arange(11)
    x, y = get_batch(ids, seq_length=10, batch_size=3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(x, np.tile(np.arange(10), (3, 1)))  # the only window
    np.testing.assert_array_equal(y, np.tile(np.arange(1, 11), (3, 1)))
    with pytest.raises(ValueError, match="too few"):
        get_batch(np.arange(10), seq_length=10, batch_size=1)
    with pytest.raises(ValueError, match="1-D"):
        get_batch(np.zeros((3, 4)), 2, 1)
    with pytest.raises(ValueError, match=">= 1"):
        get_batch(ids, 0, 1)


def test_tf_data_pipeline_matches_batch_contract():
    ids = np.arange(500, dtype=np.int32)
    ds = make_dataset(ids, seq_length=16, batch_size=4, seed=7)
    batches = [tuple(t.numpy() for t in b) for b in ds.take(3)]
    for x, y in batches:
        assert x.shape == y.shape == (4, 16)
        np.testing.assert_array_equal(y, x + 1)
    again = [b[0].numpy() for b in make_dataset(ids, 16, 4, seed=7).take(3)]
    for (x, _), x2 in zip(batches, again, strict=True):
        np.testing.assert_array_equal(x, x2)


def test_eval_windows_cover_the_text_once():
    x, y = eval_windows(np.arange(25), seq_length=6)
    assert x.shape == (4, 6)
    np.testing.assert_array_equal(x.ravel(), np.arange(24))
    np.testing.assert_array_equal(y.ravel(), np.arange(1, 25))


def test_join_tunes_separates_with_a_blank_line():
    assert join_tunes(["X:1\nK:D\nA|\n", "X:2\nK:D\nB|"]) == "X:1\nK:D\nA|\n\nX:2\nK:D\nB|\n\n"
    assert TUNE_SEPARATOR == "\n\n"
