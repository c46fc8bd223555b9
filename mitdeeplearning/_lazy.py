"""Lazy public names for the topic subpackages (PEP 562): a name's module is imported on first
use, so importing a subpackage stays cheap and only what is used loads its heavy libraries."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict
) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for `package`, whose public name ``n`` lives in the
    submodule ``exports[n]``; each name is cached in `namespace` (the package's globals)."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
