"""Before submitting: `mitdl validate` checks a student's notebook as the autograder will see
it (which lab, grading metadata intact or repairable, unanswered cells, tampering, failing
visible checks).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from .course import course_dir, labs
from .notebooks import execute_notebook
from .reports import graded_cells
from .submission import check_submission, read_notebook, read_releases


def release_notebooks(course: str | os.PathLike | None = None) -> dict[tuple[str, str], dict]:
    """``(lab, file name) → notebook`` for every committed release notebook of the course."""
    root = course_dir(course)
    releases: dict[tuple[str, str], dict] = {}
    for lab in labs(root):
        releases.update(read_releases(root / "release", lab))
    return releases


def validate(
    path: str | os.PathLike,
    course: str | os.PathLike | None = None,
    *,
    run: bool = True,
    timeout: float = 600,
) -> dict:
    """Check a student's notebook before submission, as the autograder will see it.

    Identifies the lab and notebook (even renamed, or without its grading metadata), compares
    its graded cells with the release (intact, repairable or missing; locked cells edited),
    lists unanswered cells and answers that tamper with the kernel, and (with `run`) runs a
    repaired copy top to bottom in fast mode (``MITDL_FAST=1``) to report the visible checks
    that fail and other cells that raise.

    Returns
    -------
    dict
        ``lab``, ``notebook``, ``graded`` and ``points`` (the tests graded automatically and
        their points), ``manual`` and ``manual_points`` (the cells graded by hand), ``repaired``,
        ``missing``, ``missing_answers``, ``changed``, ``unanswered`` and ``flags`` (lists of
        the answer and test cells' grade ids, or of lines), ``failed_checks`` and
        ``errors`` (``[grade id or "cell N", error]``), ``seconds`` (of the run, or None) and
        ``ready`` (True when nothing stands in the way of full marks).

    Raises
    ------
    mitdeeplearning.instructor.submission.SubmissionError
        If the file is not a notebook, or not one of this course's.
    """
    notebook = read_notebook(path)
    releases = release_notebooks(course)
    check = check_submission(notebook, releases)
    graded = [m for m in check.matches if m.kind != "text"]
    automatic, manual = graded_cells({check.notebook: releases[(check.lab, check.notebook)]})
    report = {
        "lab": check.lab,
        "notebook": check.notebook,
        "graded": len(automatic),
        "points": sum(automatic.values()),
        "manual": list(manual),
        "manual_points": sum(manual.values()),
        "repaired": [m.grade_id for m in graded if m.how not in ("intact", "missing")],
        "missing": [m.grade_id for m in graded if m.how == "missing"],
        "missing_answers": check.missing_answers,
        "changed": check.changed,
        "unanswered": check.unanswered,
        "flags": check.flags,
        "failed_checks": [],
        "errors": [],
        "seconds": None,
    }
    if run:
        with tempfile.TemporaryDirectory(prefix="mitdl-validate-") as tmp:
            copy_path = Path(tmp) / check.notebook
            copy_path.write_text(json.dumps(check.repaired_notebook), encoding="utf-8")
            tic = time.perf_counter()
            executed = execute_notebook(copy_path, fast=True, timeout=timeout, allow_errors=True)
            report["seconds"] = round(time.perf_counter() - tic, 1)
        for index, cell in enumerate(executed.cells):
            meta = cell.metadata.get("nbgrader", {})
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                message = f"{output.get('ename', '')}: {output.get('evalue', '')}".strip()
                if meta.get("grade"):
                    report["failed_checks"].append([meta["grade_id"], message[:300]])
                elif meta.get("grade_id") not in check.unanswered:
                    report["errors"].append([meta.get("grade_id", f"cell {index}"), message[:300]])
    report["ready"] = not (
        report["missing_answers"]
        or report["unanswered"]
        or report["failed_checks"]
        or report["errors"]
    )
    return report
