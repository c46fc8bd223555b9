"""Autograding speed: `mitdl autograde` with 1 and 2 Dask workers against plain sequential
`nbgrader autograde`, on the same submissions, in the same run.

Each lab gets `--students` copies of its solution notebooks (every cell runs under
MITDL_FAST=1, as in real grading), graded three ways: plain nbgrader (one `nbgrader autograde`
over all of them, through `mitdeeplearning.course.autograde`), and `autograde_course` with one
and with two local workers. Prints one JSON line: seconds per submission per lab for each, the
speed-up of two workers over one, and that every submission scored full marks.

    python benchmarks/autograde.py [--students 4] [--labs lab1 lab2]
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

from mitdeeplearning import course
from mitdeeplearning.autograde import autograde_course


def make_submissions(lab: str, students: int, into: Path) -> dict[str, Path]:
    folders = {}
    for i in range(students):
        folder = into / f"student{i:02d}"
        folder.mkdir(parents=True)
        for notebook in sorted((course.DEFAULT_COURSE / "source" / lab).glob("*.ipynb")):
            shutil.copy(notebook, folder / notebook.name)
        folders[folder.name] = folder
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--labs", nargs="+", default=course.labs())
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    for lab in args.labs:
        with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
            tmp = Path(tmp)
            folders = make_submissions(lab, args.students, tmp / "subs")
            tic = time.perf_counter()
            plain = course.autograde(lab, folders, workdir=tmp / "plain", timeout=3600)
            plain_s = time.perf_counter() - tic
            ours = {}
            full = all(r["score"] == r["max_score"] for r in plain.values())
            for workers in (1, 2):
                tic = time.perf_counter()
                summary = autograde_course(
                    lab, tmp / "subs", out=tmp / f"ours{workers}", workers=workers
                )
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
    }))  # fmt: skip


if __name__ == "__main__":
    main()
