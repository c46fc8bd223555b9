"""Finding, before an answer runs, whether it hands its exercise to a refused implementation.

A library's function cannot refuse to run inside a graded answer the way this package's
functions do (`mitdeeplearning.guard`), so the checks read the answer first. `find_refused`
walks the answer's compiled code (its names, nested functions and lambdas, closures and default
values; for a class, the functions it defines and its bases; other functions of the notebook it
refers to, a few levels deep), resolves each global name in the answer's namespace, follows
attribute names through modules and classes (``skm.roc_curve``, ``keras.layers.Dense``), and
compares what it finds with the refused objects by identity, through wrappers (``__wrapped__``,
as scikit-learn's parameter validation adds). An ``import`` inside the answer counts as well.

It reads objects without running them (`inspect.getattr_static`), except that a module's lazily
loaded attribute is fetched as the answer itself would fetch it, and a module the answer
imports is imported, as running the answer would.

What it cannot see (a name built from strings at run time, ``getattr(skm, "roc_" + "curve")``)
is the instructor's scan's to catch.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import importlib
import inspect
import sys
import types
from collections.abc import Iterable, Iterator

__all__ = ["find_refused", "package_name"]

#: How many notebook functions deep the walk follows references, and how far attribute names are
#: followed from a module or class (``keras.layers.Dense``: 2).
DEPTH = 4
ATTRIBUTE_DEPTH = 3
#: The most code objects one walk reads: a bound on the time a graded cell spends here.
MAX_CODE_OBJECTS = 300

_MISSING = object()


def package_name(obj: object) -> str | None:
    """The short public spelling of this package's function or class `obj`, else None.

    Examples
    --------
    >>> from mitdeeplearning.xray.localisation import pointing_game
    >>> package_name(pointing_game)
    'xray.pointing_game'
    >>> package_name(len) is None
    True
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    parts = module.split(".")
    if parts[0] != "mitdeeplearning" or len(parts) < 2:
        return None
    return f"{parts[1]}.{qualname}"


def _unwrapped(obj: object) -> Iterator[object]:
    """`obj`, then what it wraps: ``__wrapped__`` chains, bound methods' functions, partials."""
    seen = set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        yield obj
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, types.MethodType | staticmethod | classmethod):
            obj = obj.__func__
        else:
            try:
                obj = inspect.getattr_static(obj, "__wrapped__", None)
            except Exception:  # noqa: BLE001 - an object that cannot be read wraps nothing
                obj = None


def _resolve(dotted: str) -> object:
    """The object named `dotted` if its module is already imported, else `_MISSING`."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj = module
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


class _Walk:
    """Everything an answer's code can reach by name: objects, attribute names, imports."""

    def __init__(self, answer: object) -> None:
        self.home = _namespace_of(answer)
        self.objects: dict[int, object] = {}
        self.attributes: set[str] = set()
        self.imports: set[str] = set()  # dotted names imported inside the answer's code
        self.codes: set[int] = set()
        self.visit(answer, DEPTH, root=True)
        self.follow_attributes()

    def own(self, obj: object) -> bool:
        """Whether `obj` was written in the notebook (or module) that defined the answer."""
        if isinstance(obj, types.FunctionType):
            return obj.__globals__ is self.home or obj.__module__ == "__main__"
        if isinstance(obj, type):
            return obj.__module__ == "__main__" or (
                self.home is not None and obj.__module__ == self.home.get("__name__")
            )
        return False

    def add(self, obj: object) -> None:
        for inner in _unwrapped(obj):
            self.objects.setdefault(id(inner), inner)

    def visit(self, obj: object, depth: int, root: bool = False) -> None:
        """Record `obj` and what it wraps; read the code of the answer itself and of what the
        notebook defined (never a library's code)."""
        self.add(obj)
        if depth <= 0:
            return
        for inner in _unwrapped(obj):
            if isinstance(inner, types.FunctionType) and (root or self.own(inner)):
                self.visit_function(inner, depth)
            elif isinstance(inner, functools.partial) and (root or self.own(inner.func)):
                for value in (*inner.args, *inner.keywords.values()):
                    self.visit(value, depth - 1)
            elif isinstance(inner, type) and (root or self.own(inner)):
                self.visit_class(inner, depth)
            elif root and inner is obj and callable(obj) and not isinstance(obj, type):
                self.visit(type(obj), depth, root=self.own(type(obj)))  # a callable instance

    def visit_class(self, cls: type, depth: int) -> None:
        for base in cls.__mro__[1:]:
            self.add(base)  # a base that is itself refused (keras.layers.Dense)
            if self.own(base):
                self.visit(base, depth - 1)
        for value in vars(cls).values():
            if isinstance(value, property):
                value = (value.fget, value.fset, value.fdel)
            for member in value if isinstance(value, tuple) else (value,):
                for inner in _unwrapped(member):
                    if isinstance(inner, types.FunctionType):
                        self.visit_function(inner, depth - 1)

    def visit_function(self, function: types.FunctionType, depth: int) -> None:
        for value in (*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()):
            self.visit(value, depth - 1)
        for cell in function.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                self.visit(cell.cell_contents, depth - 1)
        for name in self.read_code(function.__code__):
            value = function.__globals__.get(name, _MISSING)
            if value is _MISSING:
                builtins = function.__globals__.get("__builtins__")
                namespace = builtins if isinstance(builtins, dict) else vars(builtins or sys)
                value = namespace.get(name, _MISSING)
            if value is not _MISSING:
                self.visit(value, depth - 1)

    def read_code(self, code: types.CodeType) -> set[str]:
        """The global names `code` (and the code nested in it) loads; records its attribute
        names and imports on the way."""
        if id(code) in self.codes or len(self.codes) >= MAX_CODE_OBJECTS:
            return set()
        self.codes.add(id(code))
        global_names: set[str] = set()
        fromlist: tuple = ()
        for instruction in dis.get_instructions(code):
            op, value = instruction.opname, instruction.argval
            if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                global_names.add(value)
            elif op in ("LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "IMPORT_FROM"):
                self.attributes.add(value)
            elif op == "LOAD_CONST" and isinstance(value, tuple):
                fromlist = value
            elif op == "IMPORT_NAME":
                self.imports.add(value)
                self.imports.update(f"{value}.{name}" for name in fromlist if name != "*")
            if op != "LOAD_CONST":
                fromlist = () if op != "IMPORT_NAME" else fromlist
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                global_names |= self.read_code(constant)
        return global_names

    def follow_attributes(self) -> None:
        """Add what the answer's attribute names reach from the modules and classes it holds
        (``skm`` + ``roc_curve``), as deep as `ATTRIBUTE_DEPTH`."""
        for dotted in sorted(self.imports):
            if dotted not in sys.modules:
                try:
                    importlib.import_module(dotted)
                except Exception:  # noqa: BLE001 - `from m import name` names no module
                    continue
            self.add(sys.modules[dotted])
        frontier = [o for o in self.objects.values() if isinstance(o, types.ModuleType | type)]
        for _ in range(ATTRIBUTE_DEPTH):
            found = []
            for holder in frontier:
                for name in self.attributes:
                    value = _attribute(holder, name)
                    if value is not _MISSING and id(value) not in self.objects:
                        self.add(value)
                        if isinstance(value, types.ModuleType | type):
                            found.append(value)
            frontier = found


def _namespace_of(answer: object) -> dict | None:
    """The namespace (a notebook's, or a module's) in which `answer` was written."""
    for inner in _unwrapped(answer):
        if isinstance(inner, types.FunctionType):
            return inner.__globals__
    cls = answer if isinstance(answer, type) else type(answer)
    module = sys.modules.get(getattr(cls, "__module__", None) or "")
    return vars(module) if module is not None else None


def _attribute(holder: object, name: str) -> object:
    """``holder.name`` read without running the holder's code, or `_MISSING`. A module's lazily
    exported name (not yet in its namespace) is fetched as the answer would fetch it."""
    try:
        if isinstance(holder, types.ModuleType):
            value = vars(holder).get(name, _MISSING)
            if value is _MISSING and "__getattr__" in vars(holder):
                value = getattr(holder, name, _MISSING)
            return value
        return inspect.getattr_static(holder, name, _MISSING)
    except Exception:  # noqa: BLE001 - an attribute that cannot be read is not a delegation
        return _MISSING


def find_refused(answer: object, package: Iterable[str], library: Iterable[str]) -> str | None:
    """The first refused name that `answer`'s code refers to, or None.

    Parameters
    ----------
    answer : function, class or callable
        The student's answer.
    package : iterable of str
        Short public spellings of this package's functions (``"xray.pointing_game"``).
    library : iterable of str
        Full dotted names of library objects (``"sklearn.metrics.roc_curve"``).

    Returns
    -------
    str or None
        The refused name, as given in `package` or `library`.

    Examples
    --------
    >>> import numpy as np
    >>> def mean_of(values):
    ...     return np.mean(values)
    >>> find_refused(mean_of, [], ["numpy.mean"])
    'numpy.mean'
    >>> find_refused(mean_of, [], ["numpy.median"]) is None
    True
    """
    package, library = set(package), tuple(library)
    walk = _Walk(answer)
    for dotted in library:  # an import inside the answer, even of a module not yet imported
        if dotted in walk.imports:
            return dotted
    refused: dict[int, str] = {}
    for dotted in library:
        obj = _resolve(dotted)
        if obj is not _MISSING:
            for inner in _unwrapped(obj):
                refused.setdefault(id(inner), dotted)
    for obj in walk.objects.values():
        if id(obj) in refused:
            return refused[id(obj)]
        name = package_name(obj)
        if name is not None and name in package:
            return name
    return None
