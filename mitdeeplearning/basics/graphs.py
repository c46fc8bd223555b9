"""Look inside a TensorFlow computation graph: list its operations and draw it with matplotlib.

Works on a ``tf.Graph`` built the TF1 way, or on a ``tf.function`` (its traced graph). Drawing
needs no Graphviz: operations are placed in columns by their distance from the inputs.

    >>> import tensorflow as tf                                            # doctest: +SKIP
    >>> f = tf.function(lambda a, b: (a + b) * (b - 1))                    # doctest: +SKIP
    >>> [op.type for op in graph_ops(f, tf.constant(1.0), tf.constant(2.0))]  # doctest: +SKIP
    ['Placeholder', 'Placeholder', 'AddV2', 'Const', 'Sub', 'Mul', 'Identity']
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation of a graph: its name, its type and the names of the ops it reads."""

    name: str
    type: str
    inputs: tuple[str, ...]


def _graph_of(target: Any, *args):
    import tensorflow as tf

    if isinstance(target, tf.Graph):
        return target
    if hasattr(target, "get_concrete_function"):  # a tf.function
        if not args:
            raise ValueError("Pass example arguments to trace the tf.function with.")
        return target.get_concrete_function(*args).graph
    if hasattr(target, "graph"):  # a concrete function
        return target.graph
    raise TypeError(f"Expected a tf.Graph or a tf.function, got {type(target).__name__}.")


def graph_ops(target: Any, *args) -> list[Op]:
    """The operations of `target` (a ``tf.Graph``, or a ``tf.function`` traced on `args`), in the
    order they were created. Constants that only feed shapes are kept: they are real ops."""
    graph = _graph_of(target, *args)
    ops = []
    for op in graph.get_operations():
        inputs = tuple(t.op.name for t in op.inputs)
        ops.append(Op(op.name, op.type, inputs))
    return ops


def plot_graph(target: Any, *args, ax=None, title: str | None = None):
    """Draw the graph: a box per operation (name and type), an arrow per tensor.

    Columns are the longest path from an input, so data flows left to right. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    ops = graph_ops(target, *args)
    by_name = {op.name: op for op in ops}
    depth: dict[str, int] = {}
    for op in ops:  # creation order is a topological order
        depth[op.name] = 1 + max((depth[i] for i in op.inputs if i in depth), default=-1)
    columns: dict[int, list[str]] = {}
    for op in ops:
        columns.setdefault(depth[op.name], []).append(op.name)
    position = {}
    for column, names in columns.items():
        for row, name in enumerate(names):
            position[name] = (column * 2.2, -(row - (len(names) - 1) / 2) * 1.2)

    if ax is None:
        width = 2.2 * max(3, len(columns))
        height = 1.2 * max(2, max(len(v) for v in columns.values()))
        _, ax = plt.subplots(figsize=(min(14, width * 1.1), min(8, height + 1)))
    for op in ops:
        x, y = position[op.name]
        for source in op.inputs:
            if source in position:
                sx, sy = position[source]
                ax.annotate("", xy=(x - 0.8, y), xytext=(sx + 0.8, sy),
                            arrowprops={"arrowstyle": "->", "color": "0.4"})  # fmt: skip
        box = FancyBboxPatch((x - 0.8, y - 0.35), 1.6, 0.7, boxstyle="round,pad=0.05",
                             facecolor=_colour(by_name[op.name].type), edgecolor="0.3")  # fmt: skip
        ax.add_patch(box)
        ax.text(x, y + 0.1, op.name, ha="center", va="center", fontsize=8, weight="bold")
        ax.text(x, y - 0.17, op.type, ha="center", va="center", fontsize=7, color="0.25")
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    ax.set_xlim(min(xs) - 1.1, max(xs) + 1.1)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _colour(op_type: str) -> str:
    if op_type in ("Placeholder", "Const"):
        return "#d9e8f5"  # inputs and constants
    if op_type in ("Identity", "NoOp"):
        return "#eeeeee"  # plumbing: the function's outputs
    return "#fde2c8"  # arithmetic
