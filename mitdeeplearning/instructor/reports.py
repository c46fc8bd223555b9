"""The reports of a graded lab: which cells are graded how, the points given by hand, and
the files an instructor reads and uploads (``grades.csv``, ``lms.csv``, ``summary.md``).

`~mitdeeplearning.instructor.autograde.autograde` writes them after grading; they are rebuilt
from ``results.json`` and ``manual_grades.csv`` alone, so marks given by hand can be applied
without grading again.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..files import atomic_write
from .course import CourseError

#: In ``--out``: the points of the manually graded cells, one row per student, one column per
#: cell (written with empty cells for the instructor to fill in).
MANUAL_GRADES = "manual_grades.csv"


def graded_cells(releases: dict) -> tuple[dict[str, float], dict[str, float]]:
    """``(automatic, manual)``: grade id → points of the cells nbgrader grades by running the
    notebook (locked test cells) and of those a person grades (answer cells with points,
    written answers, tasks), in the order of the notebooks."""
    automatic: dict[str, float] = {}
    manual: dict[str, float] = {}
    for notebook in releases.values():
        for cell in notebook["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not (meta.get("grade") or meta.get("task")) or "grade_id" not in meta:
                continue
            by_running = cell.get("cell_type") == "code" and not meta.get("solution")
            by_running = by_running and not meta.get("task")
            (automatic if by_running else manual)[meta["grade_id"]] = float(meta.get("points", 0))
    return automatic, manual


def read_manual_grades(path: Path, manual: dict[str, float], results: dict) -> dict:
    """Student → grade id → points, read from `path` (`MANUAL_GRADES`) for the cells of
    `manual`.

    When the lab has manually graded cells, the file is created (or completed) with a row of
    empty cells for each student it lacks; a cell left empty is not graded yet.
    """
    if not manual:
        return {}
    rows = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = {row["student"]: row for row in csv.DictReader(handle) if row.get("student")}
    missing = [sid for sid in results if sid not in rows]
    if missing or not path.exists():
        table = io.StringIO()
        writer = csv.DictWriter(table, ["student", *manual], extrasaction="ignore")
        writer.writeheader()
        writer.writerows([*rows.values(), *({"student": sid} for sid in missing)])
        with atomic_write(path, newline="") as f:
            f.write(table.getvalue())
    hand: dict[str, dict[str, float]] = {}
    for sid, row in rows.items():
        for grade_id in manual:
            value = (row.get(grade_id) or "").strip()
            if not value:
                continue
            try:
                hand.setdefault(sid, {})[grade_id] = float(value)
            except ValueError:
                raise CourseError(
                    f"{path}: {sid}'s {grade_id} is {value!r}; expected a number of points "
                    f"(at most {manual[grade_id]:g}) or nothing (not graded yet)."
                ) from None
    return hand


def split_points(result: dict, automatic: dict, manual: dict, hand: dict) -> None:
    """Set `result`'s ``score`` and ``max_score`` (the automatic points), ``manual_score``
    (None until every manual cell has its points in `hand`), ``manual_max`` and ``total``
    (None while manual points are pending)."""
    cells = result.get("cells", {})
    result["score"] = float(sum((cells.get(g) or [0])[0] or 0 for g in automatic))
    result["max_score"] = float(sum(automatic.values()))
    result["manual_max"] = float(sum(manual.values()))
    done = all(grade_id in hand for grade_id in manual)
    result["manual_score"] = float(sum(hand.get(g, 0) for g in manual)) if done else None
    result["manual"] = {g: hand[g] for g in manual if g in hand}
    pending = result["manual_score"] is None
    result["total"] = None if pending else result["score"] + result["manual_score"]
    result["total_max"] = result["max_score"] + result["manual_max"]


def _points(result: dict, key: str, most: str) -> str:
    value = result.get(key)
    return f"{'pending' if value is None else value} / {result.get(most)}"


def write_reports(out: Path, lab: str, results: dict, releases: dict) -> None:
    automatic, manual = graded_cells(releases)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["student", "score", "max_score", "manual_score", "manual_max", "total",
                     *automatic, *manual, "problems", "flags"])  # fmt: skip
    for sid, result in results.items():
        cells, hand = result.get("cells", {}), result.get("manual", {})
        writer.writerow([
            sid, result.get("score"), result.get("max_score"), result.get("manual_score"),
            result.get("manual_max"), result.get("total"),
            *[cells.get(t, [None])[0] for t in automatic], *[hand.get(g) for g in manual],
            len(result.get("problems", [])), len(result.get("flags", [])),
        ])  # fmt: skip
    with atomic_write(out / "grades.csv", newline="") as f:
        f.write(table.getvalue())

    lms = io.StringIO()
    writer = csv.writer(lms)
    writer.writerow(["Student", "ID", f"{lab} (points)"])
    for sid, result in results.items():
        match = re.match(r"^(?P<name>.*)_(?P<uid>\d+)$", sid)
        writer.writerow([match["name"] if match else sid, match["uid"] if match else sid,
                         result.get("total")])  # fmt: skip
    with atomic_write(out / "lms.csv", newline="") as f:
        f.write(lms.getvalue())

    lines = [f"# {lab}: {len(results)} students", "",
             "| student | score | manual | total | failed tests | repaired | flagged | problems |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for sid, result in results.items():
        failed = [t for t, (score, most) in result.get("cells", {}).items()
                  if most and t in automatic and (score or 0) < most]  # fmt: skip
        lines.append(
            f"| {sid} | {_points(result, 'score', 'max_score')} | "
            f"{_points(result, 'manual_score', 'manual_max')} | "
            f"{_points(result, 'total', 'total_max')} | "
            f"{', '.join(failed) or '-'} | {len(result.get('repaired', []))} cells | "
            f"{'; '.join(result.get('flags', [])) or '-'} | "
            f"{'; '.join(result.get('problems', [])) or '-'} |".replace("\n", " ")
        )
    with atomic_write(out / "summary.md", newline="") as f:
        f.write("\n".join(lines) + "\n")
