"""Autograding a whole course: collect what the LMS gives you, grade in parallel on Dask, and
write grades, feedback and a summary.

nbgrader grades one notebook at a time and stops at the first broken submission. Here each
student is graded by a Dask task in a scratch course of its own (its own gradebook, its own
kernel, a per-cell time limit, and a time and memory limit on the whole job,
`~mitdeeplearning.instructor.grade_job`, which runs nbgrader in the sandbox of
`~mitdeeplearning.instructor.sandbox` and scores the graded notebook outside it,
`~mitdeeplearning.instructor.scores`), so students are graded side by side, on one machine (a
local cluster of ``workers`` processes) or on a running cluster (``scheduler``), and a
submission that loops, crashes its kernel or is not a notebook costs its own score and nothing
else: each file is read, identified, repaired and scanned under a guard, and a malformed one
becomes its student's reported problem. Only the calling process writes results:
``results.json`` (which also remembers what was graded, so a rerun skips it), ``grades.csv``,
``lms.csv``, ``summary.md`` and ``feedback/<student>/<notebook>.html`` (made safe to open by
`mitdeeplearning.instructor.feedback`).

Layouts of the submissions folder, as instructors download them:

* a folder per student holding that student's notebooks (at any depth), nbgrader's own
  ``<student>/<lab>/`` included;
* Canvas: one flat folder of ``name_userid_submissionid_<notebook>.ipynb`` files (also with
  ``_LATE`` after the name);
* Moodle: a folder per student named ``Full Name_12345_assignsubmission_file_``.

Each name becomes a student id by `student_id` (Unicode kept, so ``Zoë Li`` and ``Zoé Li`` are
two students); two names that still share an id are reported, never merged.

`autograde` is the course's one grading path: ``mitdl autograde`` calls it, and so do the tests
and benchmarks; ``workers=1`` grades the students one after another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

from .._lazy import moved_names
from ..files import atomic_write, staged_folder
from .course import (
    CourseError,
    course_dir,
    lab_list,
    nbgrader_environment,
    run_nbgrader,
    scratch_course,
)  # fmt: skip
from .reports import MANUAL_GRADES, graded_cells, read_manual_grades, split_points, write_reports
from .sandbox import SandboxTimeout, run_sandboxed
from .scores import graded_tests
from .similarity import similar_answers
from .submission import prepare_submission, read_releases

_CANVAS = re.compile(r"^(?P<name>[^_]+?)(?:_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_?$")


#: Names Windows keeps for devices: a folder so named cannot be made there.
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"{p}{n}" for p in ("COM", "LPT") for n in range(10))}


def student_id(name: str) -> str:
    """The student id of a name as the LMS writes it, safe in a file name and in nbgrader.

    The name is NFC-normalised (``Zoë`` saved decomposed, as macOS names files, is the same
    student); letters, marks and digits of every script, ``_``, ``.`` and ``-`` are kept, so
    ``Zoë Li``, ``Zoé Li`` and a Cyrillic look-alike stay three students; each other run of
    characters (spaces, ``/``, glob and shell characters) becomes one ``_``. At most 100
    characters (nbgrader's gradebook keeps 128).

    Examples
    --------
    >>> student_id("Zoë Li"), student_id("Zoé Li"), student_id("../../etc")
    ('Zoë_Li', 'Zoé_Li', 'etc')
    """
    name = unicodedata.normalize("NFC", name)
    kept = "".join(c if c in "_.-" or unicodedata.category(c)[0] in "LMN" else "/" for c in name)
    sid = re.sub("/+", "_", kept).strip("_.")[:100].strip("_.") or "student"
    return f"{sid}_" if sid.split(".")[0].upper() in _DEVICES else sid


def collect(folder: str | os.PathLike) -> tuple[dict[str, list[Path]], list[str]]:
    """Find each student's notebooks in `folder` (see the module's notes for the layouts).

    Returns ``(student id → notebook paths, problems)``; a student folder without notebooks
    is kept with an empty list (graded as missing), stray files are reported in `problems`.
    Two different names whose ids are the same (or differ only in case, as folders do on
    macOS and Windows) are never merged: neither is graded, and a problem names both.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CourseError(f"{root} is not a folder of submissions.")
    students: dict[str, list[Path]] = {}
    owners: dict[str, tuple[str, str, str]] = {}  # casefolded id → (name, entry, id)
    clashes: dict[str, list[str]] = {}
    problems: list[str] = []
    for entry in sorted(root.iterdir()):
        try:
            found = _student_files(entry)
        except OSError as exc:
            problems.append(f"{entry.name}: cannot be read ({exc.strerror or exc}): skipped.")
            continue
        if isinstance(found, str):
            if found:
                problems.append(found)
            continue
        name, files = unicodedata.normalize("NFC", found[0]), found[1]
        sid = student_id(name)
        first = owners.setdefault(sid.casefold(), (name, entry.name, sid))
        if first[0] != name:
            clashes.setdefault(sid.casefold(), []).append(
                f"{first[1]} and {entry.name} are different names with the same student id "
                f"{sid!r}: neither is graded. Rename one (add the student's number, say) and "
                "run again."
            )
        students.setdefault(first[2], []).extend(files)
    for key, lines in clashes.items():
        problems += lines
        del students[owners[key][2]]
    return students, problems


def _student_files(entry: Path) -> tuple[str, list[Path]] | str:
    """``(the student's name, notebooks)`` of one entry of the submissions folder, or the
    problem with it ("" for a hidden file)."""
    if entry.name.startswith("."):
        return ""
    if entry.is_dir():
        moodle = _MOODLE.match(entry.name)
        files = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        return (f"{moodle['name']}_{moodle['uid']}" if moodle else entry.name), files
    if entry.suffix != ".ipynb":
        return f"{entry.name}: not a notebook or a student's folder: skipped."
    canvas = _CANVAS.match(entry.name)
    if canvas:
        return f"{canvas['name']}_{canvas['uid']}", [entry]
    return (
        f"{entry.name}: a notebook outside any student's folder and not named as Canvas names "
        "downloads (name_userid_submissionid_notebook.ipynb): skipped."
    )


# ## One student, in a worker -----------------------------------------------------------------


def grade_student(
    student: str,
    notebooks: dict[str, str],
    template: bytes,
    lab: str,
    *,
    tests: dict | None = None,
    manual: dict | None = None,
    cell_timeout: float = 120,
    timeout: float = 900,
    memory_limit: int | None = None,
    sandbox: bool = True,
) -> dict:
    """Grade one student's repaired notebooks (file name → JSON text) in a scratch course
    unpacked from `template` (a zip of the course with the lab's assignment in its gradebook).

    The whole job (`~mitdeeplearning.instructor.grade_job`: nbgrader in the sandbox, then the
    scores and the feedback page) runs in a child process limited to `timeout` seconds and
    `memory_limit` bytes per process, and is killed at the limit with everything it started.
    `tests` and `manual` are the course's own test cells and cells graded by hand (file name →
    grade id → [points, source] or points). Runs in a Dask worker; returns a JSON-ready
    result, never raises for a bad submission.
    """
    tic = time.perf_counter()
    result = {"student": student, "score": 0.0, "max_score": None, "cells": {}, "feedback": {},
              "problems": [], "seconds": 0.0}  # fmt: skip
    if not notebooks:
        return result  # nothing gradeable: the reasons are in the caller's notes
    with tempfile.TemporaryDirectory(prefix="mitdl-job-") as tmp:
        folder = Path(tmp)
        (folder / "template.zip").write_bytes(template)
        job = {"student": student, "lab": lab, "notebooks": notebooks, "tests": tests or {},
               "manual": manual or {}, "cell_timeout": cell_timeout, "sandbox": sandbox,
               "timeout": max(timeout - 60, 0.75 * timeout),  # the rest: scores and the page
               "template": str(folder / "template.zip")}  # fmt: skip
        (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
        command = [sys.executable, "-m", "mitdeeplearning.instructor.grade_job",
                   str(folder / "job.json"), str(folder / "result.json")]  # fmt: skip
        try:
            done = run_sandboxed(command, writable=[], sandbox=False, timeout=timeout,
                                 memory_limit=memory_limit, env=nbgrader_environment())  # fmt: skip
        except SandboxTimeout:
            result["problems"].append(
                f"grading stopped: the job (the notebook's run, its scores and its feedback "
                f"page) took longer than {timeout:g} s and was stopped; no points"
            )
        else:
            if (folder / "result.json").is_file():
                result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
            else:
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                reason = lines[-1].strip()[:300] if lines else f"exit status {done.returncode}"
                result["problems"].append(f"grading failed: {reason}")
    result["seconds"] = round(time.perf_counter() - tic, 2)
    return result


def course_cells(root: Path, lab: str) -> tuple[dict, dict]:
    """The test cells (file name → grade id → [points, source]) and the cells graded by hand
    (file name → grade id → points) of the lab's own source notebooks: what a graded notebook
    is scored against."""
    tests, manual = {}, {}
    for path in sorted((root / "source" / lab).glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        tests[path.name] = {k: list(v) for k, v in graded_tests(notebook).items()}
        manual[path.name] = graded_cells({path.name: notebook})[1]
    return tests, manual


# ## The course: collect, repair, dispatch, write -----------------------------------------------


@dataclasses.dataclass
class Settings:
    cell_timeout: float = 120
    timeout: float = 900
    memory_limit: int | None = 4 * 1024**3
    sandbox: bool = True  # grade in the sandbox where one can run (`sandbox_problem`)


def _template(root: Path, lab: str, into: Path) -> tuple[bytes, dict]:
    """The course with the lab's assignment generated (and in its gradebook), zipped."""
    scratch = scratch_course(root, into)
    run_nbgrader(["generate_assignment", lab, "--force", "--create"], scratch)
    releases = read_releases(scratch / "release", lab)
    # Without source/: the solutions and hidden tests stay out of the graders' folders (nbgrader
    # restores the locked cells from the gradebook).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(scratch.rglob("*")):
            relative = path.relative_to(scratch)
            if path.is_file() and relative.parts[0] != "source":
                archive.write(path, relative)
    return buffer.getvalue(), releases


def _digest(notebooks: dict[str, str], problems: list[str]) -> str:
    """What a student submitted, as a hash: unchanged, the student is not graded again."""
    digest = hashlib.sha256()
    for name in sorted(notebooks):
        digest.update(name.encode() + b"\0" + notebooks[name].encode() + b"\0")
    for line in problems:  # a file that stays bad in a new way is reported anew
        digest.update(b"problem\0" + line.encode("utf-8", "replace") + b"\0")
    return digest.hexdigest()


def _printable(value):
    """`value` (JSON-like) with every string writable as UTF-8: a file name or a notebook's
    string can hold a lone surrogate, which would stop the reports being written."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def autograde(
    lab: str,
    submissions: str | os.PathLike,
    course: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike,
    workers: int = 2,
    scheduler: str | None = None,
    settings: Settings | None = None,
    student: str | None = None,
    force: bool = False,
    on_result: Callable[[dict, int, int], None] | None = None,
) -> dict:
    """Grade every student's submission of `lab` in `submissions` and write the results.

    Parameters
    ----------
    lab : str
        The lab to grade.
    submissions : path
        The folder as the LMS gives it (see the module's notes for the layouts).
    out : path
        Where ``results.json``, ``grades.csv``, ``lms.csv``, ``summary.md`` and ``feedback/``
        go.
    workers : int
        Worker processes of the local Dask cluster (ignored with `scheduler`).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to grade on instead.
    settings : Settings
        Per-cell and per-student time limits (seconds) and the memory limit (bytes) of each
        grading process.
    student : str, optional
        Grade only this student (again, even if graded before).
    force : bool
        Regrade students whose submission has not changed since it was graded.
    on_result : callable, optional
        ``on_result(result, done, total)`` after each student.

    Returns
    -------
    dict
        ``{"graded": [ids], "skipped": [ids], "problems": [lines], "results": {id: result}}``.
    """
    settings = settings or Settings()
    root = course_dir(course)
    lab_list(lab, root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "results.json"
    store = json.loads(store_path.read_text(encoding="utf-8")) if store_path.exists() else {}
    if store.get("lab", lab) != lab:
        raise CourseError(f"{out} holds the results of {store['lab']}; use another --out.")
    results: dict[str, dict] = store.get("results", {})

    students, problems = collect(submissions)
    problems = _printable(problems)
    everyone = students
    if student is not None:
        student = unicodedata.normalize("NFC", student)
        if student not in students:
            raise CourseError(f"No student {student!r} in {submissions}; found: "
                              f"{', '.join(sorted(students)) or 'none'}.")  # fmt: skip
        students = {student: students[student]}

    with tempfile.TemporaryDirectory(prefix="mitdl-template-") as tmp:
        template, releases = _template(root, lab, Path(tmp) / "course")
    jobs, skipped, prepared = {}, [], {}
    for sid, files in students.items():
        notebooks, notes = prepare_submission(files, lab, releases)
        prepared[sid] = notebooks
        digest = _digest(notebooks, notes["problems"])
        previous = results.get(sid)
        if previous and previous.get("digest") == digest and not force and student is None:
            skipped.append(sid)
            continue
        jobs[sid] = (notebooks, notes, digest)

    for sid in everyone.keys() - prepared.keys():  # --student: compared with the whole class
        prepared[sid] = prepare_submission(everyone[sid], lab, releases)[0]
    cells = course_cells(root, lab)
    graded = _dispatch(jobs, template, cells, lab, settings, workers, scheduler, on_result)
    unprotected = sorted(
        {r["sandbox_problem"] for r in graded.values() if r.get("sandbox_problem")}
    )
    cautions = [
        f"graded without a sandbox: {reason} Submissions ran with this account's rights: "
        "they could reach the network and this machine's services, and write wherever it can."
        for reason in unprotected
    ]
    feedback_root = out / "feedback"
    for sid, result in graded.items():
        _write_log(out / "logs", sid, result.pop("log", None))
        results[sid] = result
        pages = result.pop("feedback", {})
        if not pages:
            shutil.rmtree(feedback_root / sid, ignore_errors=True)
            continue
        feedback_root.mkdir(exist_ok=True)
        # The old pages stay until the new ones are all written.
        with staged_folder(feedback_root / sid) as folder:
            for name, html in pages.items():
                (folder / f"{name}.html").write_text(html, encoding="utf-8")
    automatic, manual = graded_cells(releases)
    hand = read_manual_grades(out / MANUAL_GRADES, manual, results)
    for sid, result in results.items():
        split_points(result, automatic, manual, hand.get(sid, {}))
    similar = similar_answers(prepared, releases)
    run_notes = "".join(f"- {line}\n" for line in [*cautions, *(f"skipped: {p}" for p in problems)])
    sections = [f"## Notes on this run\n\n{run_notes}"] if run_notes else []
    sections.append(similar.markdown())
    store = {"lab": lab, "results": dict(sorted(results.items())),
             "similar_answers": similar.as_json(), "summary_sections": sections}  # fmt: skip
    with atomic_write(store_path, newline="") as f:
        f.write(json.dumps(store, indent=1))
    write_reports(out, lab, store["results"], releases, sections=sections)
    return {"graded": sorted(graded), "skipped": skipped, "problems": problems, "notes": cautions,
            "results": store["results"]}  # fmt: skip


def _write_log(folder: Path, sid: str, text: str | None) -> None:
    """Keep what nbgrader and the kernel printed for `sid` (start-up lines, warnings, the
    errors behind a stopped run) in ``<out>/logs/<sid>.log``, off the terminal."""
    if text is None:
        return
    folder.mkdir(exist_ok=True)
    with atomic_write(folder / f"{sid}.log") as f:
        f.write(text)


def _dispatch(jobs, template, cells, lab, settings, workers, scheduler, on_result) -> dict:
    if not jobs:
        return {}
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler, timeout="30s"), None
    else:
        with warnings.catch_warnings():  # another cluster's port in use is not our concern
            warnings.filterwarnings("ignore", message=r".*[Pp]ort \d+ is already in use")
            cluster = LocalCluster(
                n_workers=max(1, int(workers)), threads_per_worker=1, processes=True,
                dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR,
            )  # fmt: skip
        client = Client(cluster)
    graded: dict[str, dict] = {}
    try:
        shared = client.scatter(template, broadcast=True)
        futures = {}
        for sid, (notebooks, notes, digest) in jobs.items():
            future = client.submit(
                grade_student, sid, notebooks, shared, lab, tests=cells[0], manual=cells[1],
                cell_timeout=settings.cell_timeout, timeout=settings.timeout,
                memory_limit=settings.memory_limit, sandbox=settings.sandbox, pure=False,
                key=f"grade-{sid}-{digest[:12]}",
            )  # fmt: skip
            futures[future] = (sid, notes, digest)
        for done, future in enumerate(as_completed(futures), start=1):
            sid, notes, digest = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died grades nothing
                result = {"student": sid, "score": 0.0, "max_score": None, "cells": {},
                          "feedback": {}, "seconds": None,
                          "problems": [f"grading failed: {type(exc).__name__}: {exc}"]}  # fmt: skip
            result["problems"] = notes["problems"] + result["problems"]
            result.update(repaired=notes["repaired"], flags=notes["flags"], digest=digest)
            graded[sid] = result = _printable(result)
            if on_result is not None:
                on_result(result, done, len(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return graded


#: `autograde`'s name before there was one autograding path still works, warning once.
__getattr__ = moved_names(__name__, {"autograde_course": "autograde"}, globals())
