"""How good is a classifier's score? The ROC curve, its area, and the confusion at a threshold.

A classifier that outputs a score (the probability of pneumothorax) is not yet a decision: a
threshold turns it into one. The ROC curve shows every threshold at once: for each, the true
positive rate (sensitivity, TPR = TP / (TP + FN)) against the false positive rate
(1 - specificity, FPR = FP / (FP + TN)). Its area (AUC) is the chance that a random positive
scores higher than a random negative: 0.5 is a coin, 1.0 a perfect ranking. `confusion_at`
fixes one threshold and counts what it gets right and wrong, and `wilson_interval` says how
precisely a rate measured on few patients (a sensitivity on 40 positives) is known.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from ..guard import refuse_during_grading

if TYPE_CHECKING:
    import matplotlib.axes


def _check_scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """``(n,) int`` labels in {0, 1} and ``(n,) float`` finite scores, validated."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.ndim != 1:
        raise ValueError(
            f"y_true must be 1-D class ids 0/1 of shape (n,), got shape {y_true.shape} "
            "(for one-hot labels pass labels.argmax(1))."
        )
    if y_score.ndim != 1:
        raise ValueError(
            f"y_score must be 1-D scores of shape (n,), got shape {y_score.shape} "
            "(for two-class probabilities pass probabilities[:, 1])."
        )
    if len(y_true) != len(y_score):
        raise ValueError(
            f"y_true has {len(y_true)} labels but y_score has {len(y_score)} scores; "
            "expected one score per label."
        )
    if y_true.dtype == bool:
        y_true = y_true.astype(np.int64)
    if not np.issubdtype(y_true.dtype, np.number) or not np.isin(y_true, (0, 1)).all():
        values = np.unique(y_true)[:5]
        raise ValueError(f"y_true must hold only 0 and 1, got values {values.tolist()}.")
    if not np.issubdtype(y_score.dtype, np.number) or not np.isfinite(y_score).all():
        raise ValueError("y_score must be finite numbers (no NaN or infinity).")
    return y_true.astype(np.int64), y_score.astype(np.float64)


def roc(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The ROC curve and its area, via scikit-learn.

    Parameters
    ----------
    y_true : array of shape (n,)
        Labels: 1 for pneumothorax (positive), 0 for none (bool also works).
    y_score : array of shape (n,)
        A score that is higher for positives, e.g. the softmax probability of class 1.

    Returns
    -------
    fpr, tpr : float arrays of shape (m,)
        False and true positive rates, from (0, 0) up to (1, 1).
    thresholds : float array of shape (m,)
        ``fpr[i], tpr[i]`` are the rates of the decision ``y_score >= thresholds[i]``
        (``thresholds[0]`` is ``inf``: nothing called positive).
    auc : float
        Area under the curve.

    Raises
    ------
    ValueError
        If the shapes differ, the labels are not 0/1, the scores are not finite, or only one
        class is present: with no positives (or no negatives) one of the two rates is 0 / 0,
        so the curve and its area are undefined.

    See Also
    --------
    plot_roc : draws this curve.
    sklearn.metrics.roc_curve, sklearn.metrics.roc_auc_score

    Examples
    --------
    >>> fpr, tpr, thresholds, auc = roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> auc
    0.75
    """
    refuse_during_grading("xray.roc")
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true, y_score = _check_scores(y_true, y_score)
    present = np.unique(y_true)
    if len(present) < 2:
        missing = "positives (1)" if present.tolist() == [0] else "negatives (0)"
        raise ValueError(
            f"y_true holds only class {present.tolist()[0] if len(present) else 'none'}: "
            f"the ROC curve and its AUC are undefined without {missing}; "
            "evaluate on a set that has both."
        )
    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    return fpr, tpr, thresholds, float(roc_auc_score(y_true, y_score))


def youden_threshold(y_true, y_score) -> float:
    """The threshold that maximises Youden's J = sensitivity + specificity - 1 = TPR - FPR.

    Among the finite thresholds of `roc` (``y_score >= threshold`` is called positive); ties
    go to the highest threshold.

    Examples
    --------
    >>> youden_threshold([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])   # J = 1/2 at 0.9 and at 0.4
    0.9
    """
    fpr, tpr, thresholds, _ = roc(y_true, y_score)
    finite = np.isfinite(thresholds)
    j = np.where(finite, tpr - fpr, -np.inf)
    return float(thresholds[int(np.argmax(j))])


def confusion_at(y_true, y_score, threshold: float = 0.5) -> dict[str, float]:
    """Counts and rates of the decision ``y_score >= threshold``.

    Parameters
    ----------
    y_true : array of shape (n,)
        Labels 0/1.
    y_score : array of shape (n,)
        Scores, e.g. probabilities of class 1.
    threshold : float, default 0.5
        Scores at or above it are called positive.

    Returns
    -------
    dict
        ``tn, fp, fn, tp`` (ints); ``sensitivity`` = TP / (TP + FN) (recall, TPR),
        ``specificity`` = TN / (TN + FP), ``ppv`` = TP / (TP + FP) (precision),
        ``npv`` = TN / (TN + FN), ``accuracy`` = (TP + TN) / n. A rate whose denominator is 0
        (e.g. the sensitivity when there are no positives) is NaN.

    Examples
    --------
    >>> c = confusion_at([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    >>> c["tp"], c["fp"], c["fn"], c["tn"], c["sensitivity"], c["ppv"]
    (1, 1, 1, 1, 0.5, 0.5)
    """
    y_true, y_score = _check_scores(y_true, y_score)
    if not (isinstance(threshold, int | float | np.number) and math.isfinite(threshold)):
        raise ValueError(f"threshold={threshold!r} must be a finite number.")
    predicted = y_score >= threshold
    positive = y_true == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    tn = int(np.sum(~predicted & ~positive))

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    return {
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "accuracy": ratio(tp + tn, len(y_true)),
    }


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: where the true rate lies, given `successes`
    out of `n` (Wilson, 1927).

    Better than the textbook ``p ± z sqrt(p (1 - p) / n)`` for the small counts and the rates
    near 0 or 1 of a medical test: it stays inside [0, 1] and does not shrink to a point at
    ``successes = n``.

    Parameters
    ----------
    successes : int
        How many of the `n` trials succeeded (the positives caught, for a sensitivity), from 0
        to `n`.
    n : int
        How many trials (the positives in the set, for a sensitivity); at least 1.
    confidence : float, default 0.95
        The interval's coverage, strictly between 0 and 1.

    Returns
    -------
    low, high : float
        The interval's ends, ``0 <= low <= successes / n <= high <= 1``.

    Raises
    ------
    ValueError
        If `n` < 1 (a rate of no trials is undefined: there is nothing to bound), `successes`
        is not an integer from 0 to `n`, or `confidence` is not in (0, 1).

    See Also
    --------
    confusion_at : the sensitivity and its counts at a threshold.

    Examples
    --------
    A triage threshold that catches 38 of 40 positives: a sensitivity of 95 %, known to
    within about 84 % to 99 %.

    >>> low, high = wilson_interval(38, 40)
    >>> round(low, 3), round(high, 3)
    (0.835, 0.986)
    >>> wilson_interval(0, 10)[0], wilson_interval(10, 10)[1]
    (0.0, 1.0)
    """
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name}={value!r} must be an integer count.")
    if n < 1:
        raise ValueError(
            f"n={n}: a proportion needs at least one trial (n >= 1); with no positives in the "
            "set, say, there is no sensitivity to bound."
        )
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must lie between 0 and n={n}.")
    if not (isinstance(confidence, int | float | np.floating) and 0 < confidence < 1):
        raise ValueError(f"confidence={confidence!r} must be a number strictly between 0 and 1.")
    z = NormalDist().inv_cdf(0.5 + float(confidence) / 2)
    p, n = successes / n, int(n)
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not 1e-17 off
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def plot_roc(
    y_true,
    y_score,
    *,
    ax: matplotlib.axes.Axes | None = None,
    threshold: float | None = None,
    label: str | None = None,
) -> matplotlib.axes.Axes:
    """Draw the ROC curve: true positive rate (up) against false positive rate (across).

    The dashed diagonal is a classifier that guesses; the legend gives the AUC, and a dot marks
    the operating point of one threshold.

    Parameters
    ----------
    y_true, y_score : arrays of shape (n,)
        As for `roc`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 4.5 x 4.5 inch figure when None. Call again with the same `ax` to
        compare classifiers on one plot.
    threshold : float, optional
        The operating point to mark (``y_score >= threshold`` is positive). Default: the
        threshold of largest Youden's J (TPR - FPR), the point farthest above the diagonal.
    label : str, optional
        Name of the classifier in the legend, before its AUC.

    Returns
    -------
    matplotlib.axes.Axes
        The axes; the curve is the first line drawn on it by this call (``x`` the FPR, ``y``
        the TPR, as returned by `roc`).

    Examples
    --------
    >>> ax = plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], label="CNN")
    >>> ax.get_legend().get_texts()[0].get_text()
    'CNN (AUC = 0.750)'
    """
    import matplotlib.pyplot as plt

    fpr, tpr, _, auc = roc(y_true, y_score)
    if threshold is None:
        threshold = youden_threshold(y_true, y_score)
    point = confusion_at(y_true, y_score, threshold)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    name = f"AUC = {auc:.3f}" if label is None else f"{label} (AUC = {auc:.3f})"
    (curve,) = ax.plot(fpr, tpr, lw=2, label=name)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.plot(
        1 - point["specificity"],
        point["sensitivity"],
        "o",
        color=curve.get_color(),
        markeredgecolor="black",
        label=f"threshold {threshold:.3g}: sens. {point['sensitivity']:.2f}, "
        f"spec. {point['specificity']:.2f}",
    )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return ax
