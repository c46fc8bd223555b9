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
    "check_cams",
    "check_class_weights",
    "check_features_and_weights",
    "check_predict",
    "check_pointing_game",
    "check_roc",
    "check_upsample",
    "check_weighted_loss",
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


# ## Lab 2: pneumothorax, ROC and Class Activation Maps --------------------------------------


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    """P(class 1) of ``(n, 2)`` logits, in float64."""
    return np.exp(_log_softmax(logits.astype(_float64)))[:, 1]


def _cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    log_probs = _log_softmax(logits.astype(_float64))
    return -np.take_along_axis(log_probs, labels[:, None].astype(_int64), -1)[:, 0]


def _scalar(value: Any, name: str) -> float:
    array = _to_array(value, name)
    if array.size != 1:
        _fail(f"`{name}` should be one number (the mean over the batch), not shape "
              f"{tuple(array.shape)}.")  # fmt: skip
    return float(_values(array)[0])


def check_class_weights(balanced_class_weights: Callable) -> None:
    """`balanced_class_weights(labels)` gives ``n / (2 * n_c)`` for classes 0 and 1."""
    rng = np.random.default_rng(5)
    cases = [np.array([0, 0, 0, 1]), np.array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0])]
    cases.append((rng.random(101) < 0.2).astype(_int64))
    for labels in cases:
        n, positives = len(labels), int(labels.sum())
        expected = _asarray([n / (2.0 * (n - positives)), n / (2.0 * positives)], dtype=_float64)
        got = _to_array(_call(balanced_class_weights, "balanced_class_weights", labels.copy()),
                        "the weights").ravel()  # fmt: skip
        _expect_shape(got, (2,), "the weights (one per class)")
        if _max_difference(got, expected) > 1e-6 * float(expected.max()):
            hint = ""
            if _max_difference(got, expected[::-1]) <= 1e-6 * float(expected.max()):
                hint = " The rarer class should get the larger weight."
            _fail(
                f"For {n} labels with {positives} positive, the weights are "
                f"{_preview(got)}; expected n / (2 n_c) = {_preview(expected)}.{hint}"
            )
    _passed("balanced_class_weights gives n / (2 n_c): each class carries half of the loss")


def check_weighted_loss(weighted_cross_entropy: Callable, seed: int = 0) -> None:
    """`weighted_cross_entropy(labels, logits, class_weights)`: the mean over the batch of
    ``class_weights[label] * cross-entropy(logits)``, in TensorFlow operations (it runs inside
    the compiled training step)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for batch in (6, 1, 33):
        logits = (rng.normal(size=(batch, 2)) * 2).astype("float32")
        labels = rng.integers(0, 2, size=batch).astype("int32")
        weights = _asarray([0.6, 2.5], dtype="float32") + rng.random(2).astype("float32")
        ce = _cross_entropy(labels, logits)
        w = weights.astype(_float64)[labels]
        expected = float((w * ce).mean())
        got = _scalar(_call(weighted_cross_entropy, "weighted_cross_entropy",
                            tf.constant(labels), tf.constant(logits), tf.constant(weights)),
                      "the loss")  # fmt: skip
        if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
            hints = {
                "Multiply each example's cross-entropy by the weight of its class.":
                    float(ce.mean()),
                "Divide by the number of examples, not by the sum of the weights.":
                    float((w * ce).sum() / w.sum()),
                "The model outputs logits: use a cross-entropy from logits (softmax inside).":
                    float((w * -np.log(np.clip(np.take_along_axis(
                        logits, labels[:, None], -1)[:, 0], 1e-7, 1))).mean()),
                "Return the mean over the batch, not the sum.": float((w * ce).sum()),
            }  # fmt: skip
            hint = next((h for h, v in hints.items() if abs(got - v) <= 1e-4 * max(1.0, abs(v))),
                        "")  # fmt: skip
            _fail(f"For {batch} examples the loss is {got:.4f}; expected {expected:.4f}. {hint}")
    graph = tf.function(lambda a, b, c: weighted_cross_entropy(a, b, c))
    try:
        got = _scalar(graph(tf.constant(labels), tf.constant(logits), tf.constant(weights)),
                      "the loss inside tf.function")  # fmt: skip
    except GradingError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever fails when traced into a graph
        _fail("weighted_cross_entropy must also run inside the training step (a tf.function): "
              "use TensorFlow operations such as tf.gather and "
              "tf.nn.sparse_softmax_cross_entropy_with_logits, not NumPy "
              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).")  # fmt: skip
    if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        _fail(f"Inside tf.function the loss is {got:.4f}; expected {expected:.4f}.")
    _passed("weighted_cross_entropy is the class-weighted mean cross-entropy of the logits")


def _tiny_classifier(seed: int):
    """A Keras model with known weights: (4, 4, 1) images → Flatten → Dense(2) logits."""
    import keras

    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])  # fmt: skip
    kernel, bias = rng.normal(size=(16, 2)), rng.normal(size=(2,)) * 0.5
    model.layers[-1].set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model, kernel.astype("float32").astype(_float64), bias.astype("float32")


def check_predict(predict_pneumothorax: Callable, seed: int = 0) -> None:
    """`predict_pneumothorax(model, images, threshold=0.5)` returns ``(probabilities,
    predictions)``: P(pneumothorax) = softmax(logits)[:, 1] per image, and 1 where it is at
    least `threshold`, else 0."""
    model, kernel, bias = _tiny_classifier(seed)
    rng = np.random.default_rng(seed + 1)
    images = rng.normal(size=(70, 4, 4, 1)).astype("float32")
    logits = images.reshape(70, -1).astype(_float64) @ kernel + bias
    expected = _softmax_positive(logits)
    for threshold in (0.5, 0.2, 0.9):
        result = _call(predict_pneumothorax, "predict_pneumothorax", model, images.copy(),
                       threshold=threshold)  # fmt: skip
        if not isinstance(result, tuple | list) or len(result) != 2:
            _fail("predict_pneumothorax should return a pair (probabilities, predictions).")
        probabilities = _to_array(result[0], "probabilities").reshape(-1)
        predictions = _to_array(result[1], "predictions").reshape(-1)
        _expect_shape(probabilities, (70,), "probabilities (one per image)")
        _expect_shape(predictions, (70,), "predictions (one per image)")
        if _max_difference(probabilities, expected) > 1e-4:
            hint = ""
            if _max_difference(probabilities, _sigmoid(logits[:, 1])) <= 1e-4:
                hint = " Take the softmax of both logits, not the sigmoid of one."
            elif _max_difference(probabilities, 1 - expected) <= 1e-4:
                hint = " Class 1 (the second column) is pneumothorax."
            _fail(f"The probabilities are {_preview(probabilities)}; expected softmax(logits)"
                  f"[:, 1] = {_preview(expected)}.{hint}")  # fmt: skip
        wanted = (expected >= threshold).astype(_float64)
        if _max_difference(predictions, wanted) != 0:
            _fail(f"At threshold {threshold} the predictions should be 1 where the probability "
                  f"is at least {threshold}: {int(wanted.sum())} of 70 here, your predictions "
                  f"have {int(sum(v == 1 for v in _values(predictions)))}.")  # fmt: skip
    _passed("predict_pneumothorax gives P(pneumothorax) and the label at the threshold")


def _distinct_points(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """The curve's points, with consecutive repeats dropped: ``(m, 2)``."""
    points = []
    for x, y in zip(_values(fpr), _values(tpr), strict=True):
        if not points or abs(points[-1][0] - x) > 1e-12 or abs(points[-1][1] - y) > 1e-12:
            points.append((float(x), float(y)))
    return _asarray(points, dtype=_float64)


def _roc_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(60) < 0.3).astype(_int64)
    labels[:2] = [0, 1]
    return [
        (_asarray([0, 0, 1, 1]), _asarray([0.1, 0.4, 0.35, 0.8])),
        (_asarray([1, 0, 1, 0, 0, 1]), _asarray([0.9, 0.9, 0.5, 0.5, 0.1, 0.5])),  # ties
        (labels, np.round(rng.random(60) + 0.4 * labels, 1)),  # many ties
        (labels, rng.normal(size=60) + labels),
    ]


def check_roc(roc_curve: Callable, cases: list | None = None, seed: int = 0) -> None:
    """`roc_curve(labels, scores)` returns ``(fpr, tpr, thresholds)``, one point per distinct
    score from the highest down, starting at (0, 0) and ending at (1, 1): the same curve as
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as reference

    for labels, scores in cases or _roc_cases(seed):
        labels, scores = _asarray(labels, dtype=_int64), _asarray(scores, dtype=_float64)
        result = _call(roc_curve, "roc_curve", labels.copy(), scores.copy())
        if not isinstance(result, tuple | list) or len(result) != 3:
            _fail("roc_curve should return three arrays (fpr, tpr, thresholds).")
        fpr = _to_array(result[0], "fpr").ravel()
        tpr = _to_array(result[1], "tpr").ravel()
        thresholds = _to_array(result[2], "thresholds").ravel()
        if not (fpr.shape == tpr.shape == thresholds.shape) or fpr.size < 2:
            _fail(f"fpr, tpr and thresholds should have one entry per point of the curve; "
                  f"got {fpr.size}, {tpr.size} and {thresholds.size}.")  # fmt: skip
        ordered = all(b >= a for a, b in zip(_values(fpr), _values(fpr)[1:], strict=False)) and \
            all(b >= a for a, b in zip(_values(tpr), _values(tpr)[1:], strict=False))  # fmt: skip
        if not ordered:
            _fail("fpr and tpr should never decrease: go through the thresholds from the highest "
                  "score down.")  # fmt: skip
        ref_fpr, ref_tpr, _ = reference(labels, scores, drop_intermediate=False)
        got, expected = _distinct_points(fpr, tpr), _distinct_points(ref_fpr, ref_tpr)
        ends = _values(got[0]) == [0.0, 0.0] and _values(got[-1]) == [1.0, 1.0]
        if not ends:
            _fail(f"The curve should start at (fpr, tpr) = (0, 0) and end at (1, 1); yours runs "
                  f"from {tuple(_values(got[0]))} to {tuple(_values(got[-1]))}.")  # fmt: skip
        if got.shape != expected.shape or _max_difference(got, expected) > 1e-9:
            area = float(np.sum(np.diff(got[:, 0]) * (got[1:, 1] + got[:-1, 1]) / 2))
            _fail(f"For labels {_preview(labels)} and scores {_preview(scores)}, the curve has "
                  f"{len(got)} distinct points (area {area:.4f}); expected {len(expected)} "
                  f"(area {roc_auc_score(labels, scores):.4f}). Use one threshold per distinct "
                  "score, predicting positive where score >= threshold, so tied scores move "
                  "together.")  # fmt: skip
    _passed("roc_curve gives the same curve as scikit-learn, ties included")


def _check_model(seed: int, size: int = 64, filters: tuple = (4, 8)):
    from mitdeeplearning.xray.model import build_cam_cnn

    model = build_cam_cnn((size, size, 1), filters=filters, seed=seed)
    rng = np.random.default_rng(seed)
    images = rng.random((5, size, size, 1)).astype("float32")
    # Give the BatchNorm layers and the head non-trivial values, as after training.
    for layer in model.layers:
        weights = layer.get_weights()
        if weights and layer.name != "cam_logits":
            layer.set_weights([w + rng.normal(size=w.shape).astype("float32") * 0.1
                               if w.ndim == 1 else w for w in weights])  # fmt: skip
        elif layer.name == "cam_logits":
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in weights])
    return model, images


def _reference_parts(model, images) -> tuple[np.ndarray, np.ndarray]:
    import keras

    features_model = keras.Model(model.input, model.get_layer("cam_features").output)
    features = _asarray(features_model(images, training=False), dtype=_float64)
    kernel = _asarray(model.get_layer("cam_logits").kernel.numpy(), dtype=_float64)
    return features, kernel


def check_features_and_weights(get_features_and_weights: Callable, seed: int = 0,
                               filters: tuple = (4, 8)) -> None:  # fmt: skip
    """`get_features_and_weights(model, images)` returns the last convolution block's maps
    ``(n, h, w, channels)`` (the layer ``"cam_features"``, the input of global average
    pooling) and the Dense layer's kernel ``(channels, 2)`` (the layer ``"cam_logits"``)."""
    model, images = _check_model(seed, filters=filters)
    features, kernel = _reference_parts(model, images)
    result = _call(get_features_and_weights, "get_features_and_weights", model, images.copy())
    if not isinstance(result, tuple | list) or len(result) != 2:
        _fail("get_features_and_weights should return a pair (features, weights).")
    got_features = _to_array(result[0], "features")
    got_kernel = _to_array(result[1], "weights")
    if got_features.shape == (len(images), features.shape[-1]):
        _fail("`features` are already averaged (shape (n, channels)): take the maps *before* "
              "global average pooling, the output of the layer 'cam_features'.")  # fmt: skip
    _expect_shape(got_features, features.shape, "features")
    if got_kernel.shape == (2,):
        _fail("`weights` has shape (2,): that is the bias; return the kernel (channels, 2).")
    _expect_shape(got_kernel, kernel.shape, "weights")
    _expect_close(got_features, features, "features", tol=1e-4)
    _expect_close(got_kernel, kernel, "weights", tol=1e-6)
    _passed(f"get_features_and_weights gives maps {features.shape[1:]} per image and the "
            f"kernel {kernel.shape}")  # fmt: skip


def check_cams(compute_cams: Callable, seed: int = 0, filters: tuple = (4, 8)) -> None:
    """`compute_cams(features, weights, class_index)`: ``sum_k weights[k, class_index] *
    features[..., k]`` for every image at once, ``(n, h, w)``; checked on random inputs and
    against `mitdeeplearning.xray.class_activation_maps` on a model."""
    import tensorflow as tf

    from mitdeeplearning.xray.cam import class_activation_maps

    rng = np.random.default_rng(seed)
    for n, h, k in ((3, 5, 4), (1, 2, 3), (40, 8, 16)):
        features = rng.normal(size=(n, h, h, k)).astype("float32")
        weights = rng.normal(size=(k, 2)).astype("float32")
        for class_index in (1, 0):
            got = _to_array(_call(compute_cams, "compute_cams", features.copy(), weights.copy(),
                                  class_index), "the maps")  # fmt: skip
            expected = np.einsum("nhwk,k->nhw", features.astype(_float64),
                                 weights[:, class_index].astype(_float64))  # fmt: skip
            _expect_shape(got, (n, h, h), f"the maps of {n} images of {h}x{h}x{k} features")
            if _max_difference(got, expected) > 1e-4 * max(1.0, float(np.abs(expected).max())):
                other = np.einsum("nhwk,k->nhw", features.astype(_float64),
                                  weights[:, 1 - class_index].astype(_float64))  # fmt: skip
                hint = ""
                if _max_difference(got, other) <= 1e-3 * max(1.0, float(np.abs(other).max())):
                    hint = " Use the weights of `class_index`: weights[:, class_index]."
                elif _max_difference(got, expected / k) <= 1e-3 * max(1.0, float(
                        np.abs(expected).max()) / k):  # fmt: skip
                    hint = " Sum over the channels; do not average them."
                _fail(f"compute_cams(..., class_index={class_index}) gives "
                      f"{_preview(got)}; expected {_preview(expected)}.{hint}")  # fmt: skip
    model, images = _check_model(seed, filters=filters)
    features, kernel = _reference_parts(model, images)
    for class_index in (0, 1):
        got = _to_array(_call(compute_cams, "compute_cams", features.astype("float32"),
                              kernel.astype("float32"), class_index), "the maps")  # fmt: skip
        _expect_shape(got, features.shape[:3], "the maps")
        upsampled = tf.image.resize(got[..., None], images.shape[1:3], method="bilinear")
        package = class_activation_maps(model, images, class_index, contrast=False)
        _expect_close(_asarray(upsampled[..., 0], dtype=_float64), package.astype(_float64),
                      "your maps (upsampled) against mitdeeplearning.xray's", tol=1e-3)  # fmt: skip
    _passed("compute_cams weighs the feature maps by the class's weights, for a whole batch")


def check_upsample(upsample_cams: Callable, seed: int = 0) -> None:
    """`upsample_cams(cams, size)` resizes ``(n, h, w)`` maps to ``(n, size, size)``
    bilinearly (pixel centres aligned, as `tf.image.resize` and `cv2.resize` do)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for n, h, size in ((2, 4, 16), (3, 8, 64), (1, 5, 12)):
        cams = rng.normal(size=(n, h, h)).astype("float32")
        expected = _asarray(tf.image.resize(cams[..., None], (size, size),
                                            method="bilinear")[..., 0], dtype=_float64)  # fmt: skip
        got = _to_array(_call(upsample_cams, "upsample_cams", cams.copy(), size), "the maps")
        if got.shape == (n, size, size, 1):
            _fail("Return maps of shape (n, size, size): drop the channel axis.")
        _expect_shape(got, (n, size, size), f"{n} maps of {h}x{h} upsampled to {size}")
        if _max_difference(got, expected) > 1e-4 * max(1.0, float(np.abs(expected).max())):
            nearest = np.repeat(np.repeat(cams, size // h, 1), size // h, 2)
            hint = ""
            if size % h == 0 and _max_difference(got, nearest) <= 1e-4:
                hint = " That is nearest-neighbour (blocky): interpolate bilinearly."
            _fail(f"Upsampling {h}x{h} maps to {size}x{size} gives {_preview(got)}; bilinear "
                  f"interpolation gives {_preview(expected)}.{hint}")  # fmt: skip
    _passed("upsample_cams resizes the maps bilinearly to the image size")


def _pointing_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    n, size = 12, 32
    masks = np.zeros((n, size, size), bool)
    cams = rng.random((n, size, size))
    for i in range(n):
        top, left = rng.integers(2, 20, size=2)
        masks[i, top : top + 8, left : left + 6] = True
    cams[0, 4, 4] = cams[0].max() + 1  # a peak at a chosen spot
    cams[1] = 0.25  # a flat map points nowhere, even where argmax lands in the mask
    masks[1] = False
    masks[1, :8, :6] = True
    cams[2, masks[2]] = 5.0  # the whole mask ties for the maximum
    # Peaks just inside and just outside a 3 px tolerance.
    ys, xs = np.nonzero(masks[3])
    cams[3, ys.min(), min(xs.max() + 3, size - 1)] = 9.0
    ys, xs = np.nonzero(masks[4])
    if ys.max() + 3 < size:
        cams[4, ys.max() + 3, xs.max() + 1] = 9.0
    return [(cams, masks, 3.0), (cams, masks, 0.0), (cams[:5], masks[:5], 7.5)]


def check_pointing_game(pointing_game: Callable, seed: int = 0) -> None:
    """`pointing_game(cams, masks, tolerance)` is True for each map whose maximum lies within
    `tolerance` pixels (Euclidean) of its mask, False otherwise (and for a flat map): the
    same as `mitdeeplearning.xray.pointing_game`."""
    from mitdeeplearning.xray.localisation import pointing_game as reference

    for cams, masks, tolerance in _pointing_cases(seed):
        expected = reference(cams, masks, tolerance)
        got = _to_array(_call(pointing_game, "pointing_game", cams.copy(), masks.copy(),
                              tolerance), "the hits", dtype=_int64).ravel()  # fmt: skip
        _expect_shape(got, (len(cams),), "the hits (one per map)")
        for i, (g, e) in enumerate(zip(_values(got), expected.tolist(), strict=True)):
            if bool(g) != bool(e):
                flat = float(cams[i].max()) == float(cams[i].min())
                row, col = np.unravel_index(int(np.argmax(cams[i])), cams[i].shape)
                ys, xs = np.nonzero(masks[i])
                distance = float(np.sqrt(np.min((ys - row) ** 2 + (xs - col) ** 2)))
                why = ("the map is flat: it points nowhere, a miss" if flat else
                       f"its maximum is at row {row}, column {col}, {distance:.2f} px from the "
                       f"mask, with tolerance {tolerance}")  # fmt: skip
                _fail(f"Map {i} should be a {'hit' if e else 'miss'}: {why}.")
    _passed("pointing_game finds each map's maximum and checks it against the mask")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("Import this module from a notebook: from mitdeeplearning import grading")
