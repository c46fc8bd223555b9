"""Lazy public names for the subpackages (PEP 562), and the aliases that keep renamed names
working.

A public name's module is imported on first use, so importing a subpackage stays cheap and only
what is used loads its heavy libraries. A name that was renamed keeps working under its old
spelling: the first use of the old name in a process warns once (a `FutureWarning`, which
notebooks show) and says what to write instead.
"""

from __future__ import annotations

import functools
import importlib
import types
import warnings
from collections.abc import Callable, Mapping

#: Old spellings already warned about in this process (one warning per old name).
_warned: set[str] = set()


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn, once per process, that `old` is now spelled `new`."""
    if old in _warned:
        return
    _warned.add(old)
    warnings.warn(
        f"{old} has been renamed {new}; the old name still works but will be removed in a "
        f"future version. Write {new} instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    namespace: dict,
    renamed: Mapping[str, str] | None = None,
) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for `package`.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Public name → the submodule (relative to `package`) that defines it.
    namespace : dict
        The package's ``globals()``; each public name is cached there on first use.
    renamed : mapping, optional
        Old public name → its new name (a key of `exports`). The old name resolves to the new
        object and warns once; it is not listed by ``dir()``.
    """
    renamed = dict(renamed or {})
    unknown = set(renamed.values()) - set(exports)
    if unknown:
        raise ValueError(f"renamed targets not exported by {package}: {sorted(unknown)}")

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            namespace[name] = value
            return value
        if name in renamed:
            short = package.rsplit(".", 1)[-1]
            warn_renamed(f"{short}.{name}", f"{short}.{renamed[name]}")
            return __getattr__(renamed[name])
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


def moved_names(
    module: str, moved: Mapping[str, str], namespace: dict, *, warn: bool = True
) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for names that were renamed or moved out of `module`.

    Parameters
    ----------
    module : str
        The module's ``__name__``.
    moved : mapping
        Old name → ``"package.module:new_name"`` where it lives now, or ``"new_name"`` when it
        was only renamed in place (looked up in `namespace`).
    namespace : dict
        The module's ``globals()``.
    warn : bool
        Warn once per old name (a `FutureWarning` naming the new place).

    >>> getattr_ = moved_names("pkg.old", {"sqrt": "math:sqrt", "two": "TWO"}, {"TWO": 2})
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     getattr_("sqrt")(9.0), getattr_("two")
    (3.0, 2)
    """

    def __getattr__(name: str) -> object:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, _, new = moved[name].rpartition(":")
        if warn:
            warn_renamed(f"{module}.{name}", f"{where or module}.{new}")
        return getattr(importlib.import_module(where), new) if where else namespace[new]

    return __getattr__


def renamed_keywords(**old_to_new: str) -> Callable[[Callable], Callable]:
    """Decorator: keyword arguments renamed from `old` to `new` keep working, warning once.

    >>> @renamed_keywords(n="limit")
    ... def head(items, *, limit=None):
    ...     return items[:limit]
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     head([1, 2, 3], n=2)
    [1, 2]
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{function.__name__}() got both {old}= and {new}=; {old}= is the "
                            f"old name of {new}=, pass only {new}=."
                        )
                    name = function.__name__
                    warn_renamed(f"{name}({old}=...)", f"{name}({new}=...)")
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper

    return decorate


def moved_module(old: str, new: str, namespace: dict) -> None:
    """Make the module `old` (whose globals are `namespace`) an alias of the module `new`.

    The old module's file keeps only this call: importing it warns once and gives every public
    name of the new module, so ``from mitdeeplearning.course import autograde`` keeps working.
    """
    module = importlib.import_module(new)
    warn_renamed(old, new, stacklevel=4)
    public = getattr(module, "__all__", None) or [
        name for name, value in vars(module).items() if _defined_in(module, name, value)
    ]
    namespace.update({name: getattr(module, name) for name in public})
    namespace["__all__"] = list(public)


def _defined_in(module: types.ModuleType, name: str, value: object) -> bool:
    """A public name of `module` itself: not private, not an imported module, function or class."""
    if name.startswith("_") or isinstance(value, types.ModuleType):
        return False
    if type(value).__module__ == "__future__":  # `from __future__ import annotations`
        return False
    if callable(value) or hasattr(value, "__origin__"):
        return getattr(value, "__module__", None) == module.__name__
    return True
