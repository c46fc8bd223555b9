"""A batch always finishes: a malformed file becomes its student's reported problem (naming the
file and what is wrong), never a traceback that stops the class, and no file costs the run
minutes before grading starts. Fast: no notebook runs here (see `test_batch_grading.py`)."""

from __future__ import annotations

import copy
import json
import os
import re
import time
import unicodedata
from pathlib import Path

import pytest

from mitdeeplearning.instructor import notebook_file
from mitdeeplearning.instructor.autograde import collect, student_id
from mitdeeplearning.instructor.submission import (
    SubmissionError,
    prepare_submission,
    read_notebook,
    repair_metadata,
)


def _release(root: Path) -> dict:
    return read_notebook(root / "release/exercises/Exercises.ipynb")


def _releases(root: Path) -> dict:
    return {("exercises", "Exercises.ipynb"): _release(root)}


def _raw_release(root: Path) -> dict:
    return json.loads((root / "release/exercises/Exercises.ipynb").read_text(encoding="utf-8"))


def _graded_index(notebook: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook["cells"])
                if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)  # fmt: skip


def _set(path: list, value):
    """A change to a notebook: set `value` at `path` (keys and, as "roc", an answer cell)."""

    def change(notebook: dict) -> None:
        node = notebook
        for key in path[:-1]:
            node = node[_graded_index(notebook, key) if key in ("roc", "pointing") else key]
        node[path[-1]] = value

    return change


#: name → (change to the release, words the problem must hold). Each of these stopped a whole
#: autograde run with a traceback that named no file.
MALFORMED = {
    "metadata_list": (_set(["cells", "roc", "metadata"], []), "cell 7: its metadata is a list"),
    "source_number": (_set(["cells", "roc", "source"], ["def f():\n", 3]), "cell 7: its source"),
    "grade_id_list": (
        _set(["cells", "roc", "metadata", "nbgrader", "grade_id"], ["roc"]),
        "cell 7: its grading metadata",
    ),  # fmt: skip
    "nbgrader_list": (
        _set(["cells", "roc", "metadata", "nbgrader"], ["roc"]),
        "cell 7: its grading metadata",
    ),  # fmt: skip
    "cell_string": (_set(["cells", 2], "print(1)"), "cell 3 is a string, not a cell"),
    "cell_type_list": (_set(["cells", "roc", "cell_type"], ["code"]), "cell 7 has the cell type"),
    "cells_object": (_set(["cells"], {"0": {}}), "not a notebook: it has no list of cells"),
}


def _write(notebook: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_notebook_is_refused_naming_the_file_and_the_problem(
    demo_course, tmp_path, name
):
    change, words = MALFORMED[name]
    notebook = _raw_release(demo_course)
    change(notebook)
    path = _write(notebook, tmp_path / f"{name}.ipynb")
    with pytest.raises(SubmissionError) as refused:
        read_notebook(path)
    assert str(refused.value).startswith(f"{name}.ipynb") and words in str(refused.value)
    # prepare_submission reports it as the student's problem and grades the other file.
    good = _write(_raw_release(demo_course), tmp_path / "good" / "Exercises.ipynb")
    notebooks, notes = prepare_submission([path, good], "exercises", _releases(demo_course))
    assert list(notebooks) == ["Exercises.ipynb"]
    assert len(notes["problems"]) == 1 and words in notes["problems"][0]


def test_json_nested_100000_deep_is_refused(tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_text('{"nbformat": 4, "cells": [], "metadata": ' + "[" * 100_000
                    + "]" * 100_000 + "}", encoding="utf-8")  # fmt: skip
    with pytest.raises(SubmissionError, match="deep.ipynb is not a notebook: its JSON is nested"):
        read_notebook(path)
    notebooks, notes = prepare_submission([path], "exercises", {})
    assert notebooks == {} and "nested deeper" in notes["problems"][0]


def test_metadata_nested_without_end_is_dropped_before_any_step_copies_it(demo_course, tmp_path):
    notebook = _raw_release(demo_course)
    nested: list = []
    for _ in range(900):  # within what json reads, past what copy.deepcopy can follow
        nested = [nested]
    notebook["metadata"]["widgets"] = nested
    notebook["cells"][0]["metadata"]["colab"] = nested
    notebook["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                        "text": nested}]  # fmt: skip
    path = _write(notebook, tmp_path / "nested.ipynb")
    with pytest.raises(RecursionError):
        copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))
    notebooks, notes = prepare_submission([path], "exercises", _releases(demo_course))
    assert list(notebooks) == ["Exercises.ipynb"] and notes["problems"] == []


def test_too_many_cells_bytes_or_code_are_refused(demo_course, tmp_path, monkeypatch):
    notebook = _raw_release(demo_course)
    extra = {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [],
             "execution_count": None}  # fmt: skip
    notebook["cells"] += [dict(extra) for _ in range(notebook_file.MAX_CELLS)]
    path = _write(notebook, tmp_path / "many.ipynb")
    with pytest.raises(SubmissionError, match=r"many.ipynb has \d+ cells; a submission may"):
        read_notebook(path)
    notebook = _raw_release(demo_course)
    notebook["cells"][1]["source"] = "x = [1, 2, 3]\n" * 20_000  # 280,000 characters, with the rest
    path = _write(notebook, tmp_path / "code.ipynb")
    tic = time.perf_counter()
    notebooks, notes = prepare_submission([path], "exercises", _releases(demo_course))
    assert time.perf_counter() - tic < 5  # the scan alone took 8 s before
    assert notebooks == {} and "code.ipynb holds 280,430 characters of code" in notes["problems"][0]
    small = _write(_raw_release(demo_course), tmp_path / "big.ipynb")
    monkeypatch.setattr(notebook_file, "MAX_BYTES", small.stat().st_size - 1)
    with pytest.raises(SubmissionError, match="big.ipynb is larger than"):
        read_notebook(small)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_pipe_named_like_a_notebook_is_not_read(tmp_path):
    path = tmp_path / "pipe.ipynb"
    os.mkfifo(path)  # reading it would wait forever
    with pytest.raises(SubmissionError, match="pipe.ipynb is not a regular file"):
        read_notebook(path)


def test_matching_the_most_cells_allowed_takes_seconds_not_minutes():
    release = read_notebook(Path(notebook_file.__file__).parents[2]
                            / "labs/release/lab2/Pneumothorax_CAM.ipynb")  # fmt: skip
    cells = []
    for cell in release["cells"]:  # every cell edited and stripped, 4 scratch cells after each
        cells.append({"cell_type": cell["cell_type"], "metadata": {},
                      "source": cell["source"] + "\n# edited"})  # fmt: skip
        cells += [{"cell_type": cell["cell_type"], "metadata": {},
                   "source": "y = 1\n" * 30 + f"x = {i}"} for i in range(4)]  # fmt: skip
    notebook = {"cells": cells[: notebook_file.MAX_CELLS], "metadata": {}, "nbformat": 4,
                "nbformat_minor": 4}  # fmt: skip
    tic = time.perf_counter()
    repair_metadata(notebook, release)
    assert time.perf_counter() - tic < 15  # 65 s on this machine with 900 cells before


def test_an_answer_the_scanner_cannot_parse_is_graded_and_flagged(demo_course, tmp_path):
    notebook = _raw_release(demo_course)
    notebook["cells"][_graded_index(notebook, "roc")]["source"] = "x = 1" + " + 1" * 50_000
    path = _write(notebook, tmp_path / "Exercises.ipynb")
    notebooks, notes = prepare_submission([path], "exercises", _releases(demo_course))
    assert list(notebooks) == ["Exercises.ipynb"] and notes["problems"] == []
    assert any("could not be scanned" in flag or "could not be read" in flag
               for flag in notes["flags"]), notes["flags"]  # fmt: skip


# ## Names: distinct students never merge ---------------------------------------------------


def test_student_ids_keep_unicode_and_stay_safe_in_paths():
    assert student_id("Zoë Li") == "Zoë_Li" != student_id("Zoé Li") == "Zoé_Li"
    assert student_id("\N{CYRILLIC CAPITAL LETTER A}nna Li") != student_id("Anna Li")
    assert student_id(unicodedata.normalize("NFD", "Zoë Li")) == "Zoë_Li"
    assert student_id("नमस्ते दुनिया") == "नमस्ते_दुनिया"  # vowel signs (marks) are kept
    assert student_id("Anna Smith_12345") == "Anna_Smith_12345"  # ASCII ids as before
    for unsafe in ["../../etc", "a/b\\c", "*?[x]", " .hidden ", "x\x00y", "CON", "\udcff"]:
        sid = student_id(unsafe)
        assert re.fullmatch(r"[\w.-]+", sid) and not sid.startswith(".") and sid != "CON", sid


def _folders(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "Exercises.ipynb").write_text("{}", encoding="utf-8")
    return root


def test_look_alike_names_are_distinct_students(tmp_path):
    cyrillic = "\N{CYRILLIC CAPITAL LETTER A}nna Li"
    root = _folders(tmp_path / "subs", ["Zoë Li", "Zoé Li", cyrillic, "Anna Li"])
    students, problems = collect(root)
    assert sorted(students) == sorted(["Zoë_Li", "Zoé_Li", student_id(cyrillic), "Anna_Li"])
    assert problems == [] and all(len(files) == 1 for files in students.values())


def test_two_names_with_one_id_are_reported_not_merged(tmp_path):
    root = _folders(tmp_path / "subs", ["Zoë Li", "Zoë_Li", "anna li", "Anna Li", "Bo Ng"])
    students, problems = collect(root)
    assert list(students) == ["Bo_Ng"]
    assert len(problems) == 2
    assert any("Zoë Li and Zoë_Li are different names" in p for p in problems), problems
    assert any("Anna Li and anna li" in p and "neither is graded" in p for p in problems)


def test_canvas_and_moodle_names_keep_working_with_unicode(tmp_path):
    root = tmp_path / "subs"
    root.mkdir()
    for name in ["zoëli_123_456_Exercises.ipynb", "zoëli_LATE_123_789_Exercises-1.ipynb",
                 "zoéli_124_457_Exercises.ipynb"]:  # fmt: skip
        (root / name).write_text("{}", encoding="utf-8")
    _folders(root, ["Zoë Li_12345_assignsubmission_file_"])
    students, problems = collect(root)
    assert problems == []
    assert {sid: len(files) for sid, files in students.items()} == {
        "zoëli_123": 2, "zoéli_124": 1, "Zoë_Li_12345": 1}  # fmt: skip
