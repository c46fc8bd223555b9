"""The student's kernel in a sandbox of its own, inside the grading sandbox.

`~mitdeeplearning.instructor.grade_job` runs nbgrader in the grading sandbox with a kernel spec
(`write_kernel_spec`) that starts the kernel through this module. Its own PID namespace makes
every process the student's code started die when nbgrader shuts the kernel down, before
nbgrader writes the graded notebook: nothing of the student's is left running to rewrite that
notebook. And the scratch course is read-only to it, except the folder the notebook runs in:
the gradebook and the other files nbgrader keeps are out of its reach.

    python -m mitdeeplearning.instructor.kernel_sandbox CONNECTION_FILE [KERNEL ARGUMENTS]

(the kernel spec's command; the folder the kernel starts in is the notebook's).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["COURSE_VARIABLE", "write_kernel_spec"]

#: The scratch course, read-only to the kernel (set by `grade_job`).
COURSE_VARIABLE = "MITDL_SCRATCH_COURSE"


def write_kernel_spec(folder: str | os.PathLike) -> Path:
    """Write the ``python3`` kernel spec that starts kernels through this module into
    ``folder/kernels/python3``; put `folder` first on ``JUPYTER_PATH`` to use it."""
    spec = Path(folder) / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "mitdeeplearning.instructor.kernel_sandbox",
                 "{connection_file}"],
        "display_name": "Python 3 (sandboxed)", "language": "python",
        # A cell past its time limit is interrupted by a message on the control channel: a
        # signal would reach bubblewrap, not the kernel.
        "interrupt_mode": "message",
    }))  # fmt: skip
    return spec


def command(connection_file: str, course: str, workdir: str, extra=()) -> list[str]:
    """The bubblewrap command that starts the kernel (with the `extra` arguments its client
    adds): its own PID namespace, dying with its parent, the course read-only but `workdir`."""
    return [
        "bwrap", "--unshare-pid", "--die-with-parent", "--bind", "/", "/",
        "--ro-bind", course, course, "--bind", workdir, workdir,
        "--dev", "/dev", "--proc", "/proc", "--chdir", workdir,
        # Its parent is bubblewrap's first process, not the client: no parent polling (the
        # kernel dies with the client through --die-with-parent instead).
        "--unsetenv", "JPY_PARENT_PID", "--",
        sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, *extra,
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    course = os.environ.get(COURSE_VARIABLE)
    if not argv or not course:
        print(f"usage: {COURSE_VARIABLE}=COURSE python -m {__spec__.name} CONNECTION_FILE "
              "[KERNEL ARGUMENTS]", file=sys.stderr)  # fmt: skip
        return 2
    argv = command(argv[0], course, os.getcwd(), argv[1:])
    os.execvp(argv[0], argv)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
