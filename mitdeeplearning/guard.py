"""Package functions that refuse to stand in for an exercise while that exercise is graded.

Some labs ask students to write a function that the package also has (the pointing game, the
training batches, the vocabulary's encoding...), because a later cell uses the package's
version. An answer that only calls the package's version should not earn the exercise's points.
So each such package function starts with one line,

    refuse_during_grading("xray.pointing_game")

which does nothing (one list test) unless a graded check is running an answer inside
``grading_exercise(...)`` for an exercise that refuses that name: then the call raises
`DelegationRefused`, an `AssertionError`, which nbgrader counts as a failed test.

This module is the package's bottom layer: it imports nothing of ours, so every topic can use
it and the grading checks share its state with the functions they guard.

Examples
--------
>>> def pointing_game():
...     refuse_during_grading("xray.pointing_game")
...     return "the package's answer"
>>> pointing_game()
"the package's answer"
>>> try:
...     with grading_exercise("check_pointing_game", refused=["xray.pointing_game"]):
...         pointing_game()
... except DelegationRefused as error:
...     print(error)
this exercise asks you to write it yourself: `xray.pointing_game` is for later cells
>>> pointing_game()
"the package's answer"
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DelegationRefused",
    "GradingTampered",
    "grading_exercise",
    "refusal_message",
    "refuse_during_grading",
]


class DelegationRefused(AssertionError):
    """An answer handed its exercise to an implementation the exercise asks the student to write.

    An `AssertionError`, so nbgrader counts it as a failed test.
    """


class GradingTampered(AssertionError):
    """Something changed the record of which exercise is being graded while an answer ran."""


def refusal_message(name: str, why: str = "is for later cells") -> str:
    """The sentence a refused delegation fails with.

    Parameters
    ----------
    name : str
        What was refused: the short public spelling of a package function (``"music.get_batch"``)
        or the dotted name of a library object (``"sklearn.metrics.roc_curve"``).
    why : str
        The end of the sentence: why it cannot stand in here.

    Examples
    --------
    >>> refusal_message("sklearn.metrics.roc_curve", "is not allowed here")
    'this exercise asks you to write it yourself: `sklearn.metrics.roc_curve` is not allowed here'
    """
    return f"this exercise asks you to write it yourself: `{name}` {why}"


class _Exercise:
    """One exercise being graded: its name, what it refuses, and the first refused call seen."""

    __slots__ = ("exercise", "refused", "refused_call")

    def __init__(self, exercise: str, refused: frozenset[str]) -> None:
        self.exercise = exercise
        self.refused = refused
        self.refused_call: str | None = None


#: The exercises being graded now, innermost last. Never rebound: `grading_exercise` checks on
#: exit that this very list still holds its entry on top.
_ACTIVE: list[_Exercise] = []


def refuse_during_grading(name: str) -> None:
    """Raise `DelegationRefused` if an exercise being graded refuses `name`; else do nothing.

    The first line of each package function that implements a graded exercise. Cheap when
    nothing is being graded (one test of an empty list), since it runs on every call.

    Parameters
    ----------
    name : str
        The function's short public spelling: ``"xray.pointing_game"``, ``"music.Vocab.encode"``.

    Raises
    ------
    DelegationRefused
        Inside ``grading_exercise(exercise, refused)`` with `name` in `refused`. The refusal is
        also recorded, so an answer that catches the error still fails when the exercise ends.

    Examples
    --------
    >>> refuse_during_grading("music.get_batch")  # nothing is being graded: nothing happens
    """
    if not _ACTIVE:
        return
    for entry in _ACTIVE:
        if name in entry.refused:
            if entry.refused_call is None:
                entry.refused_call = name
            raise DelegationRefused(refusal_message(name))


class grading_exercise:  # noqa: N801 - used as a function: ``with grading_exercise(...):``
    """Context manager: while it is open, package functions named in `refused` refuse to run.

    Graded checks open one around each call of the student's answer (never around their own
    reference computations). Contexts nest; each refuses its own names.

    Parameters
    ----------
    exercise : str
        The check that grades it, for messages (``"check_roc"``).
    refused : iterable of str
        Short public spellings of the package functions the exercise asks the student to write.

    Raises
    ------
    DelegationRefused
        On exit, when a refused function was called inside (even if the answer caught the
        error it raised), whatever else was raised.
    GradingTampered
        On exit, when the record of exercises being graded no longer holds this one on top, or
        what it refuses was changed: the answer cleared or replaced it.

    Examples
    --------
    >>> with grading_exercise("check_get_batch", ["music.get_batch"]):
    ...     with grading_exercise("check_loss", ["music.sequence_loss"]):
    ...         try:
    ...             refuse_during_grading("music.get_batch")  # refused by the outer one
    ...         except DelegationRefused:
    ...             pass  # caught, yet the exercise still fails when it ends
    Traceback (most recent call last):
    ...
    mitdeeplearning.guard.DelegationRefused: this exercise asks you to write it yourself: ...
    """

    def __init__(self, exercise: str, refused: Iterable[str]) -> None:
        self._entry = _Exercise(str(exercise), frozenset(refused))
        self._refused = self._entry.refused  # an answer that empties the entry's set is caught
        self._stack = _ACTIVE

    def __enter__(self) -> grading_exercise:
        self._stack = _ACTIVE
        self._stack.append(self._entry)
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        global _ACTIVE
        entry, stack = self._entry, self._stack
        intact = _ACTIVE is stack and bool(stack) and stack[-1] is entry
        intact = intact and entry.refused is self._refused
        if not intact:
            # Put the record back as it was before this exercise, so later checks still work.
            _ACTIVE = stack
            while entry in stack:
                del stack[stack.index(entry) :]
            raise GradingTampered(
                f"the grading state was tampered with while `{entry.exercise}` ran your answer "
                "(the record of the exercise being graded was changed): remove the code that "
                "changes it, restart the kernel and run the cells in order."
            ) from None
        stack.pop()
        if entry.refused_call is not None:
            message = refusal_message(entry.refused_call)
            if not (isinstance(exc, DelegationRefused) and str(exc) == message):
                raise DelegationRefused(message) from None
        return False
