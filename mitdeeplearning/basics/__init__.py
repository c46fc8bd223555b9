"""Lab 1 Part 1's topic, TensorFlow basics: drawing the computation graph behind a function.

Public names are imported lazily, so ``import mitdeeplearning.basics`` does not load TensorFlow.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "Op": "graphs",
    "graph_ops": "graphs",
    "plot_graph": "graphs",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
