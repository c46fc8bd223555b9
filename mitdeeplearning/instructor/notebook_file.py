"""A notebook file as a student submits it, read defensively: size, JSON and the shape of each
cell are checked before any other step reads them.

A submission is untrusted JSON. A cell whose metadata is a list, a source list holding a number,
a list as grade id, or JSON nested 100,000 deep used to stop a whole class's grading with a
traceback naming no file. Here each of those is a `SubmissionError` that names the file, the
cell and what is wrong, and what the later steps (identify, repair, scan, grade) receive is a
checked copy holding only what they read.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


class SubmissionError(ValueError):
    """A file is not a notebook of this course; the message says what it is and what to do."""


#: The largest notebook file read (bytes): a lab saved with all its figures is a few MB.
MAX_BYTES = 64 * 1024**2
#: The most cells a submission may have: a lab has under 100, and matching a submission's
#: cells to the release's takes time that grows with their product.
MAX_CELLS = 500
#: The most code (characters, all code cells together) a submission may hold: a lab holds under
#: 40,000, and the scan that reads it before grading takes about 30 s per million on 2 cores.
MAX_CODE = 256 * 1024
_CELL_TYPES = ("code", "markdown", "raw")
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # nbformat 4.5's cell ids
_SCALAR = (str, int, float, bool, type(None))


def read_notebook(path: str | os.PathLike) -> dict:
    """A notebook file as a dict (nbformat 4), or `SubmissionError` naming the file and what is
    wrong with it.

    The notebook is checked and copied by `checked_notebook` before anything reads it: files
    over `MAX_BYTES`, JSON nested deeper than Python can read, and cells of the wrong shape are
    refused with a message, never a traceback.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise SubmissionError(f"{path.name} is not a regular file: not graded.")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    if len(raw) > MAX_BYTES:
        raise SubmissionError(
            f"{path.name} is larger than {MAX_BYTES // 1024**2} MB: clear its outputs (Edit > "
            "Clear all outputs), save it and resubmit."
        )
    if not raw.strip():
        raise SubmissionError(f"{path.name} is empty: download the notebook again and resubmit.")
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(
            f"{path.name} is not a notebook (not valid JSON: {exc}). Download it from Jupyter or "
            "Colab as .ipynb (File > Download > Download .ipynb) and resubmit."
        ) from None
    except RecursionError:
        raise SubmissionError(
            f"{path.name} is not a notebook: its JSON is nested deeper than Python reads (no "
            "notebook is). Download it again from Jupyter or Colab and resubmit."
        ) from None
    return checked_notebook(notebook, path.name)


def checked_notebook(notebook: object, name: str = "the notebook") -> dict:
    """The parts of `notebook` (parsed JSON) that grading reads, checked and copied.

    Each cell keeps its type, source (as one string), id and nbgrader metadata; code cells lose
    their outputs (nbgrader clears them before it runs the notebook), the notebook keeps only
    its ``kernelspec`` of its metadata. So no later step meets a list where an object belongs,
    a number in a source, or metadata nested without end.

    Raises
    ------
    SubmissionError
        Not a notebook of format 4, more than `MAX_CELLS` cells or `MAX_CODE` characters of
        code, or a cell of the wrong shape;
        the message names `name`, the cell (counted from 1) and what is wrong.
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{name} is JSON but not a notebook: it has no list of cells.")
    if notebook.get("nbformat") != 4:
        raise SubmissionError(
            f"{name} is in notebook format {str(notebook.get('nbformat'))[:20]!r}; expected 4 "
            "(any current Jupyter or Colab saves it)."
        )
    cells = notebook["cells"]
    if len(cells) > MAX_CELLS:
        raise SubmissionError(
            f"{name} has {len(cells)} cells; a submission may have at most {MAX_CELLS}: delete "
            "the cells added to try things out and resubmit."
        )
    minor = notebook.get("nbformat_minor")
    minor = minor if type(minor) is int and 0 <= minor <= 5 else 4
    checked = [_checked_cell(cell, f"{name}, cell {n}") for n, cell in enumerate(cells, 1)]
    code = sum(len(cell["source"]) for cell in checked if cell["cell_type"] == "code")
    if code > MAX_CODE:
        raise SubmissionError(
            f"{name} holds {code:,} characters of code; a submission may hold at most "
            f"{MAX_CODE:,} (a lab has under 40,000): remove pasted data or generated code and "
            "resubmit."
        )
    if minor >= 5 and not all("id" in cell for cell in checked):
        minor = 4  # cell ids are optional before nbformat 4.5
    metadata = notebook.get("metadata")
    kernelspec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    kept = {}
    if isinstance(kernelspec, dict) and all(isinstance(v, str) for v in kernelspec.values()):
        kept["kernelspec"] = dict(kernelspec)
    return {"cells": checked, "metadata": kept, "nbformat": 4, "nbformat_minor": minor}


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}
    return names.get(type(value), "null" if value is None else "a number")


def _checked_cell(cell: object, where: str) -> dict:
    if not isinstance(cell, dict):
        raise SubmissionError(f"{where} is {_json_type(cell)}, not a cell (an object).")
    kind = cell.get("cell_type")
    if kind not in _CELL_TYPES:
        raise SubmissionError(
            f"{where} has the cell type {str(kind)[:40]!r}; expected code, markdown or raw."
        )
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise SubmissionError(f"{where}: its source is not text (a string or a list of strings).")
    metadata = cell.get("metadata", {})
    if not isinstance(metadata, dict):
        raise SubmissionError(f"{where}: its metadata is {_json_type(metadata)}, not an object.")
    checked: dict = {"cell_type": kind, "metadata": {}, "source": source}
    if isinstance(cell.get("id"), str) and _CELL_ID.match(cell["id"]):
        checked["id"] = cell["id"]
    if "nbgrader" in metadata:
        meta = metadata["nbgrader"]
        if not isinstance(meta, dict) or not all(isinstance(v, _SCALAR) for v in meta.values()):
            raise SubmissionError(
                f"{where}: its grading metadata (metadata.nbgrader) is not an object of plain "
                "values. Copy your answers into a fresh copy of the release notebook and resubmit."
            )
        if "grade_id" in meta and not isinstance(meta["grade_id"], str):
            raise SubmissionError(
                f"{where}: its grade id is {_json_type(meta['grade_id'])}, not a string. Copy "
                "your answers into a fresh copy of the release notebook and resubmit."
            )
        checked["metadata"]["nbgrader"] = dict(meta)
    if kind == "code":
        checked.update(outputs=[], execution_count=None)
    elif _is_attachments(cell.get("attachments")):
        checked["attachments"] = cell["attachments"]  # images pasted into Markdown
    return checked


def _is_attachments(value: object) -> bool:
    """``{file name: {mime type: base64 text or list of lines}}``, as nbformat stores them."""
    return isinstance(value, dict) and all(
        isinstance(bundle, dict)
        and all(isinstance(data, str) or (isinstance(data, list) and all(isinstance(line, str)
                for line in data)) for data in bundle.values())
        for bundle in value.values()
    )  # fmt: skip
