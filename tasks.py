#!/usr/bin/env python3
"""Set up the course's environment and run its jobs, the same way on Linux, macOS and Windows.

    python tasks.py run    # set up .venv, then run every lab's notebooks on the embedded data
    python tasks.py test   # set up .venv with the dev tools, then ruff and the test suite
    python tasks.py test --fast  # the same without the slow tests (notebooks, grading, training)
    python tasks.py setup  # only set up .venv

Needs nothing but Python 3.11+. The environment lives in `.venv/` beside this file (or in
$MITDL_VENV) and is reinstalled only when requirements.txt, setup.py or pyproject.toml change.
Arguments after `test` go to pytest (`python tasks.py test -k fetch`), except `--fast`, which
skips the tests marked `slow` (about a minute on two cores: the edit-test loop); after `run`, to
`mitdl run` (`python tasks.py run lab2 --fast`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MITDL_VENV", ROOT / ".venv"))
MAIN_JOB = ["run"]  # the `mitdl` command that `python tasks.py run` runs


def venv_bin(name: str) -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / f"{name}.exe"
    return VENV / "bin" / name


def sh(*cmd: str | Path, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_env(extra: str = "") -> Path:
    """Create .venv if needed and install the pinned requirements and this package into it."""
    if sys.version_info < (3, 11):  # noqa: UP036  (this file must speak to old Pythons)
        sys.exit(
            f"Python 3.11 or newer is needed (this is {sys.version.split()[0]}). Install it from "
            "python.org (or your package manager), then run this command with it."
        )
    python = venv_bin("python")
    if not python.exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True, clear=VENV.exists())
    inputs = ["requirements.txt", "setup.py", "pyproject.toml"]
    key = hashlib.sha256(extra.encode())
    for name in inputs:
        key.update((ROOT / name).read_bytes())
    stamp = VENV / ".mitdl-installed"
    if not stamp.exists() or stamp.read_text() != key.hexdigest():
        target = f".[{extra}]" if extra else "."
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
        if os.environ.get("CI"):
            pip += ["--progress-bar", "off"]
        sh(*pip, "-r", "requirements.txt", "-e", target)
        stamp.write_text(key.hexdigest())
    return python


def fast_variable() -> str:
    """The environment variable of the package's fast mode, read from the package itself (its
    modules import nothing at the top that this bare Python lacks)."""
    sys.path.insert(0, str(ROOT))
    from mitdeeplearning.report import FAST_VARIABLE

    return FAST_VARIABLE


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Tools that the tests and nbgrader start by name (mitdl, alembic) come from the venv.
    env["PATH"] = str(venv_bin("python").parent) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def main(argv: list[str]) -> None:
    task, args = (argv[0], argv[1:]) if argv else ("help", [])
    if task == "setup":
        ensure_env("dev")
    elif task == "run":
        python = ensure_env()
        sh(python, "-m", "mitdeeplearning", *MAIN_JOB, *args, env=child_env())
    elif task == "test":
        python = ensure_env("dev")
        env = child_env()
        env[fast_variable()] = "1"  # the notebooks train for seconds, every cell still runs
        sh(python, "-m", "ruff", "check", ".", env=env)
        sh(python, "-m", "ruff", "format", "--check", ".", env=env)
        if "--fast" in args:
            args = [a for a in args if a != "--fast"] + ["-m", "not slow"]
        sh(python, "-m", "pytest", *args, env=env)
    else:
        print(__doc__)
        sys.exit(0 if task in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main(sys.argv[1:])
