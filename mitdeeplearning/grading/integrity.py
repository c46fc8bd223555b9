"""What the checks rely on, recorded when grading is first imported, and verified before use.

A graded check runs in the student's kernel, after the student's cells. Code in those cells
could replace what the checks use: a builtin (``abs``), a NumPy function (``numpy.asarray``),
the guard that makes package functions refuse to run, a helper of a check's own module, or the
grading files on disk. So when ``mitdeeplearning.grading`` is first imported (the notebooks'
set-up cells import it, before any answer), a `Snapshot` records

- the text of every module of this package, from which `mitdeeplearning.grading.fresh` builds
  its copies (a grading file replaced on disk afterwards changes nothing);
- the builtins and NumPy attributes that the checks' code and the guard's code name (read from
  their text);
- `mitdeeplearning.guard`, which makes package functions refuse to run inside an answer: every
  name of its namespace (the functions, and ``_ACTIVE``, the record of what is being graded),
  every attribute of its classes, and its functions' code and default values;
- in every other module of the package (the topics' ``from ..guard import
  refuse_during_grading``), each name bound to one of the guard's functions: a module whose
  copy is switched off would let its function run inside the answer. Modules first imported
  later (a topic module first imported inside an answer) are looked at when `find_tampering`
  first finds them in `sys.modules`.

and each copy records its own modules' namespaces when it is built (`Baseline`). Every check
calls `find_tampering` first, and again after each call of the answer: if any of these was
replaced, the check fails with one sentence that names it and asks the student to restart the
kernel and run the cells in order.

What these records cannot see (a module imported and taken out of `sys.modules` again within
one call of the answer, a copy of a package function made with other globals) is the
instructor's scan's to catch: it flags ``sys.modules``, ``__globals__`` and names built from
strings.

This module imports nothing else of the grading package, so it runs first.
"""

from __future__ import annotations

import ast
import builtins
import operator
import os
import sys
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
#: The package whose modules may hold the guard's functions; its grading part watches itself
#: (`Baseline`), and the guard is watched as a whole.
_PACKAGE = "mitdeeplearning"
_GRADING = f"{_PACKAGE}.grading"


def _looked_at(name: str) -> bool:
    """Whether the module `name` is one whose copies of the guard's functions are watched."""
    if name != _PACKAGE and not name.startswith(f"{_PACKAGE}."):
        return False
    return name not in (_GRADING, guard.__name__) and not name.startswith(f"{_GRADING}.")


def _names_used(texts) -> tuple[set[str], set[str], set[str]]:
    """The builtins, ``np.X`` and ``np.random.X`` names that `texts` (module texts) use."""
    builtin_names, numpy_names, random_names = set(), set(), set()
    available = set(dir(builtins)) - _REPLACED_BY_JUPYTER
    for text in texts:
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


def _internals(function: types.FunctionType) -> tuple:
    """What, besides its name, decides what `function` does: its code and default values (the
    keyword-only defaults as a dict, and a copy of its items: the dict can change in place)."""
    kwdefaults = function.__kwdefaults__
    return function.__code__, function.__defaults__, kwdefaults, dict(kwdefaults or {})


def _what_changed(function: types.FunctionType, internals: tuple) -> str | None:
    """``"the code of"`` or ``"the default values of"`` when `function` no longer has the
    `internals` recorded (compared by identity: no object of the answer's can claim to be equal
    to them), else None."""
    code, defaults, kwdefaults, kwvalues = internals
    if function.__code__ is not code:
        return "the code of"
    if function.__defaults__ is not defaults or function.__kwdefaults__ is not kwdefaults:
        return "the default values of"
    if any(kwdefaults.get(name, _MISSING) is not value for name, value in kwvalues.items()):
        return "the default values of"
    return None


_GETTERS = tuple(map(operator.attrgetter, ("__code__", "__defaults__", "__kwdefaults__")))


def _all_same(objects, recorded: list) -> bool:
    """Whether `objects` are, one by one, the very `recorded` ones (a loop in C)."""
    return all(map(operator.is_, objects, recorded))


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
        with open(guard.__file__, encoding="utf-8") as file:
            guard_text = file.read()
        builtin_names, numpy_names, random_names = _names_used([*self.sources.values(), guard_text])
        self.guard = guard
        self._watched: list[tuple[str, object, str, object]] = []  # (label, holder, name, value)
        for name in sorted(builtin_names):
            self._watch(f"the builtin `{name}`", builtins, name)
        for name in sorted(numpy_names):
            self._watch(f"`numpy.{name}`", np, name)
        for name in sorted(random_names):
            self._watch(f"`numpy.random.{name}`", np.random, name)
        self._names: list[tuple[str, object, frozenset]] = []  # (prefix, namespace, its names)
        self._functions: list[tuple[str, types.FunctionType, tuple]] = []  # (label, f, internals)
        self._watch_guard()
        #: The guard's own functions and classes by name, as a topic module imports them.
        self._guard_objects = {
            name: value
            for name, value in vars(guard).items()
            if isinstance(value, types.FunctionType | type) and value.__module__ == guard.__name__
        }
        self._guard_ids = {id(value) for value in self._guard_objects.values()}
        self._modules: dict[str, types.ModuleType] = {}  # package modules looked at, by name
        self._fingerprint: tuple | None = None  # of `sys.modules` when last looked through
        self._look_at_new_modules()

    def _watch(self, label: str, holder: object, name: str) -> None:
        value = getattr(holder, name, _MISSING)
        if value is not _MISSING:
            self._watched.append((label, holder, name, value))

    def _watch_guard(self) -> None:
        """Every name of the guard's namespace and of its classes, and its functions' code."""
        self._names.append(("mitdeeplearning.guard", vars(guard), frozenset(vars(guard))))
        for name, value in sorted(vars(guard).items()):
            label = f"`mitdeeplearning.guard.{name}`"
            self._watched.append((label, guard, name, value))
            if isinstance(value, types.FunctionType):
                self._watch_function(label, value)
            elif isinstance(value, type) and value.__module__ == guard.__name__:
                namespace = value.__dict__  # a live view of the class's attributes
                self._names.append(
                    (f"mitdeeplearning.guard.{name}", namespace, frozenset(namespace))
                )
                for attribute, member in namespace.items():
                    if getattr(value, attribute, _MISSING) is member:  # not `__dict__` & co.
                        inner = f"`mitdeeplearning.guard.{name}.{attribute}`"
                        self._watched.append((inner, value, attribute, member))
                        if isinstance(member, types.FunctionType):
                            self._watch_function(inner, member)

    def _watch_function(self, label: str, function: types.FunctionType) -> None:
        self._functions.append((label, function, _internals(function)))

    def _look_at_new_modules(self) -> None:
        """Watch, in each package module not looked at yet, every name bound to one of the
        guard's functions or classes, and every name of one (``refuse_during_grading``) bound
        to anything else: from then on it must hold the guard's own.

        It looks through `sys.modules` only when that changed since the last look (its size or
        its newest entry), so that a look costs well under a microsecond when nothing was
        imported.
        """
        modules = sys.modules
        fingerprint = (len(modules), next(reversed(modules), None))
        if fingerprint == self._fingerprint:
            return
        for name, module in list(modules.copy().items()):
            if not _looked_at(name) or self._modules.get(name) is module:
                continue
            self._modules[name] = module
            namespace = getattr(module, "__dict__", None)
            for attribute, value in list(namespace.items() if isinstance(namespace, dict) else ()):
                if id(value) in self._guard_ids:  # the guard's, under its name or another
                    self._watched.append((f"`{name}.{attribute}`", module, attribute, value))
                elif attribute in self._guard_objects:  # replaced before this first look
                    expected = self._guard_objects[attribute]
                    self._watched.append((f"`{name}.{attribute}`", module, attribute, expected))
        self._fingerprint = fingerprint

    def replaced(self) -> str | None:
        """What has been replaced since the snapshot (a phrase naming it), or None."""
        self._look_at_new_modules()
        if type(guard) is not types.ModuleType:
            return "`mitdeeplearning.guard`"
        for label, holder, name, value in self._watched:
            if getattr(holder, name, _MISSING) is not value:
                return label
        for label, function, internals in self._functions:
            changed = _what_changed(function, internals)
            if changed is not None:
                return f"{changed} {label}"
        for prefix, namespace, names in self._names:
            if len(namespace) != len(names):  # a name added (one removed was found above)
                added = next((name for name in namespace if name not in names), "")
                return f"`{prefix}.{added}`"
        return None


class _Namespace:
    """One module's namespace as recorded, and a quick test that nothing in it changed."""

    __slots__ = (
        "current",
        "functions",
        "internals",
        "keywords",
        "label",
        "names",
        "namespace",
        "values",
    )

    def __init__(self, label: str, namespace: dict) -> None:
        self.label, self.namespace = label, namespace
        self.values = dict(namespace)
        self.functions = {
            name: (value, _internals(value))
            for name, value in self.values.items()
            if isinstance(value, types.FunctionType)
        }
        functions = [function for function, _ in self.functions.values()]
        self.internals = [(getter, functions, list(map(getter, functions))) for getter in _GETTERS]
        self.keywords = [  # (keyword-only defaults, their items) of the functions that have any
            (internals[2], internals[3]) for _, internals in self.functions.values() if internals[3]
        ]
        self.accept()

    def unchanged(self) -> bool:
        """True when the namespace holds the same names bound to the same objects, and its
        functions the same code and defaults: a quick test (loops in C), since it runs before
        and after every call of an answer."""
        namespace = self.namespace
        return (
            len(namespace) == len(self.names)
            and list(namespace) == self.names
            and _all_same(namespace.values(), self.current)
            and all(_all_same(map(get, functions), old) for get, functions, old in self.internals)
            and all(
                kwdefaults.get(name, _MISSING) is value
                for kwdefaults, items in self.keywords
                for name, value in items.items()
            )
        )

    def replaced(self, shadowable: set[str]) -> str | None:
        """What was replaced in the namespace, or added to it that shadows a builtin (one of
        `shadowable`), as a phrase; None if nothing."""
        for name, value in self.values.items():
            if self.namespace.get(name, _MISSING) is not value:
                return f"`{name}` in the grading module `{self.label}`"
        for name, (function, internals) in self.functions.items():
            changed = _what_changed(function, internals)
            if changed is not None:
                return f"{changed} `{name}` in the grading module `{self.label}`"
        added = [name for name in self.namespace if name not in self.values and name in shadowable]
        return f"`{added[0]}` in the grading module `{self.label}`" if added else None

    def accept(self) -> None:
        """Take the namespace as it is now as the one the quick test compares with: as
        recorded, or with names added since, none of which shadows a builtin (``__getattr__``
        in ``__init__``). What `replaced` compares with stays as recorded."""
        self.names, self.current = list(self.namespace), list(self.namespace.values())


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
        self._records: list[_Namespace] = []
        self._shadowable = set(dir(builtins))

    def record(self) -> None:
        """Record the namespaces as they are now."""
        self._records = []
        for module in self._modules:
            label = (
                "__init__" if hasattr(module, "__path__") else module.__name__.rpartition(".")[2]
            )
            self._records.append(_Namespace(label, vars(module)))

    def replaced(self) -> str | None:
        """What has been replaced or added in the copy's namespaces (a phrase), or None."""
        for record in self._records:
            if not record.unchanged():
                found = record.replaced(self._shadowable)
                if found is not None:
                    return found
                record.accept()
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
