"""Lab 2's graded checks of what a probability means: odds at another prevalence, and PPV.

A classifier trained with balanced class weights gives each class half of the loss, so its
probability behaves as if pneumothorax were as common as its absence: its odds are the true
odds times n₀ / n₁. Bayes' rule on the odds moves a probability from one prevalence to another
(`check_shift_prevalence`), and the positive predictive value says how many positive calls are
sick at a given prevalence (`check_ppv`).

Each check takes the student's function, tries it on numbers of its own (scalars, arrays, the
extremes 0 and 1, random cases) and either prints one line starting with a check mark or raises
`GradingError` with one sentence that says what is wrong. Answers may use NumPy, TensorFlow or
plain Python and return any array-like; the checks compute what they expect in float64, with
NumPy only, after the answer's output has been read. Nothing in the package or in a library
does either exercise on its own, so nothing refuses.
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
    passed,
    preview,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_errstate = np.errstate

__all__ = ["check_ppv", "check_shift_prevalence"]

#: How far an answer may be from the exact value: relative, plus an absolute floor for values
#: near 0. An answer in float32 is right to a few 1e-6 (``1 - p`` loses digits as p nears 1);
#: the typical mistakes are off by 1e-2 or more.
_RTOL, _ATOL = 1e-5, 1e-7


def _odds(p: np.ndarray | float) -> np.ndarray | float:
    return p / (1.0 - p)


def _probability(odds: np.ndarray | float) -> np.ndarray | float:
    return odds / (1.0 + odds)


def _values(answer: Answer, value, name: str, size: int) -> np.ndarray:
    """The answer's output as a flat float64 array of `size` values, or a failure."""
    got = answer.array(value, name).ravel()
    if got.size != size:
        what = "one number" if size == 1 else f"{size} numbers, one per input"
        fail(f"`{name}` should give {what}; it gave {got.size}.")
    return got


def _mismatch(got: np.ndarray, expected: np.ndarray) -> bool:
    return any(
        not abs(g - e) <= _RTOL * abs(e) + _ATOL  # False for NaN
        for g, e in zip(flat_values(got), flat_values(expected), strict=True)
    )


def _first_hint(got: np.ndarray, hints: dict) -> str:
    """The hint whose candidate values `got` matches (NaN never matches), else ``""``."""
    for hint, candidate in hints.items():
        if not _mismatch(got, _asarray(candidate, dtype=_float64).ravel()):
            return f" {hint}"
    return ""


# ## Odds at another prevalence --------------------------------------------------------------------


def shifted(p: np.ndarray, from_prevalence: float, to_prevalence: float) -> np.ndarray:
    """The reference: `p` moved from one prevalence to another by Bayes' rule on the odds.

    Written as ``p r / (p r + 1 - p)`` with ``r`` the ratio of the prevalences' odds, which
    keeps 0 and 1 exact (no division by ``1 - p``).

    Examples
    --------
    >>> shifted(np.array([0.0, 0.5, 1.0]), 0.5, 0.2)
    array([0. , 0.2, 1. ])
    """
    ratio = _odds(to_prevalence) / _odds(from_prevalence)
    return p * ratio / (p * ratio + (1.0 - p))


def _shift_cases(seed: int) -> list[tuple[np.ndarray | float, float, float]]:
    """``(p, from_prevalence, to_prevalence)``: scalars, arrays, the extremes, random cases."""
    rng = np.random.default_rng(seed)
    cases: list = [(0.5, 0.5, 0.047), (0.8, 0.5, 0.2)]
    cases.append((rng.uniform(0.02, 0.98, 40), 0.5, 0.2))
    cases.append((_asarray([0.0, 1.0, 0.25, 0.75]), 0.5, 0.05))
    cases.append((rng.uniform(0.02, 0.98, 10), 0.3, 0.3))  # the same prevalence: p comes back
    for _ in range(3):
        start, end = rng.uniform(0.03, 0.6, 2)
        cases.append((rng.uniform(0.02, 0.98, 25), round(float(start), 3), round(float(end), 3)))
    return cases


def _shift_hints(p: np.ndarray, start: float, end: float) -> dict:
    """Typical wrong answers' values for these inputs, each with its hint (NaN where undefined)."""
    with _errstate(all="ignore"):
        ratio = _odds(end) / _odds(start)
        return {
            "Multiply the odds p / (1 − p) by the ratio of the prevalences' odds, not the "
            "probability p itself.": p * ratio,
            "The ratio is upside down: going to a rarer prevalence should lower the odds.":
                _probability(_odds(p) / ratio),
            "Use the odds of the prevalences, prevalence / (1 − prevalence), not the "
            "prevalences themselves.": _probability(_odds(p) * end / start),
            "These are the new odds, not probabilities (odds can exceed 1): turn the odds "
            "back into a probability.": _odds(p) * ratio,
        }  # fmt: skip


@refuses()
def check_shift_prevalence(shift_prevalence: Callable, seed: int = 0) -> None:
    """`shift_prevalence(p, from_prevalence, to_prevalence)` moves the probability `p`, made
    at `from_prevalence`, to `to_prevalence` by Bayes' rule on the odds: ``odds(p') = odds(p)
    × odds(to_prevalence) / odds(from_prevalence)``, returned as a probability.

    Parameters
    ----------
    shift_prevalence : callable
        The student's function: `p` a float or an array ``(n,)`` of probabilities,
        `from_prevalence` and `to_prevalence` floats in (0, 1) → the same shape of
        probabilities (any array-like, or a number for a number).
    seed : int, default 0
        Varies the random cases.

    Notes
    -----
    p = 0 and p = 1 must stay 0 and 1, with no NaN; every value must agree with the exact
    formula within a relative 1e-5 (float32's rounding; every typical mistake is off by far
    more).

    Examples
    --------
    Multiplying the probability, not its odds, by the ratio:

    >>> def by_probability(p, start, end):
    ...     return p * (end / (1 - end)) / (start / (1 - start))
    >>> try:
    ...     check_shift_prevalence(by_probability)
    ... except GradingError as error:
    ...     print(error)
    shift_prevalence(0.5, from_prevalence=0.5, to_prevalence=0.047) gives [0.0247]; expected
    [0.047]. Multiply the odds p / (1 − p) by the ratio of the prevalences' odds, not the
    probability p itself.
    """
    answer = graded_answer(shift_prevalence, "shift_prevalence", "check_shift_prevalence")
    for p, start, end in _shift_cases(seed):
        _check_shift_case(answer, p, start, end)
    passed(
        "shift_prevalence applies Bayes' rule to the odds: a p of 0.9 from balanced training "
        f"means {float(shifted(0.9, 0.5, 0.05)):.2f} where 5 % of the patients are sick"
    )


def _check_shift_case(answer: Answer, p: np.ndarray | float, start: float, end: float) -> None:
    """One case of `check_shift_prevalence`: `p` (a float or an array) from `start` to `end`."""
    scalar = isinstance(p, float)
    size = 1 if scalar else len(p)
    result = answer(p if scalar else p.copy(), start, end)
    got = _values(answer, result, "shift_prevalence's result", size)
    p = _asarray(p, dtype=_float64).ravel()
    expected = shifted(p, start, end)
    call = f"shift_prevalence({p[0] if scalar else f'p = {preview(p)}'}, "
    call += f"from_prevalence={start}, to_prevalence={end})"
    inside = [i for i, v in enumerate(flat_values(p)) if 0.0 < v < 1.0]
    if _mismatch(got[inside], expected[inside]):
        hints = {hint: _asarray(v)[inside] for hint, v in _shift_hints(p, start, end).items()}
        hint = _first_hint(got[inside], hints)
        fail(f"{call} gives {preview(got)}; expected {preview(expected)}.{hint}")
    for i, (value, extreme) in enumerate(zip(flat_values(got), flat_values(p), strict=True)):
        if i not in inside and not abs(value - extreme) <= _RTOL:  # False for NaN
            fail(
                f"{call} gives {value} for p = {extreme:g}: a probability of {extreme:g} should "
                f"stay {extreme:g} (its odds are {'infinite' if extreme else '0'}): rearrange the "
                "formula so that it never divides by 1 − p."
            )


# ## The positive predictive value -----------------------------------------------------------------


def positive_predictive_value(
    sensitivity: np.ndarray | float, specificity: np.ndarray | float, prevalence: np.ndarray | float
) -> np.ndarray | float:
    """The reference: the share of positive calls that are sick, by Bayes' rule.

    Examples
    --------
    >>> round(positive_predictive_value(0.95, 0.6, 0.2), 4)
    0.3725
    """
    true_positives = sensitivity * prevalence
    return true_positives / (true_positives + (1.0 - specificity) * (1.0 - prevalence))


def _ppv_cases(seed: int) -> list[tuple]:
    """``(sensitivity, specificity, prevalence)``: scalars, then arrays of one shape."""
    rng = np.random.default_rng(seed)
    cases: list = [(0.95, 0.6, 0.2), (0.8, 0.9, 0.047)]
    for n in (30, 7):
        cases.append(
            (rng.uniform(0.5, 0.99, n), rng.uniform(0.5, 0.99, n), rng.uniform(0.01, 0.5, n))
        )
    return cases


def _ppv_hints(sensitivity, specificity, prevalence) -> dict:
    s, c, q = sensitivity, specificity, prevalence
    with _errstate(all="ignore"):
        return {
            "The healthy patients called positive are a share 1 − specificity of the healthy, "
            "not the specificity.": s * q / (s * q + c * (1 - q)),
            "PPV depends on the prevalence: weigh the sick patients' rate by how common they "
            "are, and the healthy patients' by how common they are.": s / (s + 1 - c),
            "That is the negative predictive value (the share of negative calls that are "
            "healthy); PPV is the share of positive calls that are sick.":
                c * (1 - q) / (c * (1 - q) + (1 - s) * q),
        }  # fmt: skip


@refuses()
def check_ppv(ppv: Callable, seed: int = 0) -> None:
    """`ppv(sensitivity, specificity, prevalence)` is the share of positive calls that are
    sick: ``sens · prev / (sens · prev + (1 − spec)(1 − prev))``, for numbers and, element by
    element, for arrays of one shape.

    Parameters
    ----------
    ppv : callable
        The student's function: three floats, or three arrays ``(n,)`` → the PPV (a number,
        or ``(n,)``; any array-like).
    seed : int, default 0
        Varies the random cases.

    Examples
    --------
    >>> check_ppv(lambda sens, spec, prev: sens * prev / (sens * prev + (1 - spec) * (1 - prev)))
    ✓ ppv gives the share of positive calls that are sick: at 95 % sensitivity and 60 % \
specificity, PPV is 37 % at 20 % prevalence but 11 % at 5 %
    """
    answer = graded_answer(ppv, "ppv", "check_ppv")
    for case in _ppv_cases(seed):
        inputs = [v if isinstance(v, float) else v.copy() for v in case]
        size = 1 if isinstance(case[0], float) else len(case[0])
        got = _values(answer, answer(*inputs), "ppv's result", size)
        s, c, q = (_asarray(v, dtype=_float64).ravel() for v in case)
        expected = positive_predictive_value(s, c, q)
        if _mismatch(got, expected):
            hint = _first_hint(got, _ppv_hints(s, c, q))
            if size == 1:
                call = f"ppv({case[0]}, {case[1]}, {case[2]})"
            else:
                call = f"ppv(sensitivity, specificity, prevalence) on {size} random cases"
            fail(f"{call} gives {preview(got)}; expected {preview(expected)}.{hint}")
    high, low = (positive_predictive_value(0.95, 0.6, prevalence) for prevalence in (0.2, 0.05))
    passed(
        "ppv gives the share of positive calls that are sick: at 95 % sensitivity and 60 % "
        f"specificity, PPV is {100 * high:.0f} % at 20 % prevalence but {100 * low:.0f} % at 5 %"
    )
