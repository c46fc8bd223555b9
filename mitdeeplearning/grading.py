"""The checks behind the labs' graded cells.

Each check takes what the student wrote (a value, a function or a class), tries it on small
inputs and either prints one line starting with a check mark or raises `GradingError` (an
`AssertionError`, which nbgrader counts as a failed test) with one sentence that says what is
wrong and what was expected.

The checks give the same verdict on any TensorFlow 2.16+, CPU or GPU: they set weights
explicitly instead of relying on a seed's initial values, and they test sampling by its
statistics. They do not trust what they are given: answers are converted to NumPy arrays of an
explicit dtype and shape before comparing, numbers are compared with plain Python arithmetic
(never with the answer's own ``__eq__`` or with ``numpy.testing``, which a notebook could
patch), and graded cells call the checks through `fresh()`, a copy of this module loaded from
its file, so patching ``mitdeeplearning.grading`` in the notebook changes nothing.

What an in-kernel check cannot prevent (code that rewrites the kernel itself) is covered by the
instructor's tools, which scan answer cells for tampering.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

_asarray = np.asarray
_ndarray = np.ndarray
_float64 = np.float64
_int64 = np.int64

__all__ = [
    "GradingError",
    "check_dense_layer",
    "check_get_batch",
    "check_graph_function",
    "check_identity_model",
    "check_loss",
    "check_minimum",
    "check_model_output",
    "check_sample",
    "check_tensor",
    "check_vectorize",
    "fresh",
]


class GradingError(AssertionError):
    """A graded check failed; the message says why in one sentence."""


def fresh():
    """A new copy of this module, executed from its own file.

    Graded cells call ``grading.fresh().check_...``: whatever a notebook did to the imported
    module (replacing a check with one that always passes), the copy is untouched.
    """
    spec = importlib.util.spec_from_file_location("_mitdl_grading_fresh", __file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ## Converting and comparing, without trusting the answer -------------------------------------


def _fail(message: str) -> None:
    raise GradingError(message)


def _passed(message: str) -> None:
    print(f"\N{CHECK MARK} {message}")


def _to_array(value: Any, name: str, dtype=_float64) -> np.ndarray:
    """`value` as a NumPy array of `dtype`, or a clear failure."""
    if value is None:
        _fail(f"`{name}` is None: did you forget to return (or assign) it?")
    if value is NotImplemented or value is Ellipsis:
        _fail(f"`{name}` is not filled in yet.")
    numpy_method = getattr(type(value), "numpy", None)  # a TensorFlow tensor or variable
    if callable(numpy_method):
        try:
            value = numpy_method(value)
        except Exception as exc:  # noqa: BLE001 - whatever the object raises, it is not a tensor
            _fail(f"`{name}` could not be read as numbers ({type(exc).__name__}: {exc}).")
    try:
        array = _asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        _fail(
            f"`{name}` should be numbers (a tensor or array), not {type(value).__name__} ({exc})."
        )
    if type(array) is not _ndarray:
        _fail(f"`{name}` should be numbers (a tensor or array), not {type(value).__name__}.")
    return array


def _values(array: np.ndarray) -> list:
    flat = array.ravel().tolist()
    return flat if isinstance(flat, list) else [flat]


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    worst = 0.0
    for x, y in zip(_values(a), _values(b), strict=True):
        if math.isnan(x) or math.isnan(y):
            return math.inf
        worst = max(worst, abs(float(x) - float(y)))
    return worst


def _expect_shape(array: np.ndarray, shape: tuple, name: str) -> None:
    if tuple(array.shape) != tuple(shape):
        _fail(f"`{name}` has shape {tuple(array.shape)}; expected {tuple(shape)}.")


def _expect_close(actual: np.ndarray, expected: np.ndarray, name: str, tol: float = 1e-4) -> None:
    _expect_shape(actual, expected.shape, name)
    difference = _max_difference(actual, expected)
    scale = max([1.0, *(abs(v) for v in _values(expected))])
    if not difference <= tol * scale:
        _fail(
            f"`{name}` is off by up to {difference:.3g}: expected {_preview(expected)}, "
            f"got {_preview(actual)}."
        )


def _preview(array: np.ndarray) -> str:
    values = [round(float(v), 4) for v in _values(array)[:6]]
    more = ", ..." if array.size > 6 else ""
    return f"[{', '.join(map(str, values))}{more}]"


def _call(function: Callable, name: str, *args, **kwargs):
    """Run the student's code; an exception becomes a failure that names it."""
    if not callable(function):
        _fail(f"`{name}` should be a function (or class), not {type(function).__name__}.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        _fail(f"`{name}` is not implemented yet (it raises NotImplementedError).")
    except GradingError:
        raise
    except Exception as exc:  # noqa: BLE001 - report any error the student's code raises
        _fail(f"`{name}` raised {type(exc).__name__}: {exc}")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# ## Lab 1, part 1: TensorFlow --------------------------------------------------------------------


def check_tensor(
    value: Any, name: str, *, rank: int, shape: tuple | None = None, dtype: str | None = None
) -> None:
    """`value` is a TensorFlow tensor of `rank` (and `shape`, and dtype kind ``"int"``,
    ``"float"`` or ``"string"`` when given)."""
    import tensorflow as tf

    if not isinstance(value, tf.Tensor | tf.Variable):
        _fail(f"`{name}` should be a TensorFlow tensor (tf.constant, tf.zeros...), "
              f"not {type(value).__name__}.")  # fmt: skip
    actual_rank = len(value.shape)
    if actual_rank != rank:
        _fail(
            f"`{name}` has rank {actual_rank} (shape {tuple(value.shape)}); expected rank {rank}."
        )
    if shape is not None and tuple(value.shape) != tuple(shape):
        _fail(f"`{name}` has shape {tuple(value.shape)}; expected {tuple(shape)}.")
    if dtype is not None:
        kind = "string" if value.dtype == tf.string else (
            "int" if value.dtype.is_integer else "float" if value.dtype.is_floating else "other"
        )  # fmt: skip
        if kind != dtype:
            _fail(f"`{name}` holds {value.dtype.name} values; expected {dtype} values.")
    _passed(f"{name}: rank {rank}" + (f", shape {tuple(shape)}" if shape else ""))


def check_graph_function(func: Callable, cases: list[tuple[float, float]] | None = None) -> None:
    """`func(a, b)` computes ``e = (a + b) * (b - 1)``, for numbers and for arrays."""
    cases = cases or [(1.5, 2.5), (-3.0, 0.5), (0.0, 1.0)]
    for a, b in cases:
        expected = _asarray((a + b) * (b - 1), dtype=_float64)
        got = _to_array(_call(func, "func", _asarray(a, "float32"), _asarray(b, "float32")), "e")
        _expect_close(got.reshape(expected.shape), expected, f"func({a}, {b})", tol=1e-5)
    a = _asarray([[1.0, 2.0], [3.0, 4.0]], "float32")
    b = _asarray([[0.5, -1.0], [2.0, 3.0]], "float32")
    got = _to_array(_call(func, "func", a, b), "e")
    _expect_close(got, (a.astype(_float64) + b) * (b - 1.0), "func on 2x2 arrays", tol=1e-5)
    _passed("func computes (a + b) * (b - 1), element by element")


def _assign_weights(layer, arrays: list[np.ndarray], name: str) -> None:
    """Set `layer`'s weights to `arrays`, matched by shape (weights of the same shape in the
    order they were created), so the student may create them in any order."""
    weights = list(layer.weights)
    shapes = sorted(tuple(w.shape) for w in weights)
    wanted = sorted(tuple(a.shape) for a in arrays)
    if shapes != wanted:
        _fail(f"`{name}` should have weights of shapes {wanted}; it has {shapes}.")
    remaining = list(arrays)
    for weight in weights:
        match = next(a for a in remaining if tuple(a.shape) == tuple(weight.shape))
        remaining = [a for a in remaining if a is not match]
        weight.assign(match.astype("float32"))


def check_dense_layer(layer_class: type, n_inputs: int = 2, n_outputs: int = 3) -> None:
    """A dense layer ``y = sigmoid(x W + b)`` with ``W`` of shape (inputs, outputs) and ``b`` of
    shape (1, outputs), checked with weights set to known values."""
    rng = np.random.default_rng(n_inputs * 100 + n_outputs)
    layer = _call(layer_class, "OurDenseLayer", n_outputs)
    _call(layer.build, "OurDenseLayer.build", (1, n_inputs))
    w = rng.normal(size=(n_inputs, n_outputs))
    b = rng.normal(size=(1, n_outputs))
    _assign_weights(layer, [w, b], "OurDenseLayer")
    x = rng.normal(size=(4, n_inputs)).astype("float32")
    y = _to_array(_call(layer, "OurDenseLayer", x), "the layer's output")
    w32, b32 = w.astype("float32").astype(_float64), b.astype("float32").astype(_float64)
    _expect_close(y, _sigmoid(x.astype(_float64) @ w32 + b32), "the layer's output", tol=1e-4)
    _passed(f"OurDenseLayer({n_outputs}) computes sigmoid(x W + b)")


def check_identity_model(model_class: type, n_outputs: int = 3) -> None:
    """A subclassed model whose ``call(inputs, isidentity=False)`` returns the inputs unchanged
    when ``isidentity`` is True and its dense layer's output otherwise."""
    rng = np.random.default_rng(7)
    model = _call(model_class, "IdentityModel", n_outputs)
    x = rng.normal(size=(2, 4)).astype("float32")
    _call(model, "IdentityModel", x)  # builds the dense layer
    same = _to_array(_call(model, "IdentityModel", x, isidentity=True), "model(x, isidentity=True)")
    _expect_close(same, x.astype(_float64), "model(x, isidentity=True)", tol=0)
    dense = getattr(model, "dense", None)
    if dense is None:
        _fail("IdentityModel should keep its Dense layer in `self.dense`.")
    w, b = rng.normal(size=(4, n_outputs)), rng.normal(size=(n_outputs,))
    _assign_weights(dense, [w, b], "self.dense")
    out = _to_array(_call(model, "IdentityModel", x), "model(x)")
    expected = x.astype(_float64) @ w.astype("float32") + b.astype("float32")
    activation = getattr(dense, "activation", None)
    if getattr(activation, "__name__", "") == "sigmoid":
        expected = _sigmoid(expected)
    _expect_close(out, expected, "model(x) (isidentity=False)", tol=1e-4)
    _passed("IdentityModel returns its input with isidentity=True and the dense output otherwise")


def check_minimum(history: Any, target: float, tol: float = 1e-2) -> None:
    """Gradient descent recorded in `history` (the value of x at each step) ended at `target`."""
    values = _to_array(history, "history").ravel()
    if values.size < 2:
        _fail("`history` should hold the value of x after every step (at least two steps).")
    last, first = float(values[-1]), float(values[0])
    if math.isnan(last):
        _fail("x became NaN: the learning rate is too large.")
    if not abs(last - target) <= tol:
        _fail(f"x ended at {last:.4f}; the minimum is at {target} (within {tol}). "
              "Take more steps, or check the sign of the update.")  # fmt: skip
    if not abs(last - target) < abs(first - target):
        _fail("x did not move towards the minimum.")
    _passed(f"gradient descent converged to x = {last:.4f} (minimum at {target})")


# ## Lab 1, part 2: music generation ------------------------------------------------------------


def check_vectorize(vectorize: Callable, char2idx: dict, text: str) -> None:
    """`vectorize(text)` maps each character to its index in `char2idx`, as an int array."""
    lookup = {str(k): int(v) for k, v in dict(char2idx).items()}
    for sample in (text, text[:1], text[len(text) // 2 :]):
        got = _to_array(_call(vectorize, "vectorize_string", sample), "the vector", dtype=_int64)
        expected = _asarray([lookup[c] for c in sample], dtype=_int64)
        if got.ndim != 1 or got.shape[0] != len(sample):
            _fail(f"vectorize_string of {len(sample)} characters should give a 1-D array of "
                  f"{len(sample)} integers; got shape {tuple(got.shape)}.")  # fmt: skip
        if _max_difference(got, expected) != 0:
            position = next(i for i, (g, e) in enumerate(zip(_values(got), _values(expected),
                            strict=True)) if g != e)  # fmt: skip
            _fail(f"Character {position} ({sample[position]!r}) should map to "
                  f"{int(expected[position])}, not {int(got[position])}.")  # fmt: skip
    _passed("vectorize_string maps every character to its index")


def check_get_batch(get_batch: Callable, trials: int = 50) -> None:
    """`get_batch(ids, seq_length, batch_size, rng)` returns windows ``x`` of the corpus and
    targets ``y`` shifted by one, drawn from anywhere in it with the generator given."""
    corpus = np.arange(1000, 1037, dtype=_int64)  # distinct values: a window's start is known
    n = len(corpus)

    def draw(seq_length: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
        result = _call(get_batch, "get_batch", corpus.copy(), seq_length, batch_size, rng)
        if not isinstance(result, tuple | list) or len(result) != 2:
            _fail("get_batch should return a pair (x, y).")
        x = _to_array(result[0], "x", dtype=_int64)
        y = _to_array(result[1], "y", dtype=_int64)
        _expect_shape(x, (batch_size, seq_length), "x")
        _expect_shape(y, (batch_size, seq_length), "y")
        return x, y

    a, b, c = (draw(5, 4, np.random.default_rng(s))[0] for s in (11, 11, 12))
    if _max_difference(a, b) != 0:
        _fail("The same generator state gave different batches: draw with the `rng` passed in.")
    if _max_difference(a, c) == 0:
        _fail("Different random generators give the same batch: use the `rng` passed in.")
    starts_seen = set()
    for trial in range(trials):
        seq_length, batch_size = (5, 4) if trial % 2 else (n - 1, 3)
        x, y = draw(seq_length, batch_size, np.random.default_rng(trial))
        for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
            start = row_x[0] - 1000
            if not 0 <= start <= n - seq_length - 1:
                last = n - seq_length - 1
                _fail(f"A window starts at position {start}: with {n} tokens and "
                      f"seq_length={seq_length}, starts run from 0 to {last}.")  # fmt: skip
            if row_x != corpus[start : start + seq_length].tolist():
                _fail("Each row of x should be consecutive tokens of the corpus.")
            if row_y != corpus[start + 1 : start + seq_length + 1].tolist():
                _fail("Each row of y should be its row of x shifted by one token "
                      "(y[i, t] is the token after x[i, t]).")  # fmt: skip
            if seq_length == 5:
                starts_seen.add(start)
    if len(starts_seen) < 20:
        _fail(f"Windows start at only {len(starts_seen)} different places: draw the starts at "
              "random from the whole corpus.")  # fmt: skip
    _passed("get_batch returns random windows and their targets shifted by one")


def check_model_output(build_model: Callable, vocab_size: int = 20) -> None:
    """`build_model(vocab_size, embedding_dim, rnn_units, batch_size)` maps ``(batch, time)``
    token ids to ``(batch, time, vocab_size)`` logits."""
    model = _call(build_model, "build_model", vocab_size, 8, 16, 4)
    x = np.zeros((4, 7), dtype="int32")
    x[:, ::2] = 3
    out = _to_array(_call(model, "the model", x), "the model's output")
    _expect_shape(out, (4, 7, vocab_size), "the model's output for a batch of 4 windows of 7")
    _passed(f"the model maps (batch, time) ids to (batch, time, {vocab_size}) logits")


def check_loss(compute_loss: Callable, seed: int = 0) -> None:
    """`compute_loss(labels, logits)`: mean sparse categorical cross-entropy from logits."""
    rng = np.random.default_rng(seed)
    for shape in ((2, 3, 5), (1, 4, 7)):
        logits = (rng.normal(size=shape) * 3).astype("float32")
        labels = rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
        log_probs = _log_softmax(logits.astype(_float64))
        expected = -np.take_along_axis(log_probs, labels[..., None].astype(_int64), -1).mean()
        got = _to_array(_call(compute_loss, "compute_loss", labels, logits), "the loss")
        if got.size != 1:
            _fail(f"compute_loss should return one number (the mean), not shape {got.shape}.")
        got_value = float(_values(got)[0])
        if not abs(got_value - expected) <= 1e-4 * max(1.0, abs(expected)):
            hint = ""
            probabilities = -np.log(np.clip(
                np.take_along_axis(logits, labels[..., None], -1), 1e-7, 1)).mean()  # fmt: skip
            if abs(got_value - probabilities) < 1e-3:
                hint = " The model outputs logits: pass from_logits=True."
            _fail(f"The loss is {got_value:.4f}; expected {expected:.4f}.{hint}")
    _passed("compute_loss is the mean cross-entropy of the logits")


def check_sample(sample_next: Callable, draws: int = 6000) -> None:
    """`sample_next(logits, temperature)` draws one token id per row of ``(batch, vocab)``
    logits from ``softmax(logits / temperature)``: checked by its statistics."""
    logits_row = _asarray([2.0, 1.0, 0.0, -1.0, 0.5], dtype="float32")
    logits = np.tile(logits_row, (draws, 1))
    for temperature in (1.0, 0.5, 2.0):
        ids = _to_array(_call(sample_next, "sample_next", logits, temperature), "the ids",
                        dtype=_int64).ravel()  # fmt: skip
        if ids.shape != (draws,):
            _fail(f"sample_next should return one id per row ({draws}); got {ids.shape[0]}.")
        values = _values(ids)
        if min(values) < 0 or max(values) >= len(logits_row):
            _fail("sample_next returned ids outside the vocabulary.")
        expected = np.exp(_log_softmax(logits_row.astype(_float64) / temperature))
        counts = [0] * len(logits_row)
        for value in values:
            counts[value] += 1
        distance = 0.5 * sum(abs(c / draws - p) for c, p in zip(counts, expected, strict=True))
        if distance > 0.04:
            observed = ", ".join(f"{c / draws:.2f}" for c in counts)
            wanted = ", ".join(f"{p:.2f}" for p in expected)
            _fail(f"At temperature {temperature} the tokens came out with frequencies "
                  f"[{observed}]; softmax(logits / temperature) is [{wanted}].")  # fmt: skip
    cold = _to_array(_call(sample_next, "sample_next", logits[:200], 1e-3), "the ids",
                     dtype=_int64).ravel()  # fmt: skip
    if set(_values(cold)) != {0}:
        _fail("At a temperature near 0, sampling should always pick the largest logit.")
    _passed("sample_next samples from softmax(logits / temperature)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("Import this module from a notebook: from mitdeeplearning import grading")
