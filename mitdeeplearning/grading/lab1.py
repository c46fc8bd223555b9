"""Lab 1's graded checks: music generation (part 2), and part 1's re-exported.

Part 1's checks (TensorFlow basics) are defined in `mitdeeplearning.grading.basics`; this module
re-exports them, so every Lab 1 check can be reached as ``grading.lab1.check_...``.

Each check takes what the student wrote, tries it on small inputs of its own and either prints
one line starting with a check mark or raises `GradingError` with one sentence that says what is
wrong. What an answer returns may be any array-like (a tensor, a NumPy array, a list). The loss
runs inside ``tf.function`` during training, so its check runs it inside one too (and imports
TensorFlow); `check_vectorise`, `check_get_batch` and `check_sample` need only NumPy.

Each check says next to it what its exercise refuses (`refuses`), runs the answer through
`graded_answer`, and computes what it expects only after the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .basics import (
    check_dense_layer,
    check_gradient_descent,
    check_graph_function,
    check_identity_model,
    check_minimum,
    check_tensor,
)
from .compare import (
    Answer,
    expect_shape,
    fail,
    flat_values,
    frequency_mismatch,
    graded_answer,
    log_softmax,
    max_difference,
    passed,
    preview,
    to_array,
)
from .refusals import refuses
from .tracing import describe_error

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_int64 = np.int64
_float64 = np.float64

__all__ = [
    "check_dense_layer",
    "check_get_batch",
    "check_gradient_descent",
    "check_graph_function",
    "check_identity_model",
    "check_loss",
    "check_minimum",
    "check_model_output",
    "check_sample",
    "check_tensor",
    "check_vectorise",
]


# ## Music generation -----------------------------------------------------------------------------


@refuses(package=("music.Vocab.encode",))
def check_vectorise(vectorize: Callable, char2idx: dict, text: str) -> None:
    """`vectorize(text)` maps each character to its index in `char2idx`, as an int array.

    Checked on `text`, its first character and its second half. Formerly ``check_vectorize``
    (that name still works, with a warning).

    Parameters
    ----------
    vectorize : callable
        The student's ``vectorize_string``: a string of n characters → n integer ids, ``(n,)``.
    char2idx : mapping
        Character → its id in the vocabulary.
    text : str
        A sample of the corpus (every character in `char2idx`).

    Examples
    --------
    An answer that maps every character to 0:

    >>> from mitdeeplearning.grading import GradingError
    >>> try:
    ...     check_vectorise(lambda s: [0] * len(s), {"a": 0, "b": 1, "|": 2}, "ab|ba")
    ... except GradingError as error:
    ...     print(error)
    Character 1 ('b') should map to 1, not 0.
    """
    answer = graded_answer(vectorize, "vectorize_string", "check_vectorise")
    for sample in (text, text[:1], text[len(text) // 2 :]):
        got = answer.array(answer(sample), "the vector", dtype=_int64)
        lookup = {str(k): int(v) for k, v in dict(char2idx).items()}
        expected = _asarray([lookup[c] for c in sample], dtype=_int64)
        if got.ndim != 1 or got.shape[0] != len(sample):
            fail(
                f"vectorize_string of {len(sample)} characters should give a 1-D array of "
                f"{len(sample)} integers; got shape {tuple(got.shape)}."
            )
        if max_difference(got, expected) != 0:
            pairs = zip(flat_values(got), flat_values(expected), strict=True)
            position = next(i for i, (g, e) in enumerate(pairs) if g != e)
            fail(
                f"Character {position} ({sample[position]!r}) should map to "
                f"{int(expected[position])}, not {int(got[position])}."
            )
    passed("vectorize_string maps every character to its index")


def _batch_pair(answer: Answer, result: Any, batch_size: int, seq_length: int) -> tuple:
    """`get_batch`'s result as two int64 arrays ``(batch_size, seq_length)``, or a failure."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        fail("get_batch should return a pair (x, y).")
    x = answer.array(result[0], "x", dtype=_int64)
    y = answer.array(result[1], "y", dtype=_int64)
    expect_shape(x, (batch_size, seq_length), "x")
    expect_shape(y, (batch_size, seq_length), "y")
    return x, y


def _check_one_window(answer: Answer, get_batch: Callable) -> None:
    """With 11 ids and ``seq_length=10`` the only window (and its target) starts at 0: where an
    answer that is off by one at either end raises or reads past the end."""
    ids = np.arange(1000, 1011, dtype=_int64)
    where = "With 11 ids and seq_length 10 exactly one window fits, starting at 0"
    limit = "rng.integers(low, high) returns low up to high - 1, never high"
    for seed in (0, 1, 2):
        result, exc = answer.attempt(
            get_batch, "get_batch", ids.copy(), 10, 8, np.random.default_rng(seed)
        )
        if exc is not None:
            fail(f"{where}, but get_batch raised {describe_error(exc)}: {limit}.")
        if not isinstance(result, tuple | list) or len(result) != 2:
            fail("get_batch should return a pair (x, y).")
        x = answer.array(result[0], "x", dtype=_int64)
        expect_shape(x, (8, 10), "x")
        starts = sorted({row[0] - 1000 for row in x.tolist()})
        if starts != [0]:
            fail(f"{where}; get_batch drew windows starting at {starts}: {limit}.")
        x, y = _batch_pair(answer, result, 8, 10)
        if x.tolist() != [list(range(1000, 1010))] * 8:
            fail(_CONSECUTIVE)
        if y.tolist() != [list(range(1001, 1011))] * 8:
            fail(_SHIFTED)


_CONSECUTIVE = "Each row of x should be consecutive tokens of the corpus."
_SHIFTED = (
    "Each row of y should be its row of x shifted by one token (y[i, t] is the token after "
    "x[i, t])."
)


@refuses(package=("music.get_batch",))
def check_get_batch(get_batch: Callable, trials: int = 50) -> None:
    """`get_batch(ids, seq_length, batch_size, rng)` returns windows ``x`` of the corpus and
    targets ``y`` shifted by one, drawn from anywhere in it with the generator given.

    The one-window case (11 ids, ``seq_length=10``) comes first, so an answer off by one at
    either end is told so rather than shown NumPy's error.

    Parameters
    ----------
    get_batch : callable
        The student's function: ``(ids (n,) int, seq_length, batch_size, numpy Generator)`` →
        ``(x, y)``, each ``(batch_size, seq_length)`` integers.
    trials : int, default 50
        How many batches to draw; the starts of the windows must cover the corpus.

    Examples
    --------
    An answer whose targets are not shifted:

    >>> from mitdeeplearning.grading import GradingError
    >>> def unshifted(ids, seq_length, batch_size, rng):
    ...     starts = rng.integers(0, len(ids) - seq_length, size=batch_size)
    ...     x = np.stack([ids[s : s + seq_length] for s in starts])
    ...     return x, x
    >>> try:
    ...     check_get_batch(unshifted)
    ... except GradingError as error:
    ...     print(error)
    Each row of y should be its row of x shifted by one token (y[i, t] is the token after x[i, t]).
    """
    answer = graded_answer(get_batch, "get_batch", "check_get_batch")
    _check_one_window(answer, get_batch)
    corpus = np.arange(1000, 1037, dtype=_int64)  # distinct values: a window's start is known
    n = len(corpus)

    def draw(seq_length: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
        result = answer(corpus.copy(), seq_length, batch_size, rng)
        return _batch_pair(answer, result, batch_size, seq_length)

    a, b, c = (draw(5, 4, np.random.default_rng(s))[0] for s in (11, 11, 12))
    if max_difference(a, b) != 0:
        fail("The same generator state gave different batches: draw with the `rng` passed in.")
    if max_difference(a, c) == 0:
        fail("Different random generators give the same batch: use the `rng` passed in.")
    starts_seen = set()
    for trial in range(trials):
        seq_length, batch_size = (5, 4) if trial % 2 else (n - 1, 3)
        x, y = draw(seq_length, batch_size, np.random.default_rng(trial))
        for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
            start = row_x[0] - 1000
            if not 0 <= start <= n - seq_length - 1:
                last = n - seq_length - 1
                fail(
                    f"A window starts at position {start}: with {n} tokens and "
                    f"seq_length={seq_length}, starts run from 0 to {last}."
                )
            if row_x != corpus[start : start + seq_length].tolist():
                fail(_CONSECUTIVE)
            if row_y != corpus[start + 1 : start + seq_length + 1].tolist():
                fail(_SHIFTED)
            if seq_length == 5:
                starts_seen.add(start)
    if len(starts_seen) < 20:
        fail(
            f"Windows start at only {len(starts_seen)} different places: draw the starts at "
            "random from the whole corpus."
        )
    passed("get_batch returns random windows and their targets shifted by one")


# Keras' layers (Embedding, LSTM or GRU, Dense) are what the exercise asks the model to be built
# from; the package's ready-made model refuses.
@refuses(package=("music.build_model",))
def check_model_output(build_model: Callable, vocab_size: int = 20) -> None:
    """`build_model(vocab_size, embedding_dim, rnn_units, batch_size)` maps ``(batch, time)``
    token ids to ``(batch, time, vocab_size)`` logits."""
    answer = graded_answer(build_model, "build_model", "check_model_output")
    model = answer(vocab_size, 8, 16, 4)
    x = np.zeros((4, 7), dtype="int32")
    x[:, ::2] = 3
    out = answer.array(answer.run(model, "the model", x), "the model's output")
    expect_shape(out, (4, 7, vocab_size), "the model's output for a batch of 4 windows of 7")
    passed(f"the model maps (batch, time) ids to (batch, time, {vocab_size}) logits")


def _loss_inputs(rng: np.random.Generator, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``shape[:-1]`` (int32) and logits `shape` (float32, spread like a model's)."""
    logits = (rng.normal(size=shape) * 3).astype("float32")
    return rng.integers(0, shape[-1], size=shape[:-1]).astype("int32"), logits


def _reference_loss(labels: np.ndarray, logits: np.ndarray) -> float:
    """The mean cross-entropy of `logits` ``(..., vocab)`` for `labels` ``(...)``, in float64."""
    log_probs = log_softmax(logits.astype(_float64))
    return float(-np.take_along_axis(log_probs, labels[..., None].astype(_int64), -1).mean())


def _close(got: float, expected: float) -> bool:
    return abs(got - expected) <= 1e-4 * max(1.0, abs(expected))


def _loss_hint(got: float, labels: np.ndarray, logits: np.ndarray, expected: float) -> str:
    """What a wrong loss most likely did, from the values its usual mistakes give."""
    import keras

    # What Keras itself gives without from_logits=True (it renormalises what it takes for
    # probabilities): computed by the check, outside the answer.
    as_probabilities = keras.losses.sparse_categorical_crossentropy(labels, logits)
    hints = {
        "The model outputs logits, not probabilities: tell the loss so.":
            float(to_array(as_probabilities, "the loss without from_logits").mean()),
        "Return the mean over all positions, not the sum.": expected * labels.size,
        "Average over every position (batch and time), not over the batch only.":
            expected * labels.shape[-1],
        "Use the natural logarithm, as Keras' cross-entropy does.": expected / np.log(2.0),
    }  # fmt: skip
    close = [hint for hint, value in hints.items() if _close(got, value)]
    return f" {close[0]}" if close else ""


def _loss_value(answer: Answer, labels: np.ndarray, logits: np.ndarray) -> float:
    """The answer's loss on `labels` and `logits`, one number, or a failure that says why not
    (arguments taken in the wrong order, one loss per position)."""
    value, exc = answer.attempt(answer.function, "compute_loss", labels.copy(), logits.copy())
    if exc is not None:
        swapped, _ = answer.attempt(answer.function, "compute_loss", logits.copy(), labels.copy())
        in_order = flat_values(answer.array(swapped, "the loss")) if swapped is not None else []
        hint = ""
        if len(in_order) == 1 and _close(float(in_order[0]), _reference_loss(labels, logits)):
            hint = " Keras' losses take the labels first, then the predictions."
        fail(f"`compute_loss` raised {describe_error(exc)}.{hint}")
    got = answer.array(value, "the loss")
    if got.size == labels.size and got.size > 1:
        fail(
            f"compute_loss returned {got.size} numbers, one per position (shape "
            f"{tuple(got.shape)}): return their mean, one number."
        )
    if got.size != 1:
        fail(f"compute_loss should return one number (the mean), not shape {got.shape}.")
    return float(flat_values(got)[0])


# The exercise asks for Keras' sparse categorical cross-entropy: that stays allowed. The
# package's per-window loss (that same loss, averaged over time) refuses.
@refuses(package=("music.sequence_loss",))
def check_loss(compute_loss: Callable, seed: int = 0) -> None:
    """`compute_loss(labels, logits)`: mean sparse categorical cross-entropy from logits, in
    TensorFlow/Keras operations (the training step runs it inside ``tf.function``).

    Parameters
    ----------
    compute_loss : callable
        The student's function: labels ``(batch, time)`` int and logits ``(batch, time,
        vocab)`` float → one number, the mean over all positions.
    seed : int, default 0
        Draws the labels and logits.
    """
    import tensorflow as tf

    answer = graded_answer(compute_loss, "compute_loss", "check_loss")
    rng = np.random.default_rng(seed)
    for shape in ((2, 3, 5), (1, 4, 7)):
        labels, logits = _loss_inputs(rng, shape)
        got = _loss_value(answer, labels, logits)
        expected = _reference_loss(labels, logits)
        if not _close(got, expected):
            hint = _loss_hint(got, labels, logits, expected)
            fail(f"The loss is {got:.4f}; expected {expected:.4f}.{hint}")
    labels, logits = _loss_inputs(rng, (3, 2, 6))  # new inputs: nothing expected of them yet
    why = "the training step runs it there"
    inputs = tf.constant(labels), tf.constant(logits)
    traced = answer.array(answer.in_graph(compute_loss, "compute_loss", why, *inputs), "the loss")
    expected = _reference_loss(labels, logits)
    if traced.size != 1 or not _close(float(flat_values(traced)[0]), expected):
        fail(f"Inside tf.function the loss is {preview(traced)}; expected {expected:.4f}.")
    passed("compute_loss is the mean cross-entropy of the logits, eagerly and in tf.function")


# `tf.random.categorical` is the sampler the exercise suggests: what it asks for is the
# temperature and the shapes, so nothing refuses.
@refuses()
def check_sample(sample_next: Callable, draws: int = 6000) -> None:
    """`sample_next(logits, temperature)` draws one token id per row of ``(batch, vocab)``
    logits from ``softmax(logits / temperature)``: checked by its statistics."""
    answer = graded_answer(sample_next, "sample_next", "check_sample")
    logits_row = _asarray([2.0, 1.0, 0.0, -1.0, 0.5], dtype="float32")
    logits = np.tile(logits_row, (draws, 1))
    for temperature in (1.0, 0.5, 2.0):
        ids = answer.array(answer(logits.copy(), temperature), "the ids", dtype=_int64).ravel()
        if ids.shape != (draws,):
            fail(f"sample_next should return one id per row ({draws}); got {ids.shape[0]}.")
        values = flat_values(ids)
        if min(values) < 0 or max(values) >= len(logits_row):
            fail("sample_next returned ids outside the vocabulary.")
        mismatch = frequency_mismatch(values, logits_row.astype(_float64), temperature, 0.04)
        if mismatch is not None:
            fail(mismatch)
    cold = answer.array(answer(logits[:200].copy(), 1e-3), "the ids", dtype=_int64).ravel()
    if set(flat_values(cold)) != {0}:
        fail("At a temperature near 0, sampling should always pick the largest logit.")
    passed("sample_next samples from softmax(logits / temperature)")
