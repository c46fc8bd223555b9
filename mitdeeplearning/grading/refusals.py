"""What each graded exercise asks the student to write, and so refuses to let an answer delegate.

Each check declares it next to its definition with `refuses`, which records a `Refusal` in
`REFUSALS` under the check's name. The registry is public: the checks read it when they run an
answer, and the instructor's scan of submitted notebooks imports it (without TensorFlow: this
module and the package import nothing heavy) to look for the same names in answer cells.

A refusal names two kinds of thing:

- ``package``: functions of this package that implement the exercise, by their short public
  spelling (``"xray.pointing_game"``, ``"music.Vocab.encode"``). Each starts with
  `mitdeeplearning.guard.refuse_during_grading`, so it refuses to run inside the answer;
- ``library``: objects of other libraries that do the whole exercise, by their full dotted
  name (``"sklearn.metrics.roc_curve"``). They cannot guard themselves: the checks look for
  them in the answer's code before running it (`mitdeeplearning.grading.delegation`).

What an exercise is *meant* to use stays allowed: its Markdown says so (a Keras loss for the
loss, ``keras.layers.LSTM`` for the model, ``tf.random.categorical`` for sampling).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["REFUSALS", "Refusal", "refuses"]

Check = TypeVar("Check", bound=Callable)


@dataclass(frozen=True)
class Refusal:
    """What one exercise refuses.

    Attributes
    ----------
    package : tuple of str
        Short public spellings of this package's functions (``"music.get_batch"``).
    library : tuple of str
        Full dotted names of other libraries' objects (``"sklearn.metrics.roc_curve"``).

    Examples
    --------
    >>> Refusal(package=("xray.roc",), library=("sklearn.metrics.roc_curve",))
    Refusal(package=('xray.roc',), library=('sklearn.metrics.roc_curve',))
    """

    package: tuple[str, ...] = ()
    library: tuple[str, ...] = ()


#: Check name (``"check_roc"``) → what its exercise refuses. Every check is listed; one that
#: refuses nothing has an empty `Refusal`.
REFUSALS: dict[str, Refusal] = {}


def refuses(
    *, package: Iterable[str] = (), library: Iterable[str] = ()
) -> Callable[[Check], Check]:
    """Decorator: record in `REFUSALS` what the decorated check's exercise refuses.

    The check itself is returned unchanged (no wrapper): it reads its own entry when it runs
    the answer.

    Parameters
    ----------
    package : iterable of str
        Short public spellings of package functions (``"xray.pointing_game"``).
    library : iterable of str
        Full dotted names of library objects (``"sklearn.metrics.roc_curve"``).

    Examples
    --------
    >>> @refuses(package=("xray.pointing_game",))
    ... def check_example(pointing_game):
    ...     pass
    >>> REFUSALS["check_example"]
    Refusal(package=('xray.pointing_game',), library=())
    >>> del REFUSALS["check_example"]
    """
    refusal = Refusal(package=tuple(package), library=tuple(library))

    def record(check: Check) -> Check:
        REFUSALS[check.__name__] = refusal
        return check

    return record
