"""Lab 1's checks of the music model the student builds: one LSTM step, and the model.

The real run of Lab 1, Part 2 trains the student's own model (`check_build_model`) with the
student's own training step (`mitdeeplearning.grading.lab1_training`) and writes tunes with the
student's own sampling step (`mitdeeplearning.grading.lab1_sampling`). Each check tries its
piece on small inputs of its own, in well under a second once TensorFlow has started, and either
prints a line starting with a check mark or fails with one sentence that says what to fix:

- `check_lstm_step`: one step of an LSTM cell, against Keras' ``LSTMCell`` with the same weights;
- `check_build_model`: the Embedding → LSTM or GRU → Dense model, every option honoured.

`close_to` is shared with the training and sampling checks. TensorFlow and Keras are imported
when a check runs. Each check says next to it what its exercise refuses (`refuses`), runs the
answer through `graded_answer`, and computes what it expects only after the answer's output has
been read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import (
    expect_close,
    expect_shape,
    fail,
    flat_values,
    graded_answer,
    max_difference,
    passed,
    sigmoid,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64

__all__ = ["check_build_model", "check_lstm_step", "close_to"]


def close_to(actual: np.ndarray, expected: np.ndarray, tol: float = 1e-4) -> bool:
    """Whether `actual` has `expected`'s shape and values, within `tol` relative tolerance (of
    the largest expected magnitude, or of 1).

    Examples
    --------
    >>> close_to(np.array([1.0, 2.00001]), np.array([1.0, 2.0])), close_to(np.zeros(2), np.ones(2))
    (True, False)
    """
    if tuple(actual.shape) != tuple(expected.shape):
        return False
    scale = max([1.0, *(abs(v) for v in flat_values(expected))])
    return max_difference(actual, expected) <= tol * scale


# ## One step of an LSTM cell ----------------------------------------------------------------------


def _lstm_reference(x, h, c, kernel, recurrent, bias, order=(0, 1, 2, 3), candidate="tanh",
                    squash=True):  # fmt: skip
    """One LSTM step in float64: `order` says which block of ``z`` each gate (input, forget,
    cell candidate, output) reads; the mistakes the hints name are the other arguments."""
    z = x @ kernel + h @ recurrent + bias
    blocks = np.split(z, 4, axis=1)
    i, f, g, o = (blocks[k] for k in order)
    g = np.tanh(g) if candidate == "tanh" else sigmoid(g)
    c_new = sigmoid(f) * c + sigmoid(i) * g
    return sigmoid(o) * (np.tanh(c_new) if squash else c_new), c_new


def _lstm_mistake(got_h, got_c, inputs, h_ref, c_ref) -> str | None:
    """The hint for a known mistake that explains `got_h`, `got_c`, or None."""
    if close_to(got_h, c_ref) and close_to(got_c, h_ref):
        return "lstm_step returns the cell state first: return the pair (h_new, c_new)."
    for order in itertools.permutations(range(4)):
        h, c = _lstm_reference(*inputs, order=order)
        if order != (0, 1, 2, 3) and close_to(got_h, h) and close_to(got_c, c):
            return (
                "The gates read the wrong blocks of z: Keras orders the four blocks input, "
                "forget, cell, output (each `units` wide)."
            )
    for squash in (False, True):
        h, c = _lstm_reference(*inputs, candidate="sigmoid", squash=squash)
        if close_to(got_h, h) and close_to(got_c, c):
            return (
                "The cell candidate g takes tanh, not sigmoid: it must be able to lower the cell "
                "state as well as raise it."
            )
    h, c = _lstm_reference(*inputs, squash=False)
    if close_to(got_h, h) and close_to(got_c, c_ref):
        return "h_new is the output gate times tanh of the new cell state: tanh is missing."
    return None


# The exercise is the cell's arithmetic: Keras' own LSTM cell or layer refuses.
@refuses(library=("keras.layers.LSTMCell", "keras.layers.LSTM"))
def check_lstm_step(lstm_step: Callable, seed: int = 0) -> None:
    """`lstm_step(x, h, c, kernel, recurrent_kernel, bias)` takes one LSTM step with Keras'
    weights: ``z = x @ kernel + h @ recurrent_kernel + bias`` split into four blocks of `units`
    (input, forget, cell candidate, output); ``c_new = f * c + i * g``,
    ``h_new = o * tanh(c_new)``; returns ``(h_new, c_new)``.

    Checked against ``keras.layers.LSTMCell`` holding the same weights, for several batch sizes
    and widths. NumPy or TensorFlow answers both pass.

    Parameters
    ----------
    lstm_step : callable
        ``x (batch, input_dim)``, ``h`` and ``c (batch, units)``, ``kernel (input_dim,
        4 units)``, ``recurrent_kernel (units, 4 units)``, ``bias (4 units,)`` →
        ``(h_new, c_new)``, each ``(batch, units)``.
    seed : int, default 0
        Seeds the inputs and weights tried.

    Examples
    --------
    An answer that returns the state in the wrong order:

    >>> def swapped(x, h, c, kernel, recurrent_kernel, bias):  # doctest: +SKIP
    ...     h_new, c_new = lstm_step(x, h, c, kernel, recurrent_kernel, bias)
    ...     return c_new, h_new
    >>> check_lstm_step(swapped)  # doctest: +SKIP
    Traceback (most recent call last):
    mitdeeplearning.grading.GradingError: lstm_step returns the cell state first: return the \
pair (h_new, c_new).
    """
    import keras

    answer = graded_answer(lstm_step, "lstm_step", "check_lstm_step")
    rng = np.random.default_rng(seed)
    for batch, input_dim, units in ((3, 4, 2), (1, 3, 5), (5, 2, 3)):
        inputs = [rng.normal(size=shape).astype("float32") for shape in (
            (batch, input_dim), (batch, units), (batch, units), (input_dim, 4 * units),
            (units, 4 * units), (4 * units,))]  # fmt: skip
        result = answer(*(array.copy() for array in inputs))
        if not isinstance(result, tuple | list) or len(result) != 2:
            fail("lstm_step should return a pair (h_new, c_new).")
        got_h = answer.array(result[0], "h_new")
        got_c = answer.array(result[1], "c_new")
        expect_shape(got_h, (batch, units), "h_new")
        expect_shape(got_c, (batch, units), "c_new")
        cell = keras.layers.LSTMCell(units)
        cell.build((None, input_dim))
        cell.set_weights(inputs[3:])
        _, (h_ref, c_ref) = cell(inputs[0], [inputs[1], inputs[2]])
        h_ref = _asarray(h_ref, dtype=_float64)
        c_ref = _asarray(c_ref, dtype=_float64)
        if close_to(got_h, h_ref) and close_to(got_c, c_ref):
            continue
        hint = _lstm_mistake(got_h, got_c, [a.astype(_float64) for a in inputs], h_ref, c_ref)
        if hint is not None:
            fail(hint)
        expect_close(got_c, c_ref, "c_new")
        expect_close(got_h, h_ref, "h_new")
    passed("lstm_step takes the same step as Keras' LSTMCell")


# ## The model -------------------------------------------------------------------------------------


def _layers_of(model: Any) -> list:
    """The model's layers in order, or a failure if it is not a Keras model."""
    import keras

    if not isinstance(model, keras.Model):
        fail(f"build_model should return a Keras model (keras.Sequential), not "
             f"{type(model).__name__}.")  # fmt: skip
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _check_layers(layers: list, cell: str, sizes: tuple[int, int, int]) -> tuple:
    """Fail unless `layers` hold an Embedding, a `cell` layer and a Dense layer of `sizes`
    (vocabulary, embedding, units); return ``(recurrent layer, last Dense layer)``."""
    import keras

    vocab_size, embedding_dim, rnn_units = sizes
    embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    if not embeddings:
        fail("The model should start with a keras.layers.Embedding layer (ids to vectors).")
    shape = (embeddings[0].input_dim, embeddings[0].output_dim)
    if shape != (vocab_size, embedding_dim):
        fail(f"The Embedding layer should map {vocab_size} ids to vectors of {embedding_dim} "
             f"(vocab_size, embedding_dim); it maps {shape[0]} to {shape[1]}.")  # fmt: skip
    recurrent = [layer for layer in layers if isinstance(layer, keras.layers.RNN)]
    wanted = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    if not recurrent or type(recurrent[0]) is not wanted:
        found = type(recurrent[0]).__name__ if recurrent else "no recurrent layer"
        fail(f"cell={cell!r} should give a keras.layers.{wanted.__name__} layer; this model has "
             f"{found}.")  # fmt: skip
    rnn = recurrent[0]
    if rnn.units != rnn_units:
        fail(f"The {type(rnn).__name__} layer should have rnn_units={rnn_units} units; it has "
             f"{rnn.units}.")  # fmt: skip
    if not rnn.return_sequences:
        fail("The recurrent layer should return one output per step (return_sequences=True), "
             "so that the model predicts the next token at every position.")  # fmt: skip
    denses = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    if not denses or denses[-1].units != vocab_size:
        fail(f"The model should end with a Dense layer of one output per token ({vocab_size}).")
    activation = getattr(denses[-1].activation, "__name__", "linear")
    if activation != "linear":
        fail(f"The Dense layer must output logits (no {activation}): the loss and the sampler "
             "apply the softmax themselves.")  # fmt: skip
    return rnn, denses[-1]


def _outputs(answer, model, x: np.ndarray, vocab_size: int, **kwargs) -> np.ndarray:
    """The model's output on `x`, read as float64, checked to be ``(batch, time, vocab_size)``
    logits."""
    out = answer.array(answer.run(model, "the model", x.copy(), **kwargs), "the model's output")
    batch, time = x.shape
    if out.ndim == 2 and out.shape[0] == batch:
        fail("The model gives one output per window: the recurrent layer should return one "
             "output per step (return_sequences=True).")  # fmt: skip
    expect_shape(out, (batch, time, vocab_size), "the model's output")
    sums = out.sum(axis=-1)
    if out.min() >= 0 and max_difference(sums, np.ones_like(sums)) < 1e-3:
        fail("The Dense layer must output logits (no softmax): these outputs add up to 1.")
    return out


def _input_batch(model) -> int | None:
    """The batch dimension of the model's input (None when it has no fixed input yet)."""
    try:
        return model.inputs[0].shape[0]
    except Exception:  # noqa: BLE001 - a model without keras.Input has no inputs to read
        return None


def _reset(rnn) -> None:
    """Zero a stateful recurrent layer's state."""
    reset = getattr(rnn, "reset_states", None) or rnn.reset_state
    reset()


def _check_stateful(answer, model, rnn, x: np.ndarray, vocab_size: int) -> None:
    """A stateful model continues from where the previous call on `x`'s first half left."""
    if not rnn.stateful:
        fail("stateful=True should give a stateful recurrent layer (stateful=True), which "
             "carries its state from one call to the next.")  # fmt: skip
    half = x.shape[1] // 2
    _reset(rnn)
    whole = _outputs(answer, model, x, vocab_size)
    _reset(rnn)
    _outputs(answer, model, x[:, :half], vocab_size)
    second = _outputs(answer, model, x[:, half:], vocab_size)
    if not close_to(second, whole[:, half:], 1e-3):
        fail("With stateful=True a second call should continue from the state the first one "
             "left: it gave other logits than one call on both windows joined.")  # fmt: skip


def _check_dropout(answer, model, layers, rnn, dense, rate: float, x: np.ndarray) -> None:
    """A dropout of `rate` before the Dense layer (or in the recurrent layer), active only in
    training; `x` a batch of ids."""
    import keras

    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    before = [d for d in dropouts if layers.index(d) < layers.index(dense)]
    in_rnn = any(
        abs(getattr(rnn, kind, 0.0) - rate) < 1e-9 for kind in ("dropout", "recurrent_dropout")
    )
    if not in_rnn and not any(abs(d.rate - rate) < 1e-9 for d in before):
        if any(abs(d.rate - rate) < 1e-9 for d in dropouts):
            fail("Put the Dropout layer before the Dense layer: it should silence some of the "
                 "recurrent layer's outputs, not the logits.")  # fmt: skip
        rates = ", ".join(f"{d.rate:g}" for d in dropouts) or "none"
        fail(f"dropout={rate} should add a keras.layers.Dropout layer of rate {rate} before the "
             f"Dense layer; this model's dropout rates: {rates}.")  # fmt: skip
    vocab_size = dense.units
    _reset(rnn)
    quiet = _outputs(answer, model, x, vocab_size, training=False)
    _reset(rnn)
    again = _outputs(answer, model, x, vocab_size, training=False)
    _reset(rnn)
    noisy = _outputs(answer, model, x, vocab_size, training=True)
    _reset(rnn)
    if not close_to(again, quiet, 1e-6):
        fail("Dropout should be off outside training: two calls with training=False gave "
             "different logits.")  # fmt: skip
    if close_to(noisy, quiet, 1e-6):
        fail(f"dropout={rate} should be active in training: model(x, training=True) gave the "
             "same logits as model(x, training=False).")  # fmt: skip


# Keras' layers (Embedding, LSTM or GRU, Dropout, Dense) are what the exercise asks the model to
# be built from; the package's ready-made model refuses.
@refuses(package=("music.build_model",))
def check_build_model(build_model: Callable, vocab_size: int = 20) -> None:
    """`build_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm",
    stateful=False, dropout=0.0)` builds Embedding → LSTM or GRU → Dense logits, every option
    honoured.

    Checked: the output is ``(batch, time, vocab_size)`` logits (no softmax), one per step;
    ``cell`` picks ``keras.layers.LSTM`` or ``keras.layers.GRU``; the input's batch dimension is
    `batch_size`; ``stateful=True`` carries the state from one call to the next (and False
    does not); ``dropout`` adds that rate of dropout before the Dense layer (or in the
    recurrent layer), active only in training.

    Parameters
    ----------
    build_model : callable
        The student's function, returning a Keras model.
    vocab_size : int, default 20
        The vocabulary of the models built.

    Examples
    --------
    A model whose last layer turns the logits into probabilities:

    >>> def softmax_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm",
    ...                   stateful=False, dropout=0.0):                  # doctest: +SKIP
    ...     return keras.Sequential([
    ...         keras.Input(batch_shape=(batch_size, None), dtype="int32"),
    ...         keras.layers.Embedding(vocab_size, embedding_dim),
    ...         keras.layers.LSTM(rnn_units, return_sequences=True),
    ...         keras.layers.Dense(vocab_size, activation="softmax")])
    >>> check_build_model(softmax_model)  # doctest: +SKIP
    Traceback (most recent call last):
    mitdeeplearning.grading.GradingError: The Dense layer must output logits (no softmax): the \
loss and the sampler apply the softmax themselves.
    """
    answer = graded_answer(build_model, "build_model", "check_build_model")
    rng = np.random.default_rng(3)
    sizes = (vocab_size, 8, 16)
    for cell, batch, stateful, dropout in (("lstm", 4, False, 0.0), ("gru", 2, True, 0.5)):
        options = {} if cell == "lstm" else {"cell": cell, "stateful": stateful, "dropout": dropout}
        model = answer(*sizes, batch, **options)
        layers = _layers_of(model)
        rnn, dense = _check_layers(layers, cell, sizes)
        got = _input_batch(model)
        if got != batch:
            fail(f"The model's input should have batch_size={batch} as its batch dimension "
                 f"(keras.Input(batch_shape=...)); it has {got}.")  # fmt: skip
        x = rng.integers(0, vocab_size, size=(batch, 8)).astype("int32")
        if stateful:
            _check_stateful(answer, model, rnn, x, vocab_size)
            _check_dropout(answer, model, layers, rnn, dense, dropout, x)
            continue
        if rnn.stateful:
            fail("stateful=False should give a recurrent layer that starts every call afresh.")
        first = _outputs(answer, model, x, vocab_size)
        if max_difference(_outputs(answer, model, x, vocab_size, training=True), first) > 1e-6:
            fail("With dropout=0.0 the model should drop nothing, even in training: two calls "
                 "on the same batch gave different logits.")  # fmt: skip
    passed("build_model gives logits from an Embedding, an LSTM or GRU and a Dense layer, every "
           "option honoured")  # fmt: skip
