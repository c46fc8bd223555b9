"""One student's grading, as a process of its own.

`~mitdeeplearning.instructor.autograde.grade_student` starts this module in a child process
under the per-student time and memory limits, and kills it, with everything it started, at the
limit: the whole job (nbgrader, the student's kernel, reading the graded notebook, scoring it,
rendering the feedback page) is bounded, not only the notebook's run.

    python -m mitdeeplearning.instructor.grade_job JOB.json RESULT.json

The job, in order:

1. unpack the scratch course (the course with the lab's assignment in its gradebook, without
   its sources) and put the student's notebooks in it;
2. run ``nbgrader autograde`` in the sandbox (`~mitdeeplearning.instructor.sandbox`): no
   network, its own processes, the system read-only and only the scratch course writable;
   where no sandbox can run, the same without it;
3. outside the sandbox, trust only the graded notebook, read defensively: the scores come from
   its test cells by nbgrader's rule (`~mitdeeplearning.instructor.scores`), with the cells'
   points and code from the course's own copy (``tests``), never from the gradebook the
   student's kernel could have written; the feedback page is rendered from it
   (`~mitdeeplearning.instructor.feedback`).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

from ..files import atomic_write
from ..report import FAST_VARIABLE
from .course import nbgrader_environment
from .feedback import feedback_html, release_code
from .kernel_sandbox import COURSE_VARIABLE, write_kernel_spec
from .sandbox import SandboxTimeout, run_sandboxed, sandbox_problem
from .scores import score_notebook

#: The end of what nbgrader and the kernel printed that is kept, for the run's log.
MAX_LOG_CHARS = 200_000
#: The largest graded notebook read back (its outputs are capped before the page is drawn).
MAX_GRADED_BYTES = 64 * 1024**2


def _nbgrader(scratch: Path, job: dict) -> tuple[list[str], bool, str]:
    """Run nbgrader autograde on the scratch course; return the problems (none if it ran),
    whether it was stopped at the time limit, and what nbgrader and the kernel printed."""
    student, lab = job["student"], job["lab"]
    command = [
        sys.executable, "-m", "nbgrader", "autograde", lab, f"--student={student}", "--create",
        "--force", "--OverwriteCells.add_missing_cells=True",
        f"--ExecutePreprocessor.timeout={int(job['cell_timeout'])}",
        f"--Execute.timeout={int(job['cell_timeout'])}", f"--CourseDirectory.root={scratch}",
    ]  # fmt: skip
    sandbox = job["sandbox"] and sandbox_problem() is None
    private = scratch / ".runtime"  # Jupyter's runtime files (the kernels' connection files)
    private.mkdir()
    # IPython's and Matplotlib's files: in the sandbox's own /tmp (the kernel cannot write the
    # course there), else beside the course.
    own = Path("/tmp") if sandbox else private
    env = nbgrader_environment({
        FAST_VARIABLE: "1", "TF_CPP_MIN_LOG_LEVEL": "2", "JUPYTER_RUNTIME_DIR": str(private),
        "IPYTHONDIR": str(own / "ipython"), "MPLCONFIGDIR": str(own / "matplotlib"),
    })  # fmt: skip
    if sandbox:  # the kernel in a sandbox of its own (see kernel_sandbox)
        write_kernel_spec(private)
        env.update({"JUPYTER_PATH": str(private), COURSE_VARIABLE: str(scratch)})
    try:
        done = run_sandboxed(command, writable=[scratch], cwd=scratch, env=env,
                             timeout=job["timeout"], sandbox=sandbox)  # fmt: skip
    except SandboxTimeout as exc:
        return [f"grading stopped: {exc}"], True, ""
    printed = (done.stdout + done.stderr)[-MAX_LOG_CHARS:]
    if done.returncode == 0:
        return [], False, printed
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    return [f"grading stopped: {(lines[-1] if lines else 'nbgrader failed')[:300]}"], False, printed


def _read_graded(path: Path) -> tuple[dict | None, str | None]:
    if path.stat().st_size > MAX_GRADED_BYTES:
        return None, f"the graded {path.name} is over {MAX_GRADED_BYTES // 1024**2} MB: no points"
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (ValueError, RecursionError) as exc:
        return None, f"the graded {path.name} could not be read ({type(exc).__name__}): no points"


def run(job: dict, template: bytes) -> dict:
    """Grade one student (see the module's notes). `job`: ``student``, ``lab``, ``notebooks``
    (file name → JSON text), ``tests`` (file name → grade id → [points, source]) and
    ``manual`` (file name → grade id → points) from the course's own notebooks,
    ``cell_timeout``, ``timeout`` and ``sandbox``. Returns a JSON-ready result: the cells graded
    by hand get ``[None, points]`` (their points are given later)."""
    result = {"student": job["student"], "score": 0.0, "max_score": None, "cells": {},
              "feedback": {}, "problems": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mitdl-grade-") as tmp:
        scratch = Path(tmp) / "course"
        with zipfile.ZipFile(io.BytesIO(template)) as archive:
            archive.extractall(scratch)
        target = scratch / "submitted" / job["student"] / job["lab"]
        target.mkdir(parents=True)
        for name, text in job["notebooks"].items():
            (target / name).write_text(text, encoding="utf-8")
        result["sandbox_problem"] = (
            sandbox_problem() if job["sandbox"] else "the sandbox was turned off (Settings)."
        )
        stopped, killed, result["log"] = _nbgrader(scratch, job)
        result["problems"] += stopped
        given = release_code(scratch / "release" / job["lab"])
        graded_folder = scratch / "autograded" / job["student"] / job["lab"]
        for name in job["notebooks"]:
            tests = {k: (v[0], v[1]) for k, v in job["tests"].get(name, {}).items()}
            path = graded_folder / name
            # A run stopped at the time limit leaves the notebook as nbgrader cleared it before
            # running (no outputs, so no failed test): it earns nothing. (nbgrader itself may
            # fail on a notebook it has run, e.g. on a cell's time limit: that one counts, and
            # `score_notebook` gives nothing for a test cell that was not run.)
            finished = path.is_file() and not killed
            notebook, problem = _read_graded(path) if finished else (None, None)
            cells, problems = score_notebook(notebook, tests)
            cells.update({k: [None, float(v)] for k, v in job["manual"].get(name, {}).items()})
            if notebook is None:
                problems = [problem] if problem else []  # nbgrader's own stop says why
            result["cells"].update(cells)
            result["problems"] += problems
            if notebook is not None:
                _feedback(result, path, cells, given)
    result["max_score"] = float(sum(most for _, most in result["cells"].values()))
    result["score"] = float(sum(score or 0 for score, _ in result["cells"].values()))
    return result


def _feedback(result: dict, path: Path, cells: dict, given: set[str]) -> None:
    try:
        result["feedback"][path.stem] = feedback_html(path, cells, given)
    except Exception as exc:  # noqa: BLE001 - the scores stand without their page
        result["problems"].append(
            f"the feedback page of {path.name} could not be written "
            f"({type(exc).__name__}: {str(exc)[:200]}); the scores stand."
        )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mitdeeplearning.instructor.grade_job JOB.json RESULT.json",
              file=sys.stderr)  # fmt: skip
        return 2
    job_path, result_path = (Path(arg) for arg in argv)
    job = json.loads(job_path.read_text(encoding="utf-8"))
    template = Path(job.pop("template")).read_bytes()
    result = run(job, template)
    with atomic_write(result_path) as f:
        f.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
