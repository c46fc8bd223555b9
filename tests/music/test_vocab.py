"""mitdeeplearning.music.vocab: vocabularies of characters or tokens."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.music import Vocab
from mitdeeplearning.music import vocab as vocab_module
from mitdeeplearning.music.batches import join_tunes

TUNES = ["X:1\nT:A\nK:D\nABcd|", "X:2\nT:B\nK:G\nGABc|", "X:3\nT:C\nK:A\nefga|"]


def test_character_vocabulary_round_trip():
    vocab = Vocab.from_texts(TUNES)
    text = join_tunes(TUNES)
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.tokens == sorted(vocab.tokens)  # deterministic ids
    assert "\n" in vocab and len(vocab) == len(set(text))


def test_unknown_characters_are_named_with_the_fix():
    vocab = Vocab.from_texts(["abc"])
    with pytest.raises(ValueError) as info:
        vocab.encode("abcé€é")
    message = str(info.value)
    assert "'é' (U+00E9) x2" in message and "'€'" in message and "on_unknown='skip'" in message
    assert vocab.decode(vocab.encode("abé", on_unknown="skip")) == "ab"
    with pytest.raises(ValueError, match="unknown=<token>"):
        vocab.encode("é", on_unknown="replace")
    with_unk = Vocab.from_texts(["abc"], unknown="?")
    assert with_unk.decode(with_unk.encode("aéb", on_unknown="replace")) == "a?b"


def test_token_vocab_for_notes():
    songs = [[(60, 1.0), (62, 0.5), ("rest", 0.5)], [(60, 1.0), (64, 2.0)]]
    vocab = Vocab.from_sequences(songs)
    assert vocab.tokens[0] == (60, 1.0)  # most frequent first
    ids = vocab.encode(songs[0])
    assert vocab.decode(ids) == songs[0]  # a list of tuples, not a string
    with pytest.raises(ValueError, match=r"\(61, 1.0\)"):
        vocab.encode([(61, 1.0)])


def test_vocab_saves_and_loads(tmp_path):
    for vocab in (
        Vocab.from_texts(TUNES, unknown="?"),
        Vocab.from_sequences([[(60, 1.0), ("rest", 0.25)]]),
    ):
        path = vocab.save(tmp_path / "vocab.json")
        assert Vocab.load(path) == vocab
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="Not a saved vocabulary"):
        Vocab.load(tmp_path / "junk.json")


def test_decode_rejects_out_of_range_ids():
    vocab = Vocab.from_texts(["ab"])
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vocab.decode([0, 7])


def test_a_vocabulary_saved_before_the_rename_loads(tmp_path):
    saved = tmp_path / "vocab.json"
    saved.write_text(
        '{"format": "mitdeeplearning.CharVocab/1", "is_text": true, "tokens": ["\\n", "a"], '
        '"unknown": null}'
    )
    assert Vocab.load(saved) == Vocab.from_texts(["a"])


def test_the_old_name_charvocab_still_works_and_warns_once(monkeypatch):
    import mitdeeplearning.music as music

    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"music\.CharVocab has been renamed music\.Vocab"):
        assert music.CharVocab is Vocab
    with pytest.warns(FutureWarning, match=r"vocab\.CharVocab has been renamed .*vocab\.Vocab"):
        from mitdeeplearning.music.vocab import CharVocab
    assert CharVocab is Vocab and isinstance(CharVocab.from_texts(["ab"]), Vocab)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert music.CharVocab is Vocab  # once per process: no second warning


def test_batching_names_still_import_from_the_vocab_module_with_a_warning(monkeypatch):
    from mitdeeplearning.music import batches

    monkeypatch.setattr(_lazy, "_warned", set())
    for name in ("split_tunes", "join_tunes", "get_batch", "make_dataset", "stream_batches"):
        with pytest.warns(FutureWarning, match=rf"vocab\.{name} has been renamed .*batches"):
            assert getattr(vocab_module, name) is getattr(batches, name)
    with pytest.raises(AttributeError, match="no_such_thing"):
        vocab_module.no_such_thing  # noqa: B018
