"""mitdeeplearning.instructor.scores: the scores nbgrader's gradebook holds, read from the graded
notebook instead, with the cells' points and code taken from the course's own copy; and a
notebook that is not what it should be earns nothing for the cells it spoiled, with a reason."""

from __future__ import annotations

import copy
import json
import shutil

import nbformat
import pytest

from mitdeeplearning.instructor import course
from mitdeeplearning.instructor.scores import graded_tests, score_notebook

from .demo import exercises_notebook


def _tests() -> dict:
    return graded_tests(exercises_notebook())


def _graded(**outputs) -> dict:
    """A graded notebook of the exercises lab whose test cells have the given outputs."""
    notebook = json.loads(nbformat.writes(exercises_notebook()))
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in outputs:
            cell["outputs"] = outputs[grade_id]
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
    return notebook


ERROR = {"output_type": "error", "ename": "AssertionError", "evalue": "wrong", "traceback": []}
STDERR = {"output_type": "stream", "name": "stderr", "text": "a warning\n"}
STDOUT = {"output_type": "stream", "name": "stdout", "text": "\N{CHECK MARK} fine\n"}


def result(value: str) -> dict:
    return {"output_type": "execute_result", "data": {"text/plain": value}, "metadata": {},
            "execution_count": 1}  # fmt: skip


def test_the_course_copy_names_the_test_cells_and_their_points():
    tests = _tests()
    assert {k: v[0] for k, v in tests.items()} == {"test_pointing": 2.0, "test_roc": 2.0}
    assert "### BEGIN HIDDEN TESTS" in tests["test_roc"][1]  # the code nbgrader restores


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ([STDOUT], 2.0),
        ([], 2.0),
        ([STDOUT, ERROR], 0.0),
        ([STDERR], 0.0),  # nbgrader's rule: anything on stderr fails a test cell
        ([result("1.5")], 1.5),  # partial credit
        ([result("'passed'")], 2.0),
        ([result("-1")], 2.0),
    ],
)
def test_nbgraders_rule_on_the_outputs(outputs, expected):
    scores, problems = score_notebook(_graded(test_roc=outputs), _tests())
    assert scores["test_roc"] == [expected, 2.0] and scores["test_pointing"] == [2.0, 2.0]
    assert problems == []


def test_a_result_above_the_points_earns_nothing_and_says_so():
    scores, problems = score_notebook(_graded(test_roc=[result("7")]), _tests())
    assert scores["test_roc"] == [0.0, 2.0]
    assert problems == ["test cell test_roc: its result 7 is more than its 2 points: no points"]


def test_a_test_cell_that_was_not_run_earns_nothing():
    # A run stopped half-way (a time limit) leaves the notebook as submitted: test cells with
    # no outputs, which would otherwise look like passing ones.
    notebook = _graded()
    for cell in notebook["cells"]:
        cell["execution_count"] = None
    scores, problems = score_notebook(notebook, _tests())
    assert scores == {"test_pointing": [0.0, 2.0], "test_roc": [0.0, 2.0]}
    assert problems[0] == "test cell test_pointing was not run: no points"


def test_spoiled_test_cells_earn_nothing_with_a_reason():
    notebook = _graded()
    tests = _tests()
    changed = copy.deepcopy(notebook)
    cell = next(c for c in changed["cells"] if "test_roc" in json.dumps(c["metadata"]))
    cell["source"] = "pass"
    scores, problems = score_notebook(changed, tests)
    assert scores["test_roc"] == [0.0, 2.0]
    assert problems == ["test cell test_roc is not the course's code in the graded notebook: "
                        "no points"]  # fmt: skip
    # the note nbgrader puts above a test cell it added back is not a change of the code
    added = copy.deepcopy(notebook)
    cell = next(c for c in added["cells"] if "test_roc" in json.dumps(c["metadata"]))
    cell["source"] = ("# This cell (id:test_roc) was missing from the submission. It was added "
                      "back by nbgrader.\n\n" + tests["test_roc"][1])  # fmt: skip
    assert score_notebook(added, tests) == ({"test_pointing": [2.0, 2.0],
                                             "test_roc": [2.0, 2.0]}, [])  # fmt: skip
    doubled = copy.deepcopy(notebook)
    doubled["cells"].append(copy.deepcopy(cell))
    assert "appears 2 times" in score_notebook(doubled, tests)[1][0]
    missing = copy.deepcopy(notebook)
    missing["cells"] = [c for c in missing["cells"] if "test_pointing" not in json.dumps(c)]
    scores, problems = score_notebook(missing, tests)
    assert scores["test_pointing"] == [0.0, 2.0] and "is missing" in problems[0]


@pytest.mark.parametrize(
    "notebook",
    [None, [], {"cells": "?"},
     {"cells": [1, None, {"metadata": []}, {"metadata": {"nbgrader": 3}}]},
     {"cells": [{"metadata": {"nbgrader": {"grade_id": ["test_roc"]}}}]}],
)  # fmt: skip
def test_an_unreadable_notebook_earns_nothing_and_never_raises(notebook):
    scores, problems = score_notebook(notebook, _tests())
    assert scores == {"test_pointing": [0.0, 2.0], "test_roc": [0.0, 2.0]}
    assert problems


def test_outputs_of_the_wrong_type_earn_nothing():
    notebook = _graded(test_roc=[["not", "an", "output"]])
    assert score_notebook(notebook, _tests())[0]["test_roc"] == [0.0, 2.0]
    notebook = _graded(test_roc={"output_type": "stream"})
    assert score_notebook(notebook, _tests())[0]["test_roc"] == [0.0, 2.0]


WRONG_ROC = "def roc_curve(labels, scores):\n    return [0, 1], [0, 1], [1, 0]"
NOISY_POINTING = (
    "import sys\n\n"
    "def pointing_game(cams, masks, tolerance):\n"
    "    print('thinking', file=sys.stderr)\n"
    "    hits = []\n"
    "    for cam, mask in zip(cams, masks):\n"
    "        r, c = np.unravel_index(np.argmax(cam), cam.shape)\n"
    "        rows, cols = np.nonzero(mask)\n"
    "        flat = cam.max() == cam.min()\n"
    "        hits.append(not flat and ((rows - r) ** 2 + (cols - c) ** 2).min() <= tolerance**2)\n"
    "    return np.array(hits)"
)


@pytest.mark.slow
def test_the_same_scores_as_nbgraders_gradebook_on_real_runs(demo_course, tmp_path):
    """Three students graded by real nbgrader: the scores from the graded notebooks equal the
    gradebook's, cell by cell."""
    scratch = course.scratch_course(demo_course, tmp_path / "course")
    course.run_nbgrader(["generate_assignment", "exercises", "--force", "--create"], scratch)
    release = json.loads((scratch / "release/exercises/Exercises.ipynb").read_text())
    solution = json.loads((demo_course / "source/exercises/Exercises.ipynb").read_text())

    def answered(answers: dict) -> dict:  # the solution with some answers replaced
        notebook = copy.deepcopy(solution)
        for cell in notebook["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell["source"] = answers[grade_id]
        return notebook

    students = {"honest": solution, "wrong": answered({"roc": WRONG_ROC}),
                "noisy": answered({"pointing": NOISY_POINTING}), "untouched": release}  # fmt: skip
    for student, notebook in students.items():
        folder = scratch / "submitted" / student / "exercises"
        folder.mkdir(parents=True)
        (folder / "Exercises.ipynb").write_text(json.dumps(notebook))
    course.run_nbgrader(["autograde", "exercises", "--create", "--force"], scratch)
    gradebook = course.read_grades(scratch, "exercises", list(students))
    tests = graded_tests(exercises_notebook())
    for student in students:
        graded = json.loads(
            (scratch / "autograded" / student / "exercises" / "Exercises.ipynb").read_text()
        )
        scores, problems = score_notebook(graded, tests)
        expected = {k: list(v) for k, v in gradebook[student]["cells"].items() if k in tests}
        assert scores == expected, student
        assert problems == []
    totals = {}
    for s in students:
        path = scratch / "autograded" / s / "exercises" / "Exercises.ipynb"
        scores = score_notebook(json.loads(path.read_text()), tests)[0]
        totals[s] = sum(score for score, _ in scores.values())
    assert totals == {"honest": 4.0, "wrong": 2.0, "noisy": 2.0, "untouched": 0.0}
    shutil.rmtree(scratch)
