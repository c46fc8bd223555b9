"""Lab 1 Part 1's graded checks: TensorFlow basics (tensors, a function traced into a graph, a
dense layer, a subclassed model, gradient descent with a tape).

Each check takes what the student wrote, tries it on small inputs of its own and either prints
one line starting with a check mark or raises `GradingError` with one sentence that says what is
wrong. What an answer returns may be any array-like (a tensor, a NumPy array, a list) unless its
exercise is making a tensor (`check_tensor`). A function that a later cell traces with
``tf.function`` is run inside one too. TensorFlow is imported when a check runs;
`check_minimum` needs only NumPy. The checks are re-exported by `mitdeeplearning.grading.lab1`,
with Part 2's.

Each check says next to it what its exercise refuses (`refuses`), runs the answer through
`graded_answer`, and computes what it expects only after the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import (
    expect_close,
    fail,
    flat_values,
    graded_answer,
    max_difference,
    passed,
    sigmoid,
    to_array,
    verify_integrity,
)
from .refusals import refuses
from .tracing import describe_error

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64

__all__ = [
    "check_dense_layer",
    "check_gradient_descent",
    "check_graph_function",
    "check_identity_model",
    "check_minimum",
    "check_tensor",
]


# ## Tensors and graphs ----------------------------------------------------------------------------


@refuses()
def check_tensor(
    value: Any, name: str, *, rank: int, shape: tuple | None = None, dtype: str | None = None
) -> None:
    """`value` is a TensorFlow tensor of `rank` (and `shape`, and dtype kind ``"int"``,
    ``"float"`` or ``"string"`` when given). The one check that asks for a tensor: its
    exercise is making one."""
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
    """`func(a, b)` computes ``e = (a + b) * (b - 1)``, for numbers and for arrays, and also
    inside ``tf.function`` (the notebook traces it into a graph)."""
    import tensorflow as tf

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
    why = "the next cell traces it into a graph"
    traced = answer.in_graph(func, "func", why, tf.constant(a), tf.constant(b))
    got = answer.array(traced, "e inside tf.function")
    expect_close(got, (a.astype(_float64) + b) * (b - 1.0), "func inside tf.function", tol=1e-5)
    passed("func computes (a + b) * (b - 1), element by element, eagerly and as a graph")


# ## Layers and models ----------------------------------------------------------------------------


def _fits(weight: Any, value: np.ndarray) -> list[np.ndarray]:
    """The ways `value` can be stored in `weight`: as it is, transposed (a kernel kept as
    (outputs, inputs)), or reshaped when only a length-1 axis differs (a bias of shape (n,))."""
    shape = tuple(weight.shape)
    ways = [value] if shape == value.shape else []
    if value.ndim == 2 and shape == value.T.shape:
        ways.append(value.T)
    squeeze = tuple(s for s in shape if s != 1) == tuple(s for s in value.shape if s != 1)
    if not ways and squeeze:
        ways.append(value.reshape(shape))
    return ways


def _weight_assignments(layer: Any, values: list[np.ndarray], name: str) -> list[list]:
    """Every way to give `layer`'s weights `values` (each weight one value, in any order),
    those that keep the order the weights were created in first.

    A layer may create its weights in any order (``b`` before ``W``), and weights of the same
    shape (W and b for one input) cannot be told apart by shape: the check tries each way and
    passes if one of them gives the right output.
    """
    weights = list(layer.weights)
    wanted = [tuple(v.shape) for v in values]
    have = [tuple(w.shape) for w in weights]
    orders = [values, values[::-1]] if len(values) == 2 else [values]
    assignments = []
    if len(weights) == len(values):
        for order in orders:
            options = [_fits(w, v) for w, v in zip(weights, order, strict=True)]
            if all(options):  # one way per weight; two for a square kernel
                first, *rest = options
                combos = [[x] for x in first]
                for option in rest:
                    combos = [c + [x] for c in combos for x in option]
                assignments += combos
    if not assignments:
        fail(f"`{name}` should create weights of shapes {wanted}; it has {have}.")
    return assignments


def _set_weights(layer: Any, values: list[np.ndarray]) -> None:
    for weight, value in zip(layer.weights, values, strict=True):
        dtype = getattr(weight.dtype, "name", weight.dtype)  # a Keras 3 dtype is a string
        weight.assign(_asarray(value).astype(dtype))


# The exercise is the dense layer itself: Keras' own Dense layer (used or inherited) refuses.
@refuses(library=("keras.layers.Dense",))
def check_dense_layer(layer_class: type, n_inputs: int = 2, n_outputs: int = 3) -> None:
    """A dense layer ``y = sigmoid(x W + b)`` with ``W`` of shape (inputs, outputs) and ``b`` of
    shape (1, outputs), checked with weights set to known values, whatever order the layer
    creates them in (``b`` of shape (outputs,), or ``W`` kept transposed, pass too)."""
    answer = graded_answer(layer_class, "OurDenseLayer", "check_dense_layer")
    rng = np.random.default_rng(n_inputs * 100 + n_outputs)
    layer = answer(n_outputs)
    answer.run(layer.build, "OurDenseLayer.build", (1, n_inputs))
    w = rng.normal(size=(n_inputs, n_outputs)).astype("float32")
    b = rng.normal(size=(1, n_outputs)).astype("float32")
    x = rng.normal(size=(4, n_inputs)).astype("float32")
    outputs = []  # every way of setting the weights, run before anything is expected
    for values in _weight_assignments(layer, [w, b], "OurDenseLayer"):
        _set_weights(layer, values)
        run = answer.run(layer, "OurDenseLayer", x.copy())
        outputs.append(answer.array(run, "the layer's output"))
    expected = sigmoid(x.astype(_float64) @ w.astype(_float64) + b.astype(_float64))
    scale = max([1.0, *(abs(v) for v in flat_values(expected))])
    right = [y for y in outputs if y.shape == expected.shape]
    if not [y for y in right if max_difference(y, expected) <= 1e-4 * scale]:
        expect_close(outputs[0], expected, "the layer's output", tol=1e-4)  # fails, says how
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
    _set_weights(dense, _weight_assignments(dense, [w, b], "self.dense")[0])
    out = answer.array(answer.run(model, "IdentityModel", x.copy()), "model(x)")
    expected = x.astype(_float64) @ w.astype("float32") + b.astype("float32")
    activation = getattr(dense, "activation", None)
    if getattr(activation, "__name__", "") == "sigmoid":
        expected = sigmoid(expected)
    expect_close(out, expected, "model(x) (isidentity=False)", tol=1e-4)
    passed("IdentityModel returns its input with isidentity=True and the dense output otherwise")


# ## Gradient descent -----------------------------------------------------------------------------


def _aliased(history: Any) -> bool:
    """True when `history` holds a variable (``history.append(x)``, not a copy of its value)
    or the same mutable object twice: its entries would all read the variable's last value."""
    if not isinstance(history, list | tuple):
        return False
    seen = set()
    for entry in history:
        if callable(getattr(type(entry), "assign", None)):  # a tf.Variable
            return True
        if not isinstance(entry, int | float | np.generic):
            if id(entry) in seen:
                return True
            seen.add(id(entry))
    return False


_ALIASED = (
    "`history` holds the Variable itself, so every entry reads its final value: append "
    "`x.numpy()` (a copy of the value), not the Variable itself."
)


@refuses()
def check_minimum(history: Any, target: float, tol: float = 1e-2) -> None:
    """Gradient descent recorded in `history` (the value of x at each step) ended at `target`.

    Only the end point is checked: `check_gradient_descent` checks every step of a function.

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
    if _aliased(history):
        fail(_ALIASED)
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


def _descent_cases(seed: int) -> list[tuple]:
    """``(name, loss in TensorFlow, its derivative in NumPy, x_start, learning_rate, steps)``:
    losses whose gradient nobody writes by hand, so only a tape computes it."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.5, 0.5, size=3)
    scale = rng.uniform(0.8, 1.2, size=3)
    return [
        ("L(x) = log(cosh(x - 1.5))", lambda x: tf.math.log(tf.math.cosh(x - 1.5)),
         lambda x: np.tanh(x - 1.5), -2.0 + jitter[0], 0.5 * scale[0], 12 + int(seed % 5)),
        ("L(x) = (x + 1)^4 / 4 + x^2 / 2", lambda x: 0.25 * (x + 1.0) ** 4 + 0.5 * x * x,
         lambda x: (x + 1.0) ** 3 + x, 1.5 + jitter[1], 0.04 * scale[1], 15),
        ("L(x) = softplus(2x) + x^2 / 10", lambda x: tf.math.softplus(2.0 * x) + 0.1 * x * x,
         lambda x: 2.0 / (1.0 + np.exp(-2.0 * x)) + 0.2 * x, 3.0 + jitter[2], 0.3 * scale[2], 10),
    ]  # fmt: skip


def _step_hint(previous: float, got: float, gradient: float, learning_rate: float) -> str:
    """What a wrong step most likely did: climbed, or forgot the learning rate."""
    tol = 1e-5 * max(1.0, abs(previous), abs(gradient))
    if abs(got - (previous + learning_rate * gradient)) <= tol:
        return " It moved up the slope: step against the gradient."
    if abs(got - (previous - gradient)) <= tol:
        return " Scale the gradient by the learning rate."
    return " Differentiate the `loss_fn` passed in with a GradientTape."


@refuses()
def check_gradient_descent(gradient_descent: Callable, seed: int = 0) -> None:
    """`gradient_descent(loss_fn, x_start, learning_rate, steps)` returns the value of x after
    each of `steps` steps of gradient descent on `loss_fn` (the start first, optionally).

    Checked on losses of the check's own: every step must be ``x - learning_rate * dL/dx`` at
    the x before it, so a made-up trajectory or a gradient written by hand fails.

    Parameters
    ----------
    gradient_descent : callable
        The student's function: ``(loss_fn, x_start float, learning_rate float, steps int)`` →
        ``steps`` values of x, ``(steps,)`` array-like (or ``steps + 1``, `x_start` first).
    seed : int, default 0
        Varies the starts, learning rates and number of steps.
    """
    answer = graded_answer(gradient_descent, "gradient_descent", "check_gradient_descent")
    for name, loss_fn, derivative, x_start, learning_rate, steps in _descent_cases(seed):
        x_start, learning_rate = round(float(x_start), 3), round(float(learning_rate), 4)
        result, exc = answer.attempt(
            gradient_descent, "gradient_descent", loss_fn, x_start, learning_rate, steps
        )
        if exc is not None and "NoneType" in str(exc):
            fail(
                f"gradient_descent raised {describe_error(exc)}: the tape gave no gradient. Make x "
                "a tf.Variable and compute loss_fn(x) inside the `with tf.GradientTape()` block."
            )
        if exc is not None:
            fail(f"`gradient_descent` raised {describe_error(exc)}")
        if _aliased(result):
            fail(_ALIASED)
        values = flat_values(answer.array(result, "the values of x"))
        if len(values) == steps + 1 and abs(values[0] - x_start) <= 1e-6 * max(1, abs(x_start)):
            values = values[1:]  # the start first: accepted
        if len(values) != steps:
            fail(
                f"gradient_descent(loss_fn, {x_start}, {learning_rate}, steps={steps}) should "
                f"return {steps} values of x, one after each step; it returned {len(values)}."
            )
        previous = x_start
        for k, got in enumerate(values, 1):
            gradient = float(derivative(_float64(previous)))
            wanted = previous - learning_rate * gradient
            if not abs(got - wanted) <= 1e-5 * max(1.0, abs(previous), abs(gradient)):
                hint = _step_hint(previous, got, gradient, learning_rate)
                fail(
                    f"For {name} from x = {x_start} with learning rate {learning_rate}, step {k} "
                    f"goes from x = {previous:.6f} to {got:.6f}, which does not follow "
                    f"x - learning_rate * dL/dx.{hint}"
                )
            previous = got
    passed("gradient_descent takes steps x - learning_rate * dL/dx with the tape's gradient")
