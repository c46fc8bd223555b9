"""What the names in a notebook's code stand for, read without running it.

`mitdeeplearning.instructor.scan` judges a student's answer by what it reaches for
(``sys._getframe``, ``sklearn.metrics.roc_curve``...), whatever it is called in the cell:
``import sklearn.metrics as skm; skm.roc_curve``, ``from sys import _getframe as g``,
``s = sys; s.modules``, ``getattr(skm, "roc_curve")``. This module turns cells into Python
(IPython's ``%magics`` and ``!shell`` lines included) and follows every import and alias of
every cell of a notebook, so each expression resolves to the dotted names it may stand for.

Cells can run in any order in a notebook, so a name's meanings are the union over all cells.
"""

from __future__ import annotations

import ast
import dataclasses

#: What some packages are also called: ``tf.keras.layers.Dense`` is ``keras.layers.Dense``.
_SAME_AS = {"tensorflow.keras": "keras", "tf_keras": "keras"}
_SEQUENCE = ast.Tuple | ast.List
#: Modules taken as imported even where no cell imports them (a kernel has them loaded, and a
#: student's variable is seldom called so).
IMPLICIT_MODULES = {"sys", "os", "builtins", "inspect", "importlib", "subprocess", "gc", "ctypes"}


@dataclasses.dataclass(frozen=True)
class Ref:
    """One meaning of an expression: a dotted name and how it was reached.

    ``kind`` is ``"import"`` (a module, or a name imported from one), ``"instance"`` (an
    object made by a class of a module: ``music.Vocab.from_texts(...)`` is a
    ``mitdeeplearning.music.Vocab``), ``"free"`` (a name no cell binds: a builtin or one of
    IPython's, such as ``eval`` or ``In``) or ``"star"`` (perhaps brought in by a
    ``from module import *``).
    """

    name: str
    kind: str

    def attribute(self, attr: str) -> Ref:
        return Ref(canonical(f"{self.name}.{attr}"), self.kind)


def canonical(name: str) -> str:
    """`name` with the packages that have two names spelled one way.

    Examples
    --------
    >>> canonical("tensorflow.keras.layers.Dense")
    'keras.layers.Dense'
    >>> canonical("numpy.asarray")
    'numpy.asarray'
    """
    for alias, real in _SAME_AS.items():
        if name == alias or name.startswith(alias + "."):
            return real + name[len(alias) :]
    return name


def to_python(source: str) -> str:
    """A cell's source as plain Python: IPython's ``%magic``, ``%%cell magic``, ``!shell``
    and ``name?`` become the ``get_ipython()`` calls IPython would run. Without IPython the
    source is returned as it is (and such a cell then cannot be parsed).

    Examples
    --------
    >>> print(to_python("%matplotlib inline\\nx = 1"), end="")
    get_ipython().run_line_magic('matplotlib', 'inline')
    x = 1
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with nbgrader and Jupyter
        return source
    return TransformerManager().transform_cell(source)


def parse_cell(source: str) -> ast.Module:
    """`source` (a notebook cell) parsed as Python after `to_python`; raises `SyntaxError`."""
    return ast.parse(to_python(source))


def string_of(node: ast.AST | None) -> str | None:
    """The value of a string literal, or None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_class_name(part: str) -> bool:
    return part[:1].isupper() and not part.isupper()


class Names:
    """The meanings of each name bound by imports and aliases in a notebook's cells.

    Examples
    --------
    >>> import ast
    >>> names = Names()
    >>> names.bind(ast.parse("import sklearn.metrics as skm\\nf = skm.roc_curve"))
    True
    >>> sorted(r.name for r in names.resolve(ast.parse("f", mode="eval").body))
    ['sklearn.metrics.roc_curve']
    >>> [r.name for r in names.resolve(ast.parse('getattr(skm, "auc")', mode="eval").body)]
    ['sklearn.metrics.auc']
    """

    def __init__(self) -> None:
        self.bound: dict[str, set[Ref]] = {}
        self.star: set[str] = set()

    def add(self, name: str, refs: set[Ref]) -> bool:
        """Add meanings to `name`; True if any was new."""
        known = self.bound.setdefault(name, set())
        new = refs - known
        known |= new
        return bool(new)

    @classmethod
    def of_cells(cls, trees: list[ast.Module]) -> Names:
        """The names bound in `trees` (every parsed cell of a notebook), followed until no
        alias adds a meaning (``a = sys`` in one cell, ``b = a`` in an earlier one)."""
        names = cls()
        for _ in range(4):
            if not any([names.bind(tree) for tree in trees]):
                break
        return names

    def bind(self, tree: ast.AST) -> bool:
        """Record the imports and aliases in `tree`; True if a meaning was added."""
        changed = False
        for node in ast.walk(tree):
            for name, refs in self._bindings(node):
                if name == "*":
                    new = {ref.name for ref in refs} - self.star
                    self.star |= new
                    changed |= bool(new)
                elif refs:
                    changed |= self.add(name, refs)
        return changed

    def _bindings(self, node: ast.AST) -> list[tuple[str, set[Ref]]]:
        if isinstance(node, ast.Import):
            return [
                (alias.asname, {Ref(canonical(alias.name), "import")})
                if alias.asname
                else (alias.name.split(".")[0], {Ref(alias.name.split(".")[0], "import")})
                for alias in node.names
            ]
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            return [
                (alias.asname or alias.name, {Ref(canonical(f"{module}.{alias.name}"), "import")})
                if alias.name != "*"
                else ("*", {Ref(canonical(module), "import")})
                for alias in node.names
            ]
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            return self._pairs(targets, node.value)
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, _SEQUENCE)
        ):  # for m in (sys, os)
            refs = set().union(*[self.resolve(element) for element in node.iter.elts])
            return [(node.target.id, refs)]
        if isinstance(node, ast.arguments):  # defaults: def f(m=sys)
            positional = node.posonlyargs + node.args
            defaults = positional[len(positional) - len(node.defaults) :]
            pairs = [*zip(defaults, node.defaults, strict=True)]
            pairs += zip(node.kwonlyargs, node.kw_defaults, strict=True)
            return [(arg.arg, self.resolve(value)) for arg, value in pairs if value is not None]
        return []

    def _pairs(self, targets: list[ast.expr], value: ast.expr) -> list[tuple[str, set[Ref]]]:
        pairs = []
        for target in targets:
            if isinstance(target, ast.Name):
                pairs.append((target.id, self.resolve(value)))
            elif isinstance(target, _SEQUENCE) and isinstance(value, _SEQUENCE):
                for inner, part in zip(target.elts, value.elts, strict=False):
                    pairs += self._pairs([inner], part)
        return pairs

    def resolve(self, node: ast.AST) -> set[Ref]:
        """The dotted names `node` may stand for (empty when nothing is known)."""
        if isinstance(node, ast.Name):
            if node.id in self.bound:
                return set(self.bound[node.id])
            if node.id in IMPLICIT_MODULES:
                return {Ref(node.id, "import")}
            return {Ref(node.id, "free")} | {Ref(f"{m}.{node.id}", "star") for m in self.star}
        if isinstance(node, ast.Attribute):
            return {ref.attribute(node.attr) for ref in self.resolve(node.value)}
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        if isinstance(node, ast.Subscript):
            key = string_of(node.slice)
            if key and any(r.name == "sys.modules" for r in self.resolve(node.value)):
                return {Ref(canonical(key), "import")}
            return set()
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        return set()

    def _resolve_call(self, node: ast.Call) -> set[Ref]:
        called = self.resolve(node.func)
        names = {ref.name for ref in called}
        first = string_of(node.args[0]) if node.args else None
        if names & {"getattr", "builtins.getattr"} and len(node.args) >= 2:
            attr = string_of(node.args[1])
            return {ref.attribute(attr) for ref in self.resolve(node.args[0])} if attr else set()
        if first and names & {"__import__", "builtins.__import__", "importlib.import_module"}:
            return {Ref(canonical(first), "import")}
        if "mitdeeplearning.grading.fresh" in names:  # a fresh copy of the grading package
            return {Ref("mitdeeplearning.grading", "import")}
        made = set()
        for ref in called:
            parts = ref.name.split(".")
            if ref.kind not in ("import", "star") or len(parts) < 2:
                continue
            if _is_class_name(parts[-1]):  # Vocab(...)
                made.add(Ref(ref.name, "instance"))
            elif _is_class_name(parts[-2]):  # Vocab.from_texts(...), a class method
                made.add(Ref(".".join(parts[:-1]), "instance"))
        return made


def bound_in(tree: ast.AST) -> set[str]:
    """The names a cell assigns (``x = ...``, ``for x in``, ``def x``...), at any depth."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            found.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
    return found
