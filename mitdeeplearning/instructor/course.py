"""The course and its nbgrader operations: find the course and its labs, release them, check
that the committed release is in sync, and read a gradebook.

nbgrader is the grading engine; this module drives it in a scratch copy of the course, so the
repository never collects a gradebook or nbgrader's working folders. A course is a folder
holding ``nbgrader_config.py`` and ``source/<lab>/*.ipynb`` (this repository's ``labs/`` by
default); releases go to its ``release/<lab>/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..files import atomic_write, staged_folder

#: This repository's course.
DEFAULT_COURSE = Path(__file__).resolve().parent.parent.parent / "labs"


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


def lab_list(lab: str | None, course: Path) -> list[str]:
    available = labs(course)
    if lab in (None, "all"):
        return available
    if lab not in available:
        raise CourseError(f"No lab {lab!r} in {course / 'source'}; labs: {', '.join(available)}.")
    return [lab]


def nbgrader_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` from PATH: put this interpreter's scripts folder first.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


#: Lines that a kernel or TensorFlow prints whatever the notebook does (ipykernel's TCP
#: warning, TensorFlow's C++ start-up lines: CPU features, oneDNN, CUDA probing): they stay in
#: the log but out of an error's message, whose last line is then the error.
START_UP_NOISE = re.compile(
    r"Kernel is running over TCP without encryption|^\s*[IW]\d{4} \d\d:\d\d:\d\d"
    r"|oneDNN custom operations|This TensorFlow binary is optimized|To enable the following "
    r"instructions|All log messages before absl::InitializeLog|Unable to register cu(DNN|FFT|"
    r"BLAS) factory|computation placer already registered|TF-TRT Warning|Could not find cuda "
    r"drivers|could not open file to read NUMA node|cuda_(dnn|fft|blas|executor)\.cc"
)


def run_nbgrader(
    args: list[str],
    root: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    preexec_fn: Callable[[], None] | None = None,
    log: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` on the course at `root`; a failure raises `CourseError` with the
    end of nbgrader's log, start-up noise (`START_UP_NOISE`) left out. `preexec_fn` runs in
    the child first (e.g. to limit its memory). nbgrader's output and its kernels' (which
    inherit its stderr) is captured, never printed; with `log` it is also written there."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    try:
        done = subprocess.run(
            command, cwd=root, env=nbgrader_environment(env), capture_output=True, text=True,
            timeout=timeout, preexec_fn=preexec_fn,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise CourseError(f"nbgrader {args[0]} took longer than {timeout} s.") from exc
    if log is not None:
        with atomic_write(log) as handle:
            handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        lines = [line for line in lines if line.strip() and not START_UP_NOISE.search(line)]
        raise CourseError(f"nbgrader {' '.join(args)} failed:\n" + "\n".join(lines[-25:]))
    return done


def scratch_course(course: Path, into: Path) -> Path:
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
    for name in lab_list(lab, root):
        with tempfile.TemporaryDirectory(prefix="mitdl-release-") as tmp:
            scratch = scratch_course(root, Path(tmp) / "course")
            run_nbgrader(["generate_assignment", name, "--force", "--create"], scratch)
            target = out / name
            out.mkdir(parents=True, exist_ok=True)
            with staged_folder(target) as staging:
                shutil.copytree(scratch / "release" / name, staging, dirs_exist_ok=True)
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
        for name in lab_list(lab, root):
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
