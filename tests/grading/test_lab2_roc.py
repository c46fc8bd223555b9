"""Lab 2's ROC check looks at the thresholds too: each threshold must give its own point.

The triage cell picks a threshold by its point (the strictest one that catches 95 % of the
positives): a right curve returned with its thresholds shifted by one used to pass, and the
triage then used the wrong threshold. Right answers written other ways (loops, cumulative sums,
TensorFlow in float32, lists, ``max + 1`` instead of ``np.inf``) still pass.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import grading

# ## Right answers, written other ways ------------------------------------------------------------


def unique_roc(labels, scores):  # the notebook's solution
    labels, scores = np.asarray(labels), np.asarray(scores)
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    positives, negatives = scores[labels == 1], scores[labels == 0]
    tpr = np.array([(positives >= t).mean() for t in thresholds])
    fpr = np.array([(negatives >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds


def loop_roc(labels, scores):  # plain Python, lists out
    labels, scores = [int(y) for y in labels], [float(s) for s in scores]
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    thresholds = [float("inf")] + sorted(set(scores), reverse=True)
    fpr, tpr = [], []
    for t in thresholds:
        tp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s >= t)
        fp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 0 and s >= t)
        fpr.append(fp / n_neg)
        tpr.append(tp / n_pos)
    return fpr, tpr, thresholds


def cumulative_roc(labels, scores):  # sorted once, counts at the last of each tied run; max + 1
    labels, scores = np.asarray(labels), np.asarray(scores)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    return np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1], np.r_[s[0] + 1, s[last]]


def tensorflow_roc(labels, scores):  # float32 throughout
    scores = tf.constant(scores, tf.float32)
    positive = tf.cast(tf.constant(labels) == 1, tf.float32)
    distinct = tf.sort(tf.unique(scores).y, direction="DESCENDING")
    thresholds = tf.concat([[np.inf], distinct], 0)
    called = tf.cast(scores[None, :] >= thresholds[:, None], tf.float32)
    tpr = tf.reduce_sum(called * positive, 1) / tf.reduce_sum(positive)
    fpr = tf.reduce_sum(called * (1 - positive), 1) / tf.reduce_sum(1 - positive)
    return fpr, tpr, thresholds


RIGHT = [unique_roc, loop_roc, cumulative_roc, tensorflow_roc]


@pytest.mark.parametrize("answer", RIGHT, ids=[a.__name__ for a in RIGHT])
def test_right_answers_written_other_ways_pass(answer, capsys):
    checks = grading.fresh()
    checks.check_roc(answer)
    checks.check_roc(answer, seed=11)
    checks.check_roc(answer, cases=[([0, 1, 1, 0], [3, 3, 3, 3]), ([1, 0, 0], [0.2, 0.7, 0.1])])
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 3
    assert "counts half in the AUC" in out  # what ties do to the area, said on success


def test_the_triage_threshold_of_a_right_answer_catches_what_its_point_says():
    rng = np.random.default_rng(3)
    labels = (rng.random(200) < 0.2).astype(int)
    scores = np.round(rng.random(200) + 0.6 * labels, 2)
    fpr, tpr, thresholds = unique_roc(labels, scores)
    threshold = thresholds[np.argmax(tpr >= 0.95)]
    assert (scores[labels == 1] >= threshold).mean() == tpr[np.argmax(tpr >= 0.95)] >= 0.95


# ## Mistakes, each with its own hint -------------------------------------------------------------


def shifted_roc(labels, scores):  # the right points, each threshold one place late
    fpr, tpr, thresholds = unique_roc(labels, scores)
    return fpr, tpr, np.r_[thresholds[1:], -np.inf]


def shifted_early_roc(labels, scores):  # each threshold one place early
    fpr, tpr, thresholds = unique_roc(labels, scores)
    return fpr, tpr, np.r_[np.inf, thresholds[:-1]]


def swapped_roc(labels, scores):
    fpr, tpr, thresholds = unique_roc(labels, scores)
    return tpr, fpr, thresholds


def strict_roc(labels, scores):  # score > t, with a last threshold below every score
    labels, scores = np.asarray(labels), np.asarray(scores)
    thresholds = np.r_[np.inf, np.unique(scores)[::-1], -np.inf]
    tpr = np.array([(scores[labels == 1] > t).mean() for t in thresholds])
    fpr = np.array([(scores[labels == 0] > t).mean() for t in thresholds])
    return fpr, tpr, thresholds  # the right curve: only the thresholds give it away


def strict_unique_roc(labels, scores):  # score > t through the distinct scores
    labels, scores = np.asarray(labels), np.asarray(scores)
    thresholds = np.unique(scores)[::-1]
    tpr = np.array([(scores[labels == 1] > t).mean() for t in thresholds])
    fpr = np.array([(scores[labels == 0] > t).mean() for t in thresholds])
    return fpr, tpr, thresholds


def midpoint_roc(labels, scores):  # the right points, thresholds between the scores
    fpr, tpr, thresholds = unique_roc(labels, scores)
    inner = (thresholds[1:-1] + thresholds[2:]) / 2
    return fpr, tpr, np.r_[np.inf, inner, thresholds[-1] - 1]


def highest_first_roc(labels, scores):  # (0, 0) labelled with the highest score
    fpr, tpr, thresholds = unique_roc(labels, scores)
    return fpr, tpr, np.r_[thresholds[1], thresholds[1:]]


def missing_infinity_roc(labels, scores):  # the points of np.inf and the scores, not its threshold
    fpr, tpr, thresholds = unique_roc(labels, scores)
    return fpr, tpr, thresholds[1:]


def collinear_dropped_roc(labels, scores):  # fewer points, as drop_intermediate=True gives
    fpr, tpr, thresholds = unique_roc(labels, scores)
    keep = np.r_[True, np.diff(fpr, 2) != 0, True] | np.r_[True, np.diff(tpr, 2) != 0, True]
    return fpr[keep], tpr[keep], thresholds[keep]


MISTAKES = [
    # Thresholds one place late are also what score > threshold gives: one hint for both.
    (shifted_roc, "the i-th threshold must give the i-th point"),
    (shifted_early_roc, "the i-th threshold must give the i-th point"),
    (swapped_roc, "fpr and tpr are swapped"),
    (strict_roc, "what score > thresholds[i] gives"),
    (strict_unique_roc, "call an example positive when its score is at least the threshold"),
    (midpoint_roc, "is not one of the scores: use the distinct scores themselves"),
    (highest_first_roc, "it should lie above every score (np.inf, or anything above"),
    (missing_infinity_roc, "Start with a threshold above every score (np.inf), the point (0, 0)"),
    (collinear_dropped_roc, "Use one threshold per distinct score"),
]


@pytest.mark.parametrize(("answer", "hint"), MISTAKES, ids=[a.__name__ for a, _ in MISTAKES])
def test_mistakes_fail_with_their_own_hint(answer, hint):
    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match=re.escape(hint)):
        checks.check_roc(answer)


def test_the_shifted_thresholds_passed_before_and_give_a_wrong_triage_threshold():
    # The curve alone is right: the check used to compare only the points.
    rng = np.random.default_rng(0)
    labels = (rng.random(100) < 0.3).astype(int)
    scores = rng.random(100) + 0.5 * labels
    right, shifted = unique_roc(labels, scores), shifted_roc(labels, scores)
    np.testing.assert_array_equal(right[0], shifted[0])
    np.testing.assert_array_equal(right[1], shifted[1])
    index = np.argmax(right[1] >= 0.95)
    assert right[2][index] != shifted[2][index]
    assert (scores[labels == 1] >= shifted[2][index]).mean() != right[1][index]
