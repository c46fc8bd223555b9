"""Lab 1's graded checks: TensorFlow basics (part 1) and music generation (part 2).

Each check takes what the student wrote, tries it on small inputs of its own and either prints
one line starting with a check mark or raises `GradingError` with one sentence that says what is
wrong. Checks that need TensorFlow import it when they run; the rest (`check_minimum`,
`check_vectorise`, `check_get_batch`, `check_loss`, `check_sample`) need only NumPy.

Each check says next to it what its exercise refuses (`refuses`), runs the answer through
`graded_answer`, and computes what it expects only after the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import (
    expect_close,
    expect_shape,
    fail,
    flat_values,
    graded_answer,
    log_softmax,
    max_difference,
    passed,
    sigmoid,
    to_array,
    verify_integrity,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_int64 = np.int64

__all__ = [
    "check_dense_layer",
    "check_get_batch",
    "check_graph_function",
    "check_identity_model",
    "check_loss",
    "check_minimum",
    "check_model_output",
    "check_sample",
    "check_tensor",
    "check_vectorise",
]


# ## Part 1: TensorFlow ----------------------------------------------------------------------------


@refuses()
def check_tensor(
    value: Any, name: str, *, rank: int, shape: tuple | None = None, dtype: str | None = None
) -> None:
    """`value` is a TensorFlow tensor of `rank` (and `shape`, and dtype kind ``"int"``,
    ``"float"`` or ``"string"`` when given)."""
    import tensorflow as tf

    verify_integrity()

    if not isinstance(value, tf.Tensor | tf.Variable):
        fail(
            f"`{name}` should be a TensorFlow tensor (tf.constant, tf.zeros...), "
            f"not {type(value).__name__}."
        )
    actual_rank = len(value.shape)
    if actual_rank != rank:
        fail(f"`{name}` has rank {actual_rank} (shape {tuple(value.shape)}); expected rank {rank}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(f"`{name}` has shape {tuple(value.shape)}; expected {tuple(shape)}.")
    if dtype is not None:
        if value.dtype == tf.string:
            kind = "string"
        elif value.dtype.is_integer:
            kind = "int"
        else:
            kind = "float" if value.dtype.is_floating else "other"
        if kind != dtype:
            fail(f"`{name}` holds {value.dtype.name} values; expected {dtype} values.")
    passed(f"{name}: rank {rank}" + (f", shape {tuple(shape)}" if shape else ""))


@refuses()
def check_graph_function(func: Callable, cases: list[tuple[float, float]] | None = None) -> None:
    """`func(a, b)` computes ``e = (a + b) * (b - 1)``, for numbers and for arrays."""
    answer = graded_answer(func, "func", "check_graph_function")
    cases = cases or [(1.5, 2.5), (-3.0, 0.5), (0.0, 1.0)]
    for a, b in cases:
        got = answer.array(answer(_asarray(a, "float32"), _asarray(b, "float32")), "e")
        if got.size != 1:
            fail(f"func({a}, {b}) should be one number; got shape {tuple(got.shape)}.")
        expected = _asarray((a + b) * (b - 1), dtype=_float64)
        expect_close(got.reshape(expected.shape), expected, f"func({a}, {b})", tol=1e-5)
    a = _asarray([[1.0, 2.0], [3.0, 4.0]], "float32")
    b = _asarray([[0.5, -1.0], [2.0, 3.0]], "float32")
    got = answer.array(answer(a.copy(), b.copy()), "e")
    expect_close(got, (a.astype(_float64) + b) * (b - 1.0), "func on 2x2 arrays", tol=1e-5)
    passed("func computes (a + b) * (b - 1), element by element")


def _assign_weights(layer, arrays: list[np.ndarray], name: str) -> None:
    """Set `layer`'s weights to `arrays`, matched by shape (weights of the same shape in the
    order they were created), so the student may create them in any order."""
    weights = list(layer.weights)
    shapes = sorted(tuple(w.shape) for w in weights)
    wanted = sorted(tuple(a.shape) for a in arrays)
    if shapes != wanted:
        fail(f"`{name}` should have weights of shapes {wanted}; it has {shapes}.")
    remaining = list(arrays)
    for weight in weights:
        match = next(a for a in remaining if tuple(a.shape) == tuple(weight.shape))
        remaining = [a for a in remaining if a is not match]
        weight.assign(match.astype("float32"))


# The exercise is the dense layer itself: Keras' own Dense layer (used or inherited) refuses.
@refuses(library=("keras.layers.Dense",))
def check_dense_layer(layer_class: type, n_inputs: int = 2, n_outputs: int = 3) -> None:
    """A dense layer ``y = sigmoid(x W + b)`` with ``W`` of shape (inputs, outputs) and ``b`` of
    shape (1, outputs), checked with weights set to known values."""
    answer = graded_answer(layer_class, "OurDenseLayer", "check_dense_layer")
    rng = np.random.default_rng(n_inputs * 100 + n_outputs)
    layer = answer(n_outputs)
    answer.run(layer.build, "OurDenseLayer.build", (1, n_inputs))
    w = rng.normal(size=(n_inputs, n_outputs))
    b = rng.normal(size=(1, n_outputs))
    _assign_weights(layer, [w, b], "OurDenseLayer")
    x = rng.normal(size=(4, n_inputs)).astype("float32")
    y = answer.array(answer.run(layer, "OurDenseLayer", x.copy()), "the layer's output")
    w32, b32 = w.astype("float32").astype(_float64), b.astype("float32").astype(_float64)
    expect_close(y, sigmoid(x.astype(_float64) @ w32 + b32), "the layer's output", tol=1e-4)
    passed(f"OurDenseLayer({n_outputs}) computes sigmoid(x W + b)")


# The exercise gives the model its Dense layer: what it asks for is the call, which refuses
# nothing of the package's or a library's.
@refuses()
def check_identity_model(model_class: type, n_outputs: int = 3) -> None:
    """A subclassed model whose ``call(inputs, isidentity=False)`` returns the inputs unchanged
    when ``isidentity`` is True and its dense layer's output otherwise."""
    answer = graded_answer(model_class, "IdentityModel", "check_identity_model")
    rng = np.random.default_rng(7)
    model = answer(n_outputs)
    x = rng.normal(size=(2, 4)).astype("float32")
    answer.run(model, "IdentityModel", x.copy())  # builds the dense layer
    same = answer.array(
        answer.run(model, "IdentityModel", x.copy(), isidentity=True), "model(x, isidentity=True)"
    )
    expect_close(same, x.astype(_float64), "model(x, isidentity=True)", tol=0)
    dense = getattr(model, "dense", None)
    if dense is None:
        fail("IdentityModel should keep its Dense layer in `self.dense`.")
    w, b = rng.normal(size=(4, n_outputs)), rng.normal(size=(n_outputs,))
    _assign_weights(dense, [w, b], "self.dense")
    out = answer.array(answer.run(model, "IdentityModel", x.copy()), "model(x)")
    expected = x.astype(_float64) @ w.astype("float32") + b.astype("float32")
    activation = getattr(dense, "activation", None)
    if getattr(activation, "__name__", "") == "sigmoid":
        expected = sigmoid(expected)
    expect_close(out, expected, "model(x) (isidentity=False)", tol=1e-4)
    passed("IdentityModel returns its input with isidentity=True and the dense output otherwise")


@refuses()
def check_minimum(history: Any, target: float, tol: float = 1e-2) -> None:
    """Gradient descent recorded in `history` (the value of x at each step) ended at `target`.

    Parameters
    ----------
    history : array-like of float, shape (steps,)
        The value of x after each step, the starting value first.
    target : float
        Where the minimum is.
    tol : float, default 0.01
        How close to `target` the last value must be.

    Examples
    --------
    >>> check_minimum([0.0, 2.0, 3.5, 3.999], target=4.0)
    ✓ gradient descent converged to x = 3.9990 (minimum at 4.0)
    """
    verify_integrity()
    values = to_array(history, "history").ravel()
    if values.size < 2:
        fail("`history` should hold the value of x after every step (at least two steps).")
    last, first = float(values[-1]), float(values[0])
    if last != last:  # NaN
        fail("x became NaN: the learning rate is too large.")
    if not abs(last - target) <= tol:
        fail(
            f"x ended at {last:.4f}; the minimum is at {target} (within {tol}). "
            "Take more steps, or check the sign of the update."
        )
    if not abs(last - target) < abs(first - target):
        fail("x did not move towards the minimum.")
    passed(f"gradient descent converged to x = {last:.4f} (minimum at {target})")


# ## Part 2: music generation ----------------------------------------------------------------------


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


@refuses(package=("music.get_batch",))
def check_get_batch(get_batch: Callable, trials: int = 50) -> None:
    """`get_batch(ids, seq_length, batch_size, rng)` returns windows ``x`` of the corpus and
    targets ``y`` shifted by one, drawn from anywhere in it with the generator given.

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
    corpus = np.arange(1000, 1037, dtype=_int64)  # distinct values: a window's start is known
    n = len(corpus)

    def draw(seq_length: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
        result = answer(corpus.copy(), seq_length, batch_size, rng)
        if not isinstance(result, tuple | list) or len(result) != 2:
            fail("get_batch should return a pair (x, y).")
        x = answer.array(result[0], "x", dtype=_int64)
        y = answer.array(result[1], "y", dtype=_int64)
        expect_shape(x, (batch_size, seq_length), "x")
        expect_shape(y, (batch_size, seq_length), "y")
        return x, y

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
                fail("Each row of x should be consecutive tokens of the corpus.")
            if row_y != corpus[start + 1 : start + seq_length + 1].tolist():
                fail(
                    "Each row of y should be its row of x shifted by one token "
                    "(y[i, t] is the token after x[i, t])."
                )
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


# The exercise asks for Keras' sparse categorical cross-entropy: that stays allowed. The
# package's per-window loss (that same loss, averaged over time) refuses.
@refuses(package=("music.sequence_loss",))
def check_loss(compute_loss: Callable, seed: int = 0) -> None:
    """`compute_loss(labels, logits)`: mean sparse categorical cross-entropy from logits."""
    answer = graded_answer(compute_loss, "compute_loss", "check_loss")
    rng = np.random.default_rng(seed)
    for shape in ((2, 3, 5), (1, 4, 7)):
        logits = (rng.normal(size=shape) * 3).astype("float32")
        labels = rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
        got = answer.array(answer(labels.copy(), logits.copy()), "the loss")
        if got.size != 1:
            fail(f"compute_loss should return one number (the mean), not shape {got.shape}.")
        got_value = float(flat_values(got)[0])
        log_probs = log_softmax(logits.astype(_float64))
        expected = -np.take_along_axis(log_probs, labels[..., None].astype(_int64), -1).mean()
        if not abs(got_value - expected) <= 1e-4 * max(1.0, abs(expected)):
            hint = ""
            probabilities = -np.log(
                np.clip(np.take_along_axis(logits, labels[..., None], -1), 1e-7, 1)
            ).mean()
            if abs(got_value - probabilities) < 1e-3:
                hint = " The model outputs logits: pass from_logits=True."
            fail(f"The loss is {got_value:.4f}; expected {expected:.4f}.{hint}")
    passed("compute_loss is the mean cross-entropy of the logits")


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
        expected = np.exp(log_softmax(logits_row.astype(_float64) / temperature))
        counts = [0] * len(logits_row)
        for value in values:
            counts[value] += 1
        distance = 0.5 * sum(abs(c / draws - p) for c, p in zip(counts, expected, strict=True))
        if distance > 0.04:
            observed = ", ".join(f"{c / draws:.2f}" for c in counts)
            wanted = ", ".join(f"{p:.2f}" for p in expected)
            fail(
                f"At temperature {temperature} the tokens came out with frequencies "
                f"[{observed}]; softmax(logits / temperature) is [{wanted}]."
            )
    cold = answer.array(answer(logits[:200].copy(), 1e-3), "the ids", dtype=_int64).ravel()
    if set(flat_values(cold)) != {0}:
        fail("At a temperature near 0, sampling should always pick the largest logit.")
    passed("sample_next samples from softmax(logits / temperature)")
