"""Running notebooks headless: one notebook top to bottom in a fresh kernel (`execute_notebook`),
and the main job, `mitdl run`, which runs every solution notebook of a lab and keeps what it
makes (executed notebook, HTML, figures, saved files, metrics).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..files import atomic_write
from ..report import FAST_VARIABLE, NOTEBOOK_VARIABLE, OUT_VARIABLE
from .course import CourseError, course_dir, lab_list


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
    log: str | os.PathLike | None = None,
):
    """Run a notebook top to bottom in a fresh kernel and return the executed copy.

    ``fast=True`` sets ``MITDL_FAST=1`` (training shrinks to seconds, every cell still runs).
    A cell that fails raises `CourseError` naming the notebook, the cell and the error, unless
    `allow_errors` (then the errors are in the returned notebook's outputs). The file on disk is
    left as it was. ``on_cell(done, total)`` is called after each code cell; `save_as` receives
    the executed notebook, also when a cell failed (to see what happened).

    With `log`, what the kernel process writes to its own stdout and stderr (TensorFlow's C++
    start-up lines, ipykernel's warnings, a crash's last words) goes to that file instead of
    this process's terminal, and a failure's message ends with the log's last lines. Without
    it the kernel shares this process's terminal.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    extra = {
        FAST_VARIABLE: "1" if fast else "0",
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
    streams = open(log, "w", encoding="utf-8") if log is not None else None  # noqa: SIM115
    try:
        client.execute(**({"stdout": streams, "stderr": streams} if streams else {}))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        index = next(
            (i for i, c in enumerate(notebook.cells) if _cell_failed(c)), None
        )  # fmt: skip
        where = f"cell {index}" if index is not None else "a cell"
        summary = str(exc).strip().splitlines()
        if streams is not None:
            streams.close()
        raise CourseError(
            f"{path.name}: {where} failed: {summary[-1] if summary else exc}" + log_tail(log)
        ) from None
    finally:
        if streams is not None:
            streams.close()
        if save_as is not None:
            with atomic_write(save_as) as handle:
                nbformat.write(notebook, handle)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def log_tail(log: str | os.PathLike | None, lines: int = 12) -> str:
    """The last `lines` non-empty lines of the kernel log `log`, as the end of an error
    message (empty without a log)."""
    if log is None or not Path(log).is_file():
        return ""
    text = Path(log).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    tail = [line for line in text if line.strip()][-lines:]
    if not tail:
        return f"\n(the kernel wrote nothing to its log, {log})"
    return f"\nThe end of the kernel's log ({log}):\n  " + "\n  ".join(tail)


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


def export_html(notebook, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    with atomic_write(target) as handle:
        handle.write(body)


def save_figures(notebook, stem: str, folder: Path) -> list[Path]:
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
            with atomic_write(target, "wb") as handle:
                handle.write(base64.b64decode(data if isinstance(data, str) else "".join(data)))
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
    "metrics", "log"}}}``, the metrics being what each notebook passed to
    `mitdeeplearning.report.record_metrics`. What each notebook's kernel process prints
    itself (TensorFlow's C++ start-up lines, ipykernel's warnings) goes to ``<name>.log``
    beside it (``"log"``), not to this terminal.

    ``on_cell(notebook, done, total)`` reports progress. A failing cell raises `CourseError`
    naming the notebook, the cell and the error, and ending with the last lines of the
    kernel's log; the executed notebook up to that cell is kept.
    Returns lab → the contents of its ``metrics.json``.
    """
    root = course_dir(course)
    results: dict[str, dict] = {}
    for name in lab_list(lab, root):
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
                log=folder / f"{stem}.log",
            )  # fmt: skip
            seconds = round(time.perf_counter() - tic, 1)
            export_html(executed, folder / f"{stem}.html")
            save_figures(executed, stem, folder / "figures")
            metrics = json.loads(stale.read_text(encoding="utf-8")) if stale.exists() else {}
            summary["notebooks"][stem] = {"seconds": seconds, "metrics": metrics,
                                          "log": str(folder / f"{stem}.log")}  # fmt: skip
            summary["seconds"] = round(summary["seconds"] + seconds, 1)
        with atomic_write(folder / "metrics.json") as handle:
            handle.write(json.dumps(summary, indent=1))
        results[name] = summary
    return results
