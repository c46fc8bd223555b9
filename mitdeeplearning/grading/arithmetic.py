"""Plain-Python arithmetic on an answer already converted to NumPy, and the reference maths.

A check reads the student's answer into a NumPy array of an explicit dtype first
(`mitdeeplearning.grading.compare.to_array`); these helpers then turn it into Python numbers
(`flat_values`), measure how far it is from what the check expects (`max_difference`) and show
a few of its values in a message (`preview`), without the answer's own ``__eq__``, `math` or
``numpy.testing``, which a notebook could patch. `sigmoid` and `log_softmax` compute, in
float64, what the checks expect.

They give numbers and text, never a verdict: the checks fail through
`mitdeeplearning.grading.compare`, which re-exports them.
"""

from __future__ import annotations

import numpy as np

_INFINITY = float("inf")

__all__ = ["flat_values", "log_softmax", "max_difference", "preview", "sigmoid"]


# ## Numbers in plain Python -----------------------------------------------------------------------


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
        if x != x or y != y:  # NaN, in plain Python (`math` could be patched)
            return _INFINITY
        worst = max(worst, abs(float(x) - float(y)))
    return worst


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
