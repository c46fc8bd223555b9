"""Moved to `mitdeeplearning.instructor` (its modules `course`, `notebooks`, `validate` and
`autograde`); this alias warns once and keeps the old names working."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ._lazy import warn_renamed
from .instructor.course import (  # noqa: F401 - the old module's public names
    DEFAULT_COURSE,
    CourseError,
    check_release,
    course_dir,
    generate_release,
    labs,
    read_grades,
    run_nbgrader,
)
from .instructor.notebooks import cell_errors, execute_notebook, run_lab  # noqa: F401
from .instructor.validate import release_notebooks, validate  # noqa: F401

warn_renamed("mitdeeplearning.course", "mitdeeplearning.instructor", stacklevel=2)


def autograde(
    lab: str,
    submissions: dict[str, str | os.PathLike],
    course: str | os.PathLike | None = None,
    *,
    workdir: str | os.PathLike,
    timeout: float | None = None,
) -> dict[str, dict]:
    """The old serial entry point: student id → folder of notebooks, graded by
    `mitdeeplearning.instructor.autograde.autograde` with one worker (results under
    ``<workdir>/out``). Returns student id → result, as that function gives them."""
    from .instructor.autograde import Settings
    from .instructor.autograde import autograde as grade

    warn_renamed("course.autograde", "instructor.autograde.autograde")
    folder = Path(workdir) / "submissions"
    shutil.rmtree(folder, ignore_errors=True)
    for student, path in submissions.items():
        shutil.copytree(path, folder / student)
    settings = Settings(timeout=timeout) if timeout else Settings()
    summary = grade(lab, folder, course, out=Path(workdir) / "out", workers=1,
                    settings=settings, force=True)  # fmt: skip
    return summary["results"]
