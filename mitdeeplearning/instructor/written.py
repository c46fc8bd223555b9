"""Answers graded by hand: read every student's answer to one question on one page, beside the
rubric, then apply the marks without grading again.

``mitdl autograde`` leaves the cells graded by hand (written answers, tasks) "pending". For a
class of hundreds, reading question by question is faster and fairer than student by student
(one rubric in mind, answers side by side), so `export_pages` writes, in ``<out>/written/``,
one page per question (``<grade_id>.html``: the question, its rubric from the course's source
notebook, every student's answer escaped as plain text, an anchor per student and a points box
per answer, with a button that downloads the points typed as a CSV) and ``index.html``.
`apply_marks` reads CSVs of marks back (the pages' downloads, ``student,question,points``, or
`~mitdeeplearning.instructor.reports.MANUAL_GRADES`'s layout, a column per question), checks
every row before writing anything, keeps them in ``manual_grades.csv`` (so a later
``mitdl autograde`` keeps them too) and rewrites ``results.json``, ``grades.csv``,
``lms.csv``, ``summary.md`` and the feedback pages.

The answers are read from the submissions folder, identified and repaired as autograding does;
they are kept in ``<out>/written/answers.json``, so the pages can be written again without it.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..files import atomic_write
from .autograde import collect
from .course import CourseError, course_dir, generate_release, lab_list
from .reports import (
    MANUAL_GRADES,
    graded_cells,
    parse_points,
    read_manual_grades,
    split_points,
    write_manual_grades,
    write_reports,
)
from .submission import STUB, WRITTEN_STUB, prepare_submission, read_notebook, read_releases

#: The folder of ``--out`` that holds the pages and the answers they show.
WRITTEN = "written"
ANSWERS = "answers.json"
#: The longest answer a page shows in full (characters); the rest is cut, and says so.
LONGEST = 20_000


@dataclasses.dataclass
class Question:
    """A cell graded by hand: its id, points, notebook, the text before it and its rubric."""

    grade_id: str
    points: float
    notebook: str
    prompt: str
    rubric: str


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    value = meta.get("nbgrader") if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _rubric(text: str) -> str:
    """The solution region of a code cell, or the whole text of a Markdown answer cell."""
    begin, end = "### BEGIN SOLUTION", "### END SOLUTION"
    if begin in text and end in text:
        return text[text.index(begin) + len(begin) : text.index(end)].strip("\n")
    return text


def questions(lab: str, course: str | os.PathLike | None = None) -> dict[str, Question]:
    """Grade id → `Question` for each cell of `lab` graded by hand, in the notebooks' order,
    read from the course's source notebooks (the rubric is the cell's solution)."""
    root = course_dir(course)
    lab_list(lab, root)
    found: dict[str, Question] = {}
    for path in sorted((root / "source" / lab).glob("*.ipynb")):
        notebook = read_notebook(path)
        manual = graded_cells({"": notebook})[1]
        prompt = ""
        for cell in notebook["cells"]:
            grade_id = _nbgrader(cell).get("grade_id")
            if grade_id in manual:
                found[grade_id] = Question(grade_id, manual[grade_id], path.name, prompt,
                                           _rubric(_text(cell)))  # fmt: skip
            elif cell.get("cell_type") == "markdown":
                prompt = _text(cell)
    return found


def _releases(lab: str, root: Path) -> dict:
    if any((root / "release" / lab).glob("*.ipynb")):
        return read_releases(root / "release", lab)
    with tempfile.TemporaryDirectory(prefix="mitdl-written-") as tmp:
        generate_release(lab, root, out=tmp)
        return read_releases(tmp, lab)


def _shortened(text: str) -> str:
    cut = len(text) - LONGEST
    return text if cut <= 0 else f"{text[:LONGEST]}\n[... {cut} more characters not shown]"


def read_answers(
    lab: str, submissions: str | os.PathLike, course: str | os.PathLike | None = None
) -> dict[str, dict[str, str | None]]:
    """Student → grade id → the text of each answer graded by hand in `submissions` (found,
    identified and repaired as `~mitdeeplearning.instructor.autograde.autograde` does); None
    where a student left the release's placeholder or has no such cell."""
    root = course_dir(course)
    wanted = questions(lab, root)
    releases = _releases(lab, root)
    students, _ = collect(submissions)
    answers: dict[str, dict[str, str | None]] = {}
    for sid, files in students.items():
        found: dict[str, str | None] = dict.fromkeys(wanted)
        try:
            notebooks, _ = prepare_submission(files, lab, releases)
            cells = [c for text in notebooks.values() for c in json.loads(text).get("cells", [])]
        except Exception:  # noqa: BLE001 - an unreadable submission has no answers to show
            cells = []
        for cell in cells:
            grade_id = _nbgrader(cell).get("grade_id")
            text = _text(cell).strip() if grade_id in found else ""
            if text and text not in (WRITTEN_STUB, STUB) and found[grade_id] is None:
                found[grade_id] = _shortened(text)
        answers[sid] = found
    return answers


def _read_store(out: Path, lab: str) -> dict:
    path = out / "results.json"
    if not path.is_file():
        raise CourseError(f"{path} does not exist: grade first (`mitdl autograde {lab} ...`).")
    store = json.loads(path.read_text(encoding="utf-8"))
    if store.get("lab") != lab:
        raise CourseError(f"{path} holds the results of {store.get('lab')!r}, not {lab!r}.")
    return store


def export_pages(
    lab: str,
    out: str | os.PathLike,
    submissions: str | os.PathLike | None = None,
    course: str | os.PathLike | None = None,
) -> list[Path]:
    """Write ``<out>/written/<grade_id>.html`` for each question of `lab` graded by hand and
    ``index.html``, for the students graded in ``<out>/results.json``.

    The answers come from `submissions` (then kept in ``<out>/written/answers.json``) or,
    without it, from that file. The points boxes show the marks already in
    ``manual_grades.csv``. Returns the pages written, the index last.
    """
    out = Path(out)
    results = _read_store(out, lab)["results"]
    wanted = questions(lab, course)
    if not wanted:
        raise CourseError(f"{lab} has no cells graded by hand: there is nothing to export.")
    folder = out / WRITTEN
    folder.mkdir(exist_ok=True)
    kept = folder / ANSWERS
    if submissions is not None:
        answers = read_answers(lab, submissions, course)
        with atomic_write(kept, newline="") as f:
            f.write(json.dumps({"lab": lab, "answers": answers}, indent=1))
    elif kept.is_file():
        stored = json.loads(kept.read_text(encoding="utf-8"))
        if stored.get("lab") != lab:
            raise CourseError(f"{kept} holds the answers of {stored.get('lab')!r}, not {lab!r}.")
        answers = stored["answers"]
    else:
        raise CourseError(f"No answers kept in {kept} yet: pass --submissions (the folder "
                          "that was graded) once.")  # fmt: skip
    manual = {grade_id: q.points for grade_id, q in wanted.items()}
    marks = read_manual_grades(out / MANUAL_GRADES, manual, results)
    students = sorted(results)
    pages = []
    ids = [None, *wanted, None]
    for index, (grade_id, question) in enumerate(wanted.items(), start=1):
        around = (ids[index - 1], ids[index + 1])
        page = question_page(lab, question, students, answers, marks, around)
        pages.append(folder / f"{grade_id}.html")
        with atomic_write(pages[-1], newline="") as f:
            f.write(page)
    pages.append(folder / "index.html")
    with atomic_write(pages[-1], newline="") as f:
        f.write(index_page(lab, wanted, students, answers, marks))
    return pages


# ## The marks ------------------------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's BOM
            reader = csv.DictReader(handle)
            rows = [(reader.line_num, row) for row in reader]
            return [str(name).strip() for name in reader.fieldnames or []], rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CourseError(f"Cannot read the marks in {path}: {exc}.") from None


def read_marks(
    paths: Iterable[str | os.PathLike], manual: dict[str, float], students: Iterable[str]
) -> dict[str, dict[str, float | None]]:
    """Student → grade id → points read from the CSV files `paths`, each either long
    (columns ``student``, ``question``, ``points``: what the pages download) or wide (a
    ``student`` column and one column per grade id of `manual`, as `MANUAL_GRADES`). An empty
    cell changes nothing.

    Every row is checked first: a student not in `students`, a question not in `manual`,
    points that are not a number from 0 to the question's points, or one mark given two values
    raises `CourseError` listing each such row by file and line.
    """
    known, errors = set(students), []
    marks: dict[str, dict[str, float | None]] = {}
    for path in paths:
        header, rows = _rows(path)
        long = {"student", "question", "points"} <= set(header)
        columns = [] if long else [name for name in header if name != "student"]
        if "student" not in header:
            errors.append(f"{path}: no 'student' column; expected student,question,points or "
                          f"student,{','.join(manual)}.")  # fmt: skip
        errors += [f"{path}: unknown question {name!r} (column); {lab_questions(manual)}."
                   for name in columns if name not in manual]  # fmt: skip
        for line, row in rows if "student" in header else ():
            where = f"{path}, line {line}"
            sid = (row.get("student") or "").strip()
            cells = {(row.get("question") or "").strip(): row.get("points")} if long else {
                name: row.get(name) for name in columns if name in manual}  # fmt: skip
            if sid not in known:
                errors.append(f"{where}: unknown student {sid!r} (not in results.json).")
                continue
            for grade_id, value in cells.items():
                if grade_id not in manual:
                    errors.append(f"{where}: unknown question {grade_id!r}; "
                                  f"{lab_questions(manual)}.")  # fmt: skip
                    continue
                try:
                    points = parse_points(value, grade_id, manual[grade_id], f"{where} ({sid})")
                except CourseError as exc:
                    errors.append(str(exc))
                    continue
                before = marks.get(sid, {}).get(grade_id)
                if points is not None and before is not None and before != points:
                    errors.append(f"{where}: {sid}'s {grade_id} is {points:g} here and "
                                  f"{before:g} in an earlier row; keep one.")  # fmt: skip
                elif points is not None:
                    marks.setdefault(sid, {})[grade_id] = points
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more."] if len(errors) > 20 else [])
        raise CourseError("No marks applied, nothing written:\n  " + "\n  ".join(shown))
    return marks


def lab_questions(manual: dict[str, float]) -> str:
    return "the questions graded by hand are " + ", ".join(manual)


def apply_marks(
    lab: str,
    out: str | os.PathLike,
    marks: Iterable[str | os.PathLike] = (),
    course: str | os.PathLike | None = None,
) -> dict:
    """Apply the marks in the CSV files `marks` (see `read_marks`) to the grading in `out`,
    without grading again; with no files, apply ``manual_grades.csv`` as it stands.

    The marks join ``manual_grades.csv``; then ``results.json``, ``grades.csv``, ``lms.csv``,
    ``summary.md`` and the feedback pages are rewritten from them, each file at once. A bad row
    anywhere raises `CourseError` before any file is written. Returns student → result.
    """
    out = Path(out)
    store = _read_store(out, lab)
    results = store["results"]
    manual = {grade_id: q.points for grade_id, q in questions(lab, course).items()}
    if not manual:
        raise CourseError(f"{lab} has no cells graded by hand: there are no marks to apply.")
    new = read_marks(marks, manual, results)
    table = out / MANUAL_GRADES
    hand = read_manual_grades(table, manual, results) if table.exists() else {}
    for sid, given in new.items():
        hand.setdefault(sid, {}).update(given)
    rows = [{"student": sid, **{g: f"{p:g}" for g, p in hand.get(sid, {}).items()}}
            for sid in sorted({*results, *hand})]  # fmt: skip
    write_manual_grades(table, manual, rows, [])
    releases = _releases(lab, course_dir(course))
    automatic = graded_cells(releases)[0]
    for sid, result in results.items():
        split_points(result, automatic, manual, hand.get(sid, {}))
    with atomic_write(out / "results.json", newline="") as f:
        f.write(json.dumps(store, indent=1))
    write_reports(out, lab, results, releases, sections=store.get("summary_sections", ()))
    return results


# ## The pages ------------------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; }
header, footer { padding: 0.5em 1em; background: #eee; }
.layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(16em, 2fr); gap: 1em; }
.answers { padding: 0 1em; }
aside { position: sticky; top: 0; align-self: start; max-height: 100vh; overflow: auto;
        padding: 0 1em; background: #fffbe6; border-left: 3px solid #d9b300; }
article { border-bottom: 1px solid #ccc; padding: 0.5em 0; }
article:target { background: #eef6ff; }
.answer { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, monospace;
          background: #f7f7f7; padding: 0.5em; max-height: 30em; overflow: auto; }
.none { color: #a00; font-style: italic; }
input { width: 5em; font-size: 1em; }
"""

#: Collects the points typed and downloads them as ``student,question,points`` (CSV).
_SCRIPT = """
document.getElementById("download").addEventListener("click", function () {
  var q = function (v) { return '"' + String(v).replace(/"/g, '""') + '"'; };
  var rows = ["student,question,points"];
  document.querySelectorAll("input[data-student]").forEach(function (box) {
    if (box.value !== "") {
      rows.push([q(box.dataset.student), q(box.dataset.question), q(box.value)].join(","));
    }
  });
  var link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([rows.join("\\r\\n") + "\\r\\n"],
                                           {type: "text/csv"}));
  link.download = document.body.dataset.question + "-marks.csv";
  document.body.appendChild(link);
  link.click();
});
"""


def _markdown(text: str) -> str:
    """The course's own Markdown (question, rubric) as HTML; students' text is never passed
    here."""
    import mistune

    return mistune.html(text)


def _page(title: str, body: str, nonce: str, question: str = "") -> str:
    # The policy runs only scripts that carry this page's nonce: were a student's answer ever
    # to reach the page unescaped, its scripts would still not run.
    policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-question="{html.escape(question, quote=True)}">{body}</body></html>\n'
    )


def _anchor(sid: str) -> str:
    return html.escape(f"student-{sid}", quote=True)


def question_page(
    lab: str,
    question: Question,
    students: list[str],
    answers: dict[str, dict[str, str | None]],
    marks: dict[str, dict[str, float]],
    around: tuple[str | None, str | None] = (None, None),
) -> str:
    """One question's page: its text and rubric beside every student's answer, escaped, each
    under an anchor ``#student-<id>`` with a points box holding the mark given so far."""
    gid, most = question.grade_id, question.points
    nonce = secrets.token_urlsafe(16)
    links = ['<a href="index.html">all questions</a>'] + [
        f'<a href="{html.escape(name, quote=True)}.html">{label} ({html.escape(name)})</a>'
        for label, name in zip(("previous", "next"), around, strict=True)
        if name
    ]
    articles = []
    for sid in students:
        text = answers.get(sid, {}).get(gid)
        shown = (
            f'<div class="answer">{html.escape(text)}</div>'
            if text
            else '<p class="none">no answer (missing, or the placeholder left as it was)</p>'
        )
        given = marks.get(sid, {}).get(gid)
        value = "" if given is None else f"{given:g}"
        articles.append(
            f'<article id="{_anchor(sid)}"><h3><a href="#{_anchor(sid)}">{html.escape(sid)}'
            f'</a></h3>{shown}<label>points (0 to {most:g}): <input type="number" min="0" '
            f'max="{most:g}" step="any" value="{value}" '
            f'data-student="{html.escape(sid, quote=True)}" '
            f'data-question="{html.escape(gid, quote=True)}"></label></article>'
        )
    answered = sum(1 for sid in students if answers.get(sid, {}).get(gid))
    body = (
        f"<header><h1>{html.escape(lab)}: {html.escape(gid)} ({most:g} "
        f"point{'' if most == 1 else 's'})</h1>"
        f"<nav>{' · '.join(links)}</nav><p>{answered} answers from {len(students)} students, "
        f"{question.notebook}. Type the points, then "
        '<button id="download" type="button">download the marks (CSV)</button> and apply '
        f"them: <code>mitdl written {html.escape(lab)} OUT --marks FILE</code>.</p></header>"
        '<div class="layout"><main class="answers">'
        f"<section>{_markdown(question.prompt)}</section>{''.join(articles)}</main>"
        f"<aside><h2>Rubric</h2>{_markdown(question.rubric)}</aside></div>"
        f'<script nonce="{nonce}">{_SCRIPT}</script>'
    )
    return _page(f"{lab} {gid}", body, nonce, gid)


def index_page(
    lab: str,
    wanted: dict[str, Question],
    students: list[str],
    answers: dict[str, dict[str, str | None]],
    marks: dict[str, dict[str, float]],
) -> str:
    """The index: each question with how many answers and marks it has, and each student's
    marks with links to their answers."""
    head = "".join(f"<th><a href=\"{html.escape(g, quote=True)}.html\">{html.escape(g)}</a>"
                   f" ({q.points:g})</th>" for g, q in wanted.items())  # fmt: skip
    rows = []
    for sid in students:
        cells = []
        for gid in wanted:
            given = marks.get(sid, {}).get(gid)
            shown = "no answer" if not answers.get(sid, {}).get(gid) else "to mark"
            shown = shown if given is None else f"{given:g}"
            href = html.escape(f"{gid}.html#student-{sid}", quote=True)
            cells.append(f'<td><a href="{href}">{shown}</a></td>')
        rows.append(f"<tr><td>{html.escape(sid)}</td>{''.join(cells)}</tr>")
    done = sum(1 for sid in students for gid in wanted if gid in marks.get(sid, {}))
    body = (
        f"<header><h1>{html.escape(lab)}: answers graded by hand</h1><p>{done} of "
        f'{len(students) * len(wanted)} marks given.</p></header><main class="answers">'
        f"<table><tr><th>student</th>{head}</tr>{''.join(rows)}</table></main>"
    )
    return _page(f"{lab} written answers", body, secrets.token_urlsafe(16))
