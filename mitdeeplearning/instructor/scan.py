"""Reading a student's answers before grading: code that tampers with the kernel or the checks,
and answers that only call the library's own implementation of their exercise.

A check runs in the same Python process as the student's code, so an answer can in principle
reach the check's frame, rewrite the kernel, or patch what the check relies on. Such code has
no place in an answer, and it cannot hide behind a new name: each answer cell (and each code
cell the release does not have) is parsed with `ast` after IPython's syntax is turned into
Python, and every name is followed through the notebook's imports and aliases
(`mitdeeplearning.instructor.names`). A cell that cannot be parsed is flagged, never passed.

Each flag reads ``"<grade id> <reason>: <line>"`` (``"an unlabelled cell"`` for a cell without
a grade id); the reasons:

* the grading names (``grading``, ``checks``, ``fresh``, ``mitdeeplearning``, ``check_*``,
  ``GradingError``) rebound at the top level (assignment, import, def, class, for, with,
  ``global``, ``del``): ``rebinds grading``;
* frames: ``sys._getframe``, ``inspect``, ``f_back``, ``f_locals``, ``tb_frame``...;
* the import system and builtins: ``sys.modules``, ``importlib``, ``__import__``, ``builtins``;
* names looked up by a computed string, or on a module (``getattr(np, name)``), and the
  namespace itself (``globals()``, ``locals()``, ``vars()``);
* code from strings or encoded: ``exec``, ``eval``, ``compile``, ``base64``, ``codecs``,
  ``zlib``, ``marshal``, ``pickle``, ``bytes.fromhex``, ``rot13``;
* the interpreter's internals: ``__class__``, ``__subclasses__``, ``__globals__``, ``__code__``,
  ``__dict__``, ``__builtins__``, ``__wrapped__``, ``__closure__``, ``__file__``...;
* processes, shells and the network: ``subprocess``, ``os.system``, ``!cmd``, ``%%bash``,
  ``socket``, ``urllib``, ``requests``...; harmless magics (``%matplotlib``, ``%time``,
  ``%timeit``) are not flagged, and the code timed by ``%time`` is read like any other;
* files: absolute paths, paths above the working folder, writing files, walking folders, the
  gradebook and nbgrader;
* IPython: ``In``, ``Out``, ``_ih``, ``_`` (the history), ``get_ipython``, input and AST
  transformers, ``events.register``;
* patching: assigning to an attribute of an imported module (``np.asarray = ...``), private
  parts of mitdeeplearning (``grading._anything``), exiting (``sys.exit``, ``os._exit``).

Delegation: each exercise's checks declare what an answer must not call
(`mitdeeplearning.grading.REFUSALS`); an answer cell that names one of those, by any alias or
submodule path (``sklearn.metrics._ranking.roc_curve``), gets ``delegates to <name>``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

from . import rules
from .names import Names, Ref, bound_in, parse_cell, string_of, to_python

_MAGIC_OPTIONS = re.compile(r"^\s*(?:-[A-Za-z]+(?:\s*\d+)?\s+)*")  # %timeit -n1 -r 3 f(x)

# ## One cell ----------------------------------------------------------------------------------


class _Scanner(ast.NodeVisitor):
    """Collects ``(line, reason)`` for one parsed cell."""

    def __init__(self, names: Names, refused: Mapping[str, str], explicit: set[int], offset: int):
        self.names, self.refused, self.offset = names, refused, offset
        self.explicit_ipython = explicit  # lines where the student wrote get_ipython itself
        self.found: list[tuple[int, str]] = []
        self.depth = 0  # > 0 inside a function, class body, lambda or comprehension
        self.accepted: set[int] = set()  # Name nodes bound to what they should be

    def flag(self, node: ast.AST, reason: str) -> None:
        self.found.append((getattr(node, "lineno", 1) + self.offset, reason))

    def scan(self, tree: ast.AST) -> list[tuple[int, str]]:
        self.cell_bound = bound_in(tree)
        self.visit(tree)
        return self.found

    # What a name or attribute stands for ---------------------------------------------------

    def check_refs(self, node: ast.AST, refs: Iterable[Ref]) -> None:
        for ref in refs:
            if ref.kind == "import":
                reason = rules.rule_for(rules.MODULE_RULES, ref.name)
                if reason and not ref.name.startswith(rules.ALLOWED):
                    self.flag(node, reason)
                private = [p for p in ref.name.split(".")[1:] if p.startswith("_")]
                if ref.name.startswith("mitdeeplearning.") and any(
                    not (p.startswith("__") and p.endswith("__")) for p in private
                ):
                    self.flag(node, "reaches a private part of mitdeeplearning")
            if ref.kind != "free":
                for refused, shown in self.refused.items():
                    if rules.refused_match(ref.name, refused):
                        self.flag(node, f"delegates to {shown}")

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            refs = self.names.resolve(node)
            self.check_refs(node, refs)
            if node.id not in self.names.bound:
                reason = rules.FREE_RULES.get(node.id)
                if node.id == "get_ipython" and node.lineno not in self.explicit_ipython:
                    reason = None  # a %magic, judged in visit_Call
                if rules.HISTORY.match(node.id) or (node.id == "_" and "_" not in self.cell_bound):
                    reason = "reads the notebook's history"
                if reason:
                    self.flag(node, reason)
        elif self.depth == 0 and rules.is_grading_name(node.id) and id(node) not in self.accepted:
            self.flag(node, f"rebinds {node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        reason = rules.ATTRIBUTE_RULES.get(node.attr)
        if node.attr == "register" and isinstance(node.value, ast.Attribute):
            reason = "registers kernel hooks" if node.value.attr == "events" else reason
        if reason:
            self.flag(node, reason)
        refs = self.names.resolve(node)
        self.check_refs(node, refs)
        if not isinstance(node.ctx, ast.Load):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if any(ref.kind == "import" for ref in self.names.resolve(root)):
                self.flag(node, "patches a library")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str):
            return
        text = node.value
        reason = rules.STRING_RULES.get(text) or rules.STRING_RULES.get(text.lower())
        if reason:
            self.flag(node, reason)
        if rules.OUTSIDE.match(text) or "/proc/" in text:
            self.flag(node, "uses a path outside the working folder")
        elif "../" in text or "..\\" in text:
            self.flag(node, "reaches outside the working folder")
        if rules.GRADING_FILES.search(text):
            self.flag(node, "reaches for the grading files")

    # Calls ---------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if self._magic(node):
            return
        called = {ref.name for ref in self.names.resolve(node.func)}
        name_arg = string_of(node.args[1]) if len(node.args) > 1 else None
        lookups = {"getattr", "setattr", "delattr", "hasattr"}
        if called & (lookups | {f"builtins.{n}" for n in lookups}) and node.args:
            target = self.names.resolve(node.args[0])
            if len(node.args) > 1 and name_arg is None:
                self.flag(node, "looks up a name it computes")
            elif name_arg in rules.ATTRIBUTE_RULES:
                self.flag(node, rules.ATTRIBUTE_RULES[name_arg])
            if any(ref.kind == "import" for ref in target):
                patches = called & {"setattr", "delattr", "builtins.setattr", "builtins.delattr"}
                self.flag(node, "patches a library" if patches else "looks up a module's name")
        if called & {"vars", "builtins.vars"} and (
            not node.args or any(r.kind == "import" for r in self.names.resolve(node.args[0]))
        ):
            self.flag(node, "reads the namespace")
        if called & rules.OPENERS and self._writes(node):
            self.flag(node, "writes files")
        self.check_refs(node, self.names.resolve(node) - self.names.resolve(node.func))
        self.generic_visit(node)

    @staticmethod
    def _writes(node: ast.Call) -> bool:
        mode = node.args[1] if len(node.args) > 1 else None
        for keyword in node.keywords:
            if keyword.arg in ("mode", "flags"):
                mode = keyword.value
        if mode is None:
            return False
        text = string_of(mode)
        return text is None or bool(set(text) & set("wax+"))

    def _magic(self, node: ast.Call) -> bool:
        """Judge a call IPython made of ``%magic`` or ``!cmd``; True if it was one."""
        func = node.func
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name)
            and func.value.func.id == "get_ipython"
            and node.lineno not in self.explicit_ipython
        ):
            return False
        args = [string_of(arg) for arg in node.args]
        if func.attr in ("system", "getoutput"):
            self.flag(node, "runs a shell command")
            return True
        if func.attr not in ("run_line_magic", "run_cell_magic") or not args or args[0] is None:
            self.flag(node, "uses the IPython kernel")
            return True
        magic = args[0].lstrip("%")
        if magic in rules.SHELL_MAGICS:
            self.flag(node, "runs a shell command")
        elif magic == "writefile":
            self.flag(node, "writes files")
        elif magic not in rules.HARMLESS_MAGICS:
            self.flag(node, f"uses the %{magic} magic")
        elif magic in rules.CODE_MAGICS:
            code = args[-1] if func.attr == "run_cell_magic" else args[1]
            if code:
                first = node.lineno if func.attr == "run_cell_magic" else node.lineno - 1
                code = _MAGIC_OPTIONS.sub("", code) if func.attr == "run_line_magic" else code
                self._nested(node, code, first)
        return True

    def _nested(self, node: ast.AST, code: str, first_line: int) -> None:
        """Read the code a ``%time`` line or a ``%%time`` cell runs, as part of this cell."""
        try:
            tree = parse_cell(code)
        except SyntaxError as exc:
            self.flag(node, f"could not be read ({exc.msg})")
            return
        explicit = {i + 1 for i, line in enumerate(code.splitlines()) if "get_ipython" in line}
        inner = _Scanner(self.names, self.refused, explicit, self.offset + first_line)
        self.found += inner.scan(tree)

    # Bindings and scopes -------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign | ast.AnnAssign | ast.NamedExpr) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Name)
                and rules.is_grading_name(target.id)
                and node.value is not None
                and rules.canonical_binding(target.id, self.names.resolve(node.value))
            ):
                self.accepted.add(id(target))
        self.generic_visit(node)

    visit_AnnAssign = visit_NamedExpr = visit_Assign

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        module = (
            "." * node.level + (node.module or "") + "." if isinstance(node, ast.ImportFrom) else ""
        )
        for alias in node.names:
            full = module + alias.name
            if alias.name == "*":
                full = module[:-1]
                for refused, shown in self.refused.items():
                    if refused.startswith(full + ".") or rules.refused_match(full, refused):
                        self.flag(node, f"delegates to {shown}")
            self.check_refs(node, [Ref(full, "import")])
            bound = alias.asname or (alias.name if module else alias.name.split(".")[0])
            meaning = {Ref(full if alias.asname or module else bound, "import")}
            if (
                self.depth == 0
                and rules.is_grading_name(bound)
                and not rules.canonical_binding(bound, meaning)
            ):
                self.flag(node, f"rebinds {bound}")

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        for name in node.names:
            if rules.is_grading_name(name):
                self.flag(node, f"rebinds {name}")

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if self.depth == 0 and node.name and rules.is_grading_name(node.name):
            self.flag(node, f"rebinds {node.name}")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.AST) -> None:
        name = getattr(node, "name", None)
        if self.depth == 0 and name and rules.is_grading_name(name):
            self.flag(node, f"rebinds {name}")
        outside = [*getattr(node, "decorator_list", []), *getattr(node, "bases", []),
                   *getattr(node, "keywords", []), getattr(node, "args", None)]  # fmt: skip
        for child in outside:
            if child is not None:
                self.visit(child)
        self.depth += 1
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def visit_ListComp(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp


def scan_source(
    source: str,
    names: Names | None = None,
    refused: Mapping[str, str] | None = None,
) -> list[tuple[int, str, str]]:
    """``(line number, reason, line)`` for what one cell's `source` reaches for (see the
    module's notes), its names resolved through `names` (default: the cell's own imports), and
    ``delegates to X`` for each dotted name of `refused` (dotted name → name shown) it uses.

    Examples
    --------
    >>> for flag in scan_source("import inspect as i\\nframe = i.currentframe().f_back"):
    ...     print(flag)
    (1, "reads the caller's frame", 'import inspect as i')
    (2, "reads the caller's frame", 'frame = i.currentframe().f_back')
    >>> scan_source("%matplotlib inline\\nx = np.asarray([1, 2])")
    []
    >>> scan_source("from sklearn.metrics import roc_curve as rc",
    ...             refused={"sklearn.metrics.roc_curve": "sklearn.metrics.roc_curve"})
    [(1, 'delegates to sklearn.metrics.roc_curve', 'from sklearn.metrics import roc_curve as rc')]
    """
    original = source.splitlines()
    try:
        code = to_python(source)
        tree = ast.parse(code)
    except SyntaxError as exc:
        line = exc.lineno or 1
        text = original[line - 1] if 0 < line <= len(original) else ""
        return [(line, f"could not be read ({exc.msg})", text)]
    if names is None:
        names = Names.of_cells([tree])
    # IPython turns each %magic line into one line, unless lines were continued with "\\".
    aligned = len(original) == len(code.splitlines())
    lines = original if aligned else code.splitlines()
    explicit = {i + 1 for i, line in enumerate(lines) if "get_ipython" in line}
    if not aligned and "get_ipython" not in source:
        explicit = set()
    found = _Scanner(names, refused or {}, explicit, 0).scan(tree)
    unique = sorted(dict.fromkeys(found), key=lambda item: item[0])
    return [
        (line, reason, lines[line - 1] if line <= len(lines) else "") for line, reason in unique
    ]


def checks_called(source: str) -> set[str]:
    """The checks a test cell calls: ``<anything>.check_xxx(...)``.

    Examples
    --------
    >>> sorted(checks_called("checks = grading.fresh()\\nchecks.check_roc(roc_curve)"))
    ['check_roc']
    """
    try:
        tree = parse_cell(source)
    except SyntaxError:
        return set()
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("check_")
    }
