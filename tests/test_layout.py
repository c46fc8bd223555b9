"""The package's layout keeps its promises: who imports whom, no private names across modules,
modules and functions of a readable size (or a written reason), and old names that still work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mitdeeplearning"

#: Modules and functions allowed past the size limits, each with a "Long because" reason in its
#: docstring. A new entry is a deliberate decision: add it here and give the reason there.
LONG: set[str] = set()
MODULE_LINES = 500
FUNCTION_LINES = 80

#: Student-facing subpackages and modules: what the notebooks import. They never import the
#: instructor's tools or the command line.
STUDENT_FACING = (
    "basics",
    "music",
    "xray",
    "grading",
    "data",
    "report.py",
    "training.py",
    "files.py",
)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, imported names)`` for each ``import``/``from`` in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def _body_lines(node: ast.AST) -> int:
    """Lines of a function or module, not counting its docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    start = body[0].lineno
    end = max(getattr(n, "end_lineno", start) for n in body)
    return end - start + 1


def test_student_facing_code_never_imports_the_instructors_tools():
    offenders = []
    for path in _modules():
        relative = path.relative_to(PACKAGE).parts
        if relative[0] not in STUDENT_FACING:
            continue
        for module, names in _imports(path):
            targets = [module] + [f"{module}.{n}" for n in names]
            if any(t.startswith(("mitdeeplearning.instructor", "mitdeeplearning.cli")) or
                   t in ("mitdeeplearning.course", "mitdeeplearning.autograde",
                         "mitdeeplearning.submission") for t in targets):  # fmt: skip
                offenders.append(f"{_name(path)} imports {module}")
    assert offenders == []


#: The package's layers, bottom up: a module imports only from its own layer or those below,
#: and the topic packages, side by side, never import each other.
LAYERS = [
    {"_version", "_lazy", "files", "guard"},
    {"data", "report", "training"},
    {"basics", "music", "xray"},
    {"grading"},
    {"instructor"},
    {"cli", "__main__", "course", "autograde", "submission", "tf_graphs"},  # the last four: aliases
]
TOPICS = LAYERS[2]


def _part(dotted: str) -> str | None:
    """The top-level part of the package that a dotted module name is in (None: the root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mitdeeplearning" else None


def test_imports_go_down_the_layers_only():
    layer = {part: level for level, parts in enumerate(LAYERS) for part in parts}
    offenders = []
    for path in _modules():
        source = _part(_module_of(path))
        for module, names in _imports(path):
            if not module.startswith("mitdeeplearning"):
                continue
            # `from mitdeeplearning import data` imports the part `data`.
            targets = {_part(f"{module}.{n}") for n in names} if _part(module) is None else set()
            for target in (targets or {_part(module)}) - {None, source}:
                if source is None:  # the package's own __init__: cheap, imports only layer 0
                    if layer[target] > 0:
                        offenders.append(f"{_name(path)} imports {target}")
                elif layer[target] > layer[source] or (source in TOPICS and target in TOPICS):
                    offenders.append(f"{_name(path)} ({source}) imports {target}")
    assert offenders == []


def test_no_module_imports_another_modules_private_names():
    offenders = [
        f"{_name(path)}: from {module} import {name}"
        for path in _modules()
        for module, names in _imports(path)
        if module.startswith("mitdeeplearning")
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert offenders == []


def test_long_modules_and_functions_are_few_and_say_why():
    long = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _body_lines(tree) > MODULE_LINES:
            long[_name(path)] = ast.get_docstring(tree) or ""
        for node in ast.walk(tree):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and _body_lines(node) > FUNCTION_LINES:
                long[f"{_name(path)}::{node.name}"] = ast.get_docstring(node) or ""
    assert set(long) == LONG, "update LONG (and give the reason in the docstring), or split"
    unexplained = [name for name, doc in long.items() if "Long because" not in doc]
    assert unexplained == []


OLD_MODULES = [
    ("mitdeeplearning.course", "validate", "mitdeeplearning.instructor.validate"),
    ("mitdeeplearning.course", "run_lab", "mitdeeplearning.instructor.notebooks"),
    ("mitdeeplearning.course", "generate_release", "mitdeeplearning.instructor.course"),
    ("mitdeeplearning.submission", "repair_metadata", "mitdeeplearning.instructor.submission"),
    ("mitdeeplearning.autograde", "collect", "mitdeeplearning.instructor.autograde"),
    ("mitdeeplearning.autograde", "autograde_course", "mitdeeplearning.instructor.autograde"),
    ("mitdeeplearning.tf_graphs", "plot_graph", "mitdeeplearning.basics.graphs"),
]


@pytest.mark.parametrize(("old", "name", "new"), OLD_MODULES)
def test_old_module_paths_still_work_and_warn_once(old, name, new):
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    a = getattr(importlib.import_module({old!r}), {name!r})\n"
        f"    importlib.reload(importlib.import_module({old!r}))\n"
        f"new = importlib.import_module({new!r})\n"
        f"b = getattr(new, {name!r}.replace('autograde_course', 'autograde'))\n"
        "assert a is b, (a, b)\n"
        "messages = [str(w.message) for w in caught if w.category is FutureWarning]\n"
        f"assert sum({old!r} + ' has been renamed' in m for m in messages) == 1, messages\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_student_facing_packages_import_without_tensorflow():
    code = (
        "import sys\n"
        "import mitdeeplearning.basics, mitdeeplearning.music, mitdeeplearning.xray\n"
        "import mitdeeplearning.data, mitdeeplearning.report, mitdeeplearning.instructor\n"
        "heavy = ('tensorflow', 'keras', 'music21', 'cv2', 'h5py')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
