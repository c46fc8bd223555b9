"""Lab 1's checks of how the student's model learns: its training step, and its accuracy.

The real run of Lab 1, Part 2 trains the student's model with the student's own step,
``music.train(model, ids, step=make_train_step(model, optimizer), optimizer=optimizer)``, and
reads the share of next characters it ranks first. Each check tries its piece on small inputs
of its own and either prints a line starting with a check mark or fails with one sentence that
says what to fix:

- `check_train_step`: one `GradientTape` step, against the same step computed by the check in
  NumPy;
- `check_accuracy`: the share of positions where the most likely token is the label.

TensorFlow and Keras are imported when a check runs. Each check says next to it what its
exercise refuses (`refuses`), runs the answer through `graded_answer`, and computes what it
expects only after the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import (
    GradingError,
    fail,
    flat_values,
    graded_answer,
    log_softmax,
    max_difference,
    passed,
)
from .lab1_model import close_to
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_float64 = np.float64
_int64 = np.int64

__all__ = ["check_accuracy", "check_train_step"]


# ## The training step -----------------------------------------------------------------------------


def _step_model(weights: list[np.ndarray]):
    """The check's model, Embedding → Dense, holding `weights`; its ``fit`` and
    ``train_on_batch`` fail with a hint and record that they were called."""
    import keras
    import tensorflow as tf

    class StepModel(keras.Sequential):
        fitted = False

        @tf.autograph.experimental.do_not_convert  # no source to read in a `fresh` copy
        def fit(self, *args, **kwargs):
            type(self).fitted = True
            raise RuntimeError("model.fit is not a GradientTape step")

        train_on_batch = fit

    vocab_size, dim = weights[0].shape
    model = StepModel([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab_size, dim),
                       keras.layers.Dense(vocab_size)])  # fmt: skip
    model.set_weights([w.astype("float32") for w in weights])
    return model


def _step_reference(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, rate: float):
    """Embedding → Dense with `weights` on the batch ``(x, y)``, in float64 NumPy: its logits
    ``(batch, time, vocab)``, their mean cross-entropy, and the weights after one SGD step of
    `rate` on it."""
    table, kernel, bias = (w.astype(_float64) for w in weights)
    vectors = table[x]  # (batch, time, dim)
    logits = vectors @ kernel + bias  # (batch, time, vocab)
    log_p = log_softmax(logits)
    count, vocab_size = x.size, kernel.shape[1]
    loss = float(-np.take_along_axis(log_p, y[..., None].astype(_int64), -1).mean())
    grad_logits = (np.exp(log_p) - np.eye(vocab_size)[y]).reshape(count, vocab_size) / count
    grad_table = np.zeros_like(table)
    np.add.at(grad_table, x.reshape(-1), grad_logits @ kernel.T)
    grads = [grad_table, vectors.reshape(count, -1).T @ grad_logits, grad_logits.sum(axis=0)]
    stepped = [w - rate * g for w, g in zip((table, kernel, bias), grads, strict=True)]
    return logits, loss, stepped


def _weights_hint(before: list, after: list, expected: list) -> str:
    """The sentence for weights `after` one step that are not the `expected` ones."""
    moved = [a - b for a, b in zip(after, before, strict=True)]
    wanted = [e - b for e, b in zip(expected, before, strict=True)]
    if all(max_difference(m, np.zeros_like(m)) == 0 for m in moved):
        return ("train_step did not change the weights: apply the gradients with "
                "optimizer.apply_gradients.")  # fmt: skip
    if all(close_to(m, -w, 1e-3) for m, w in zip(moved, wanted, strict=True)):
        return ("The weights moved uphill, making the loss larger: give apply_gradients the "
                "gradients of the loss as they are (the optimizer subtracts them).")  # fmt: skip
    worst = max(max_difference(m, w) for m, w in zip(moved, wanted, strict=True))
    return (
        f"After one step the weights are off by up to {worst:.3g} from one step of the optimizer "
        "given on the mean loss: take the gradients of that loss with respect to "
        "model.trainable_variables and apply them with that optimizer."
    )


@refuses(package=("music.train_step",))
def check_train_step(make_train_step: Callable, seed: int = 0) -> None:
    """`make_train_step(model, optimizer)` returns ``train_step(x, y) -> loss``: one gradient
    step with a `tf.GradientTape` (``logits = model(x, training=True)``, the mean sparse
    categorical cross-entropy from logits, its gradients applied with
    ``optimizer.apply_gradients``), returning the mean loss in nats, before the step.

    Checked on a small Embedding → Dense model of the check's, with
    ``keras.optimizers.SGD(0.1)``, run inside ``tf.function`` as `music.train` runs it: the loss
    returned and the weights after one step are compared with the same step computed by the
    check.

    Parameters
    ----------
    make_train_step : callable
        ``(model, optimizer)`` → ``train_step(x, y)``; `x` and `y` are ``(batch, time)`` int32.
    seed : int, default 0
        Seeds the weights and the batch.

    Examples
    --------
    A step that forgets to apply the gradients:

    >>> def make_train_step(model, optimizer):                           # doctest: +SKIP
    ...     @tf.function
    ...     def train_step(x, y):
    ...         with tf.GradientTape() as tape:
    ...             loss = compute_loss(y, model(x, training=True))
    ...         tape.gradient(loss, model.trainable_variables)
    ...         return loss
    ...     return train_step
    >>> check_train_step(make_train_step)                                 # doctest: +SKIP
    Traceback (most recent call last):
    mitdeeplearning.grading.GradingError: train_step did not change the weights: apply the \
gradients with optimizer.apply_gradients.
    """
    import keras

    answer = graded_answer(make_train_step, "make_train_step", "check_train_step")
    rng = np.random.default_rng(seed)
    vocab_size, dim, rate = 6, 4, 0.1
    before = [rng.normal(0, 0.5, size=shape) for shape in ((vocab_size, dim), (dim, vocab_size))]
    before = [w.astype("float32") for w in [*before, rng.normal(0, 0.1, size=vocab_size)]]
    x = rng.integers(0, vocab_size, size=(3, 5)).astype("int32")
    y = rng.integers(0, vocab_size, size=(3, 5)).astype("int32")
    model = _step_model(before)
    train_step = answer(model, keras.optimizers.SGD(rate))
    try:
        loss = answer.in_graph(train_step, "train_step", "music.train compiles it", x.copy(),
                               y.copy())  # fmt: skip
    except GradingError:
        if type(model).fitted:
            fail("model.fit is not the exercise: compute the loss inside a tf.GradientTape and "
                 "apply its gradients with optimizer.apply_gradients.")  # fmt: skip
        raise
    loss = answer.array(loss, "the loss")
    after = [answer.array(weight, "the weights") for weight in model.get_weights()]
    if loss.size != 1:
        fail(f"train_step should return one number, the mean loss, not shape {loss.shape}.")
    value = float(flat_values(loss)[0])
    logits, expected, stepped = _step_reference(before, x, y, rate)
    if not abs(value - expected) <= 1e-4 * max(1.0, abs(expected)):
        as_probabilities = keras.losses.sparse_categorical_crossentropy(
            y, logits.astype("float32"), from_logits=False)  # fmt: skip
        if abs(value - float(np.mean(as_probabilities))) < 1e-3:
            fail("The model outputs logits: compute the loss with from_logits=True.")
        if abs(value - expected * x.size) < 1e-3 * expected * x.size:
            fail("train_step should return the mean loss over the batch and time, not the sum.")
        fail(f"train_step returned a loss of {value:.4f}; the mean cross-entropy of the batch "
             f"before the step is {expected:.4f}.")  # fmt: skip
    if not all(close_to(a, e, 1e-4) for a, e in zip(after, stepped, strict=True)):
        fail(_weights_hint([w.astype(_float64) for w in before], after, stepped))
    is_compiled = callable(getattr(train_step, "get_concrete_function", None))
    compiled_note = "" if is_compiled else " (decorate it with @tf.function to train faster)"
    passed(f"train_step takes one gradient step on the mean loss{compiled_note}")


# ## The next-character accuracy -------------------------------------------------------------------


def _accuracy_case(rng, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Logits of `shape` and labels ``(batch, time)`` int32 that the argmax gets right about
    half the time."""
    logits = rng.normal(size=shape).astype("float32")
    best = logits.argmax(axis=-1)
    other = (best + rng.integers(1, shape[-1], size=best.shape)) % shape[-1]
    labels = np.where(rng.random(best.shape) < 0.5, best, other).astype("int32")
    return logits, labels


def _accuracy_mistake(got: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> str:
    """The sentence for an accuracy `got` that is not the share of right positions."""
    hits = logits.argmax(axis=-1) == labels
    if got.size == 1:
        value = float(flat_values(got)[0])
        if abs(value - hits.sum()) < 1e-6:
            return ("next_char_accuracy should return the share of positions (between 0 and 1), "
                    "not their count.")  # fmt: skip
        for axis in (0, 1):
            picked = logits.argmax(axis=axis)
            if picked.shape == labels.shape and abs(value - (picked == labels).mean()) < 1e-6:
                return "Take the argmax over the last axis of the logits, the vocabulary."
        return (f"The accuracy is {value:.4f}; the share of positions where the argmax of the "
                f"logits is the label is {hits.mean():.4f}.")  # fmt: skip
    if got.size in (labels.shape[0], labels.size):
        return ("next_char_accuracy should return one number: average over every position, "
                "the batch and the time steps together.")  # fmt: skip
    return f"next_char_accuracy should return one number, not an array of shape {got.shape}."


# The exercise is the metric itself: Keras' own sparse categorical accuracy refuses.
@refuses(
    library=(
        "keras.metrics.sparse_categorical_accuracy",
        "keras.metrics.SparseCategoricalAccuracy",
    )
)
def check_accuracy(next_char_accuracy: Callable, seed: int = 0) -> None:
    """`next_char_accuracy(labels, logits)` is the share of positions where the argmax of the
    logits is the label: one number in [0, 1]. NumPy or TensorFlow answers both pass.

    Parameters
    ----------
    next_char_accuracy : callable
        ``labels (batch, time) int32``, ``logits (batch, time, vocab) float32`` → one number.
    seed : int, default 0
        Seeds the logits and labels tried.

    Examples
    --------
    An answer that counts the right positions instead of taking their share:

    >>> from mitdeeplearning.grading import GradingError
    >>> def count_right(labels, logits):
    ...     return (np.argmax(logits, axis=-1) == labels).sum()
    >>> try:
    ...     check_accuracy(count_right)
    ... except GradingError as error:
    ...     print(error)
    next_char_accuracy should return the share of positions (between 0 and 1), not their count.
    """
    answer = graded_answer(next_char_accuracy, "next_char_accuracy", "check_accuracy")
    rng = np.random.default_rng(seed)
    # The first has as many steps as tokens: an argmax on the wrong axis still runs there.
    for shape in ((3, 5, 5), (2, 7, 4), (4, 3, 6)):
        logits, labels = _accuracy_case(rng, shape)
        got = answer.array(answer(labels.copy(), logits.copy()), "the accuracy")
        expected = float((logits.argmax(axis=-1) == labels).mean())
        if got.size != 1 or abs(float(flat_values(got)[0]) - expected) > 1e-6:
            fail(_accuracy_mistake(got, logits, labels))
    passed("next_char_accuracy is the share of positions where the argmax is the label")
