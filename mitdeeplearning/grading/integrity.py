"""What the checks rely on, recorded when grading is first imported, and verified before use.

A graded check runs in the student's kernel, after the student's cells. Code in those cells
could replace what the checks use: a builtin (``abs``), a NumPy function (``numpy.asarray``),
the guard that makes package functions refuse to run, a helper of a check's own module, or the
grading files on disk. So when ``mitdeeplearning.grading`` is first imported (the notebooks'
set-up cells import it, before any answer), a `Snapshot` records

- the text of every module of this package, from which `mitdeeplearning.grading.fresh` builds
  its copies (a grading file replaced on disk afterwards changes nothing);
- the builtins and NumPy attributes that the checks' code names (read from that text), and the
  functions of `mitdeeplearning.guard`;

and each copy records its own modules' namespaces when it is built (`Baseline`). Every check
calls `find_tampering` first, and again after each call of the answer: if any of these was
replaced, the check fails with one sentence that names it and asks the student to restart the
kernel and run the cells in order.

This module imports nothing else of the grading package, so it runs first.
"""

from __future__ import annotations

import ast
import builtins
import os
import types

import numpy as np

from mitdeeplearning import guard

__all__ = [
    "BASELINE",
    "SNAPSHOT",
    "Baseline",
    "Snapshot",
    "find_tampering",
    "record_baseline",
    "tampering_message",
]

_MISSING = object()
#: Builtins that Jupyter itself replaces while a notebook runs: never watched.
_REPLACED_BY_JUPYTER = {"input", "exit", "quit", "help", "display", "get_ipython"}


def _names_used(sources: dict[str, str]) -> tuple[set[str], set[str], set[str]]:
    """The builtins, ``np.X`` and ``np.random.X`` names that `sources` (module texts) use."""
    builtin_names, numpy_names, random_names = set(), set(), set()
    available = set(dir(builtins)) - _REPLACED_BY_JUPYTER
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name) and node.id in available:
                builtin_names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "np":
                    numpy_names.add(node.attr)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                inner = node.value
                if isinstance(inner.value, ast.Name) and (inner.value.id, inner.attr) == (
                    "np",
                    "random",
                ):
                    random_names.add(node.attr)
    return builtin_names, numpy_names, random_names


class Snapshot:
    """The grading modules' text and the objects their checks use, as they were at first import.

    Parameters
    ----------
    folder : str
        The folder of this package, whose ``.py`` files are read.

    Attributes
    ----------
    sources : dict of str to str
        Module name within the package (``"__init__"``, ``"lab2"``) → its text.
    folder : str
        Where the text was read from (for tracebacks).
    guard : module
        `mitdeeplearning.guard`, as it was.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.sources = {}
        for filename in sorted(os.listdir(folder)):
            if filename.endswith(".py"):
                with open(os.path.join(folder, filename), encoding="utf-8") as file:
                    self.sources[filename[:-3]] = file.read()
        builtin_names, numpy_names, random_names = _names_used(self.sources)
        self.guard = guard
        self._watched: list[tuple[str, object, str, object]] = []  # (label, holder, name, value)
        for name in sorted(builtin_names):
            self._watch(f"the builtin `{name}`", builtins, name)
        for name in sorted(numpy_names):
            self._watch(f"`numpy.{name}`", np, name)
        for name in sorted(random_names):
            self._watch(f"`numpy.random.{name}`", np.random, name)
        for name, value in sorted(vars(guard).items()):
            if isinstance(value, types.FunctionType | type | list):
                self._watch(f"`mitdeeplearning.guard.{name}`", guard, name)
        self._codes = [
            (f"`mitdeeplearning.guard.{name}`", value, value.__code__)
            for name, value in sorted(vars(guard).items())
            if isinstance(value, types.FunctionType)
        ]

    def _watch(self, label: str, holder: object, name: str) -> None:
        value = getattr(holder, name, _MISSING)
        if value is not _MISSING:
            self._watched.append((label, holder, name, value))

    def replaced(self) -> str | None:
        """What has been replaced since the snapshot (a phrase naming it), or None."""
        for label, holder, name, value in self._watched:
            if getattr(holder, name, _MISSING) is not value:
                return label
        for label, function, code in self._codes:
            if function.__code__ is not code:
                return label
        return None


class Baseline:
    """The namespaces of one copy of the grading modules, recorded when it was built.

    Checks look up their helpers (``expect_close``, ``fail``) in these namespaces, and Python
    looks there before the builtins: an answer that reaches a check's frame could put its own
    ``expect_close``, or its own ``abs``, there. `replaced` says so.

    Parameters
    ----------
    modules : iterable of module
        The copy's modules.
    """

    def __init__(self, modules) -> None:
        self._modules = list(modules)
        self._records = []

    def record(self) -> None:
        """Record the namespaces as they are now."""
        self._records = []
        for module in self._modules:
            namespace = vars(module)
            values = dict(namespace)
            codes = {
                name: (value.__code__, value.__defaults__, value.__kwdefaults__)
                for name, value in values.items()
                if isinstance(value, types.FunctionType)
            }
            label = (
                "__init__" if hasattr(module, "__path__") else module.__name__.rpartition(".")[2]
            )
            self._records.append((label, namespace, values, codes))

    def replaced(self) -> str | None:
        """What has been replaced or added in the copy's namespaces (a phrase), or None."""
        shadowable = set(dir(builtins))
        for module, namespace, values, codes in self._records:
            for name, value in values.items():
                if namespace.get(name, _MISSING) is not value:
                    return f"`{name}` in the grading module `{module}`"
            for name, (code, defaults, kwdefaults) in codes.items():
                function = values[name]
                if (function.__code__, function.__defaults__, function.__kwdefaults__) != (
                    code,
                    defaults,
                    kwdefaults,
                ):
                    return f"the code of `{name}` in the grading module `{module}`"
            added = [name for name in namespace if name not in values and name in shadowable]
            if added:
                return f"`{added[0]}` in the grading module `{module}`"
        return None


def tampering_message(what: str) -> str:
    """The sentence a check fails with when `what` was replaced.

    Examples
    --------
    >>> tampering_message("`numpy.asarray`")
    '`numpy.asarray` has been replaced since the grading checks were loaded, so they cannot be \
trusted: remove the code that replaces it, restart the kernel and run the cells in order.'
    """
    return (
        f"{what} has been replaced since the grading checks were loaded, so they cannot be "
        "trusted: remove the code that replaces it, restart the kernel and run the cells in order."
    )


#: The namespaces of this copy of the grading modules (set by the package's ``__init__``).
BASELINE: Baseline | None = None


def record_baseline(modules) -> Baseline:
    """Record `modules`' namespaces (this copy's grading modules) as `BASELINE`.

    Returns
    -------
    Baseline
        The record, also kept in `BASELINE`.
    """
    global BASELINE
    BASELINE = Baseline(modules)
    BASELINE.record()  # after the assignment, which it records too
    return BASELINE


def find_tampering() -> str | None:
    """The failure message if anything the checks rely on was replaced, else None.

    Examples
    --------
    >>> find_tampering() is None
    True
    """
    what = SNAPSHOT.replaced() or (BASELINE.replaced() if BASELINE is not None else None)
    return None if what is None else tampering_message(what)


# A copy made by `fresh` is handed the snapshot of the package as first imported; only the
# package's own first import takes one.
_inherited = globals().pop("INHERITED_SNAPSHOT", None)
SNAPSHOT: Snapshot = (
    _inherited if _inherited is not None else Snapshot(os.path.dirname(os.path.abspath(__file__)))
)
