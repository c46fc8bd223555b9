"""The reports of a graded lab: which cells are graded how, the points given by hand, and
the files an instructor reads and uploads (``grades.csv``, ``lms.csv``, ``summary.md``).

`~mitdeeplearning.instructor.autograde.autograde` writes them after grading; they are rebuilt
from ``results.json`` and ``manual_grades.csv`` alone, so marks given by hand can be applied
without grading again.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Sequence
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


def parse_points(value: object, grade_id: str, most: float, where: str) -> float | None:
    """The points in `value` (a CSV cell) for the cell `grade_id` worth `most`; None when it is
    empty (not graded yet). Anything else than a number from 0 to `most` raises `CourseError`
    naming `where` (the file and row)."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        points = float(text)
    except ValueError:
        points = math.nan
    if not math.isfinite(points) or not 0 <= points <= most:
        raise CourseError(
            f"{where}: {grade_id} is {text!r}; expected a number of points from 0 to {most:g} "
            "(a dot before decimals) or nothing (not graded yet)."
        )
    return points


def read_manual_grades(path: Path, manual: dict[str, float], results: dict) -> dict:
    """Student → grade id → points, read from `path` (`MANUAL_GRADES`) for the cells of
    `manual`.

    When the lab has manually graded cells, the file is created (or completed) with a row of
    empty cells for each student it lacks; a cell left empty is not graded yet. Points that are
    not a number from 0 to the cell's points raise `CourseError` naming the row, before
    anything is written.
    """
    if not manual:
        return {}
    rows = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's BOM
            reader = csv.DictReader(handle)
            for row in reader:
                if row.get("student"):
                    rows[row["student"]] = (reader.line_num, row)
    hand: dict[str, dict[str, float]] = {}
    for sid, (line, row) in rows.items():
        for grade_id, most in manual.items():
            points = parse_points(row.get(grade_id), grade_id, most, f"{path}, line {line} ({sid})")
            if points is not None:
                hand.setdefault(sid, {})[grade_id] = points
    missing = [sid for sid in results if sid not in rows]
    if missing or not path.exists():
        old = [row for _, row in rows.values()]
        write_manual_grades(path, manual, old, [*missing])
    return hand


def write_manual_grades(path: Path, manual: dict, rows: list[dict], new: list[str]) -> None:
    """Write `MANUAL_GRADES` at `path` at once: `rows` (dicts with ``student`` and grade ids)
    then an empty row for each student of `new`."""
    table = io.StringIO()
    writer = csv.DictWriter(table, ["student", *manual], extrasaction="ignore")
    writer.writeheader()
    writer.writerows([*rows, *({"student": sid} for sid in new)])
    with atomic_write(path, newline="") as f:
        f.write(table.getvalue())


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


def write_reports(
    out: Path, lab: str, results: dict, releases: dict, *, sections: Sequence[str] = ()
) -> None:
    """Write ``grades.csv``, ``lms.csv`` and ``summary.md`` in `out` from `results` (student →
    result, as in ``results.json``), and the points given by hand into each student's
    feedback pages (`mark_feedback`); `releases` are the lab's notebooks, for its graded
    cells; `sections` are Markdown sections added at the end of the summary (the similar
    answers, `~mitdeeplearning.instructor.similarity.similar_answers`)."""
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
        f.write("\n".join(lines) + "\n" + "".join("\n" + section for section in sections))
    mark_feedback(out, results, manual)


# ## The points given by hand in the feedback pages ----------------------------------------------

#: The block `mark_feedback` keeps right after a feedback page's ``<body>`` tag.
FEEDBACK_START = "<!-- mitdl: points given by hand -->"
FEEDBACK_END = "<!-- /mitdl: points given by hand -->"
_BODY = re.compile(r"<body\b[^>]*>", re.I)


def feedback_block(result: dict, manual: dict[str, float]) -> str:
    """The HTML block that tells a student the points given by hand for each cell of `manual`
    (grade id → points), or that they are still to be given, and the total."""
    given = result.get("manual", {})
    rows = "".join(
        f"<tr><td>{html.escape(grade_id)}</td><td>"
        + (f"{given[grade_id]:g} / {most:g}" if grade_id in given else f"to be graded / {most:g}")
        + "</td></tr>"
        for grade_id, most in manual.items()
    )
    total = result.get("total")
    final = (
        f"Total: {total:g} / {result.get('total_max') or 0:g} "
        f"({result.get('score') or 0:g} automatic + {result.get('manual_score') or 0:g} by hand)."
        if total is not None
        else "Total: pending until every answer graded by hand has its points."
    )
    return (
        f'{FEEDBACK_START}<section class="mitdl-by-hand" style="border:2px solid #555;'
        'padding:0.5em 1em;margin:1em">'
        "<h2>Points given by hand</h2><table><tr><th>cell</th><th>points</th></tr>"
        f"{rows}</table><p>{html.escape(final)}</p></section>{FEEDBACK_END}"
    )


def with_feedback_block(page: str, block: str) -> str:
    """`page` with `block` right after its first ``<body>`` tag (at the top when it has none),
    replacing the block put there before: only a block at that very place is replaced, so a
    student's answer that imitates the markers changes nothing."""
    body = _BODY.search(page)
    at = body.end() if body else 0
    rest = page[at:]
    if rest.startswith(FEEDBACK_START) and FEEDBACK_END in rest:
        rest = rest[rest.index(FEEDBACK_END) + len(FEEDBACK_END) :]
    return page[:at] + block + rest


def mark_feedback(out: Path, results: dict, manual: dict[str, float]) -> list[Path]:
    """Put the points given by hand (`feedback_block`) into every feedback page of each student
    of `results`, in ``<out>/feedback/<student>/``; each page is rewritten at once. Returns the
    pages changed; nothing when the lab has no cells graded by hand."""
    changed = []
    for sid, result in results.items() if manual else ():
        folder = out / "feedback" / sid
        for page in sorted(folder.glob("*.html")) if folder.is_dir() else ():
            text = page.read_text(encoding="utf-8")
            new = with_feedback_block(text, feedback_block(result, manual))
            if new != text:
                with atomic_write(page, newline="") as f:
                    f.write(new)
                changed.append(page)
    return changed
