"""Training data from a list of tunes: hold out whole tunes, join them, cut batches of windows.

The path from tunes to what a model trains on, in order:

1. `split_tunes` holds out whole tunes for validation (never a tune in two, or the held-out
   score would flatter the model);
2. `join_tunes` joins the tunes into one text, each ending with `TUNE_SEPARATOR` (a blank line,
   which in ABC ends a tune), so the model learns where tunes end;
3. a vocabulary (`mitdeeplearning.music.vocab.Vocab`) encodes that text as an array of ids;
4. `get_batch` (or its ``tf.data`` twin `make_dataset`) cuts random windows from the ids, with
   targets shifted by one: the model learns to predict the next token from the ones before it.
   `stream_batches` reads the ids as parallel streams instead, for a model that carries its
   state from batch to batch, and `eval_windows` covers held-out ids once, for scoring.

`split_tunes` and `join_tunes` live here, with the batches, rather than with the ABC loader:
they are the first two steps of this path, and `split_tunes` works on any tunes (ABC strings,
or the note tokens of `midi_to_notes`), wherever they were loaded from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..guard import refuse_during_grading
from .vocab import TUNE_SEPARATOR

__all__ = [
    "eval_windows",
    "get_batch",
    "join_tunes",
    "make_dataset",
    "split_tunes",
    "stream_batches",
]


def split_tunes(tunes: Sequence, val_fraction: float = 0.1, *, seed: int = 0) -> tuple[list, list]:
    r"""Split whole tunes (never a tune in two) into training and validation lists.

    Parameters
    ----------
    tunes : sequence
        Tunes (strings) or token sequences.
    val_fraction : float
        Share of tunes held out, in ``(0, 1)``; at least one tune goes to each side.
    seed : int
        The same seed gives the same split.

    Returns
    -------
    train, val : list
        The tunes of each side, in their original order.

    Examples
    --------
    >>> tunes = ["X:1\nK:D\nDEFG|", "X:2\nK:G\nGABc|", "X:3\nK:A\nABcd|"]
    >>> train, val = split_tunes(tunes, 0.3, seed=0)
    >>> len(train), len(val), sorted(train + val) == sorted(tunes)
    (2, 1, True)
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} must be between 0 and 1.")
    if len(tunes) < 2:
        raise ValueError(f"Need at least 2 tunes to split, got {len(tunes)}.")
    order = np.random.default_rng(seed).permutation(len(tunes))
    n_val = min(max(1, round(len(tunes) * val_fraction)), len(tunes) - 1)
    val_idx = set(order[:n_val].tolist())
    train = [t for i, t in enumerate(tunes) if i not in val_idx]
    val = [t for i, t in enumerate(tunes) if i in val_idx]
    return train, val


def join_tunes(tunes: Sequence[str]) -> str:
    r"""One training text: the tunes separated by blank lines (`TUNE_SEPARATOR`), ending with
    one too, so the model sees every tune end.

    Examples
    --------
    >>> join_tunes(["X:1\nK:D\nDEFG|\n", "X:2\nK:G\nGABc|"])
    'X:1\nK:D\nDEFG|\n\nX:2\nK:G\nGABc|\n\n'
    """
    return TUNE_SEPARATOR.join(t.strip("\n") for t in tunes) + TUNE_SEPARATOR


def get_batch(
    ids: np.ndarray,
    seq_length: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random training windows of an encoded corpus.

    Parameters
    ----------
    ids : array of int, shape (n,)
        The encoded corpus.
    seq_length : int
        Length of each window.
    batch_size : int
        Number of windows.
    rng : numpy.random.Generator, optional
        Source of the window positions; a fresh, unseeded one when omitted.

    Returns
    -------
    x, y : int arrays of shape (batch_size, seq_length)
        Inputs and targets: ``y[i, t] == x[i, t + 1]``, and ``y[i, -1]`` is the character that
        follows the window in the corpus.

    Examples
    --------
    >>> ids = np.arange(10)
    >>> x, y = get_batch(ids, 4, 2, np.random.default_rng(0))
    >>> bool((x[:, 1:] == y[:, :-1]).all())
    True
    """
    refuse_during_grading("music.get_batch")
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of token ids, got shape {ids.shape}.")
    if seq_length < 1 or batch_size < 1:
        raise ValueError(f"seq_length={seq_length} and batch_size={batch_size} must be >= 1.")
    if len(ids) < seq_length + 1:
        raise ValueError(
            f"The corpus has {len(ids)} tokens, too few for windows of seq_length={seq_length} "
            "plus the next token: use a shorter seq_length or more data."
        )
    rng = np.random.default_rng() if rng is None else rng
    starts = rng.integers(0, len(ids) - seq_length, size=batch_size)
    windows = ids[starts[:, None] + np.arange(seq_length + 1)]
    return windows[:, :-1], windows[:, 1:]


def make_dataset(ids: np.ndarray, seq_length: int, batch_size: int, *, seed: int = 0):
    """An endless ``tf.data.Dataset`` of ``(x, y)`` batches, as `get_batch` makes them.

    The windows are drawn in the input pipeline (seeded, reproducible) and prefetched, so the
    model never waits for data. Each element is a pair of ``(batch_size, seq_length) int32``
    tensors, ``y`` being ``x`` shifted by one token.

    Examples
    --------
    >>> dataset = make_dataset(np.arange(100), seq_length=5, batch_size=2, seed=0)
    >>> x, y = next(iter(dataset))
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).numpy().all())
    (TensorShape([2, 5]), True)
    """
    import tensorflow as tf

    ids = np.asarray(ids, dtype=np.int32)
    if len(ids) < seq_length + 1:
        get_batch(ids, seq_length, batch_size)  # raises the explanatory error
    corpus = tf.constant(ids)
    n_starts = len(ids) - seq_length
    offsets = tf.range(seq_length + 1)

    def window(batch_seed):
        starts = tf.random.stateless_uniform(
            [batch_size], seed=batch_seed, minval=0, maxval=n_starts, dtype=tf.int32
        )
        chunk = tf.gather(corpus, starts[:, None] + offsets[None, :])
        return chunk[:, :-1], chunk[:, 1:]

    seeds = tf.data.Dataset.counter().map(lambda i: tf.stack([tf.cast(seed, tf.int64), i]))
    return seeds.map(window, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def stream_batches(
    ids: np.ndarray, seq_length: int, batch_size: int, *, seed: int = 0, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """Endless ``(x, y, new_epoch)`` batches that read the corpus as `batch_size` streams.

    Each epoch rotates the corpus by a seeded random offset (so window boundaries move), cuts it
    into `batch_size` equal rows and walks along them `seq_length` tokens at a time: row ``i``
    of one batch continues row ``i`` of the batch before. A model that carries its state from
    batch to batch (``build_model(..., stateful=True)``) thus reads whole tunes in order, with
    as much context as it can use, while each step costs no more than a random window.
    ``new_epoch`` is True on an epoch's first batch, where the state must be reset.
    `start` skips that many batches (to resume a run). ``x`` and ``y`` are
    ``(batch_size, seq_length) int32`` arrays.

    Examples
    --------
    >>> batches = stream_batches(np.arange(100), seq_length=5, batch_size=2, seed=0)
    >>> (x1, _, first), (x2, _, second) = next(batches), next(batches)
    >>> x1.shape, first, second, bool((x2[:, 0] == x1[:, -1] + 1).all())
    ((2, 5), True, False, True)
    """
    ids = np.asarray(ids, dtype=np.int32)
    row_length = (len(ids) - 1) // max(batch_size, 1)
    steps = row_length // seq_length if seq_length >= 1 else 0
    if steps < 1:
        raise ValueError(
            f"The corpus has {len(ids)} tokens, too few for {batch_size} streams of at least "
            f"seq_length={seq_length} + 1 tokens: use a smaller batch_size or seq_length."
        )
    epoch, step = divmod(start, steps)
    while True:
        offset = int(np.random.default_rng([seed, epoch]).integers(len(ids)))
        rotated = np.roll(ids, -offset)
        rows = rotated[: batch_size * row_length + 1]
        x = rows[:-1].reshape(batch_size, row_length)
        y = rows[1:].reshape(batch_size, row_length)
        for k in range(step, steps):
            window = slice(k * seq_length, (k + 1) * seq_length)
            yield x[:, window], y[:, window], k == 0
        epoch, step = epoch + 1, 0


def eval_windows(
    ids: np.ndarray, seq_length: int, max_tokens: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive, non-overlapping ``(x, y)`` windows covering `ids` (for validation loss).

    ``x`` and ``y`` are ``(n, seq_length) int32`` arrays, ``n = (len(ids) - 1) // seq_length``
    (of the first ``max_tokens + 1`` ids when `max_tokens` is given); ``y`` is ``x`` shifted by
    one token.

    Examples
    --------
    >>> x, y = eval_windows(np.arange(11), seq_length=4)
    >>> x
    array([[0, 1, 2, 3],
           [4, 5, 6, 7]], dtype=int32)
    >>> y[0]
    array([1, 2, 3, 4], dtype=int32)
    """
    ids = np.asarray(ids, dtype=np.int32)
    if max_tokens is not None:
        ids = ids[: max_tokens + 1]
    n = (len(ids) - 1) // seq_length
    if n < 1:
        raise ValueError(f"Validation data of {len(ids)} tokens is shorter than one window.")
    x = ids[: n * seq_length].reshape(n, seq_length)
    y = ids[1 : n * seq_length + 1].reshape(n, seq_length)
    return x, y
