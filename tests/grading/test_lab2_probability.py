"""Lab 2's checks of what a probability means: odds at another prevalence, and PPV.

Right answers written other ways (NumPy, TensorFlow, log-odds with SciPy, a loop) pass; each
typical mistake fails with its own hint, which does not give the formula away.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit, logit

from mitdeeplearning import grading
from mitdeeplearning.grading.lab2_probability import positive_predictive_value, shifted

# ## shift_prevalence ------------------------------------------------------------------------------


def shift_prevalence(p, from_prevalence, to_prevalence):  # the notebook's solution
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    p = np.asarray(p, dtype=float)
    return p * ratio / (p * ratio + 1 - p)


def log_odds_shift(p, from_prevalence, to_prevalence):  # SciPy's logit and expit
    return expit(logit(p) + logit(to_prevalence) - logit(from_prevalence))


def loop_shift(p, from_prevalence, to_prevalence):  # one number at a time, plain Python
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    out = []
    for x in np.atleast_1d(p).tolist():
        if x == 1.0:
            out.append(1.0)
        else:
            odds = x / (1 - x) * ratio
            out.append(odds / (1 + odds))
    return out


def tensorflow_shift(p, from_prevalence, to_prevalence):  # TensorFlow, float64
    p = tf.convert_to_tensor(p, tf.float64)
    log_odds = tf.math.log(p) - tf.math.log1p(-p)
    shift = np.log(to_prevalence / (1 - to_prevalence) * (1 - from_prevalence) / from_prevalence)
    return tf.sigmoid(log_odds + shift)


def float32_shift(p, from_prevalence, to_prevalence):  # TensorFlow, float32
    p = tf.constant(p, tf.float32)
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    return p * ratio / (p * ratio + 1 - p)


SHIFT_RIGHT = [shift_prevalence, log_odds_shift, loop_shift, tensorflow_shift, float32_shift]


@pytest.mark.parametrize("answer", SHIFT_RIGHT, ids=[a.__name__ for a in SHIFT_RIGHT])
def test_right_shifts_written_other_ways_pass(answer, capsys):
    checks = grading.fresh()
    checks.check_shift_prevalence(answer)
    checks.check_shift_prevalence(answer, seed=5)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 2
    assert "a p of 0.9 from balanced training means 0.32 where 5 % of the patients are sick" in out


def test_the_reference_is_bayes_rule_on_the_odds():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    odds = np.array([0.1, 0.5, 0.9]) / np.array([0.9, 0.5, 0.1]) * (0.05 / 0.95) / (0.5 / 0.5)
    np.testing.assert_allclose(shifted(p, 0.5, 0.05)[1:-1], odds / (1 + odds), rtol=1e-12)
    assert shifted(p, 0.5, 0.05)[[0, -1]].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(shifted(shifted(p, 0.5, 0.05), 0.05, 0.5), p, atol=1e-15)


def times_probability(p, from_prevalence, to_prevalence):
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    return np.asarray(p) * ratio


def upside_down(p, from_prevalence, to_prevalence):
    ratio = (from_prevalence / (1 - from_prevalence)) / (to_prevalence / (1 - to_prevalence))
    p = np.asarray(p, dtype=float)
    return p * ratio / (p * ratio + 1 - p)


def odds_returned(p, from_prevalence, to_prevalence):
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    p = np.asarray(p, dtype=float)
    return p / (1 - p) * ratio


def prevalence_ratio(p, from_prevalence, to_prevalence):
    odds = np.asarray(p, dtype=float) / (1 - np.asarray(p)) * to_prevalence / from_prevalence
    return odds / (1 + odds)


def textbook_division(p, from_prevalence, to_prevalence):  # right, except at p = 1: inf / inf
    ratio = (to_prevalence / (1 - to_prevalence)) / (from_prevalence / (1 - from_prevalence))
    odds = np.asarray(p, dtype=float) / (1 - np.asarray(p, dtype=float)) * ratio
    return odds / (1 + odds)


SHIFT_MISTAKES = [
    (times_probability, "Multiply the odds p / (1 − p) by the ratio"),
    (upside_down, "The ratio is upside down"),
    (odds_returned, "These are the new odds, not probabilities"),
    (prevalence_ratio, "Use the odds of the prevalences"),
    (
        textbook_division,
        "gives nan for p = 1: a probability of 1 should stay 1 (its odds are infinite)",
    ),
]


@pytest.mark.parametrize(
    ("answer", "hint"), SHIFT_MISTAKES, ids=[a.__name__ for a, _ in SHIFT_MISTAKES]
)
def test_shift_mistakes_fail_with_their_own_hint(answer, hint, recwarn):
    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match=re.escape(hint)) as failed:
        checks.check_shift_prevalence(answer)
    formula = ["/ (1 +", "p r", "odds(p)"]
    assert not any(piece in str(failed.value) for piece in formula)
    assert [str(w.message) for w in recwarn] == []  # NumPy's divide-by-zero stays inside


def test_a_shift_of_the_wrong_shape_fails():
    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match="should give 40 numbers, one per input"):
        checks.check_shift_prevalence(lambda p, a, b: np.mean(shift_prevalence(p, a, b)))


# ## ppv -------------------------------------------------------------------------------------------


def ppv(sensitivity, specificity, prevalence):  # the notebook's solution
    true_positives = sensitivity * prevalence
    return true_positives / (true_positives + (1 - specificity) * (1 - prevalence))


def counts_ppv(sensitivity, specificity, prevalence):  # per 10,000 patients, TensorFlow
    sick = 10_000 * tf.constant(prevalence, tf.float64)
    caught = sensitivity * sick
    false_alarms = (1 - specificity) * (10_000 - sick)
    return caught / (caught + false_alarms)


def odds_ppv(sensitivity, specificity, prevalence):  # post-test odds = LR+ x pre-test odds
    odds = np.asarray(sensitivity) / (1 - np.asarray(specificity)) * prevalence / (1 - prevalence)
    return (odds / (1 + odds)).tolist()


PPV_RIGHT = [ppv, counts_ppv, odds_ppv]


@pytest.mark.parametrize("answer", PPV_RIGHT, ids=[a.__name__ for a in PPV_RIGHT])
def test_right_ppvs_written_other_ways_pass(answer, capsys):
    checks = grading.fresh()
    checks.check_ppv(answer)
    checks.check_ppv(answer, seed=9)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 2
    assert (
        "at 95 % sensitivity and 60 % specificity, PPV is 37 % at 20 % prevalence but 11 %" in out
    )


def test_the_clinic_case_is_computed():
    assert round(100 * positive_predictive_value(0.95, 0.6, 0.2)) == 37
    assert round(100 * positive_predictive_value(0.95, 0.6, 0.05)) == 11


def specificity_for_false_positives(sensitivity, specificity, prevalence):
    return sensitivity * prevalence / (sensitivity * prevalence + specificity * (1 - prevalence))


def without_prevalence(sensitivity, specificity, prevalence):
    return sensitivity / (sensitivity + 1 - specificity)


def npv(sensitivity, specificity, prevalence):
    healthy = specificity * (1 - prevalence)
    return healthy / (healthy + (1 - sensitivity) * prevalence)


PPV_MISTAKES = [
    (specificity_for_false_positives, "a share 1 − specificity of the healthy"),
    (without_prevalence, "PPV depends on the prevalence"),
    (npv, "That is the negative predictive value"),
]


@pytest.mark.parametrize(
    ("answer", "hint"), PPV_MISTAKES, ids=[a.__name__ for a, _ in PPV_MISTAKES]
)
def test_ppv_mistakes_fail_with_their_own_hint(answer, hint):
    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match=re.escape(hint)):
        checks.check_ppv(answer)


# ## Both ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "answer"), [("check_shift_prevalence", shift_prevalence), ("check_ppv", ppv)]
)
def test_unanswered_and_fast(check, answer, capsys):
    def stub(*args):
        raise NotImplementedError()

    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match="not implemented yet"):
        getattr(checks, check)(stub)
    getattr(checks, check)(answer)  # warm
    start = time.perf_counter()
    getattr(checks, check)(answer)
    assert time.perf_counter() - start < 0.5
