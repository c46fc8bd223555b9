"""A student's notebook before grading: which lab is it, is its grading metadata intact (and can
it be repaired), which answers are missing, and does an answer tamper with the kernel?

nbgrader finds graded cells by their metadata (``metadata.nbgrader``). Colab, VS Code and
copying cells into a fresh notebook can drop it; nbgrader then scores the notebook 0 and asks
for manual grading although the answers may be right. `repair_metadata` puts the metadata back
by matching each graded cell of the release to a cell of the submission: by cell id, then by
grade id, then (for locked cells) by identical source, then by position between cells already
matched.

Nothing here imports nbgrader or runs code; `validate` and `autograde` beside it do that.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from .names import Names, parse_cell
from .notebook_file import SubmissionError, read_notebook
from .rules import default_refusals, refused_names
from .scan import checks_called, scan_source

#: The stub nbgrader puts in each answer cell of a release.
STUB = "raise NotImplementedError()"
#: What nbgrader leaves in a written (Markdown) answer cell of a release.
WRITTEN_STUB = "YOUR ANSWER HERE"


@dataclasses.dataclass
class Match:
    """How each graded cell of the release was found in a submission."""

    grade_id: str
    how: str  # "intact", "cell id", "grade id", "source", "position" or "missing"
    index: int | None  # the cell's index in the submission
    changed: bool = False  # a locked cell whose source differs from the release
    kind: str = "answer"  # "answer", "test" or "text" (locked markdown)


@dataclasses.dataclass
class Check:
    """What `check_submission` found."""

    lab: str
    notebook: str
    matches: list[Match]
    unanswered: list[str]
    flags: list[str]
    repaired_notebook: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def missing(self) -> list[str]:
        return [m.grade_id for m in self.matches if m.how == "missing"]

    @property
    def missing_answers(self) -> list[str]:
        """Answer cells not found: their work cannot be graded."""
        return [m.grade_id for m in self.matches if m.how == "missing" and m.kind == "answer"]

    @property
    def repaired(self) -> list[str]:
        return [m.grade_id for m in self.matches if m.how not in ("intact", "missing")]

    @property
    def changed(self) -> list[str]:
        return [m.grade_id for m in self.matches if m.changed]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _meta(cell: dict) -> dict:
    value = cell.get("metadata", {}).get("nbgrader")
    return value if isinstance(value, dict) else {}


def graded_ids(notebook: dict) -> list[str]:
    """The grade ids of a notebook's nbgrader cells, in order."""
    return [_meta(c)["grade_id"] for c in notebook["cells"] if "grade_id" in _meta(c)]


def _answer_and_test_ids(notebook: dict) -> list[str]:
    """Grade ids of answer and test cells (not of text cells, whose ids like "md-1" recur
    from notebook to notebook)."""
    return [
        _meta(c)["grade_id"]
        for c in notebook["cells"]
        if "grade_id" in _meta(c) and (_meta(c).get("solution") or _meta(c).get("grade"))
    ]


def _heading(notebook: dict) -> str:
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line.strip()
    return ""


def identify(notebook: dict, releases: dict[tuple[str, str], dict]) -> tuple[str, str] | None:
    """Which release notebook `notebook` is a copy of: ``(lab, notebook file name)``, or None.

    Decided by the grade ids the two share (answers and tests), then by the title heading, so
    a renamed file ("Copy of ...", "... (1).ipynb") or one that lost its metadata is found.
    """
    ids = set(_answer_and_test_ids(notebook))
    best, best_score = None, 0.0
    for key, release in releases.items():
        theirs = set(_answer_and_test_ids(release))
        score = len(ids & theirs) / max(1, len(theirs))
        if score > best_score:
            best, best_score = key, score
    if best is not None and best_score >= 0.5:
        return best
    heading = _heading(notebook)
    matches = [key for key, release in releases.items() if heading and _heading(release) == heading]
    if len(matches) == 1:
        return matches[0]
    sources = {_source(c) for c in notebook["cells"]}
    best, best_score = None, 0.0
    for key, release in releases.items():
        locked = [_source(c) for c in release["cells"] if _meta(c).get("locked")]
        score = sum(s in sources for s in locked) / max(1, len(locked))
        if score > best_score:
            best, best_score = key, score
    return best if best_score >= 0.5 else None


def match_cells(notebook: dict, release: dict) -> list[Match]:
    """Find each graded cell of `release` in `notebook` (see the module's notes).

    Cells whose grade id or cell id survives are anchors; the rest are aligned by their
    sources (`difflib.SequenceMatcher` over the two lists of cells, anchors included), and a
    run of changed cells between two aligned ones is paired in order by cell type, so an
    answer cell is found between its instructions and its test even when both changed.
    """
    cells, wanted = notebook["cells"], release["cells"]
    by_grade, by_id = {}, {}
    for index, cell in enumerate(cells):
        grade_id = _meta(cell).get("grade_id")
        if grade_id is not None:
            by_grade.setdefault(grade_id, index)
        if cell.get("id"):
            by_id.setdefault(cell["id"], index)
    pairs: dict[int, tuple[int, str]] = {}  # release index → (submission index, how)
    taken: set[int] = set()
    for r, cell in enumerate(wanted):
        meta = _meta(cell)
        if "grade_id" not in meta:
            continue
        index = by_grade.get(meta["grade_id"])
        how = "intact" if index is not None and _meta(cells[index]) == meta else "grade id"
        if index is None and cell.get("id") in by_id:
            index, how = by_id[cell["id"]], "cell id"
        if index is not None and index not in taken and _same_type(cells[index], cell):
            pairs[r] = (index, how)
            taken.add(index)
    # Align the rest: anchors become equal tokens, other cells compare by source.
    release_keys = [f"\0anchor{r}" if r in pairs else _key(c) for r, c in enumerate(wanted)]
    by_sub = {index: r for r, (index, _) in pairs.items()}
    sub_keys = [f"\0anchor{by_sub[i]}" if i in by_sub else _key(c) for i, c in enumerate(cells)]
    matcher = difflib.SequenceMatcher(None, release_keys, sub_keys, autojunk=False)
    for tag, r1, r2, s1, s2 in matcher.get_opcodes():
        if tag == "equal":
            for r, i in zip(range(r1, r2), range(s1, s2), strict=True):
                if r not in pairs and "grade_id" in _meta(wanted[r]) and i not in taken:
                    pairs[r] = (i, "source")
                    taken.add(i)
        elif tag == "replace":
            free = [i for i in range(s1, s2) if i not in taken]
            for r in range(r1, r2):
                if r in pairs or "grade_id" not in _meta(wanted[r]):
                    continue
                # The most similar cell of the same type (an answer keeps its `def` line).
                candidates = [i for i in free if _same_type(cells[i], wanted[r])]
                found = _most_similar(candidates, cells, wanted[r])
                if found is not None:
                    pairs[r] = (found, "position")
                    taken.add(found)
                    free = [i for i in free if i > found]
    matches = []
    for r, cell in enumerate(wanted):
        meta = _meta(cell)
        if "grade_id" not in meta:
            continue
        index, how = pairs.get(r, (None, "missing"))
        changed = (
            index is not None
            and bool(meta.get("locked"))
            and not meta.get("solution")
            and _source(cells[index]).strip() != _source(cell).strip()
        )
        kind = "answer" if meta.get("solution") else "test" if meta.get("grade") else "text"
        matches.append(Match(meta["grade_id"], how, index, changed, kind))
    return matches


#: How much of two cells' sources `match_cells` compares to pair changed cells: the start of an
#: answer (its ``def`` line and first lines) says which it is, and the time stays bounded.
_COMPARED = 300


def _most_similar(candidates: list[int], cells: list[dict], wanted: dict) -> int | None:
    """The first of `candidates` (indices into `cells`) whose source is most like `wanted`'s;
    `difflib`'s cheap upper bound skips the full comparison of those that cannot win."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(_source(wanted)[:_COMPARED])
    found, best = None, -1.0
    for i in candidates:
        matcher.set_seq1(_source(cells[i])[:_COMPARED])
        if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
            ratio = matcher.ratio()
            if ratio > best:
                found, best = i, ratio
    return found


def _key(cell: dict) -> str:
    return cell.get("cell_type", "") + "\0" + _source(cell).strip()


def _same_type(a: dict, b: dict) -> bool:
    return a.get("cell_type") == b.get("cell_type")


def repair_metadata(notebook: dict, release: dict) -> tuple[dict, list[Match]]:
    """A copy of `notebook` with the release's nbgrader metadata on every graded cell found.

    Returns the repaired copy and how each graded cell was matched (``how == "missing"``: not
    found; nbgrader's ``add_missing_cells`` then puts the release's cell back, unanswered).
    Locked cells keep their (possibly edited) source here: nbgrader restores it from the
    source notebook when it grades.
    """
    repaired = copy.deepcopy(notebook)
    matches = match_cells(repaired, release)
    release_meta = {_meta(c)["grade_id"]: c for c in release["cells"] if "grade_id" in _meta(c)}
    claimed = {m.index for m in matches if m.index is not None}
    for index, cell in enumerate(repaired["cells"]):
        if index not in claimed and "nbgrader" in cell.get("metadata", {}):
            del cell["metadata"]["nbgrader"]  # stale or duplicated metadata confuses nbgrader
    has_ids = repaired.get("nbformat_minor", 0) >= 5  # cell ids exist from nbformat 4.5
    for match in matches:
        if match.index is None:
            continue
        cell = repaired["cells"][match.index]
        wanted = release_meta[match.grade_id]
        cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(_meta(wanted))
        used = {c.get("id") for c in repaired["cells"] if c is not cell}
        if has_ids and wanted.get("id") and wanted["id"] not in used:
            cell["id"] = wanted["id"]
    return repaired, matches


def unanswered(notebook: dict) -> list[str]:
    """Grade ids of answer cells that still hold the release's stub (code or written)."""
    return [
        _meta(c)["grade_id"]
        for c in notebook["cells"]
        if _meta(c).get("solution") and (STUB in _source(c) or _source(c).strip() == WRITTEN_STUB)
    ]


def exercise_checks(notebook: dict) -> dict[str, set[str]]:
    """Grade id of each answer cell → the checks its following test cells call (the test
    cells up to the next answer cell; answer cells in a row share them)."""
    checks: dict[str, set[str]] = {}
    answers: list[str] = []
    after_test = False
    for cell in notebook["cells"]:
        meta = _meta(cell)
        if meta.get("solution") and "grade_id" in meta:
            answers = [] if after_test else answers
            after_test = False
            answers.append(meta["grade_id"])
            checks.setdefault(meta["grade_id"], set())
        elif meta.get("grade") and cell.get("cell_type") == "code":
            after_test = True
            for grade_id in answers:
                checks[grade_id] |= checks_called(_source(cell))
    return checks


def scan_answers(
    notebook: dict, release: dict | None = None, *, refusals: Mapping | None = None
) -> list[str]:
    """Flags for the instructor, ``"<grade id> <reason>: <line>"``: what answer cells (and code
    cells the release does not have) reach for, and answers that call what their exercise's
    checks refuse (`refusals`, default `mitdeeplearning.grading.REFUSALS`). See
    `mitdeeplearning.instructor.scan` for the reasons.

    The exercises' checks are read from the release's test cells (a student's edits to a locked
    cell change nothing). In a code cell of the student's own, a line the release also has (a
    set-up cell run twice, a given cell edited) is not flagged.
    """
    refusals = default_refusals() if refusals is None else refusals
    release_cells = (release or {}).get("cells", [])
    given = {_source(c).strip() for c in release_cells}
    given_lines = {
        line.strip()
        for c in release_cells
        if c.get("cell_type") == "code" and not _meta(c).get("solution")
        for line in _source(c).splitlines()
    }
    code_cells = [c for c in notebook["cells"] if c.get("cell_type") == "code"]
    trees = []
    for cell in code_cells:
        with contextlib.suppress(SyntaxError):
            trees.append(parse_cell(_source(cell)))
    names = Names.of_cells(trees)
    checks = exercise_checks(release or notebook)
    flags = []
    for cell in code_cells:
        meta = _meta(cell)
        answer = bool(meta.get("solution"))
        if not answer and (meta.get("locked") or _source(cell).strip() in given):
            continue  # a test cell (nbgrader restores it) or the release's own code
        name = meta.get("grade_id", "an unlabelled cell")
        refused = refused_names(refusals, checks.get(name, ())) if answer else {}
        for _, reason, line in scan_source(_source(cell), names, refused):
            if answer or line.strip() not in given_lines:
                flags.append(f"{name} {reason}: {line.strip()[:120]}")
    return flags


def check_submission(notebook: dict, releases: dict[tuple[str, str], dict]) -> Check:
    """Identify `notebook` among `releases` (``(lab, name) → release notebook``) and check it.

    Raises `SubmissionError` if it is none of them.
    """
    key = identify(notebook, releases)
    if key is None:
        known = ", ".join(f"{lab}/{name}" for lab, name in sorted(releases))
        raise SubmissionError(f"This notebook is not one of the course's notebooks ({known}).")
    release = releases[key]
    repaired, matches = repair_metadata(notebook, release)
    flags = scan_answers(repaired, release)
    return Check(key[0], key[1], matches, unanswered(repaired), flags, repaired)


def read_releases(folder: str | os.PathLike, lab: str) -> dict[tuple[str, str], dict]:
    """``(lab, file name) → notebook`` for the release notebooks in ``<folder>/<lab>/``."""
    return {
        (lab, path.name): read_notebook(path) for path in sorted(Path(folder, lab).glob("*.ipynb"))
    }


def prepare_submission(files: list[Path], lab: str, releases: dict) -> tuple[dict, dict]:
    """Read, identify and repair one student's files for `lab`.

    Returns ``(release file name → repaired notebook as JSON text, notes)``; the notes list
    the answer and test cells repaired, tampering flags, and the files not graded and why (not
    a notebook, another lab's, a second copy), as one sentence each.
    """
    notebooks: dict[str, str] = {}
    notes = {"repaired": [], "flags": [], "problems": []}
    for path in files:
        try:
            notebook = read_notebook(path)
            key = identify(notebook, releases)
            if key is None:
                notes["problems"].append(f"{path.name} is not a notebook of {lab}: not graded.")
                continue
            if key[1] in notebooks:
                notes["problems"].append(f"{path.name} is a second copy of {key[1]}: not graded.")
                continue
            repaired, matches = repair_metadata(notebook, releases[key])
            text = json.dumps(repaired)
        except SubmissionError as exc:
            notes["problems"].append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one file that breaks a step grades nothing
            notes["problems"].append(
                f"{path.name} could not be read as a notebook of {lab} ({type(exc).__name__}: "
                f"{str(exc)[:200]}): not graded. Resubmit a copy saved by Jupyter or Colab."
            )
            continue
        notes["repaired"] += [
            m.grade_id for m in matches if m.how not in ("intact", "missing") and m.kind != "text"
        ]
        try:
            notes["flags"] += scan_answers(repaired, releases[key])
        except Exception as exc:  # noqa: BLE001 - graded all the same, its answers read by hand
            notes["flags"].append(
                f"{path.name} could not be scanned ({type(exc).__name__}): read its answers"
            )
        notebooks[key[1]] = text
    if not files:
        notes["problems"].append("no notebooks submitted.")
    return notebooks, notes
