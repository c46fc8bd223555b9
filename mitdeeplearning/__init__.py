"""Helpers for the hands-on deep learning labs.

The labs import the topic subpackages they need (``mitdeeplearning.music``,
``mitdeeplearning.xray``); importing this package itself is cheap and never imports TensorFlow.

PyPI has an unrelated package with the same import name. Code that must know it has *this*
package checks `COURSE_API` (or `is_course_package()`), not only that the import succeeds.
"""

from ._version import __version__

#: Bumped when a notebook-facing API changes incompatibly; notebooks check it in their set-up cell.
COURSE_API = 1

__all__ = ["COURSE_API", "__version__", "is_course_package", "project_url"]


def is_course_package(min_api: int = COURSE_API) -> bool:
    """True: this is the course's package (not the PyPI namesake) with at least `min_api`."""
    return min_api <= COURSE_API


def project_url() -> str:
    """The repository URL, as written in ``setup.py`` (read from the installed metadata)."""
    from importlib import metadata
    from pathlib import Path

    try:
        meta = metadata.metadata("mitdeeplearning")
        if meta.get("Version") == __version__:
            url = meta.get("Home-page") or next(
                (v.split(",", 1)[1].strip() for v in meta.get_all("Project-URL") or []), None
            )
            if url:
                return url
    except metadata.PackageNotFoundError:
        pass
    # Running from a source checkout that was never installed: read setup.py itself.
    import re

    setup_py = Path(__file__).resolve().parent.parent / "setup.py"
    match = re.search(r'\burl="([^"]+)"', setup_py.read_text(encoding="utf-8"))
    if not match:
        raise RuntimeError(f"Cannot find the project URL in {setup_py}.")
    return match.group(1)
