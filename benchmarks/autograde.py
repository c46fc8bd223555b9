"""Autograding speed: `mitdl autograde` with 1 and 2 Dask workers against plain sequential
`nbgrader autograde`, on the same submissions, in the same run.

Each lab gets `--students` copies of its solution notebooks (every cell runs under
MITDL_FAST=1, as in real grading), graded three ways: plain nbgrader (one `nbgrader autograde`
over all of them in one scratch course, the baseline), and
`mitdeeplearning.instructor.autograde.autograde` with one and with two local workers. Prints one
JSON line: seconds per submission per lab for each, the speed-up of two workers over one, and that
every submission scored full marks.

    python benchmarks/autograde.py [--students 4] [--labs lab1 lab2] [--adversarial]

With --adversarial, each lab is also graded (two workers) on the broken and hostile submissions
the tests use on a small course: the untouched release, a solution stripped of its grading
metadata, invalid JSON, another lab's notebook, an answer that loops forever, one that kills
its kernel and one that asks for 8 GB; every one must finish with a score.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from mitdeeplearning.instructor import course
from mitdeeplearning.instructor.autograde import Settings, autograde
from mitdeeplearning.report import FAST_VARIABLE


def plain_nbgrader(lab: str, folders: dict[str, Path], workdir: Path) -> dict[str, dict]:
    """The baseline: one `nbgrader autograde` over every student, in one scratch course."""
    scratch = course.scratch_course(course.DEFAULT_COURSE, workdir)
    course.run_nbgrader(["generate_assignment", lab, "--force", "--create"], scratch)
    for student, folder in folders.items():
        shutil.copytree(folder, scratch / "submitted" / student / lab)
    course.run_nbgrader(["autograde", lab, "--force", "--create"], scratch,
                        env={FAST_VARIABLE: "1"}, timeout=3600)  # fmt: skip
    return course.read_grades(scratch, lab, list(folders))


def make_submissions(lab: str, students: int, into: Path) -> dict[str, Path]:
    folders = {}
    for i in range(students):
        folder = into / f"student{i:02d}"
        folder.mkdir(parents=True)
        for notebook in sorted((course.DEFAULT_COURSE / "source" / lab).glob("*.ipynb")):
            shutil.copy(notebook, folder / notebook.name)
        folders[folder.name] = folder
    return folders


def _answer_first(notebook: dict, code: str) -> dict:
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = code
            break
    return notebook


def adversarial(lab: str, into: Path) -> dict:
    """Grade the hostile cases for `lab`; returns case → score / max and seconds."""
    source = sorted((course.DEFAULT_COURSE / "source" / lab).glob("*.ipynb"))
    release = sorted((course.DEFAULT_COURSE / "release" / lab).glob("*.ipynb"))
    other = next(lab_ for lab_ in course.labs() if lab_ != lab)
    subs = into / "subs"
    cases = {
        "untouched": (release, None),
        "stripped": (source, "strip"),
        "invalid_json": (release[:1], "json"),
        "other_lab": (sorted((course.DEFAULT_COURSE / "release" / other).glob("*.ipynb")), None),
        "infinite_loop": (release, "while True:\n    pass"),
        "kernel_exit": (release, "import os\nos._exit(1)"),
        "memory_hog": (release, "big = bytearray(8 * 1024**3)"),
    }
    for case, (paths, change) in cases.items():
        folder = subs / case
        folder.mkdir(parents=True)
        for path in paths:
            notebook = json.loads(path.read_text(encoding="utf-8"))
            if change == "strip":
                notebook["nbformat_minor"] = 4
                for cell in notebook["cells"]:
                    cell.get("metadata", {}).pop("nbgrader", None)
                    cell.pop("id", None)
            elif change == "json":
                (folder / path.name).write_text('{"cells": [', encoding="utf-8")
                continue
            elif change:
                notebook = _answer_first(notebook, change)
            (folder / path.name).write_text(json.dumps(notebook), encoding="utf-8")
    tic = time.perf_counter()
    summary = autograde(
        lab, subs, out=into / "out", workers=2, settings=Settings(cell_timeout=20, timeout=600)
    )
    results = summary["results"]
    return {
        "seconds": round(time.perf_counter() - tic, 1),
        "cases": {
            case: f"{results[case]['score']} / {results[case]['max_score']}" for case in cases
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--labs", nargs="+", default=course.labs())
    parser.add_argument("--adversarial", action="store_true", help="also the hostile cases")
    parser.add_argument("--skip-speed", action="store_true", help="only the hostile cases")
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    hostile: dict[str, dict] = {}
    for lab in args.labs if args.adversarial else []:
        with tempfile.TemporaryDirectory(prefix="bench-adversarial-") as tmp:
            hostile[lab] = adversarial(lab, Path(tmp))
    for lab in [] if args.skip_speed else args.labs:
        with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
            tmp = Path(tmp)
            folders = make_submissions(lab, args.students, tmp / "subs")
            tic = time.perf_counter()
            plain = plain_nbgrader(lab, folders, tmp / "plain")
            plain_s = time.perf_counter() - tic
            ours = {}
            full = all(r["score"] == r["max_score"] for r in plain.values())
            for workers in (1, 2):
                tic = time.perf_counter()
                summary = autograde(lab, tmp / "subs", out=tmp / f"ours{workers}", workers=workers)
                ours[workers] = time.perf_counter() - tic
                full = full and all(
                    r["score"] == r["max_score"] for r in summary["results"].values()
                )
        n = args.students
        figures[lab] = {
            "students": n,
            "plain_nbgrader_s_per_submission": round(plain_s / n, 1),
            "workers1_s_per_submission": round(ours[1] / n, 1),
            "workers2_s_per_submission": round(ours[2] / n, 1),
            "speedup_2_over_1": round(ours[1] / ours[2], 2),
            "speedup_2_over_plain": round(plain_s / ours[2], 2),
            "all_full_marks": full,
        }
    print(json.dumps({
        "benchmark": "autograde",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "labs": figures,
        **({"adversarial": hostile} if hostile else {}),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
