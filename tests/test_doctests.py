"""The examples in the package's docstrings run and print what they say.

The NumPy-only modules are also run in a fresh interpreter, to show that their examples need
nothing heavy (no TensorFlow, music21, OpenCV, h5py or matplotlib): a reader can try them anywhere.
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mitdeeplearning"
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: Modules whose examples run with NumPy alone.
NUMPY_ONLY = [
    "mitdeeplearning._lazy",
    "mitdeeplearning.data.archives",
    "mitdeeplearning.data.cache",
    "mitdeeplearning.data.download",
    "mitdeeplearning.data.registry",
    "mitdeeplearning.files",
    "mitdeeplearning.grading.compare",
    "mitdeeplearning.grading.delegation",
    "mitdeeplearning.grading.integrity",
    "mitdeeplearning.grading.lab1",
    "mitdeeplearning.grading.refusals",
    "mitdeeplearning.grading.tracing",
    "mitdeeplearning.guard",
    "mitdeeplearning.music.abc",
    "mitdeeplearning.music.bar_scanner",
    "mitdeeplearning.music.headers",
    "mitdeeplearning.music.vocab",
    "mitdeeplearning.training",
    "mitdeeplearning.xray.localisation",
    "mitdeeplearning.xray.rle",
]
HEAVY = ("tensorflow", "keras", "music21", "cv2", "h5py", "matplotlib", "pretty_midi")

#: Modules that are only aliases of moved ones (importing them warns).
ALIASES = {"course", "autograde", "submission", "tf_graphs"}


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if relative.name in ALIASES or relative.name == "__main__":
            continue
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            names.append(".".join(parts))
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_numpy_only_modules_examples_run_without_anything_heavy():
    code = (
        "import doctest, importlib, json, sys\n"
        f"results = {{n: doctest.testmod(importlib.import_module(n), optionflags={OPTIONS})"
        f" for n in {NUMPY_ONLY!r}}}\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'results': {n: list(r) for n, r in results.items()}}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    for name, (failed, attempted) in report["results"].items():
        assert failed == 0 and attempted > 0, (name, failed, attempted)
