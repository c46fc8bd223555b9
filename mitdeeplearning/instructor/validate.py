"""Before submitting: `mitdl validate` checks a student's notebook as the autograder will see
it (which lab, grading metadata intact or repairable, unanswered cells, tampering, failing
visible checks).

It compares the notebook with the course's release notebooks, found in this order: the course
folder given (``--course``, the instructor's case); this repository's ``labs/`` when the
package runs from a source checkout; the copy shipped inside the package
(``mitdeeplearning/course_data/release/<lab>/``), which ``setup.py`` copies from
``labs/release/`` when the package is built, so a package installed with
``pip install git+...`` (as the notebooks' set-up cell does, in Colab too) validates as well.

From inside the notebook itself, `validate_this_notebook` finds the notebook (Colab hands it
over; Jupyter and VS Code name its file) and prints the same report; where it cannot, it says
what to do instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ..report import FAST_VARIABLE
from .course import DEFAULT_COURSE, CourseError, course_dir
from .notebooks import execute_notebook
from .reports import graded_cells
from .submission import SubmissionError, check_submission, read_notebook, read_releases

#: The release notebooks shipped inside the package (``<lab>/*.ipynb``), copied at build time.
SHIPPED_RELEASE = Path(__file__).resolve().parent.parent / "course_data" / "release"


def release_folder(course: str | os.PathLike | None = None) -> Path:
    """The folder of release notebooks (``<lab>/*.ipynb``) that `validate` compares with.

    `course` if given (it must be a course folder); otherwise this repository's ``labs/`` in a
    source checkout, else the copy shipped inside the installed package.

    Raises
    ------
    CourseError
        If `course` is not a course folder, or (without `course`) neither place holds one.
    """
    if course is not None:
        return course_dir(course) / "release"
    try:
        return course_dir(DEFAULT_COURSE) / "release"
    except CourseError:
        pass
    if any(SHIPPED_RELEASE.glob("*/*.ipynb")):
        return SHIPPED_RELEASE
    raise CourseError(
        f"No release notebooks to compare with: {DEFAULT_COURSE} is not a course folder (a "
        f"source checkout has one) and {SHIPPED_RELEASE} holds none (an installed package "
        "ships them). Reinstall the package from the repository (pip install --force-reinstall "
        "git+URL) or name a course folder with --course DIR."
    )


def release_notebooks(course: str | os.PathLike | None = None) -> dict[tuple[str, str], dict]:
    """``(lab, file name) → notebook`` for every release notebook `release_folder` finds."""
    return _releases_in(release_folder(course))


def _releases_in(folder: Path) -> dict[tuple[str, str], dict]:
    releases: dict[tuple[str, str], dict] = {}
    for lab in sorted(p.name for p in folder.iterdir() if any(p.glob("*.ipynb"))):
        releases.update(read_releases(folder, lab))
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
        ``errors`` (``[grade id or "cell N", error]``), ``seconds`` (of the run, or None),
        ``ready`` (True when nothing stands in the way of full marks) and ``releases`` (the
        folder of release notebooks compared with, see `release_folder`).

    Raises
    ------
    mitdeeplearning.instructor.submission.SubmissionError
        If the file is not a notebook, or not one of this course's.
    mitdeeplearning.instructor.course.CourseError
        If there are no release notebooks to compare with (see `release_folder`).
    """
    notebook = read_notebook(path)
    folder = release_folder(course)
    releases = _releases_in(folder)
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
            executed = execute_notebook(
                copy_path, fast=True, timeout=timeout, allow_errors=True,
                log=copy_path.with_suffix(".log"),  # the kernel's start-up noise stays there
            )  # fmt: skip
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
    report["releases"] = str(folder)
    return report


def describe(report: dict, label: str) -> list[str]:
    """The lines `mitdl validate` prints for a `validate` report on the file named `label`."""
    by_hand = (
        f", {len(report['manual'])} answers graded by hand ({report['manual_points']:g} points)"
        if report.get("manual")
        else ""
    )
    lines = [
        f"{label}: {report['lab']}/{report['notebook']}, {report['graded']} graded tests{by_hand}"
    ]
    lost_answers = report["missing_answers"]
    lost_tests = [g for g in report["missing"] if g not in lost_answers]
    if lost_answers:
        lines.append(
            f"  MISSING answer cells: {', '.join(lost_answers)}. They cannot be graded: "
            "download a fresh copy of the notebook and copy your answers into it."
        )
    if lost_tests:
        lines.append(
            f"  missing test cells: {', '.join(lost_tests)} (the autograder puts them back)"
        )
    if report["repaired"]:
        lines.append(
            f"  grading metadata lost on {len(report['repaired'])} cells "
            f"({', '.join(report['repaired'])}): the autograder repairs it."
        )
    if not report["missing"] and not report["repaired"]:
        lines.append("  grading metadata: intact")
    if report["changed"]:
        lines.append(
            f"  locked cells edited: {', '.join(report['changed'])} (the autograder restores "
            "them from the release)"
        )
    if report["unanswered"]:
        lines.append(f"  unanswered: {', '.join(report['unanswered'])}")
    lines += [f"  flagged for the instructor: {flag}" for flag in report["flags"]]
    if report["seconds"] is not None:
        lines.append(f"  ran top to bottom in {report['seconds']:.0f} s ({FAST_VARIABLE}=1)")
        lines += [f"  check {name} fails: {message}" for name, message in report["failed_checks"]]
        lines += [f"  {name} raises {message}" for name, message in report["errors"]]
    lines.append("Ready to submit." if report["ready"] else "Not ready yet: see above.")
    return lines


# ## From inside the notebook -----------------------------------------------------------------

#: What to do where the notebook cannot be found from its own kernel.
NOT_FOUND = (
    "Cannot check this notebook from here: {why}. Save it, download it (Colab: File > Download "
    "> Download .ipynb; Jupyter: File > Download) and check the file in a terminal with "
    '`mitdl validate FILE.ipynb`, or here with validate_this_notebook("path/to/FILE.ipynb").'
)


def colab_notebook(into: Path, timeout: float = 30) -> Path | None:
    """In Colab, the notebook as its editor holds it now, written into the folder `into`.

    Colab keeps no ``.ipynb`` file on the runtime's disk; its front end hands the notebook over
    on request (``google.colab._message.blocking_request("get_ipynb")``, as Colab's own tools
    ask for it), unsaved edits included. Returns None outside Colab (no ``google.colab``
    imported in this kernel).

    Raises
    ------
    SubmissionError
        If Colab does not hand the notebook over (no answer within `timeout` seconds, or an
        error); the message says what the student does instead.
    """
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import _message

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout)
    except Exception as exc:  # Colab's private messaging: whatever it raises, say what to do
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    if not isinstance(notebook, dict):
        why = reply.get("error") if isinstance(reply, dict) else None
        raise SubmissionError(NOT_FOUND.format(why=f"Colab did not hand it over ({why or reply})"))
    notebook.setdefault("nbformat", 4)
    notebook.setdefault("nbformat_minor", 5)
    meta = notebook.get("metadata")
    colab = meta.get("colab") if isinstance(meta, dict) else None
    name = colab.get("name") if isinstance(colab, dict) else None
    name = re.sub(r"[^\w .()-]", "_", Path(str(name or "notebook")).name).strip() or "notebook"
    path = into / (name if name.endswith(".ipynb") else name + ".ipynb")
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _user_namespace() -> dict:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    namespace = getattr(shell, "user_ns", None)
    return namespace if isinstance(namespace, dict) else {}


def jupyter_notebook_file(namespace: dict | None = None) -> Path | None:
    """The file of the notebook this kernel runs, as Jupyter or VS Code names it, or None.

    VS Code puts ``__vsc_ipynb_file__`` in the kernel's namespace; Jupyter Server gives the
    kernel ``JPY_SESSION_NAME`` (the notebook's path; relative to the server's root before
    Jupyter Server 2), which ipykernel copies into ``__session__``. A relative path is looked
    for from the kernel's working folder, the notebook's own. `namespace` defaults to the
    running IPython's user namespace.
    """
    namespace = _user_namespace() if namespace is None else namespace
    names = [
        namespace.get("__vsc_ipynb_file__"),
        namespace.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ]
    for name in names:
        if not isinstance(name, str) or not name.endswith(".ipynb"):
            continue
        for candidate in (Path(name), Path.cwd() / name, Path.cwd() / Path(name).name):
            if candidate.is_file():
                return candidate.resolve()
    return None


def this_notebook(into: Path) -> tuple[Path, str]:
    """``(file, what it holds)`` for the notebook whose kernel calls this: Colab's copy
    (written into `into`), or the file Jupyter or VS Code names.

    Raises
    ------
    SubmissionError
        If neither names it; the message says what the student does instead.
    """
    path = colab_notebook(into)
    if path is not None:
        return path, "Checking this notebook as Colab holds it now (unsaved edits included)."
    path = jupyter_notebook_file()
    if path is None:
        raise SubmissionError(NOT_FOUND.format(why="neither Colab nor Jupyter names its file"))
    saved = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
    return path, (
        f"Checking {path} as last saved, at {saved}: save the notebook first (Ctrl+S, or Cmd+S "
        "on a Mac) so the file holds your latest answers."
    )


def validate_this_notebook(
    path: str | os.PathLike | None = None,
    *,
    run: bool = False,
    course: str | os.PathLike | None = None,
    timeout: float = 600,
) -> None:
    """Check, from inside a notebook, the notebook itself, and print what `mitdl validate` says.

    In Colab the notebook comes from the editor (see `colab_notebook`), in Jupyter and VS Code
    from its file as last saved (see `jupyter_notebook_file`); give `path` to check another file.
    Where the notebook cannot be found, prints what to do instead. The visible checks run only
    with `run` (a copy, top to bottom in fast mode: minutes); without it, the notebook's own
    outputs show them.

    Examples
    --------
    In the last cell of a lab::

        from mitdeeplearning.instructor.validate import validate_this_notebook
        validate_this_notebook()
    """
    with tempfile.TemporaryDirectory(prefix="mitdl-this-notebook-") as tmp:
        try:
            found, note = (Path(path), f"Checking {path}.") if path else this_notebook(Path(tmp))
            report = validate(found, course, run=run, timeout=timeout)
        except (SubmissionError, CourseError) as exc:
            print(exc)
            return
    print(note)
    print("\n".join(describe(report, found.name)))
    if not run:
        print(
            "The checks did not run here: run all cells from the top (Runtime > Restart and run "
            "all, or Kernel > Restart and run all) and read their results, or call "
            "validate_this_notebook(run=True) to run a copy in fast mode."
        )
