"""ROC curve and AUC against scikit-learn, the ROC plot's axes, confusion counts, and the
Wilson interval of a rate."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from mitdeeplearning.xray import confusion_at, plot_roc, roc, wilson_interval
from mitdeeplearning.xray.evaluation import youden_threshold

matplotlib.use("Agg")

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 200)
SCORE = np.clip(0.3 * Y + RNG.normal(0.35, 0.2, 200), 0, 1)


def test_roc_matches_scikit_learn():
    fpr, tpr, thresholds, auc = roc(Y, SCORE)
    expected = roc_curve(Y, SCORE)
    for ours, theirs in zip((fpr, tpr, thresholds), expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert auc == pytest.approx(roc_auc_score(Y, SCORE))
    assert 0.75 < auc < 0.95
    assert roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])[3] == 0.75
    assert roc(np.array([False, True]), [0.2, 0.7])[3] == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_score", "message"),
    [
        ([1, 1, 1], [0.1, 0.5, 0.9], "only class 1.*undefined without negatives"),
        ([0, 0], [0.1, 0.5], "only class 0.*undefined without positives"),
        ([0, 1, 2], [0.1, 0.5, 0.9], "only 0 and 1"),
        ([0, 1], [0.1, 0.5, 0.9], "one score per label"),
        ([0, 1], [[0.9, 0.1], [0.2, 0.8]], r"probabilities\[:, 1\]"),
        ([[1, 0], [0, 1]], [0.1, 0.9], "argmax"),
        ([0, 1], [0.1, np.nan], "finite"),
    ],
)
def test_roc_validates_its_input(y_true, y_score, message):
    with pytest.raises(ValueError, match=message):
        roc(y_true, y_score)


def test_plot_roc_draws_tpr_against_fpr_with_the_chance_line_and_an_operating_point():
    fpr, tpr, _, auc = roc(Y, SCORE)
    ax = plot_roc(Y, SCORE, label="CNN")
    curve, chance, point = ax.lines[:3]
    np.testing.assert_array_equal(curve.get_xdata(), fpr)  # across: false positive rate
    np.testing.assert_array_equal(curve.get_ydata(), tpr)  # up: true positive rate
    assert "false positive" in ax.get_xlabel() and "true positive" in ax.get_ylabel()
    assert list(chance.get_xdata()) == [0, 1] and list(chance.get_ydata()) == [0, 1]
    assert ax.get_legend().get_texts()[0].get_text() == f"CNN (AUC = {auc:.3f})"
    # The default operating point is Youden's: the largest TPR - FPR.
    j = tpr - fpr
    best = np.argmax(np.where(np.isfinite(roc(Y, SCORE)[2]), j, -np.inf))
    assert point.get_xdata()[0] == pytest.approx(fpr[best])
    assert point.get_ydata()[0] == pytest.approx(tpr[best])
    at = confusion_at(Y, SCORE, youden_threshold(Y, SCORE))
    assert at["sensitivity"] - (1 - at["specificity"]) == pytest.approx(j.max())

    ax2 = plot_roc(Y, SCORE, ax=ax, threshold=0.5)  # a second curve on the same axes
    assert ax2 is ax and len(ax.lines) == 6
    c = confusion_at(Y, SCORE, 0.5)
    assert ax.lines[5].get_xdata()[0] == pytest.approx(1 - c["specificity"])
    assert ax.lines[5].get_ydata()[0] == pytest.approx(c["sensitivity"])
    matplotlib.pyplot.close("all")


def test_confusion_at_on_a_hand_example():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    score = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.5, 0.5]
    c = confusion_at(y, score, threshold=0.5)  # at or above 0.5 is positive
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (3, 1, 2, 2)
    assert c["sensitivity"] == 3 / 4 and c["specificity"] == 2 / 4
    assert c["ppv"] == 3 / 5 and c["npv"] == 2 / 3 and c["accuracy"] == 5 / 8
    assert confusion_at(y, score, 0.95)["tp"] == 0 and math.isnan(
        confusion_at(y, score, 0.95)["ppv"]
    )
    only_negatives = confusion_at([0, 0], [0.2, 0.8])
    assert math.isnan(only_negatives["sensitivity"]) and only_negatives["specificity"] == 0.5
    with pytest.raises(ValueError, match="threshold"):
        confusion_at(y, score, threshold=float("nan"))


# ## The Wilson interval ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "expected"),
    [
        (38, 40, 0.95, (0.8350, 0.9862)),  # a sensitivity on the lab's ~40 validation positives
        (5, 10, 0.95, (0.2366, 0.7634)),
        (0, 10, 0.95, (0.0, 0.2775)),
        (10, 10, 0.95, (0.7225, 1.0)),
    ],
)
def test_wilson_interval_known_values(successes, n, confidence, expected):
    low, high = wilson_interval(successes, n, confidence)
    assert (low, high) == pytest.approx(expected, abs=5e-5)
    assert 0.0 <= low <= successes / n <= high <= 1.0


@pytest.mark.parametrize(("successes", "n", "confidence"), [(13, 31, 0.95), (38, 40, 0.9)])
def test_wilson_interval_is_the_score_test_inverted(successes, n, confidence):
    # The ends are the rates p at which the score test |k/n - p| / sqrt(p (1 - p) / n) = z,
    # found here by root-finding instead of the closed form.
    from scipy.optimize import brentq
    from scipy.stats import norm

    z, rate = norm.ppf(0.5 + confidence / 2), successes / n

    def excess(p):
        return abs(rate - p) / np.sqrt(p * (1 - p) / n) - z

    expected = brentq(excess, 1e-9, rate), brentq(excess, rate, 1 - 1e-9)
    assert wilson_interval(successes, n, confidence) == pytest.approx(expected, abs=1e-9)


def test_wilson_interval_narrows_with_more_trials_and_widens_with_confidence():
    widths = [np.diff(wilson_interval(int(0.9 * n), n)).item() for n in (10, 40, 160, 640)]
    assert widths == sorted(widths, reverse=True)
    assert np.diff(wilson_interval(38, 40, 0.99)) > np.diff(wilson_interval(38, 40, 0.95))
    assert wilson_interval(np.int64(3), np.int64(4)) == wilson_interval(3, 4)


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "message"),
    [
        (0, 0, 0.95, r"n=0: a proportion needs at least one trial \(n >= 1\)"),
        (3, 2, 0.95, "successes=3 must lie between 0 and n=2"),
        (-1, 2, 0.95, "successes=-1 must lie between 0 and n=2"),
        (1.5, 2, 0.95, "successes=1.5 must be an integer count"),
        (1, 2.0, 0.95, "n=2.0 must be an integer count"),
        (True, 2, 0.95, "successes=True must be an integer count"),
        (1, 2, 95, "confidence=95 must be a number strictly between 0 and 1"),
        (1, 2, 1.0, "confidence=1.0 must be a number strictly between 0 and 1"),
    ],
)
def test_wilson_interval_validates_its_arguments(successes, n, confidence, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, n, confidence)
