"""`mitdl written`: the answers graded by hand, question by question, and the marks applied
without grading again (on the TF-free ``exercises`` demo lab, whose ``written`` cell is worth
`WRITTEN_POINTS`)."""

from __future__ import annotations

import csv
import json
import re

import nbformat
import pytest

from mitdeeplearning import cli
from mitdeeplearning.instructor.autograde import autograde
from mitdeeplearning.instructor.course import CourseError
from mitdeeplearning.instructor.reports import (
    FEEDBACK_END,
    FEEDBACK_START,
    MANUAL_GRADES,
    read_manual_grades,
    with_feedback_block,
)
from mitdeeplearning.instructor.written import (
    LONGEST,
    Question,
    question_page,
    questions,
    read_answers,
    read_marks,
)

from .demo import WRITTEN_POINTS

HOSTILE = '</div><script>alert("x")</script><img src=x onerror=alert(1)> **bold** <!-- c -->'
FILES = ("grades.csv", "lms.csv", "summary.md", "results.json", MANUAL_GRADES)


def _rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return {row.get("student") or row.get("Student"): row for row in csv.DictReader(handle)}


def _write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _submission(course, folder, written: str | None, solved: bool):
    """The release notebook with the written answer (None: left as released) and, when
    `solved`, the source's answers in its code cells."""
    notebook = nbformat.read(course / "release/exercises/Exercises.ipynb", as_version=4)
    source = nbformat.read(course / "source/exercises/Exercises.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}  # fmt: skip
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "written" and written is not None:
            cell.source = written
        elif solved and grade_id in solutions and cell.cell_type == "code":
            cell.source = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", solutions[grade_id])
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / "Exercises.ipynb")


def test_the_questions_and_rubrics_come_from_the_source(demo_course):
    found = questions("exercises", demo_course)
    assert list(found) == ["written"]
    question = found["written"]
    assert question.points == WRITTEN_POINTS and question.notebook == "Exercises.ipynb"
    assert "Why does a flat map point nowhere?" in question.prompt
    assert question.rubric == "Its maximum is everywhere: it singles out no place."
    assert questions("demo", demo_course) == {}


def test_lab2s_written_answers_come_with_their_questions_and_rubrics():
    found = questions("lab2")
    assert len(found) == 5 and all(g.startswith("written_") for g in found)
    assert sum(q.points for q in found.values()) == 10
    for number, question in enumerate(found.values(), start=1):
        assert question.prompt.startswith(f"**Question {number} ("), question.grade_id
        assert question.rubric.startswith("*Rubric (instructors only"), question.grade_id


def test_answers_are_read_as_autograde_finds_them_and_long_ones_are_cut(demo_course, tmp_path):
    subs = tmp_path / "subs"
    _submission(demo_course, subs / "ann", "x" * (LONGEST + 5), False)
    _submission(demo_course, subs / "bob", None, False)
    (subs / "cy").mkdir()
    (subs / "cy" / "Exercises.ipynb").write_text("{not json", encoding="utf-8")
    answers = read_answers("exercises", subs, demo_course)
    assert answers["ann"]["written"] == "x" * LONGEST + "\n[... 5 more characters not shown]"
    assert answers["bob"] == {"written": None} and answers["cy"] == {"written": None}


def test_a_page_escapes_every_answer_and_runs_only_its_own_script():
    question = Question("q1", 2.0, "Lab.ipynb", "Why?", "**1 point**: says why.")
    answers = {"ann": {"q1": HOSTILE}, 'b"o<b>': {"q1": None}}
    page = question_page("lab", question, sorted(answers), answers, {"ann": {"q1": 1.5}})
    assert "<img" not in page and "<!-- c -->" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "**bold**" in page
    assert len(re.findall(r"<script\b", page)) == 1  # ours, with the page's nonce
    nonce = re.search(r"script-src 'nonce-([^']+)'", page)[1]
    assert f'<script nonce="{nonce}">' in page
    assert 'id="student-ann"' in page and 'value="1.5"' in page and 'max="2"' in page
    assert 'data-student="b&quot;o&lt;b&gt;"' in page and "no answer" in page
    assert "<strong>1 point</strong>" in page  # the course's own rubric is rendered


def test_the_feedback_block_is_replaced_not_repeated_and_cannot_be_imitated():
    page = "<html><head></head><body class='x'><p>answer</p></body></html>"
    once = with_feedback_block(page, f"{FEEDBACK_START}A{FEEDBACK_END}")
    twice = with_feedback_block(once, f"{FEEDBACK_START}B{FEEDBACK_END}")
    assert twice == page.replace("<body class='x'>", f"<body class='x'>{FEEDBACK_START}B"
                                 f"{FEEDBACK_END}")  # fmt: skip
    # A student's answer holding the markers further down is left alone.
    forged = page.replace("answer", f"{FEEDBACK_START}forged{FEEDBACK_END}")
    marked = with_feedback_block(forged, f"{FEEDBACK_START}C{FEEDBACK_END}")
    assert "forged" in marked and marked.count(FEEDBACK_START) == 2


def test_manual_grades_refuse_points_out_of_range_and_read_excels_bom(tmp_path):
    path = tmp_path / MANUAL_GRADES
    _write(path, [["student", "written"], ["ann", "5"]])
    with pytest.raises(CourseError, match=r"line 2 \(ann\): written is '5'.*from 0 to 1"):
        read_manual_grades(path, {"written": 1.0}, {"ann": {}})
    path.write_text("\ufeffstudent,written\r\nann,0.5\r\n", encoding="utf-8")
    assert read_manual_grades(path, {"written": 1.0}, {"ann": {}}) == {"ann": {"written": 0.5}}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["student", "question", "points"], ["ann", "q1", "3"]], r"line 2 \(ann\): q1 is '3'"),
        ([["student", "question", "points"], ["ann", "q1", "-1"]], r"q1 is '-1'"),
        ([["student", "question", "points"], ["ann", "q1", "nan"]], r"q1 is 'nan'"),
        ([["student", "question", "points"], ["ann", "q1", "1,5"]], r"q1 is '1,5'"),
        ([["student", "question", "points"], ["zed", "q1", "1"]], r"line 2: unknown student 'zed'"),
        ([["student", "question", "points"], ["ann", "q9", "1"]], r"unknown question 'q9'"),
        ([["student", "q1", "q9"], ["ann", "1", "1"]], r"unknown question 'q9' \(column\)"),
        ([["name", "points"], ["ann", "1"]], r"no 'student' column"),
        ([["student", "q1"], ["ann", "1"], ["ann", "2"]], r"line 3: ann's q1 is 2 here and 1"),
    ],
)
def test_bad_marks_name_their_row(tmp_path, rows, message):
    path = _write(tmp_path / "marks.csv", rows)
    with pytest.raises(CourseError, match=message):
        read_marks([path], {"q1": 2.0}, ["ann", "bob"])


def test_marks_in_both_layouts_and_empty_cells_change_nothing(tmp_path):
    long = _write(tmp_path / "a.csv", [["student", "question", "points"], ["ann", "q1", "1.5"],
                                       ["bob", "q2", ""]])  # fmt: skip
    wide = _write(tmp_path / "b.csv", [["student", "q1", "q2"], ["bob", "", "0"]])
    marks = read_marks([long, wide], {"q1": 2.0, "q2": 1.0}, ["ann", "bob"])
    assert marks == {"ann": {"q1": 1.5}, "bob": {"q2": 0.0}}


@pytest.mark.slow
def test_export_mark_apply_and_regrade_keep_the_marks_everywhere(demo_course, tmp_path, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    _submission(demo_course, subs / "ann", "A flat map has its maximum everywhere.", True)
    _submission(demo_course, subs / "bob", HOSTILE, False)
    _submission(demo_course, subs / "cy", None, True)
    autograde("exercises", subs, demo_course, out=out, workers=2)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))["results"]
    full = results["ann"]["score"]
    assert full == results["cy"]["score"] > results["bob"]["score"] == 0
    assert results["ann"]["total"] is None  # pending until graded by hand

    base = ["written", "exercises", str(out), "--course", str(demo_course)]
    assert cli.main([*base, "--submissions", str(subs)]) == 0
    page = (out / "written" / "written.html").read_text(encoding="utf-8")
    assert "A flat map has its maximum everywhere." in page and "<img" not in page
    assert all(f'id="student-{sid}"' in page for sid in ("ann", "bob", "cy"))
    assert "no answer" in page and "Its maximum is everywhere" in page  # the rubric
    assert 'href="written.html#student-bob"' in (out / "written/index.html").read_text("utf-8")

    # A bad row anywhere: an error naming it, and not one file changed.
    before = {name: (out / name).read_bytes() for name in FILES}
    pages = {p: p.read_bytes() for p in (out / "feedback").rglob("*.html")}
    bad = _write(tmp_path / "bad.csv", [["student", "question", "points"], ["ann", "written", "1"],
                                        ["bob", "written", "7"]])  # fmt: skip
    assert cli.main([*base, "--marks", str(bad)]) == 1
    assert "bad.csv, line 3 (bob): written is '7'" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in FILES} == before
    assert {p: p.read_bytes() for p in pages} == pages

    # The page's download: student,question,points. Applied twice: the same files.
    rows = [["student", "question", "points"], ["ann", "written", "1"], ["bob", "written", "0.5"]]
    marks = _write(tmp_path / "marks.csv", rows)
    applied = []
    for _ in range(2):
        assert cli.main([*base, "--marks", str(marks)]) == 0
        applied.append({p: p.read_bytes() for p in [*pages, *(out / n for n in FILES)]})
    assert applied[0] == applied[1]
    _check_totals(out, {"ann": full + 1, "bob": 0.5, "cy": None}, full)
    ann_page = (out / "feedback/ann/Exercises.html").read_text(encoding="utf-8")
    assert ann_page.count(FEEDBACK_START) == 1
    assert f"Total: {full + 1:g} / {full + WRITTEN_POINTS:g}" in ann_page
    assert 'value="1"' in _export_again(base, out)  # the pages show the marks given

    # Grading again (cy's answer arrives, ann is regraded) keeps every mark given.
    (subs / "cy").rename(tmp_path / "old-cy")
    _submission(demo_course, subs / "cy", "Nowhere stands out.", True)
    again = autograde("exercises", subs, demo_course, out=out, workers=2, force=True)
    assert sorted(again["graded"]) == ["ann", "bob", "cy"]
    _check_totals(out, {"ann": full + 1, "bob": 0.5, "cy": None}, full)
    assert (out / "feedback/ann/Exercises.html").read_text("utf-8").count(FEEDBACK_START) == 1
    _write(out / MANUAL_GRADES, [["student", "written"], ["ann", "1"], ["bob", "0.5"],
                                 ["cy", "0"]])  # fmt: skip
    assert cli.main([*base, "--apply"]) == 0
    _check_totals(out, {"ann": full + 1, "bob": 0.5, "cy": full}, full)


def _export_again(base, out):
    assert cli.main(base) == 0  # the answers kept in OUT: no --submissions needed
    return (out / "written" / "written.html").read_text(encoding="utf-8")


def _check_totals(out, totals, full):
    """The totals in results.json, grades.csv, lms.csv, summary.md and the feedback pages."""
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))["results"]
    grades, lms = _rows(out / "grades.csv"), _rows(out / "lms.csv")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    most = full + WRITTEN_POINTS
    for sid, total in totals.items():
        assert results[sid]["total"] == total, sid
        assert grades[sid]["total"] == ("" if total is None else str(float(total))), sid
        assert lms[sid]["exercises (points)"] == grades[sid]["total"], sid
        shown = "pending" if total is None else str(float(total))
        assert f"| {shown} / {float(most)} |" in summary.split(f"| {sid} |")[1].split("\n")[0]
        page = (out / "feedback" / sid / "Exercises.html").read_text(encoding="utf-8")
        block = page[page.index(FEEDBACK_START) : page.index(FEEDBACK_END)]
        assert ("pending" in block) if total is None else (f"Total: {total:g} / " in block), sid
