"""Reading, running and comparing a student's answer without trusting it.

Every check goes through these helpers. An answer is run through `call_answer` (an exception
becomes a failure that names it), converted to a NumPy array of an explicit dtype by `to_array`
(an object that claims to equal everything is not numbers), and compared with plain Python
arithmetic on its values (`max_difference`, `expect_close`): never with the answer's own
``__eq__`` or with ``numpy.testing``, which a notebook could patch. The NumPy functions used for
converting are captured when this module is imported, so an answer that replaces
``numpy.asarray`` while it runs does not change how the next answer is read.

A check fails by raising `GradingError` through `fail`, and passes by printing one line that
starts with a check mark through `passed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_ndarray = np.ndarray
_float64 = np.float64

__all__ = [
    "GradingError",
    "call_answer",
    "expect_close",
    "expect_shape",
    "fail",
    "flat_values",
    "log_softmax",
    "max_difference",
    "passed",
    "preview",
    "sigmoid",
    "to_array",
]


class GradingError(AssertionError):
    """A graded check failed; the message says why in one sentence.

    An `AssertionError`, so nbgrader counts it as a failed test.
    """


# Tracebacks name the public spelling, whichever copy (see `mitdeeplearning.grading.fresh`)
# raised it.
GradingError.__module__ = "mitdeeplearning.grading"


# ## Verdicts --------------------------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    """Fail the check with `message`, one sentence that says what is wrong.

    Raises
    ------
    GradingError
        Always.

    Examples
    --------
    >>> try:
    ...     fail("`x` should be 3.")
    ... except GradingError as error:
    ...     print(error)
    `x` should be 3.
    """
    raise GradingError(message)


def passed(message: str) -> None:
    """Print that the check passed: a check mark, then `message`.

    Examples
    --------
    >>> passed("func computes (a + b) * (b - 1)")
    ✓ func computes (a + b) * (b - 1)
    """
    print(f"\N{CHECK MARK} {message}")


# ## Reading and running the answer ----------------------------------------------------------------


def to_array(value: Any, name: str, dtype: Any = _float64) -> np.ndarray:
    """`value` as a NumPy array of `dtype`, or a failure that says why it is not numbers.

    Parameters
    ----------
    value : array-like, TensorFlow tensor or variable
        The student's answer. A tensor is read through its ``numpy()`` method.
    name : str
        What the message calls it (a variable or function name).
    dtype : numpy dtype, default float64
        The dtype to convert to.

    Returns
    -------
    numpy.ndarray
        A plain ``ndarray`` (never a subclass) of `dtype`, of the answer's shape.

    Raises
    ------
    GradingError
        For None, an unfilled ``...``, or anything that does not convert to numbers.

    Examples
    --------
    >>> to_array([[1, 2], [3, 4]], "m")
    array([[1., 2.],
           [3., 4.]])
    >>> try:
    ...     to_array(None, "history")
    ... except GradingError as error:
    ...     print(error)
    `history` is None: did you forget to return (or assign) it?
    """
    if value is None:
        fail(f"`{name}` is None: did you forget to return (or assign) it?")
    if value is NotImplemented or value is Ellipsis:
        fail(f"`{name}` is not filled in yet.")
    numpy_method = getattr(type(value), "numpy", None)  # a TensorFlow tensor or variable
    if callable(numpy_method):
        try:
            value = numpy_method(value)
        except Exception as exc:  # noqa: BLE001 - whatever the object raises, it is not a tensor
            fail(f"`{name}` could not be read as numbers ({type(exc).__name__}: {exc}).")
    try:
        array = _asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        fail(f"`{name}` should be numbers (a tensor or array), not {type(value).__name__} ({exc}).")
    if type(array) is not _ndarray:
        fail(f"`{name}` should be numbers (a tensor or array), not {type(value).__name__}.")
    return array


def call_answer(function: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
    """Run the student's `function` on `args`; an exception becomes a failure that names it.

    Parameters
    ----------
    function : callable
        The student's function or class.
    name : str
        Its name in the notebook, for the message.
    *args, **kwargs
        Passed to `function`.

    Returns
    -------
    object
        Whatever `function` returns (not yet trusted: convert it with `to_array`).

    Raises
    ------
    GradingError
        When `function` is not callable, is not implemented yet, or raises.

    Examples
    --------
    >>> call_answer(max, "max", 2, 5)
    5
    >>> def stub(x):
    ...     raise NotImplementedError()
    >>> try:
    ...     call_answer(stub, "stub", 1)
    ... except GradingError as error:
    ...     print(error)
    `stub` is not implemented yet (it raises NotImplementedError).
    """
    if not callable(function):
        fail(f"`{name}` should be a function (or class), not {type(function).__name__}.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        fail(f"`{name}` is not implemented yet (it raises NotImplementedError).")
    except GradingError:
        raise
    except Exception as exc:  # noqa: BLE001 - report any error the student's code raises
        fail(f"`{name}` raised {type(exc).__name__}: {exc}")


# ## Comparing in plain Python arithmetic ----------------------------------------------------------


def flat_values(array: np.ndarray) -> list:
    """The values of `array` as a flat list of Python numbers (a 0-d array gives one).

    Examples
    --------
    >>> flat_values(np.array([[1, 2], [3, 4]]))
    [1, 2, 3, 4]
    >>> flat_values(np.array(2.5))
    [2.5]
    """
    flat = array.ravel().tolist()
    return flat if isinstance(flat, list) else [flat]


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest absolute difference between `a` and `b`, value by value (``inf`` for a NaN).

    Parameters
    ----------
    a, b : numpy.ndarray
        Arrays of the same size (their shapes are not compared).

    Examples
    --------
    >>> max_difference(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    0.5
    >>> max_difference(np.array([np.nan]), np.array([1.0]))
    inf
    """
    worst = 0.0
    for x, y in zip(flat_values(a), flat_values(b), strict=True):
        if math.isnan(x) or math.isnan(y):
            return math.inf
        worst = max(worst, abs(float(x) - float(y)))
    return worst


def expect_shape(array: np.ndarray, shape: tuple, name: str) -> None:
    """Fail unless `array` has exactly `shape`.

    Examples
    --------
    >>> expect_shape(np.zeros((2, 3)), (2, 3), "x")
    >>> try:
    ...     expect_shape(np.zeros((3, 2)), (2, 3), "x")
    ... except GradingError as error:
    ...     print(error)
    `x` has shape (3, 2); expected (2, 3).
    """
    if tuple(array.shape) != tuple(shape):
        fail(f"`{name}` has shape {tuple(array.shape)}; expected {tuple(shape)}.")


def expect_close(actual: np.ndarray, expected: np.ndarray, name: str, tol: float = 1e-4) -> None:
    """Fail unless `actual` has `expected`'s shape and values, within `tol` relative tolerance.

    Parameters
    ----------
    actual : numpy.ndarray
        The answer, already converted by `to_array`.
    expected : numpy.ndarray
        The reference, float64.
    name : str
        What the message calls the answer.
    tol : float, default 1e-4
        Largest difference allowed, as a fraction of the largest expected magnitude (or of 1
        when all expected values are smaller than 1).

    Examples
    --------
    >>> expect_close(np.array([1.0, 2.00001]), np.array([1.0, 2.0]), "y")
    >>> try:
    ...     expect_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), "y")
    ... except GradingError as error:
    ...     print(error)
    `y` is off by up to 0.5: expected [1.0, 2.0], got [1.0, 2.5].
    """
    expect_shape(actual, expected.shape, name)
    difference = max_difference(actual, expected)
    scale = max([1.0, *(abs(v) for v in flat_values(expected))])
    if not difference <= tol * scale:
        fail(
            f"`{name}` is off by up to {difference:.3g}: expected {preview(expected)}, "
            f"got {preview(actual)}."
        )


def preview(array: np.ndarray) -> str:
    """The first six values of `array`, rounded to 4 decimals, for a message.

    Examples
    --------
    >>> preview(np.arange(8) / 3)
    '[0.0, 0.3333, 0.6667, 1.0, 1.3333, 1.6667, ...]'
    """
    values = [round(float(v), 4) for v in flat_values(array)[:6]]
    more = ", ..." if array.size > 6 else ""
    return f"[{', '.join(map(str, values))}{more}]"


# ## Reference maths, in float64 -------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, element by element, same shape as `z`.

    Examples
    --------
    >>> sigmoid(np.array([0.0, 2.0])).round(4)
    array([0.5   , 0.8808])
    """
    return 1.0 / (1.0 + np.exp(-z))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities of `logits` over the last axis, same shape (stable for large logits).

    Examples
    --------
    >>> np.exp(log_softmax(np.array([[0.0, np.log(3.0)]]))).round(4)
    array([[0.25, 0.75]])
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
