"""Lab 2's graded check of the core of a deletion curve (Petsiuk, Das and Saenko, "RISE", 2018).

The student writes `deletion_scores(probability, image, baseline, saliency, steps)`: the pixels
of `image` ranked by `saliency`, most salient first, are replaced by `baseline`'s in `steps`
equal chunks, and `probability` is read before any removal and after each chunk. The package's
`mitdeeplearning.xray.deletion_curve` does the same for a Keras model and a blurred copy of each
image (its curve at ``steps + 1`` fractions is this one, a test pins it), so it refuses to run
inside the answer.

The check's "model" is a closed-form probability, a sigmoid of a weighted mean of the pixels:
exact, fast, and sensitive to every pixel, so each typical mistake gives its own curve. Its
saliency maps have no ties, except in one case where only the first point (the untouched image)
and the last (the baseline) are checked, since ties may be broken in any order. The expected
curve is computed with NumPy after the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import (
    Answer,
    GradingError,  # noqa: F401 - the examples use it
    fail,
    flat_values,
    graded_answer,
    max_difference,
    passed,
    preview,
    sigmoid,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_float32 = np.float32

__all__ = ["check_deletion_scores", "deletion_reference", "pixel_probability"]

#: Probabilities are computed in float64 from the pixels the answer passes, copied from float32
#: arrays: a right answer agrees to rounding.
_TOL = 1e-6


def pixel_probability(weights: np.ndarray, bias: float) -> Callable[[np.ndarray], np.ndarray]:
    """A closed-form "model": ``sigmoid(bias + mean((x - 0.5) * weights))`` per image.

    Parameters
    ----------
    weights : float array of shape (h, w)
        How much each pixel counts.
    bias : float
        The logit of a grey image.

    Returns
    -------
    callable
        ``probability(x)``: a batch ``(n, h, w, 1)`` of float images → ``(n,)`` float64
        probabilities. Anything else raises ValueError with the shape it expected.

    Examples
    --------
    >>> probability = pixel_probability(np.ones((2, 3)), bias=0.0)
    >>> probability(np.full((1, 2, 3, 1), 0.5, "float32"))
    array([0.5])
    """
    height, width = weights.shape

    def probability(x) -> np.ndarray:
        x = _asarray(x, dtype=_float64)
        if x.ndim != 4 or x.shape[1:] != (height, width, 1):
            raise ValueError(
                f"probability takes a batch of images of shape (n, {height}, {width}, 1); got "
                f"shape {x.shape} (for one image pass image[None])."
            )
        logits = bias + ((x[..., 0] - 0.5) * weights).mean(axis=(1, 2))
        return sigmoid(logits)

    return probability


def deletion_reference(
    probability: Callable,
    image: np.ndarray,
    replacement: np.ndarray,
    order: np.ndarray,
    steps: int,
    cumulative: bool = True,
) -> np.ndarray:
    """The ``steps + 1`` probabilities as the pixels are replaced in `order`, chunk by chunk.

    Parameters
    ----------
    probability : callable
        Batch ``(n, h, w, 1)`` → ``(n,)``.
    image, replacement : float arrays of shape (h, w, 1)
        The image, and the values its removed pixels take.
    order : int array of shape (h * w,)
        The flat pixel indices, the first removed first.
    steps : int
        The number of equal chunks; it divides ``h * w``.
    cumulative : bool, default True
        Whether each step keeps the pixels removed before it (False: each step replaces only
        its own chunk, a mistake the check recognises).

    Returns
    -------
    float64 array of shape (steps + 1,)
        The untouched image's probability, then one after each chunk.

    Examples
    --------
    >>> probability = pixel_probability(np.ones((2, 2)), bias=0.0)
    >>> image, baseline = np.ones((2, 2, 1)), np.full((2, 2, 1), 0.5)
    >>> deletion_reference(probability, image, baseline, np.arange(4), steps=2).round(3)
    array([0.622, 0.562, 0.5  ])
    """
    pixels = image.size
    chunk = pixels // steps
    flat, replaced = image.reshape(pixels), replacement.reshape(pixels)
    batch = np.repeat(flat[None], steps + 1, axis=0)
    for k in range(1, steps + 1):
        removed = order[: k * chunk] if cumulative else order[(k - 1) * chunk : k * chunk]
        batch[k, removed] = replaced[removed]
    return _asarray(probability(batch.reshape(steps + 1, *image.shape)), dtype=_float64)


def _box_blur(image: np.ndarray) -> np.ndarray:
    """A 3 x 3 mean of `image` ``(h, w, 1)`` (edges repeated): the baseline, a blurred copy."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    total = sum(padded[i : i + height, j : j + width] for i in range(3) for j in range(3))
    return (total / 9.0).astype(_float32)


def _deletion_cases(seed: int) -> list[tuple]:
    """``(h, w, steps, image, saliency, ties)``: maps without ties, then one with many."""
    rng = np.random.default_rng(seed)
    cases = []
    for (height, width, steps), ties in (
        ((8, 8, 4), False),
        ((6, 10, 5), False),
        ((12, 12, 8), False),
        ((6, 6, 1), False),
        ((8, 6, 6), True),
    ):
        image = rng.random((height, width, 1)).astype(_float32)
        saliency = rng.random((height, width))
        if ties:
            saliency = np.round(saliency * 3) / 3  # four values
        cases.append((height, width, steps, image, saliency, ties))
    return cases


# The package's deletion and insertion curves (the insertion curve of the reversed map is the
# deletion curve, reversed) refuse to run inside the answer.
@refuses(package=("xray.deletion_curve", "xray.insertion_curve"))
def check_deletion_scores(deletion_scores: Callable, seed: int = 0) -> None:
    """`deletion_scores(probability, image, baseline, saliency, steps)` returns ``steps + 1``
    probabilities: `probability` of the untouched `image`, then after each of `steps` equal
    chunks of its pixels, most salient first, are replaced by `baseline`'s (cumulatively).

    Parameters
    ----------
    deletion_scores : callable
        The student's function: `probability` maps a batch ``(n, h, w, 1)`` float32 to ``(n,)``
        probabilities; `image` and `baseline` ``(h, w, 1)`` float32; `saliency` ``(h, w)``;
        `steps` an int that divides ``h * w`` → ``(steps + 1,)`` probabilities (any
        array-like). Ties in `saliency` may be broken in any order.
    seed : int, default 0
        Varies the images, maps and the model's weights.

    Examples
    --------
    Removing the least salient pixels first:

    >>> def least_first(probability, image, baseline, saliency, steps):
    ...     order, chunk = np.argsort(saliency, axis=None), saliency.size // steps
    ...     images = [image]
    ...     for k in range(1, steps + 1):
    ...         removed, x = order[: k * chunk], image.copy().reshape(-1)
    ...         x[removed] = baseline.reshape(-1)[removed]
    ...         images.append(x.reshape(image.shape))
    ...     return probability(np.stack(images))
    >>> try:
    ...     check_deletion_scores(least_first)
    ... except GradingError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    For the 8 x 8 image in 4 steps, deletion_scores gives [...]; expected [...]. Remove the
    most salient pixels first (the highest saliency), not the least salient.
    """
    answer = graded_answer(deletion_scores, "deletion_scores", "check_deletion_scores")
    rng = np.random.default_rng(seed + 1)
    for height, width, steps, image, saliency, ties in _deletion_cases(seed):
        weights = rng.normal(size=(height, width)) * 12.0
        probability = pixel_probability(weights, bias=float(rng.normal() * 0.5))
        baseline = _box_blur(image)
        inputs = (probability, image.copy(), baseline.copy(), saliency.copy(), steps)
        got = _curve(answer, answer(*inputs), height, width, steps)
        first, last = (float(v) for v in probability(np.stack([image, baseline])))
        if ties:
            _check_ends(got, first, last, height, width, steps)
            continue
        order = np.argsort(-saliency, axis=None)
        expected = deletion_reference(probability, image, baseline, order, steps)
        if max_difference(got, expected) > _TOL:
            hint = _deletion_hint(got, probability, image, baseline, order, steps)
            fail(
                f"For the {height} x {width} image in {steps} steps, "
                f"deletion_scores gives {preview(got)}; expected {preview(expected)}.{hint}"
            )
    passed(
        "deletion_scores replaces the most salient pixels by the baseline, chunk by chunk, "
        "and reads the probability before and after each chunk"
    )


def _curve(answer: Answer, value, height: int, width: int, steps: int) -> np.ndarray:
    """The answer's curve as a flat float64 array of ``steps + 1`` values, or a failure."""
    got = answer.array(value, "deletion_scores' result").ravel()
    if got.size != steps + 1:
        fail(
            f"For the {height} x {width} image in {steps} steps, deletion_scores returned "
            f"{got.size} probabilities; return steps + 1 = {steps + 1}: the untouched image's "
            "first, then one after each chunk is removed."
        )
    return got


def _check_ends(got: np.ndarray, first: float, last: float, height, width, steps) -> None:
    """With ties in the map, only the untouched image's and the baseline's points are fixed."""
    values = flat_values(got)
    if not abs(values[0] - first) <= _TOL:
        fail(
            f"For the {height} x {width} image in {steps} steps, the first probability is "
            f"{values[0]:.6f}; it should be the untouched image's, {first:.6f}."
        )
    if not abs(values[-1] - last) <= _TOL:
        fail(
            f"For the {height} x {width} image in {steps} steps, the last probability is "
            f"{values[-1]:.6f}; once every pixel is removed it should be the baseline's, "
            f"{last:.6f}."
        )


def _deletion_hint(got, probability, image, baseline, order, steps) -> str:
    """The typical mistake `got` matches, as a sentence, else ``""``."""
    candidates = {
        "Remove the most salient pixels first (the highest saliency), not the least salient.":
            deletion_reference(probability, image, baseline, order[::-1], steps),
        "Replace the removed pixels by the baseline's, not by 0.":
            deletion_reference(probability, image, np.zeros_like(image), order, steps),
        "Keep the pixels removed at earlier steps removed: after step k, the first k chunks "
        "are all replaced.":
            deletion_reference(probability, image, baseline, order, steps, cumulative=False),
    }  # fmt: skip
    for hint, values in candidates.items():
        if max_difference(got, values) <= _TOL:
            return f" {hint}"
    return ""
