"""Small courses of their own for the instructor's tools: no TensorFlow, so each notebook runs in
a second or two under real nbgrader.

* ``demo``: one answer (``add``) and its test, a plot and recorded figures;
* ``exercises``: two exercises graded by NumPy-only checks of `mitdeeplearning.grading`
  (``pointing_game`` and ``roc_curve``, whose checks refuse ``xray.pointing_game`` and
  scikit-learn's ROC functions), called as the labs call them, and a written answer graded by
  hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from mitdeeplearning.instructor import course

#: The exercises' answer cells → the test cell that grades each, and its points.
EXERCISE_TESTS = {"pointing": ("test_pointing", 2), "roc": ("test_roc", 2)}
WRITTEN_POINTS = 1

POINTING_SOLUTION = """\
    hits = np.zeros(len(cams), dtype=bool)
    for i, (cam, mask) in enumerate(zip(cams, masks)):
        if cam.max() == cam.min():
            continue  # a flat map points nowhere
        row, col = np.unravel_index(np.argmax(cam), cam.shape)
        rows, cols = np.nonzero(mask)
        hits[i] = np.min((rows - row) ** 2 + (cols - col) ** 2) <= tolerance**2
    return hits"""
ROC_SOLUTION = """\
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    positives, negatives = scores[labels == 1], scores[labels == 0]
    tpr = np.array([(positives >= t).mean() for t in thresholds])
    fpr = np.array([(negatives >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds"""


def nbgrader_cell(cell, grade_id, **flags):
    cell.metadata["nbgrader"] = {
        "grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
        "solution": False, "task": False, **flags,
    }  # fmt: skip
    cell.id = grade_id
    return cell


def _notebook(cells: list) -> nbformat.NotebookNode:
    for index, cell in enumerate(cells):
        if not cell.get("id"):
            cell.id = f"code-{index}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}  # fmt: skip
    return notebook


def demo_notebook(answer: str = "return a + b") -> nbformat.NotebookNode:
    v4 = nbformat.v4
    return _notebook([
        nbgrader_cell(v4.new_markdown_cell("# Demo lab\n\nAdd two numbers."), "md-1", locked=True),
        v4.new_code_cell("import matplotlib.pyplot as plt"),
        nbgrader_cell(
            v4.new_code_cell(
                f"def add(a, b):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION"
            ),
            "add",
            solution=True,
        ),
        nbgrader_cell(
            v4.new_code_cell(
                "assert add(1, 2) == 3\nprint('\N{CHECK MARK} add')\n"
                "### BEGIN HIDDEN TESTS\nassert add(-1, 1) == 0\n"
                "### END HIDDEN TESTS"
            ),
            "test_add",
            grade=True,
            locked=True,
            points=2,
        ),
        nbgrader_cell(v4.new_markdown_cell("## A plot and the figures"), "md-2", locked=True),
        v4.new_code_cell(
            "plt.plot([1, 2, 3], [add(1, 1), add(1, 2), add(2, 2)])\nplt.show()\n"
            "from mitdeeplearning import report\n"
            "out = report.output_dir()\n"
            "if out is not None:\n    (out / 'made.txt').write_text('made by the notebook')\n"
            "report.record_metrics({'answer': add(2, 3), 'ratio': 0.5})"
        ),
    ])  # fmt: skip


def _test_cell(grade_id: str, check: str, answer: str, hidden: str, points: int):
    source = (f"from mitdeeplearning import grading\n\nchecks = grading.fresh()\n"
              f"checks.{check}({answer})\n### BEGIN HIDDEN TESTS\n"
              f"checks.{check}({answer}, {hidden})\n### END HIDDEN TESTS")  # fmt: skip
    cell = nbformat.v4.new_code_cell(source)
    return nbgrader_cell(cell, grade_id, grade=True, locked=True, points=points)


def exercises_notebook() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    md = v4.new_markdown_cell
    return _notebook([
        nbgrader_cell(md("# Exercises\n\nTwo functions and a question."), "md-1", locked=True),
        v4.new_code_cell("import numpy as np\n\nfrom mitdeeplearning import grading"),
        nbgrader_cell(md("## The pointing game"), "md-2", locked=True),
        nbgrader_cell(v4.new_code_cell(
            "def pointing_game(cams, masks, tolerance):\n    ### BEGIN SOLUTION\n"
            f"{POINTING_SOLUTION}\n    ### END SOLUTION"
        ), "pointing", solution=True),
        _test_cell("test_pointing", "check_pointing_game", "pointing_game", "seed=5", 2),
        nbgrader_cell(md("## An ROC curve"), "md-3", locked=True),
        nbgrader_cell(v4.new_code_cell(
            "def roc_curve(labels, scores):\n"
            "    labels, scores = np.asarray(labels), np.asarray(scores)\n"
            f"    ### BEGIN SOLUTION\n{ROC_SOLUTION}\n    ### END SOLUTION"
        ), "roc", solution=True),
        _test_cell("test_roc", "check_roc", "roc_curve", "seed=11", 2),
        nbgrader_cell(md("## In your words\n\nWhy does a flat map point nowhere?"), "md-4",
                      locked=True),
        nbgrader_cell(md("Its maximum is everywhere: it singles out no place."), "written",
                      solution=True, grade=True, points=WRITTEN_POINTS),
    ])  # fmt: skip


def make_course(root: Path) -> Path:
    """A course at `root` with the labs ``demo`` and ``exercises``, released."""
    shutil.copy(course.DEFAULT_COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    labs = [("demo", demo_notebook(), "Demo.ipynb"),
            ("exercises", exercises_notebook(), "Exercises.ipynb")]  # fmt: skip
    for lab, notebook, name in labs:
        (root / "source" / lab).mkdir(parents=True)
        nbformat.write(notebook, root / "source" / lab / name)
        course.generate_release(lab, root)
    return root
