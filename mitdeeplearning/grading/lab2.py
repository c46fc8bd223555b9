"""Lab 2's graded checks, first part: pneumothorax classification and the ROC curve.

Each check takes what the student wrote, tries it on small inputs of its own (a tiny Keras
classifier with known weights, random labels and scores) and either prints one line starting
with a check mark or raises `GradingError` with one sentence that says what is wrong. The
reference for the ROC curve is scikit-learn's, imported when the check runs. The second part,
Class Activation Maps and the pointing game, is in `mitdeeplearning.grading.cams`.

Each check says next to it what its exercise refuses (`refuses`): the package's and the
libraries' implementations of the exercise, which the check's own reference computations still
use, outside the answer. Each check computes what it expects only after the answer's output has
been read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import (
    Answer,
    GradingError,  # noqa: F401 - the examples use it
    expect_shape,
    fail,
    flat_values,
    graded_answer,
    log_softmax,
    max_difference,
    passed,
    preview,
    sigmoid,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_int64 = np.int64

__all__ = [
    "check_class_weights",
    "check_predict",
    "check_roc",
    "check_weighted_loss",
]


# ## Classifying: class weights, the weighted loss, predictions ------------------------------------


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    """P(class 1) of ``(n, 2)`` logits, in float64."""
    return np.exp(log_softmax(logits.astype(_float64)))[:, 1]


def _cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    log_probs = log_softmax(logits.astype(_float64))
    return -np.take_along_axis(log_probs, labels[:, None].astype(_int64), -1)[:, 0]


def _scalar(answer: Answer, value: Any, name: str) -> float:
    array = answer.array(value, name)
    if array.size != 1:
        fail(
            f"`{name}` should be one number (the mean over the batch), not shape "
            f"{tuple(array.shape)}."
        )
    return float(flat_values(array)[0])


@refuses(
    package=("xray.class_weights",),
    library=("sklearn.utils.class_weight.compute_class_weight",),
)
def check_class_weights(balanced_class_weights: Callable) -> None:
    """`balanced_class_weights(labels)` gives ``n / (2 * n_c)`` for classes 0 and 1.

    Parameters
    ----------
    balanced_class_weights : callable
        The student's function: labels ``(n,)`` of 0 and 1 → two weights ``(2,)``, float.

    Examples
    --------
    An answer that gives each class its share of the examples instead:

    >>> try:
    ...     check_class_weights(lambda y: np.bincount(y, minlength=2) / len(y))
    ... except GradingError as error:
    ...     print(error)
    For 4 labels with 1 positive, the weights are [0.75, 0.25];
    expected n / (2 n_c) = [0.6667, 2.0].
    """
    answer = graded_answer(balanced_class_weights, "balanced_class_weights", "check_class_weights")
    rng = np.random.default_rng(5)
    cases = [np.array([0, 0, 0, 1]), np.array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0])]
    cases.append((rng.random(101) < 0.2).astype(_int64))
    for labels in cases:
        got = answer.array(answer(labels.copy()), "the weights").ravel()
        expect_shape(got, (2,), "the weights (one per class)")
        n, positives = len(labels), int(labels.sum())
        expected = _asarray([n / (2.0 * (n - positives)), n / (2.0 * positives)], dtype=_float64)
        if max_difference(got, expected) > 1e-6 * float(expected.max()):
            hint = ""
            if max_difference(got, expected[::-1]) <= 1e-6 * float(expected.max()):
                hint = " The rarer class should get the larger weight."
            fail(
                f"For {n} labels with {positives} positive, the weights are "
                f"{preview(got)}; expected n / (2 n_c) = {preview(expected)}.{hint}"
            )
    passed("balanced_class_weights gives n / (2 n_c): each class carries half of the loss")


# The exercise asks for TensorFlow's per-example cross-entropy and tf.gather: both allowed; what
# it is about is the weighting, which no package function does on its own.
@refuses()
def check_weighted_loss(weighted_cross_entropy: Callable, seed: int = 0) -> None:
    """`weighted_cross_entropy(labels, logits, class_weights)`: the mean over the batch of
    ``class_weights[label] * cross-entropy(logits)``, in TensorFlow operations (it runs inside
    the compiled training step)."""
    import tensorflow as tf

    answer = graded_answer(weighted_cross_entropy, "weighted_cross_entropy", "check_weighted_loss")
    rng = np.random.default_rng(seed)
    for batch in (6, 1, 33):
        logits = (rng.normal(size=(batch, 2)) * 2).astype("float32")
        labels = rng.integers(0, 2, size=batch).astype("int32")
        weights = _asarray([0.6, 2.5], dtype="float32") + rng.random(2).astype("float32")
        inputs = tf.constant(labels), tf.constant(logits), tf.constant(weights)
        got = _scalar(answer, answer(*inputs), "the loss")
        ce = _cross_entropy(labels, logits)
        w = weights.astype(_float64)[labels]
        expected = float((w * ce).mean())
        if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
            picked = np.take_along_axis(logits, labels[:, None], -1)[:, 0]
            hints = {
                "Multiply each example's cross-entropy by the weight of its class.":
                    float(ce.mean()),
                "Divide by the number of examples, not by the sum of the weights.":
                    float((w * ce).sum() / w.sum()),
                "The model outputs logits: use a cross-entropy from logits (softmax inside).":
                    float((w * -np.log(np.clip(picked, 1e-7, 1))).mean()),
                "Return the mean over the batch, not the sum.": float((w * ce).sum()),
            }  # fmt: skip
            hint = next(
                (h for h, v in hints.items() if abs(got - v) <= 1e-4 * max(1.0, abs(v))), ""
            )
            fail(f"For {batch} examples the loss is {got:.4f}; expected {expected:.4f}. {hint}")
    why = "the training step compiles it"
    operations = (
        "TensorFlow operations such as tf.gather and tf.nn.sparse_softmax_cross_entropy_with_logits"
    )
    value = answer.in_graph(
        weighted_cross_entropy, "weighted_cross_entropy", why, *inputs, operations=operations
    )
    got = _scalar(answer, value, "the loss inside tf.function")
    if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        fail(f"Inside tf.function the loss is {got:.4f}; expected {expected:.4f}.")
    passed("weighted_cross_entropy is the class-weighted mean cross-entropy of the logits")


def _tiny_classifier(seed: int):
    """A Keras model with known weights: (4, 4, 1) images → Flatten → Dense(2) logits."""
    import keras

    rng = np.random.default_rng(seed)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    kernel, bias = rng.normal(size=(16, 2)), rng.normal(size=(2,)) * 0.5
    model.layers[-1].set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model, kernel.astype("float32").astype(_float64), bias.astype("float32")


@refuses()
def check_predict(predict_pneumothorax: Callable, seed: int = 0) -> None:
    """`predict_pneumothorax(model, images, threshold=0.5)` returns ``(probabilities,
    predictions)``: P(pneumothorax) = softmax(logits)[:, 1] per image, and 1 where it is at
    least `threshold`, else 0."""
    answer = graded_answer(predict_pneumothorax, "predict_pneumothorax", "check_predict")
    model, kernel, bias = _tiny_classifier(seed)
    rng = np.random.default_rng(seed + 1)
    images = rng.normal(size=(70, 4, 4, 1)).astype("float32")
    for threshold in (0.5, 0.2, 0.9):
        result = answer(model, images.copy(), threshold=threshold)
        if not isinstance(result, tuple | list) or len(result) != 2:
            fail("predict_pneumothorax should return a pair (probabilities, predictions).")
        probabilities = answer.array(result[0], "probabilities").reshape(-1)
        predictions = answer.array(result[1], "predictions").reshape(-1)
        expect_shape(probabilities, (70,), "probabilities (one per image)")
        expect_shape(predictions, (70,), "predictions (one per image)")
        logits = images.reshape(70, -1).astype(_float64) @ kernel + bias
        expected = _softmax_positive(logits)
        if max_difference(probabilities, expected) > 1e-4:
            hint = ""
            if max_difference(probabilities, sigmoid(logits[:, 1])) <= 1e-4:
                hint = " Take the softmax of both logits, not the sigmoid of one."
            elif max_difference(probabilities, 1 - expected) <= 1e-4:
                hint = " Class 1 (the second column) is pneumothorax."
            fail(
                f"The probabilities are {preview(probabilities)}; expected softmax(logits)"
                f"[:, 1] = {preview(expected)}.{hint}"
            )
        wanted = (expected >= threshold).astype(_float64)
        if max_difference(predictions, wanted) != 0:
            fail(
                f"At threshold {threshold} the predictions should be 1 where the probability "
                f"is at least {threshold}: {int(wanted.sum())} of 70 here, your predictions "
                f"have {int(sum(v == 1 for v in flat_values(predictions)))}."
            )
    passed("predict_pneumothorax gives P(pneumothorax) and the label at the threshold")


# ## The ROC curve ---------------------------------------------------------------------------------

#: Rates are multiples of 1 / n (n <= 60 in the cases here): two different rates are at least
#: 1 / 60 apart, and an answer in float32 is within 1e-7 of the exact ones.
_RATE_TOL = 1e-6


def _distinct_points(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """The curve's points, with consecutive repeats dropped: ``(m, 2)``."""
    points = []
    for x, y in zip(flat_values(fpr), flat_values(tpr), strict=True):
        if not points or abs(points[-1][0] - x) > _RATE_TOL or abs(points[-1][1] - y) > _RATE_TOL:
            points.append((float(x), float(y)))
    return _asarray(points, dtype=_float64)


def _never_decreases(values: list) -> bool:
    return all(b >= a for a, b in zip(values, values[1:], strict=False))


def _same_points(points: list, others: list) -> bool:
    """Whether two lists of ``(fpr, tpr)`` pairs agree, pair by pair, within `_RATE_TOL`."""
    return len(points) == len(others) and all(
        abs(a - c) <= _RATE_TOL and abs(b - d) <= _RATE_TOL
        for (a, b), (c, d) in zip(points, others, strict=True)
    )


class _Rates:
    """The ``(fpr, tpr)`` of the decision ``score >= t`` (or ``score > t``) on one case.

    A threshold within float32 rounding of a score stands for that score: an answer that
    computes in float32 returns its thresholds rounded.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray) -> None:
        self.negatives, self.positives = scores[labels == 0], scores[labels == 1]
        self.scores = sorted(set(flat_values(scores)))
        self.highest = self.scores[-1]

    def snapped(self, t: float) -> float:
        """`t`, or the score it stands for."""
        nearest = min(self.scores, key=lambda s: abs(s - t))
        return nearest if abs(nearest - t) <= 1e-6 * max(1.0, abs(nearest)) else t

    def at(self, t: float, strict: bool = False) -> tuple[float, float]:
        t = self.snapped(t)
        if strict:
            return float((self.negatives > t).mean()), float((self.positives > t).mean())
        return float((self.negatives >= t).mean()), float((self.positives >= t).mean())


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


# The exercise is the curve itself: scikit-learn's curve, its area and its plot refuse, and so
# does the package's own `xray.roc`. (The check's reference is scikit-learn's curve, imported
# only after the answer's output has been read.)
@refuses(
    package=("xray.roc",),
    library=(
        "sklearn.metrics.roc_curve",
        "sklearn.metrics.roc_auc_score",
        "sklearn.metrics.auc",
        "sklearn.metrics.RocCurveDisplay",
        "sklearn.metrics._ranking._binary_clf_curve",
    ),
)
def check_roc(roc_curve: Callable, cases: list | None = None, seed: int = 0) -> None:
    """`roc_curve(labels, scores)` returns ``(fpr, tpr, thresholds)``, one point per distinct
    score from the highest down, starting at (0, 0) and ending at (1, 1): the same curve as
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``; and each threshold gives its
    point.

    The thresholds start above every score (``np.inf``, or anything above the highest score)
    and fall strictly through the distinct scores, and ``fpr[i], tpr[i]`` are the rates of the
    decision ``score >= thresholds[i]``: the triage cell picks a threshold by its point.
    Values may be NumPy arrays, tensors or lists, in float32 or float64.
    """
    answer = graded_answer(roc_curve, "roc_curve", "check_roc")
    for labels, scores in cases or _roc_cases(seed):
        labels, scores = _asarray(labels, dtype=_int64), _asarray(scores, dtype=_float64)
        _check_roc_case(answer, labels, scores)
    passed(
        "roc_curve gives the same curve as scikit-learn, and each threshold its point; tied "
        "scores cross a threshold together, so a tie between a sick and a healthy patient is a "
        "diagonal step, which counts half in the AUC"
    )


def _roc_arrays(answer: Answer, labels: np.ndarray, scores: np.ndarray) -> tuple:
    """The answer's ``(fpr, tpr, thresholds)`` for one case, flat float64 arrays of one length."""
    result = answer(labels.copy(), scores.copy())
    if not isinstance(result, tuple | list) or len(result) != 3:
        fail("roc_curve should return three arrays (fpr, tpr, thresholds).")
    fpr = answer.array(result[0], "fpr").ravel()
    tpr = answer.array(result[1], "tpr").ravel()
    thresholds = answer.array(result[2], "thresholds").ravel()
    if not (fpr.shape == tpr.shape == thresholds.shape) or fpr.size < 2:
        first = ""
        if fpr.size == tpr.size == thresholds.size + 1:
            first = " Start with a threshold above every score (np.inf), the point (0, 0)."
        fail(
            f"fpr, tpr and thresholds should have one entry per point of the curve; "
            f"got {fpr.size}, {tpr.size} and {thresholds.size}.{first}"
        )
    return fpr, tpr, thresholds


def _check_roc_case(answer: Answer, labels: np.ndarray, scores: np.ndarray) -> None:
    """One case of `check_roc`: the answer's curve for `labels` and `scores` is the
    reference's, and each of its thresholds gives its point."""
    fpr, tpr, thresholds = _roc_arrays(answer, labels, scores)
    rates = _Rates(labels, scores)
    points = list(zip(flat_values(fpr), flat_values(tpr), strict=True))
    cuts = flat_values(thresholds)
    at_or_above = [rates.at(t) for t in cuts]
    if _same_points(points, [rates.at(t, strict=True) for t in cuts]) and not _same_points(
        points, at_or_above
    ):
        # With distinct scores as thresholds, ``score > thresholds[i]`` is ``score >=
        # thresholds[i - 1]``: one sentence for both readings.
        fail(
            "Point i of your curve is what score > thresholds[i] gives (the same as score >= "
            "thresholds[i - 1]): call an example positive when its score is at least the "
            "threshold (score >= threshold), and the i-th threshold must give the i-th point."
        )
    if not (_never_decreases(flat_values(fpr)) and _never_decreases(flat_values(tpr))):
        fail(
            "fpr and tpr should never decrease: go through the thresholds from the highest "
            "score down."
        )
    _check_roc_points(fpr, tpr, labels, scores)
    _check_thresholds(points, cuts, at_or_above, rates)


def _check_roc_points(
    fpr: np.ndarray, tpr: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> None:
    """The curve's distinct points are scikit-learn's (or say how they differ)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as reference

    ref_fpr, ref_tpr, _ = reference(labels, scores, drop_intermediate=False)
    got, expected = _distinct_points(fpr, tpr), _distinct_points(ref_fpr, ref_tpr)
    ends = [abs(v) <= _RATE_TOL for v in flat_values(got[0])] + [
        abs(v - 1) <= _RATE_TOL for v in flat_values(got[-1])
    ]
    if not all(ends):
        fail(
            f"The curve should start at (fpr, tpr) = (0, 0) and end at (1, 1); yours runs "
            f"from {tuple(flat_values(got[0]))} to {tuple(flat_values(got[-1]))}."
        )
    if got.shape != expected.shape or max_difference(got, expected) > _RATE_TOL:
        swapped = got[:, ::-1]
        if swapped.shape == expected.shape and max_difference(swapped, expected) <= _RATE_TOL:
            fail(
                "fpr and tpr are swapped: return (fpr, tpr, thresholds), the false positive "
                "rate (among the negatives) first, the true positive rate (among the "
                "positives) second."
            )
        area = float(np.sum(np.diff(got[:, 0]) * (got[1:, 1] + got[:-1, 1]) / 2))
        fail(
            f"For labels {preview(labels)} and scores {preview(scores)}, the curve has "
            f"{len(got)} distinct points (area {area:.4f}); expected {len(expected)} "
            f"(area {roc_auc_score(labels, scores):.4f}). Use one threshold per distinct "
            "score, predicting positive where score >= threshold, so tied scores move "
            "together."
        )


def _check_thresholds(points: list, cuts: list, at_or_above: list, rates: _Rates) -> None:
    """The thresholds start above every score and fall strictly through the scores, and the
    i-th gives the i-th point (`at_or_above`: the rates of ``score >= cuts[i]``)."""
    shifted = _same_points(points[:-1], at_or_above[1:]) or _same_points(
        points[1:], at_or_above[:-1]
    )
    if shifted and not _same_points(points, at_or_above):
        fail(
            "Your thresholds are shifted by one from your points: the i-th threshold must "
            "give the i-th point, fpr[i] and tpr[i] being the rates of score >= "
            "thresholds[i]."
        )
    if not cuts[0] > rates.highest:
        fail(
            f"thresholds[0] is {cuts[0]:.6g}; it should lie above every score (np.inf, or "
            f"anything above the highest score, {rates.highest:.6g}), so that the first point, "
            "(0, 0), calls nobody positive."
        )
    for i in range(1, len(cuts)):
        if not cuts[i] < cuts[i - 1]:
            fail(
                f"thresholds[{i}] = {cuts[i]:.6g} is not below thresholds[{i - 1}] = "
                f"{cuts[i - 1]:.6g}: the thresholds should fall strictly, through each "
                "distinct score once, from the highest down."
            )
        if rates.snapped(cuts[i]) not in rates.scores:
            fail(
                f"thresholds[{i}] = {cuts[i]:.6g} is not one of the scores: use the distinct "
                "scores themselves as thresholds, from the highest down."
            )
    for i, ((x, y), (fx, fy)) in enumerate(zip(points, at_or_above, strict=True)):
        if abs(x - fx) > _RATE_TOL or abs(y - fy) > _RATE_TOL:
            fail(
                f"At thresholds[{i}] = {cuts[i]:.6g}, score >= threshold gives (fpr, tpr) = "
                f"({fx:.4f}, {fy:.4f}), but your point {i} is ({x:.4f}, {y:.4f}): the i-th "
                "threshold must give the i-th point."
            )
