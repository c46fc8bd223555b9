"""Scores read from a graded notebook, never from a database the student's kernel could write.

nbgrader writes each grade into the scratch course's gradebook, a SQLite file in the folder where
the student's code runs: a submission can rewrite it (``sqlite3`` is in the standard library).
The executed notebook is what nbgrader wrote from the kernel's messages after restoring every
locked cell. So the scores are computed here, outside the sandbox, from that notebook's test
cells, by nbgrader's own rule (`nbgrader.utils.determine_grade`): a test cell that was not
run, raised or wrote to stderr earns nothing, one whose result is a number earns that many
points (partial credit, at most the cell's points), any other earns all its points. Which
cells count, their points and their code come from the course's own copy (`graded_tests`),
never from the notebook: a test cell that is missing, doubled, not the course's code or not
run earns nothing, and says so.

The notebook is read defensively: any part of it may be of the wrong type.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["score_notebook", "graded_tests"]


def _text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None


def _nbgrader(cell) -> dict:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def graded_tests(notebook: Mapping) -> dict[str, tuple[float, str]]:
    """``grade_id → (points, source)`` of the cells graded by running them (code cells with
    ``grade`` and without ``solution`` or ``task``) of a course's own notebook (its source or
    its release: the code to compare is the one nbgrader restores, hidden tests included, so
    pass the source)."""
    tests = {}
    for cell in notebook.get("cells", []):
        meta = _nbgrader(cell)
        if cell.get("cell_type") != "code" or not meta.get("grade"):
            continue
        if meta.get("solution") or meta.get("task") or "grade_id" not in meta:
            continue
        tests[meta["grade_id"]] = (float(meta.get("points", 0)), _text(cell.get("source")) or "")
    return tests


def _without_added_back_note(source: str | None, grade_id: str) -> str | None:
    """`source` without the line nbgrader puts above a test cell it added back to a notebook
    that had lost it (``OverwriteCells.add_missing_cells``): the rest is the course's code."""
    note = (f"# This cell (id:{grade_id}) was missing from the submission. It was added back "
            "by nbgrader.\n\n")  # fmt: skip
    return source[len(note) :] if source is not None and source.startswith(note) else source


def _cell_score(cell: dict, points: float) -> tuple[float, str | None]:
    """nbgrader's rule on one test cell's outputs: (score, why it lost points or None)."""
    outputs = cell.get("outputs", [])
    if not isinstance(outputs, list):
        return 0.0, "its outputs are unreadable"
    for output in outputs:
        if not isinstance(output, dict):
            return 0.0, "its outputs are unreadable"
        kind = output.get("output_type")
        if kind == "error" or (kind == "stream" and output.get("name") == "stderr"):
            return 0.0, None  # a failed check: the feedback shows it
        if kind == "execute_result":
            data = output.get("data")
            value = _text(data.get("text/plain")) if isinstance(data, dict) else None
            try:
                partial = float(value) if value is not None else None
            except ValueError:
                partial = None
            if partial is None or partial < 0:
                return points, None
            if partial > points:
                return 0.0, f"its result {partial:g} is more than its {points:g} points"
            return partial, None
    return points, None


def score_notebook(
    notebook, tests: Mapping[str, tuple[float, str]]
) -> tuple[dict[str, list[float]], list[str]]:
    """Score the graded notebook `notebook` (parsed JSON, trusted in nothing) against `tests`.

    Returns
    -------
    cells : dict
        ``grade_id → [score, points]`` for every cell of `tests`.
    problems : list of str
        One sentence per test cell that earned nothing for a reason other than a failed check.
    """
    found: dict[str, list[dict]] = {}
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        grade_id = _nbgrader(cell).get("grade_id")
        if isinstance(grade_id, str) and grade_id in tests:
            found.setdefault(grade_id, []).append(cell)
    scores, problems = {}, []
    if not isinstance(cells, list):
        problems.append("the graded notebook has no readable cells")
    for grade_id, (points, source) in tests.items():
        copies = found.get(grade_id, [])
        reason = None
        if not copies:
            reason = "is missing from the graded notebook"
        elif len(copies) > 1:
            reason = f"appears {len(copies)} times in the graded notebook"
        elif _without_added_back_note(_text(copies[0].get("source")), grade_id) != source:
            reason = "is not the course's code in the graded notebook"
        elif not isinstance(copies[0].get("execution_count"), int):
            reason = "was not run"
        if reason:
            scores[grade_id] = [0.0, points]
            problems.append(f"test cell {grade_id} {reason}: no points")
            continue
        score, why = _cell_score(copies[0], points)
        scores[grade_id] = [score, points]
        if why:
            problems.append(f"test cell {grade_id}: {why}: no points")
    return scores, problems
