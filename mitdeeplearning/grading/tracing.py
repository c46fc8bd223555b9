"""Running a student's answer inside ``tf.function`` without a word on stderr, and saying what
went wrong when it cannot run there.

nbgrader gives no points to a test cell that writes on stderr, which is where TensorFlow's
warnings go in a notebook: AutoGraph's, when it cannot read the source of a function it traces
(a wrapper defined in a `fresh` copy of the checks), and the retracing one, "5 out of the last 5
calls to <function compute_loss> triggered tf.function retracing", which comes once the same
function has been traced a few times (a check run again, or several checks of one function).
So every run of an answer happens inside `tensorflow_silenced`, and `traced` compiles the
student's function itself, never a wrapper.

When the traced answer raises, `graph_failure` gives the sentence the check fails with, and
`describe_error` puts the error into it in one line (for an error raised inside
``tf.function``, its own message, not the place in the user's code that comes first).

This module imports nothing else of the grading package, and TensorFlow only when it traces.
`mitdeeplearning.grading.compare.Answer.in_graph` is the one way a check uses it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["describe_error", "graph_failure", "tensorflow_silenced", "traced"]


@contextmanager
def tensorflow_silenced() -> Iterator[None]:
    """Run the block with TensorFlow's warnings silenced; its errors are still logged.

    The ``tensorflow`` logger is raised to ERROR and Python warnings are ignored, for the block
    only: the logger's level and the warning filters are put back afterwards, even when the
    block raises.

    Examples
    --------
    >>> logger = logging.getLogger("tensorflow")
    >>> before = logger.level, list(warnings.filters)
    >>> with tensorflow_silenced():
    ...     logger.warning("not shown")
    ...     warnings.warn("not shown either", stacklevel=1)
    >>> (logger.level, warnings.filters) == before
    True
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def traced(function: Callable) -> Callable:
    """`function` compiled by ``tf.function``: traced on its first call, then reused for inputs
    of the same kinds, its shapes relaxed rather than traced again for each new shape
    (``reduce_retracing``).

    Call it inside `tensorflow_silenced`. A function that is already a ``tf.function`` is
    compiled again all the same: the outer one traces the Python function inside.
    """
    import tensorflow as tf

    return tf.function(function, reduce_retracing=True)


def describe_error(exc: BaseException) -> str:
    """The error's type and the first line of its message, for a failure's sentence.

    An error raised inside ``tf.function`` comes with its place in the user's code first ("in
    user code:", then files and lines): the message given is its own, which comes last. A long
    message is cut after the sentences that fit in 200 characters.

    Examples
    --------
    >>> describe_error(ValueError("high <= 0\\nand more"))
    'ValueError: high <= 0'
    >>> describe_error(TypeError("in user code:\\n  File 'cell', line 2\\n  TypeError: bad\\n  2"))
    'TypeError: bad'
    """
    kind = type(exc).__name__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0] == "in user code:":
        own = [i for i, line in enumerate(lines) if line.startswith(f"{kind}:")]
        lines = lines[own[-1] if own else -1 :]
    text = (lines or [""])[0]
    text = text[len(kind) + 2 :] if text.startswith(f"{kind}: ") else text
    if len(text) > 200:
        end = text.rfind(". ", 0, 200)
        text = text[: end + 1] if end > 0 else f"{text[:200]}..."
    return f"{kind}: {text}"


def graph_failure(exc: BaseException, name: str, why: str, operations: str) -> str:
    """The sentence a check fails with when the answer `name` raised `exc` inside
    ``tf.function`` (where it runs because `why`).

    NumPy, ``.numpy()`` or Python control flow used on the graph's symbolic tensors is told to
    use `operations` instead; NotImplementedError (not about tensors) is an unanswered cell; any
    other error is named.

    Examples
    --------
    >>> why, use = "the next cell traces it", "TensorFlow operations"
    >>> error = NotImplementedError("Cannot convert a symbolic tf.Tensor (x:0) to a numpy array.")
    >>> graph_failure(error, "f", why, use)
    '`f` must run inside tf.function (the next cell traces it): use TensorFlow operations, not \
NumPy or .numpy() on tensors (NotImplementedError: Cannot convert a symbolic tf.Tensor (x:0) to a \
numpy array.).'
    >>> graph_failure(NotImplementedError(), "f", why, use)
    '`f` is not implemented yet (it raises NotImplementedError).'
    """
    kind, description = type(exc).__name__, describe_error(exc)
    text = description.lower()
    if (
        kind == "OperatorNotAllowedInGraphError"
        or "symbolic" in text
        or (kind in ("AttributeError", "NotImplementedError") and "numpy" in text)
    ):
        return (
            f"`{name}` must run inside tf.function ({why}): use {operations}, not NumPy or "
            f".numpy() on tensors ({description})."
        )
    if isinstance(exc, NotImplementedError):
        return f"`{name}` is not implemented yet (it raises NotImplementedError)."
    return f"`{name}` raised {description} inside tf.function ({why})."
