"""Reading, running and comparing a student's answer without trusting it.

Every check goes through these helpers. A check first takes the answer through `graded_answer`,
which fails if anything the checks rely on was replaced (`integrity`) or if the answer's code
hands the exercise to a refused implementation (`refusals`, `delegation`), and returns an
`Answer`: calling it runs the student's function through `call_answer` (an exception becomes a
failure that names it) inside ``guard.grading_exercise``, so this package's own implementation
of the exercise refuses to run, and checks again afterwards that nothing was replaced. The
answer runs with TensorFlow's warnings silenced (nbgrader gives no points to a test cell that
writes on stderr), and `Answer.in_graph` is the one way a check runs it inside ``tf.function``
(`tracing`).

What the answer returns is converted to a NumPy array of an explicit dtype, a copy, by
`Answer.array` (`to_array`; an object that claims to equal everything is not numbers), and only
then does the check compute what it expects: an answer that reads its caller's frame finds no
expected value there. Values are compared with plain Python arithmetic (`expect_close`, and
`frequency_mismatch` for what an answer samples; the numbers come from
`mitdeeplearning.grading.arithmetic`, whose helpers this module re-exports): never with the
answer's own ``__eq__``, with `math` or with ``numpy.testing``, which a notebook could patch.
The NumPy functions used for converting are captured when this module is imported.

A check fails by raising `GradingError` through `fail`, and passes by printing one line that
starts with a check mark through `passed`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from .arithmetic import flat_values, log_softmax, max_difference, preview, sigmoid
from .delegation import find_refused
from .integrity import SNAPSHOT, find_tampering
from .refusals import REFUSALS
from .tracing import graph_failure, tensorflow_silenced, traced

# Captured at import: a notebook that patches numpy afterwards does not change them.
_array = np.array
_ndarray = np.ndarray
_float64 = np.float64
_guard = SNAPSHOT.guard  # the guard as it was when grading was first imported

__all__ = [
    "Answer",
    "GradingError",
    "call_answer",
    "graded_answer",
    "verify_integrity",
    "expect_close",
    "expect_shape",
    "fail",
    "flat_values",
    "frequency_mismatch",
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
        A plain ``ndarray`` (never a subclass) of `dtype`, of the answer's shape: a new copy.

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
        array = _array(value, dtype=dtype, copy=True)  # a copy the answer holds no reference to
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
    except (GradingError, _guard.DelegationRefused, _guard.GradingTampered):
        raise
    except Exception as exc:  # noqa: BLE001 - report any error the student's code raises
        fail(f"`{name}` raised {type(exc).__name__}: {exc}")


def verify_integrity() -> None:
    """Fail if anything the checks rely on was replaced since grading was first imported.

    Every check calls it first (through `graded_answer`, or directly for a value).

    Raises
    ------
    GradingError
        Naming what was replaced (a builtin, a NumPy function, the guard, a grading helper).

    Examples
    --------
    >>> verify_integrity()  # nothing replaced: nothing happens
    """
    message = find_tampering()
    if message is not None:
        fail(message)


def graded_answer(answer: Any, name: str, check: str) -> Answer:
    """The student's `answer` to the exercise that `check` grades, ready to be run.

    Fails before running anything if anything the checks rely on was replaced, or if the
    answer's code refers to an implementation the exercise refuses (``REFUSALS[check]``).

    Parameters
    ----------
    answer : callable
        The student's function or class.
    name : str
        Its name in the notebook, for messages.
    check : str
        The check's name, its key in `REFUSALS` (``"check_roc"``).

    Returns
    -------
    Answer
        Call it like the student's function.

    Raises
    ------
    GradingError
        When something was replaced (see `verify_integrity`).
    mitdeeplearning.guard.DelegationRefused
        When the answer refers to a refused function or class.

    Examples
    --------
    >>> import numpy as np
    >>> answer = graded_answer(lambda x: np.sort(x)[::-1], "descending", "check_roc")
    >>> answer.array(answer([2, 3, 1]), "the values")
    array([3., 2., 1.])
    """
    verify_integrity()
    refusal = REFUSALS[check]
    found = find_refused(answer, refusal.package, refusal.library)
    if found is not None:
        why = "is for later cells" if found in refusal.package else "is not allowed here"
        raise _guard.DelegationRefused(_guard.refusal_message(found, why))
    return Answer(answer, name, check, refusal.package)


class Answer:
    """A student's answer, run the way every check runs it.

    Each call runs inside ``guard.grading_exercise(check, refused)``, so the package's own
    implementations of the exercise refuse to run, with TensorFlow's warnings silenced;
    afterwards it fails if the answer left a trace or profile function behind (one could
    rewrite the check's values as it runs), or replaced anything the checks rely on. Build one
    with `graded_answer`.

    Parameters
    ----------
    function : callable
        The student's function or class.
    name : str
        Its name in the notebook, for messages.
    check : str
        The check that grades it.
    refused : tuple of str
        The package functions its exercise refuses.
    """

    def __init__(self, function: Any, name: str, check: str, refused: tuple[str, ...]) -> None:
        self.function, self.name, self.check, self.refused = function, name, check, refused
        self._graphs: dict[int, tuple] = {}  # id of a function -> (it, its tf.function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the answer on `args` (see `call_answer`); its result, not yet trusted."""
        return self.run(self.function, self.name, *args, **kwargs)

    def run(self, function: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run `function`, part of the answer (a method of the student's class), like a call."""
        tracers = (sys.gettrace(), sys.getprofile())
        with _guard.grading_exercise(self.check, self.refused), tensorflow_silenced():
            try:
                return call_answer(function, name, *args, **kwargs)
            finally:
                self._verify_after(name, tracers)

    def array(self, value: Any, name: str, dtype: Any = _float64) -> np.ndarray:
        """`to_array`, run like the answer (converting may run the answer's own code)."""
        tracers = (sys.gettrace(), sys.getprofile())
        with _guard.grading_exercise(self.check, self.refused):
            try:
                return to_array(value, name, dtype)
            finally:
                self._verify_after(name, tracers)

    def attempt(self, function: Any, name: str, *args: Any, stub: bool = True) -> tuple:
        """Run `function` like `run`: ``(result, None)``, or ``(None, exception)`` when it
        raises, so the check can say what that error means for this exercise.

        Failed checks and refusals (AssertionErrors) still fail, as does anything not
        callable, and, when `stub`, NotImplementedError (an unanswered cell).
        """
        if not callable(function):
            self.run(function, name)  # fails: "should be a function"
        passing = (AssertionError, NotImplementedError) if stub else (AssertionError,)

        def attempt(*inner: Any) -> tuple:
            try:
                return function(*inner), None
            except passing:
                raise
            except Exception as exc:  # noqa: BLE001 - the check explains whatever it raises
                return None, exc

        return self.run(attempt, name, *args)

    def in_graph(self, function: Callable, name: str, why: str, *tensors: Any,
                 operations: str = "TensorFlow/Keras operations") -> Any:  # fmt: skip
        """What `function` returns when ``tf.function`` traces and runs it on `tensors`, as a
        later cell or the package does (`why`: ``"music.train compiles it"``).

        `function` itself is traced, never a wrapper of ours (AutoGraph cannot read the source
        of a `fresh` copy's code), once per answer (`tracing.traced`), and run like `run`,
        with TensorFlow's warnings silenced: a check run again on the same function would
        otherwise make TensorFlow warn on stderr that it retraces.

        Raises
        ------
        GradingError
            When it raises, with `tracing.graph_failure`'s sentence: NumPy or ``.numpy()`` on
            the graph's tensors is told to use `operations` instead.
        """
        if not callable(function):
            self.run(function, name)  # fails: "should be a function"
        held, graph = self._graphs.get(id(function), (None, None))
        if held is not function:
            graph = traced(function)
            self._graphs[id(function)] = (function, graph)
        value, exc = self.attempt(graph, name, *tensors, stub=False)
        if exc is not None:
            fail(graph_failure(exc, name, why, operations))
        return value

    def _verify_after(self, name: str, tracers: tuple) -> None:
        if (sys.gettrace(), sys.getprofile()) != tracers:
            sys.settrace(tracers[0])
            sys.setprofile(tracers[1])
            fail(
                f"`{name}` installed a trace or profile function (sys.settrace, sys.setprofile), "
                "which could change how it is graded: remove it."
            )
        verify_integrity()


# ## Comparing in plain Python arithmetic ----------------------------------------------------------


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


def frequency_mismatch(values: list[int], logits: np.ndarray, temperature: float,
                       tolerance: float, drawn: str = "the tokens") -> str | None:  # fmt: skip
    """The sentence to fail with when the tokens `values`, each drawn from ``softmax(logits /
    temperature)``, came out with other frequencies; None when they agree.

    They agree when the total variation distance between the tokens' frequencies and those
    probabilities is at most `tolerance`.

    Parameters
    ----------
    values : list of int
        The tokens drawn (at least one), each in ``range(len(logits))``: Python numbers, as
        `flat_values` gives them.
    logits : numpy.ndarray
        The logits they were drawn from, float64 of shape ``(vocab,)``.
    temperature : float
        What the logits are divided by.
    tolerance : float
        The largest distance allowed: above the sampling noise of ``len(values)`` draws.
    drawn : str, default "the tokens"
        What the sentence calls the tokens (``"the tokens after token 0"``).

    Returns
    -------
    str or None
        The frequencies seen and the probabilities expected, in one sentence, or None.

    Examples
    --------
    >>> logits = np.log(np.array([0.75, 0.25]))
    >>> frequency_mismatch([0, 0, 0, 1] * 50, logits, 1.0, tolerance=0.05) is None
    True
    >>> frequency_mismatch([0, 1] * 100, logits, 1.0, tolerance=0.05)
    'At temperature 1.0 the tokens came out with frequencies [0.50, 0.50]; \
softmax(logits / temperature) is [0.75, 0.25].'
    """
    expected = np.exp(log_softmax(logits / temperature))
    counts = [0] * len(expected)
    for value in values:
        counts[value] += 1
    distance = 0.5 * sum(abs(c / len(values) - p) for c, p in zip(counts, expected, strict=True))
    if not distance > tolerance:
        return None
    observed = ", ".join(f"{c / len(values):.2f}" for c in counts)
    wanted = ", ".join(f"{p:.2f}" for p in expected)
    return (
        f"At temperature {temperature} {drawn} came out with frequencies [{observed}]; "
        f"softmax(logits / temperature) is [{wanted}]."
    )
