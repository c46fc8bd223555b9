"""mitdeeplearning.music.batches: held-out tunes, the training text, and batches of windows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mitdeeplearning.music import get_batch, make_dataset, split_tunes
from mitdeeplearning.music.batches import eval_windows, join_tunes, stream_batches
from mitdeeplearning.music.vocab import TUNE_SEPARATOR


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


# ## Stream windows: the corpus read as parallel streams ------------------------------------


def test_each_batch_continues_the_one_before():
    ids = np.arange(1000)
    batches = list(itertools.islice(stream_batches(ids, 10, 4, seed=0), 60))
    steps = (999 // 4) // 10  # 24 batches per epoch
    for k, (x, y, new_epoch) in enumerate(batches):
        assert x.shape == y.shape == (4, 10)
        assert new_epoch == (k % steps == 0)
        np.testing.assert_array_equal((x + 1) % 1000, y)  # y is x shifted by one (rotated corpus)
        if k % steps:  # row i goes on where row i of the previous batch stopped
            np.testing.assert_array_equal(x[:, 0], batches[k - 1][1][:, -1])
    # A new epoch starts at another offset: window boundaries move.
    assert batches[0][0][0, 0] != batches[steps][0][0, 0]


def test_resuming_skips_the_batches_already_taken():
    full = list(itertools.islice(stream_batches(np.arange(500), 10, 3, seed=1), 40))
    resumed = list(itertools.islice(stream_batches(np.arange(500), 10, 3, seed=1, start=25), 15))
    for (x1, y1, _), (x2, y2, _) in zip(full[25:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_too_short_a_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="too few for 8 streams"):
        next(stream_batches(np.arange(50), 10, 8))
