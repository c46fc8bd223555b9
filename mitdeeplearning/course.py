"""The course's nbgrader operations: release the labs, check the release is in sync, run a
notebook headless, and autograde submissions.

nbgrader is the grading engine; this module drives it in a scratch copy of the course, so the
repository never collects a gradebook or nbgrader's working folders. A course is a folder
holding ``nbgrader_config.py`` and ``source/<lab>/*.ipynb`` (this repository's ``labs/`` by
default); releases go to its ``release/<lab>/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: This repository's course.
DEFAULT_COURSE = Path(__file__).resolve().parent.parent / "labs"


class CourseError(RuntimeError):
    """An nbgrader operation or a notebook run failed; the message says which and why."""


def course_dir(course: str | os.PathLike | None = None) -> Path:
    """The course folder (default: this repository's ``labs/``), checked to be one."""
    root = Path(course or DEFAULT_COURSE).resolve()
    if not (root / "source").is_dir() or not (root / "nbgrader_config.py").is_file():
        raise CourseError(
            f"{root} is not a course folder: it needs nbgrader_config.py and source/<lab>/."
        )
    return root


def labs(course: str | os.PathLike | None = None) -> list[str]:
    """The labs of a course: the folders in ``source/`` that hold notebooks, sorted."""
    root = course_dir(course)
    return sorted(p.name for p in (root / "source").iterdir() if any(p.glob("*.ipynb")))


def _lab_list(lab: str | None, course: Path) -> list[str]:
    available = labs(course)
    if lab in (None, "all"):
        return available
    if lab not in available:
        raise CourseError(f"No lab {lab!r} in {course / 'source'}; labs: {', '.join(available)}.")
    return [lab]


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` from PATH: put this interpreter's scripts folder first.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def run_nbgrader(
    args: list[str],
    root: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` on the course at `root`; a failure raises `CourseError` with the
    end of nbgrader's log. `preexec_fn` runs in the child first (e.g. to limit its memory)."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    try:
        done = subprocess.run(
            command, cwd=root, env=_environment(env), capture_output=True, text=True,
            timeout=timeout, preexec_fn=preexec_fn,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise CourseError(f"nbgrader {args[0]} took longer than {timeout} s.") from exc
    if done.returncode != 0:
        log = (done.stdout + done.stderr).strip().splitlines()
        raise CourseError(f"nbgrader {' '.join(args)} failed:\n" + "\n".join(log[-25:]))
    return done


def _scratch_course(course: Path, into: Path) -> Path:
    """A copy of the course's configuration and sources (not its release or gradebook)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(course / "nbgrader_config.py", into / "nbgrader_config.py")
    shutil.copytree(course / "source", into / "source", dirs_exist_ok=True)
    return into


def generate_release(
    lab: str | None = None,
    course: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike | None = None,
) -> list[Path]:
    """Generate the student version of `lab` (or of every lab) with nbgrader.

    The release replaces ``<out>/<lab>/`` (default: the course's ``release/``) only once it is
    complete. Returns the release notebooks written.
    """
    root = course_dir(course)
    out = Path(out) if out is not None else root / "release"
    written: list[Path] = []
    for name in _lab_list(lab, root):
        with tempfile.TemporaryDirectory(prefix="mitdl-release-") as tmp:
            scratch = _scratch_course(root, Path(tmp) / "course")
            run_nbgrader(["generate_assignment", name, "--force", "--create"], scratch)
            generated = scratch / "release" / name
            target = out / name
            staging = out / f".{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            out.mkdir(parents=True, exist_ok=True)
            shutil.copytree(generated, staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        written += sorted(target.glob("*.ipynb"))
    return written


def _normalised(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check_release(lab: str | None = None, course: str | os.PathLike | None = None) -> list[str]:
    """Differences between the committed release and what the sources generate now.

    Returns one line per difference (a missing, extra or changed file); empty when in sync.
    """
    root = course_dir(course)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mitdl-check-") as tmp:
        fresh = Path(tmp) / "release"
        for name in _lab_list(lab, root):
            generate_release(name, root, out=fresh)
            expected = {
                p.relative_to(fresh / name) for p in (fresh / name).rglob("*") if p.is_file()
            }
            committed_dir = root / "release" / name
            committed = (
                {p.relative_to(committed_dir) for p in committed_dir.rglob("*") if p.is_file()}
                if committed_dir.is_dir()
                else set()
            )
            for missing in sorted(expected - committed):
                problems.append(f"release/{name}/{missing} is missing")
            for extra in sorted(committed - expected):
                problems.append(f"release/{name}/{extra} is not generated from source/{name}")
            for both in sorted(expected & committed):
                a, b = fresh / name / both, committed_dir / both
                same = (
                    _normalised(a) == _normalised(b)
                    if both.suffix == ".ipynb"
                    else a.read_bytes() == b.read_bytes()
                )
                if not same:
                    problems.append(
                        f"release/{name}/{both} differs from what source/{name} generates"
                    )
    return problems


# ## Running notebooks ----------------------------------------------------------------------------


def execute_notebook(
    path: str | os.PathLike,
    *,
    fast: bool = True,
    timeout: float = 900,
    cwd: str | os.PathLike | None = None,
    allow_errors: bool = False,
    env: dict[str, str] | None = None,
    on_cell: Callable[[int, int], None] | None = None,
    save_as: str | os.PathLike | None = None,
):
    """Run a notebook top to bottom in a fresh kernel and return the executed copy.

    ``fast=True`` sets ``MITDL_FAST=1`` (training shrinks to seconds, every cell still runs).
    A cell that fails raises `CourseError` naming the notebook, the cell and the error, unless
    `allow_errors` (then the errors are in the returned notebook's outputs). The file on disk is
    left as it was. ``on_cell(done, total)`` is called after each code cell; `save_as` receives
    the executed notebook, also when a cell failed (to see what happened).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    extra = {
        "MITDL_FAST": "1" if fast else "0",
        # TensorFlow's C++ start-up notices (CPU features, CUDA probing) are not the lab's.
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        **(env or {}),
    }
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)  # the kernel inherits this process's environment
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )  # fmt: skip
    if on_cell is not None:
        total = sum(1 for cell in notebook.cells if cell.cell_type == "code")
        done = [0]

        def executed(cell, cell_index, execute_reply):
            done[0] += 1
            on_cell(done[0], total)

        client.on_cell_executed = executed
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        index = next(
            (i for i, c in enumerate(notebook.cells) if _cell_failed(c)), None
        )  # fmt: skip
        where = f"cell {index}" if index is not None else "a cell"
        summary = str(exc).strip().splitlines()
        raise CourseError(
            f"{path.name}: {where} failed: {summary[-1] if summary else exc}"
        ) from None
    finally:
        if save_as is not None:
            nbformat.write(notebook, save_as)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def _cell_failed(cell) -> bool:
    return any(output.get("output_type") == "error" for output in cell.get("outputs", []))


def cell_errors(notebook) -> list[tuple[int, str, str]]:
    """``(cell index, error name, message)`` for every cell of an executed notebook that raised."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, output.get("ename", ""), output.get("evalue", "")))
    return found


# ## The main job: run the labs, keep what they make --------------------------------------------


def _export_html(notebook, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    target.write_text(body, encoding="utf-8")


def _save_figures(notebook, stem: str, folder: Path) -> list[Path]:
    """Every PNG a notebook showed, as ``<stem>-cell<index>-<k>.png``."""
    import base64

    written = []
    for index, cell in enumerate(notebook.cells):
        k = 0
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if not data:
                continue
            k += 1
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{stem}-cell{index:02d}-{k}.png"
            target.write_bytes(base64.b64decode(data if isinstance(data, str) else "".join(data)))
            written.append(target)
    return written


def run_lab(
    lab: str | None = None,
    course: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike,
    fast: bool = False,
    timeout: float = 1800,
    on_cell: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict]:
    """Run every solution notebook of `lab` (or of every lab, with None or ``"all"``) headless
    and keep what it makes.

    For each lab, ``<out>/<lab>/`` receives each executed notebook (run there, so the files it
    writes land there too), an HTML copy, ``figures/`` (every image it showed, as PNG), the
    files it saved through `mitdeeplearning.report.output_dir` (e.g. generated tunes), and
    ``metrics.json``: ``{"lab", "fast", "seconds", "notebooks": {name: {"seconds",
    "metrics"}}}``, the metrics being what each notebook passed to
    `mitdeeplearning.report.record_metrics`.

    ``on_cell(notebook, done, total)`` reports progress. A failing cell raises `CourseError`
    naming the notebook, the cell and the error; the executed notebook up to that cell is kept.
    Returns lab → the contents of its ``metrics.json``.
    """
    from .report import NOTEBOOK_VARIABLE, OUT_VARIABLE

    root = course_dir(course)
    results: dict[str, dict] = {}
    for name in _lab_list(lab, root):
        folder = Path(out).resolve() / name
        folder.mkdir(parents=True, exist_ok=True)
        summary = {"lab": name, "fast": fast, "seconds": 0.0, "notebooks": {}}
        for source in sorted((root / "source" / name).glob("*.ipynb")):
            stem = source.stem
            working = folder / source.name
            shutil.copy2(source, working)
            stale = folder / f"metrics-{stem}.json"
            stale.unlink(missing_ok=True)
            progress = None if on_cell is None else (
                lambda done, total, label=f"{name}/{source.name}": on_cell(label, done, total)
            )  # fmt: skip
            tic = time.perf_counter()
            executed = execute_notebook(
                working, fast=fast, timeout=timeout, cwd=folder, on_cell=progress,
                save_as=working, env={OUT_VARIABLE: str(folder), NOTEBOOK_VARIABLE: stem},
            )  # fmt: skip
            seconds = round(time.perf_counter() - tic, 1)
            _export_html(executed, folder / f"{stem}.html")
            _save_figures(executed, stem, folder / "figures")
            metrics = json.loads(stale.read_text(encoding="utf-8")) if stale.exists() else {}
            summary["notebooks"][stem] = {"seconds": seconds, "metrics": metrics}
            summary["seconds"] = round(summary["seconds"] + seconds, 1)
        (folder / "metrics.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        results[name] = summary
    return results


# ## Before submitting: `mitdl validate` ---------------------------------------------------------


def release_notebooks(course: str | os.PathLike | None = None) -> dict[tuple[str, str], dict]:
    """``(lab, file name) → notebook`` for every committed release notebook of the course."""
    from .submission import read_releases

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
    repaired copy top to bottom under ``MITDL_FAST=1`` to report the visible checks that fail
    and other cells that raise.

    Returns
    -------
    dict
        ``lab``, ``notebook``, ``graded`` (the number of graded tests), ``repaired``,
        ``missing``, ``missing_answers``, ``changed``, ``unanswered`` and ``flags`` (lists of
        the answer and test cells' grade ids, or of lines), ``failed_checks`` and
        ``errors`` (``[grade id or "cell N", error]``), ``seconds`` (of the run, or None) and
        ``ready`` (True when nothing stands in the way of full marks).

    Raises
    ------
    mitdeeplearning.submission.SubmissionError
        If the file is not a notebook, or not one of this course's.
    """
    from .submission import check_submission, read_notebook

    notebook = read_notebook(path)
    releases = release_notebooks(course)
    check = check_submission(notebook, releases)
    graded = [m for m in check.matches if m.kind != "text"]
    report = {
        "lab": check.lab,
        "notebook": check.notebook,
        "graded": sum(1 for m in graded if m.kind == "test"),
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


# ## Autograding ---------------------------------------------------------------------------------


def autograde(
    lab: str,
    submissions: dict[str, str | os.PathLike],
    course: str | os.PathLike | None = None,
    *,
    workdir: str | os.PathLike,
    timeout: float | None = None,
) -> dict[str, dict]:
    """Autograde each student's notebooks for `lab` with nbgrader, in fast mode.

    Before grading, each notebook is read defensively, identified among the lab's release
    notebooks (so a renamed copy is graded as the notebook it is) and its grading metadata is
    repaired from the release (`mitdeeplearning.submission.repair_metadata`); nbgrader then
    puts back deleted test cells (``add_missing_cells``) and restores edited locked cells.

    Parameters
    ----------
    lab : str
        The lab (a folder of ``source/``).
    submissions : dict
        Student id → a folder holding that student's notebooks for the lab.
    workdir : path
        Where the scratch course, its gradebook and the graded copies go.

    Returns
    -------
    dict
        Student id → ``{"score", "max_score", "cells": {grade_id: (score, max_score)},
        "repaired": [grade ids], "flags": [lines], "problems": [lines]}``; ``problems`` says
        which files could not be graded and why (not a notebook, another lab's notebook).
    """
    from .submission import prepare_submission, read_releases

    root = course_dir(course)
    _lab_list(lab, root)
    scratch = _scratch_course(root, Path(workdir))
    run_nbgrader(["generate_assignment", lab, "--force", "--create"], scratch)
    releases = read_releases(scratch / "release", lab)
    notes: dict[str, dict] = {}
    for student, folder in submissions.items():
        target = scratch / "submitted" / student / lab
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        notebooks, notes[student] = prepare_submission(
            sorted(Path(folder).glob("*.ipynb")), lab, releases
        )
        for name, text in notebooks.items():
            (target / name).write_text(text, encoding="utf-8")
    run_nbgrader(
        ["autograde", lab, "--force", "--create", "--OverwriteCells.add_missing_cells=True"],
        scratch, env={"MITDL_FAST": "1"}, timeout=timeout,
    )  # fmt: skip
    grades = read_grades(scratch, lab, list(submissions))
    for student, result in grades.items():
        result.update(notes[student])
    return grades


def read_grades(root: Path, lab: str, students: list[str]) -> dict[str, dict]:
    """Scores from the gradebook of the scratch course at `root`."""
    from nbgrader.api import Gradebook, MissingEntry

    results: dict[str, dict] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission(lab, student)
            except MissingEntry:
                results[student] = {"score": None, "max_score": None, "cells": {}}
                continue
            cells = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
            results[student] = {
                "score": submission.score,
                "max_score": submission.max_score,
                "cells": cells,
            }
    return results
