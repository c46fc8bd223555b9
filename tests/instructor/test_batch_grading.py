"""One real autograde run of a class where some students send malformed files, look-alike
names and a feedback page attack: the run finishes, each bad file is its student's reported
problem, distinct names are distinct students, and an honest student's grade is the same as
when graded alone (slow: real nbgrader on the demo course)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from mitdeeplearning.instructor.autograde import autograde
from mitdeeplearning.instructor.submission import read_notebook

from .demo import EXERCISE_TESTS
from .test_feedback_page import _Page

SNOOP = [  # cells a student adds after the last test: input history, live HTML, fake scores
    "print(In)",
    "from IPython.display import HTML, display\n"
    "display(HTML(\"<script>document.title='pwned'</script><img src=x onerror='steal()'>\"))",
    "print('Your scores\\n| test_roc | 2 / 2 |')",
]


def _write(notebook: dict | str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = notebook if isinstance(notebook, str) else json.dumps(notebook)
    path.write_text(text, encoding="utf-8")
    return path


def _answer_only(release: dict, solution: dict, grade_id: str) -> dict:
    notebook = copy.deepcopy(release)
    for cell, solved in zip(notebook["cells"], solution["cells"], strict=True):
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = solved["source"]
    return notebook


def _class(root: Path, course: Path) -> Path:
    release = read_notebook(course / "release/exercises/Exercises.ipynb")
    solution = read_notebook(course / "source/exercises/Exercises.ipynb")
    _write(solution, root / "honest" / "Exercises.ipynb")
    _write(solution, root / "Zoë Li" / "Exercises.ipynb")
    _write(_answer_only(release, solution, "pointing"), root / "Zoé Li" / "Exercises.ipynb")
    snoop = copy.deepcopy(solution)
    snoop["cells"] += [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [],
                        "execution_count": None} for s in SNOOP]  # fmt: skip
    _write(snoop, root / "snoop" / "Exercises.ipynb")
    broken = copy.deepcopy(solution)
    broken["cells"][3]["metadata"] = []
    _write(broken, root / "metadata_list" / "Exercises.ipynb")
    _write('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}",
           root / "deep" / "Exercises.ipynb")  # fmt: skip
    # A malformed file beside a good one, named with bytes that are not UTF-8.
    _write(solution, root / "two_files" / "Exercises.ipynb")
    with open(os.path.join(os.fsencode(root / "two_files"), b"old\xff.ipynb"), "wb") as handle:
        handle.write(b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": ["x", 1]}]}')
    return root


@pytest.mark.slow
def test_a_class_with_malformed_files_and_look_alike_names_is_graded_whole(demo_course, tmp_path):
    out = tmp_path / "out"
    results = autograde("exercises", _class(tmp_path / "subs", demo_course), demo_course,
                        out=out, workers=2)["results"]  # fmt: skip
    full = float(sum(points for _, points in EXERCISE_TESTS.values()))
    assert sorted(results) == sorted(["honest", "Zoë_Li", "Zoé_Li", "snoop", "metadata_list",
                                      "deep", "two_files"])  # fmt: skip
    assert results["Zoë_Li"]["score"] == full and results["Zoé_Li"]["score"] == 2.0
    assert results["snoop"]["score"] == results["two_files"]["score"] == full
    for sid, words in [("metadata_list", "Exercises.ipynb, cell 4: its metadata is a list"),
                       ("deep", "Exercises.ipynb is not a notebook: its JSON is nested"),
                       ("two_files", "old?.ipynb, cell 1: its source is "
                                     "not text")]:  # fmt: skip
        assert results[sid]["score"] == 0.0 or sid == "two_files"
        assert any(words in p for p in results[sid]["problems"]), (sid, results[sid])
        assert words in (out / "summary.md").read_text(encoding="utf-8")

    # The feedback page: no hidden test, nothing live, the real scores in the grader's box.
    page = (out / "feedback" / "snoop" / "Exercises.html").read_text(encoding="utf-8")
    assert "seed=11" not in page and "seed=5" not in page
    assert "outputs withheld from this page" in page
    parsed = _Page()
    parsed.feed(page)
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert not [s for s in parsed.scripts if "document.title" in s or "steal" in s]
    assert "<script>document.title='pwned'</script>" in "".join(parsed.text)  # shown, inert
    body = page[page.index("<body") :]
    assert body.index("id='mitdl-scores'") < body.index("Your scores") < body.index("<main")

    # An honest student's grade does not depend on the others in the batch.
    alone = tmp_path / "alone"
    _write(read_notebook(demo_course / "source/exercises/Exercises.ipynb"),
           alone / "honest" / "Exercises.ipynb")  # fmt: skip
    by_itself = autograde("exercises", alone, demo_course, out=tmp_path / "out_alone",
                          workers=1)["results"]["honest"]  # fmt: skip
    for key in ("score", "max_score", "cells", "flags", "problems"):
        assert by_itself[key] == results["honest"][key], key
