"""`mitdl run`, `mitdl release`, `mitdl validate` and repaired autograding, on a small course of
their own (no TensorFlow, so each notebook runs in a second or two) and real nbgrader."""

from __future__ import annotations

import copy
import csv
import json
import shutil

import nbformat
import pytest

from mitdeeplearning import cli
from mitdeeplearning.instructor import course
from mitdeeplearning.instructor.autograde import autograde, collect
from mitdeeplearning.instructor.notebooks import cell_errors
from mitdeeplearning.instructor.submission import (
    SubmissionError,
    check_submission,
    read_notebook,
    repair_metadata,
    scan_answers,
)

from .demo import demo_notebook


def _write(notebook, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _stripped(notebook: dict) -> dict:
    """What Colab or a copy-paste into a fresh notebook can leave: no nbgrader metadata, no
    cell ids (nbformat 4.4)."""
    notebook = copy.deepcopy(notebook)
    notebook["nbformat_minor"] = 4
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("nbgrader", None)
        cell.pop("id", None)
    return notebook


# ## mitdl release ------------------------------------------------------------------------------


@pytest.mark.slow
def test_release_check_passes_on_main():
    assert cli.main(["release", "--check"]) == 0


@pytest.mark.slow
def test_release_check_fails_when_a_source_changed(demo_course, tmp_path, capsys):
    copy_root = tmp_path / "course"
    shutil.copytree(demo_course, copy_root)
    assert cli.main(["release", "--check", "--course", str(copy_root)]) == 0
    notebook = nbformat.read(copy_root / "source/demo/Demo.ipynb", as_version=4)
    notebook.cells[0].source += "\n\nNew instructions."
    nbformat.write(notebook, copy_root / "source/demo/Demo.ipynb")
    capsys.readouterr()
    assert cli.main(["release", "--check", "--course", str(copy_root)]) == 1
    assert "release/demo/Demo.ipynb differs" in capsys.readouterr().out
    assert cli.main(["release", "demo", "--course", str(copy_root)]) == 0
    assert cli.main(["release", "--check", "--course", str(copy_root)]) == 0


# ## mitdl run ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_keeps_the_notebook_html_figures_files_and_metrics(demo_course, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "demo", "--course", str(demo_course), "--out", str(out), "-q"]) == 0
    folder = out / "demo"
    executed = nbformat.read(folder / "Demo.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells)
    assert "<html" in (folder / "Demo.html").read_text(encoding="utf-8").lower()
    (figure,) = sorted((folder / "figures").glob("*.png"))
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert (folder / "made.txt").read_text() == "made by the notebook"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["lab"] == "demo" and metrics["fast"] is False
    assert metrics["notebooks"]["Demo"]["metrics"] == {"answer": 5, "ratio": 0.5}
    assert metrics["notebooks"]["Demo"]["seconds"] > 0
    assert "answer 5" in capsys.readouterr().out


@pytest.mark.slow
def test_run_failure_names_the_notebook_cell_and_error(demo_course, tmp_path, capsys):
    broken = tmp_path / "course"
    shutil.copytree(demo_course, broken)
    nbformat.write(demo_notebook("return a - b"), broken / "source/demo/Demo.ipynb")
    out = tmp_path / "out"
    assert cli.main(["run", "demo", "--course", str(broken), "--out", str(out), "-q"]) == 1
    error = capsys.readouterr().err
    assert "Demo.ipynb: cell 3 failed" in error and "AssertionError" in error
    kept = nbformat.read(out / "demo/Demo.ipynb", as_version=4)  # kept to see what happened
    assert cell_errors(kept)[0][:2] == (3, "AssertionError")


def test_run_refuses_an_unknown_lab(capsys):
    assert cli.main(["run", "lab9", "--out", "unused"]) == 1
    assert "No lab 'lab9'" in capsys.readouterr().err


# ## Repair and mitdl validate ---------------------------------------------------------------------


def _releases(root):
    return {("demo", "Demo.ipynb"): read_notebook(root / "release/demo/Demo.ipynb")}


def test_a_stripped_notebook_is_identified_and_repaired(demo_course):
    releases = _releases(demo_course)
    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    stripped = _stripped(solution)
    check = check_submission(stripped, releases)
    assert (check.lab, check.notebook) == ("demo", "Demo.ipynb")
    assert check.missing == [] and set(check.repaired) == {"md-1", "add", "test_add", "md-2"}
    repaired, _ = repair_metadata(stripped, releases[("demo", "Demo.ipynb")])
    nbformat.validate(nbformat.from_dict(repaired))
    by_id = {c["metadata"]["nbgrader"]["grade_id"]: c for c in repaired["cells"]
             if "nbgrader" in c["metadata"]}  # fmt: skip
    assert "return a + b" in "".join(by_id["add"]["source"])
    assert by_id["test_add"]["metadata"]["nbgrader"]["points"] == 2


def test_an_answer_cell_that_was_moved_or_surrounded_is_found(demo_course):
    releases = _releases(demo_course)
    release = releases[("demo", "Demo.ipynb")]
    moved = _stripped(release)
    moved["cells"].insert(2, nbformat.v4.new_code_cell("print('scratch work')"))
    moved["cells"][3]["source"] = "def add(a, b):\n    return b + a"
    matches = {m.grade_id: m for m in check_submission(moved, releases).matches}
    assert matches["add"].how == "position" and matches["add"].index == 3


def test_a_deleted_answer_is_missing_and_unanswered_cells_are_listed(demo_course):
    releases = _releases(demo_course)
    release = releases[("demo", "Demo.ipynb")]
    assert check_submission(release, releases).unanswered == ["add"]
    deleted = copy.deepcopy(release)
    deleted["cells"] = [c for c in deleted["cells"]
                        if c["metadata"].get("nbgrader", {}).get("grade_id") != "add"]  # fmt: skip
    assert check_submission(deleted, releases).missing_answers == ["add"]


def test_tampering_in_answers_is_flagged_but_the_set_up_code_is_not(demo_course):
    release = _releases(demo_course)[("demo", "Demo.ipynb")]
    tampered = copy.deepcopy(release)
    tampered["cells"][2]["source"] = (
        "import sys\nsys.modules['numpy'].testing = None\n"
        "get_ipython().input_transformers_post.append(lambda lines: lines)\n"
        "def add(a, b):\n    return a + b"
    )
    flags = scan_answers(tampered, release)
    assert any("sys.modules" in flag for flag in flags)
    assert any("IPython kernel" in flag for flag in flags)
    assert scan_answers(release, release) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b'{"cells": [', "not valid JSON"),
        (b"\x89PNG\r\n", "not valid JSON"),
        (b'{"a": 1}', "not a notebook"),
    ],
)
def test_files_that_are_not_notebooks_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=message):
        read_notebook(path)


@pytest.mark.slow
def test_validate_says_what_stands_between_a_notebook_and_full_marks(demo_course, tmp_path, capsys):
    root = str(demo_course)
    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    ready = _write(_stripped(solution), tmp_path / "Copy of Demo.ipynb")
    assert cli.main(["validate", str(ready), "--course", root]) == 0
    out = capsys.readouterr().out
    assert "demo/Demo.ipynb, 1 graded tests" in out and "the autograder repairs it" in out
    assert "Ready to submit." in out

    release = demo_course / "release/demo/Demo.ipynb"
    assert cli.main(["validate", str(release), "--course", root, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["unanswered"] == ["add"] and report["failed_checks"][0][0] == "test_add"

    wrong = json.loads(release.read_text())
    wrong["cells"][2]["source"] = "def add(a, b):\n    return a * b"
    assert cli.main(["validate", str(_write(wrong, tmp_path / "w.ipynb")), "--course", root]) == 1
    assert "check test_add fails: AssertionError" in capsys.readouterr().out

    assert (
        cli.main(["validate", str(_write({"x": 1}, tmp_path / "x.ipynb")), "--course", root]) == 1
    )
    assert "not a notebook" in capsys.readouterr().err
    other = course.DEFAULT_COURSE / "release/lab1/Part1_TensorFlow.ipynb"
    assert cli.main(["validate", str(other), "--course", root, "--no-run"]) == 1
    assert "not one of the course's notebooks" in capsys.readouterr().err


# ## Autograding what students really submit -------------------------------------------------------


@pytest.mark.slow
def test_autograde_repairs_and_reports_instead_of_scoring_zero(demo_course, tmp_path):
    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    release = json.loads((demo_course / "release/demo/Demo.ipynb").read_text())
    no_test = copy.deepcopy(solution)
    no_test["cells"] = [
        c
        for c in no_test["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_add"
    ]
    answered = copy.deepcopy(release)
    answered["cells"][2]["source"] = "def add(a, b):\n    return a + b"
    for notebook, path in [
        (_stripped(solution), "stripped/Demo (1).ipynb"),
        (no_test, "deleted_test/Demo.ipynb"),
        (answered, "answered/Demo.ipynb"),
        ({"cells": "?"}, "broken/Demo.ipynb"),
    ]:
        _write(notebook, tmp_path / "in" / path)
    # One worker: the students are graded one after another, as plain nbgrader would.
    grades = autograde("demo", tmp_path / "in", demo_course, out=tmp_path / "out", workers=1)[
        "results"
    ]
    assert grades["stripped"]["score"] == 2 and "add" in grades["stripped"]["repaired"]
    assert grades["deleted_test"]["score"] == 2  # the test was put back, hidden part included
    assert grades["answered"]["score"] == 2 and grades["answered"]["repaired"] == []
    assert grades["broken"]["score"] in (None, 0)
    assert "not a notebook" in grades["broken"]["problems"][0]


@pytest.mark.slow
def test_the_old_serial_autograde_call_still_grades(demo_course, tmp_path):
    import importlib

    from mitdeeplearning import _lazy

    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    folder = _write(solution, tmp_path / "in/alice/Demo.ipynb").parent
    _lazy._warned.discard("course.autograde")
    with pytest.warns(FutureWarning) as caught:
        old = importlib.import_module("mitdeeplearning.course")
        grades = old.autograde("demo", {"alice": folder}, demo_course, workdir=tmp_path / "work")
    assert any("course.autograde has been renamed" in str(w.message) for w in caught)
    assert grades["alice"]["score"] == 2 and grades["alice"]["max_score"] == 2


# ## mitdl autograde: a course's worth, in parallel ------------------------------------------------


def _answer(release: dict, source: str) -> dict:
    notebook = copy.deepcopy(release)
    notebook["cells"][2]["source"] = source
    return notebook


def test_collect_understands_folders_canvas_and_moodle(tmp_path):

    (tmp_path / "alice" / "demo").mkdir(parents=True)  # nbgrader's own layout
    (tmp_path / "alice" / "demo" / "Demo.ipynb").write_text("{}")
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / "Demo-checkpoint.ipynb").write_text("{}")
    (tmp_path / "smithbob_LATE_1234_98765_Demo-1.ipynb").write_text("{}")
    (tmp_path / "Carol Jones_777_assignsubmission_file_").mkdir()
    (tmp_path / "Carol Jones_777_assignsubmission_file_" / "Demo.ipynb").write_text("{}")
    (tmp_path / "dave").mkdir()
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "Demo.ipynb").write_text("{}")
    students, problems = collect(tmp_path)
    assert sorted(students) == ["Carol_Jones_777", "alice", "dave", "smithbob_1234"]
    assert [p.name for p in students["alice"]] == ["Demo.ipynb"]
    assert students["dave"] == []
    assert len(problems) == 2 and any("Canvas" in p for p in problems)


def _text_of(page):
    """An HTML page's text (code is split into highlighted tokens in the markup)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_autograde_grades_every_kind_of_submission_in_parallel(demo_course, tmp_path, capsys):
    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    release = json.loads((demo_course / "release/demo/Demo.ipynb").read_text())
    subs = tmp_path / "subs"
    _write(_answer(release, "def add(a, b):\n    return a + b"),
           subs / "smithalice_11_901_Demo.ipynb")  # fmt: skip
    _write(_stripped(solution), subs / "Bob Lee_22_assignsubmission_file_" / "Demo (2).ipynb")
    _write(_answer(release, "def add(a, b):\n    while True:\n        pass"),
           subs / "carol" / "Demo.ipynb")  # fmt: skip
    _write(_answer(release, "import os\nos._exit(1)"), subs / "dave" / "Demo.ipynb")
    (subs / "erin").mkdir()
    (subs / "erin" / "Demo.ipynb").write_text('{"cells": [')
    tamper = "import builtins\nbuiltins.print = print\ndef add(a, b):\n    return a + b"
    _write(_answer(release, tamper), subs / "frank" / "Demo.ipynb")
    (subs / "gina").mkdir()
    hog = "big = bytearray(8 * 1024**3)\ndef add(a, b):\n    return a + b"
    _write(_answer(release, hog), subs / "hana" / "Demo.ipynb")
    flood = "for i in range(100_000):\n    print(i)\ndef add(a, b):\n    return a + b"
    _write(_answer(release, flood), subs / "ivan" / "Demo.ipynb")
    # Passes the visible test, fails the hidden one, and goes looking for the tests.
    snoop = ("import glob\nfound = glob.glob('../../../**/*.ipynb', recursive=True)\n"
             "def add(a, b):\n    return abs(a) + b")  # fmt: skip
    _write(_answer(release, snoop), subs / "jack" / "Demo.ipynb")
    out = tmp_path / "grading"
    args = ["autograde", "demo", str(subs), "--course", str(demo_course), "--out", str(out),
            "--workers", "2", "--cell-timeout", "10", "-q"]  # fmt: skip
    assert cli.main(args) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    scores = {sid: r["score"] for sid, r in results.items()}
    assert scores == {"smithalice_11": 2, "Bob_Lee_22": 2, "carol": 0, "dave": 0, "erin": 0,
                      "frank": 2, "gina": 0, "hana": 0, "ivan": 2, "jack": 0}  # fmt: skip
    assert any("explores files" in flag for flag in results["jack"]["flags"])
    assert "Output truncated" in _text_of(out / "feedback" / "ivan" / "Demo.html")
    assert results["Bob_Lee_22"]["repaired"] and not results["smithalice_11"]["repaired"]
    assert "not valid JSON" in results["erin"]["problems"][0]
    assert "no notebooks" in results["gina"]["problems"][0]
    assert any("builtins" in flag for flag in results["frank"]["flags"])
    assert all(r["max_score"] == 2 for r in results.values())

    with (out / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {sid: float(row["score"]) for sid, row in rows.items()} == scores
    assert rows["carol"]["test_add"] == "0.0" and rows["smithalice_11"]["test_add"] == "2.0"
    lms = (out / "lms.csv").read_text()
    assert "smithalice,11,2" in lms
    summary = (out / "summary.md").read_text()
    assert "| frank | 2.0 / 2.0 |" in summary and "test_add" in summary

    feedback = _text_of(out / "feedback" / "smithalice_11" / "Demo.html")
    assert "add(1, 2) == 3" in feedback and "2.0 / 2.0" in feedback
    assert "HIDDEN TESTS" not in feedback and "add(-1, 1)" not in feedback
    assert "add(-1, 1)" not in _text_of(out / "feedback" / "carol" / "Demo.html")
    assert "add(-1, 1)" not in _text_of(out / "feedback" / "Bob_Lee_22" / "Demo.html")

    capsys.readouterr()
    assert cli.main(args) == 0  # nothing changed: nothing is regraded
    assert "10 unchanged submissions already graded" in capsys.readouterr().out
    assert cli.main([*args, "--student", "frank"]) == 0
    out_text = capsys.readouterr().out
    assert out_text.startswith("frank: 2.0 / 2.0") and "carol" not in out_text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_autograde_through_a_dask_scheduler_and_workers_in_their_own_processes(
    demo_course, tmp_path
):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = [
        subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                          address.rsplit(":", 1)[1], "--no-dashboard"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        time.sleep(2)
        processes.append(subprocess.Popen(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2
        release = json.loads((demo_course / "release/demo/Demo.ipynb").read_text())
        subs = tmp_path / "subs"
        _write(_answer(release, "def add(a, b):\n    return a + b"), subs / "ann" / "Demo.ipynb")
        _write(_answer(release, "def add(a, b):\n    return a - b"), subs / "ben" / "Demo.ipynb")
        summary = autograde("demo", subs, demo_course, out=tmp_path / "out",
                                   scheduler=address)  # fmt: skip
        assert {s: r["score"] for s, r in summary["results"].items()} == {"ann": 2, "ben": 0}
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
