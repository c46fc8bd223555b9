"""The `mitdl` command: datasets (list, fetch, convert), and the course: run the labs, release
them, validate a notebook before submitting it.

Stays fast: nothing heavy (TensorFlow, music21, nbgrader) is imported to parse arguments or
print help; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .report import FAST_VARIABLE


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _cmd_datasets(args: argparse.Namespace) -> int:
    from . import data

    if args.name:
        entry = data.get_dataset(args.name)
        status = data.dataset_status(entry.name, cache_dir=args.cache_dir)
        root = data.cache_root(args.cache_dir) / entry.name
        fields = [
            ("name", entry.name),
            ("title", entry.title),
            ("size", _human_size(entry.size)),
            ("status", status),
            ("license", entry.license),
            ("citation", entry.citation),
            ("homepage", entry.homepage),
            ("by hand", entry.manual),
            ("then", entry.builder),
            ("files", ", ".join(f.filename for f in entry.files)),
            ("cache", "" if entry.bundled or not entry.files else str(root)),
        ]
        for key, value in fields:
            if value:
                lines = textwrap.wrap(value, 88) or [""]
                print(f"{key + ':':<10} {lines[0]}")
                for line in lines[1:]:
                    print(f"{'':<10} {line}")
        return 0

    rows = [
        {
            "name": e.name,
            "size": e.size,
            "status": data.dataset_status(e.name, cache_dir=args.cache_dir),
            "license": e.license,
            "title": e.title,
        }
        for e in data.datasets()
    ]
    if args.json:
        print(json.dumps({"cache_dir": str(data.cache_root(args.cache_dir)), "datasets": rows}))
        return 0
    name_w = max(len(r["name"]) for r in rows)
    status_w = max(len(r["status"]) for r in rows)
    print(f"{'NAME':<{name_w}}  {'SIZE':>8}  {'STATUS':<{status_w}}  LICENSE")
    for r in rows:
        license_ = r["license"] if len(r["license"]) <= 60 else r["license"][:57] + "..."
        size = _human_size(r["size"])
        print(f"{r['name']:<{name_w}}  {size:>8}  {r['status']:<{status_w}}  {license_}")
    print(f"\nCache: {data.cache_root(args.cache_dir)} (set MITDL_DATA to move it)")
    print("Details, credits and how to get a dataset by hand: mitdl datasets NAME")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from . import data

    path = data.fetch(
        args.name,
        sha256=args.sha256,
        cache_dir=args.cache_dir,
        progress=False if args.quiet else None,
        retries=args.retries,
    )
    print(path)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .xray import convert_nih, convert_siim

    if args.command == "build":  # the command's name before `convert`
        from ._lazy import warn_renamed

        warn_renamed("mitdl build", "mitdl convert", stacklevel=2)

    options = {
        "size": args.size,
        "out": args.out,
        "seed": args.seed,
        "limit": args.limit,
        "progress": False if args.quiet else None,
    }
    try:
        if args.source == "nih":
            paths = convert_nih(args.images, args.csv, bbox_csv=args.bbox, **options)
        else:
            paths = convert_siim(args.images, args.rle, **options)
    except (OSError, ImportError) as exc:  # a missing input, or pydicom for DICOM files
        print(f"mitdl: error: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(path)
    return 0


def _add_convert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=256, help="side of the square images (256)")
    p.add_argument("--out", metavar="DIR", help="folder to write to (default: the data cache)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split (0)")
    p.add_argument("--limit", type=int, help="use at most this many images (a random subset)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_convert)


def _cmd_run(args: argparse.Namespace) -> int:
    from .instructor.course import CourseError
    from .instructor.notebooks import run_lab

    bars: dict[str, object] = {}

    def on_cell(label: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        if args.quiet:
            return
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total, desc=label, unit="cell", file=sys.stderr)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    mode = f"fast mode ({FAST_VARIABLE}=1)" if args.fast else "full mode"
    print(f"Running {args.lab} in {mode}; results in {Path(args.out).resolve()}", file=sys.stderr)
    try:
        results = run_lab(
            args.lab, args.course, out=args.out, fast=args.fast, timeout=args.timeout,
            on_cell=on_cell,
        )  # fmt: skip
    except CourseError as exc:
        for bar in bars.values():
            bar.close()
        print(f"mitdl run: {exc}", file=sys.stderr)
        return 1
    for lab, summary in results.items():
        print(f"{lab}: {summary['seconds']:.0f} s")
        for name, entry in summary["notebooks"].items():
            figures = ", ".join(f"{k} {v}" for k, v in entry["metrics"].items())
            print(f"  {name}: {entry['seconds']:.0f} s" + (f"; {figures}" if figures else ""))
        print(f"  → {Path(args.out).resolve() / lab / 'metrics.json'}")
        logs = ", ".join(entry["log"] for entry in summary["notebooks"].values() if "log" in entry)
        if logs:
            print(f"  kernel output (TensorFlow's start-up lines, warnings): {logs}")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from .instructor import course

    try:
        if args.check:
            problems = course.check_release(args.lab, args.course)
            for line in problems:
                print(line)
            if problems:
                print("The release is out of date: run `mitdl release` and commit it.",
                      file=sys.stderr)  # fmt: skip
                return 1
            print("The release matches the sources.")
            return 0
        for path in course.generate_release(args.lab, args.course):
            print(path)
    except course.CourseError as exc:
        print(f"mitdl release: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .instructor.course import CourseError
    from .instructor.submission import SubmissionError
    from .instructor.validate import describe, validate

    try:
        report = validate(args.notebook, args.course, run=not args.no_run)
    except (SubmissionError, CourseError) as exc:
        print(f"mitdl validate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print("\n".join(describe(report, args.notebook)))
    return 0 if report["ready"] else 1


def _cmd_autograde(args: argparse.Namespace) -> int:
    from .instructor.autograde import Settings, autograde
    from .instructor.course import CourseError

    bar = None

    def on_result(result: dict, done: int, total: int) -> None:
        nonlocal bar
        if args.quiet:
            return
        from tqdm.auto import tqdm

        if bar is None:
            bar = tqdm(total=total, desc=f"grading {args.lab}", unit="student", file=sys.stderr)
        bar.update(1)
        bar.set_postfix_str(f"{result['student']}: {result['score']}/{result['max_score']}")
        if done == total:
            bar.close()

    settings = Settings(
        cell_timeout=args.cell_timeout,
        timeout=args.timeout,
        memory_limit=int(args.memory_limit * 1024**3) if args.memory_limit else None,
    )
    try:
        summary = autograde(
            args.lab, args.submissions, args.course, out=args.out, workers=args.workers,
            scheduler=args.scheduler, settings=settings, student=args.student, force=args.force,
            on_result=on_result,
        )  # fmt: skip
    except CourseError as exc:
        print(f"mitdl autograde: {exc}", file=sys.stderr)
        return 1
    for line in summary["problems"]:
        print(f"skipped: {line}", file=sys.stderr)
    for line in summary.get("notes", []):
        print(f"note: {line}", file=sys.stderr)
    results = summary["results"]
    for sid in summary["graded"]:
        result = results[sid]
        notes = [f"{len(result['repaired'])} cells repaired"] if result["repaired"] else []
        notes += [f"flagged: {flag}" for flag in result["flags"]]
        notes += result["problems"]
        manual = ""
        if result.get("manual_max"):
            hand = result.get("manual_score")
            manual = (f" automatic, {'pending' if hand is None else hand} / "
                      f"{result['manual_max']} by hand")  # fmt: skip
        print(f"{sid}: {result['score']} / {result['max_score']}{manual}"
              + (f" ({'; '.join(notes)})" if notes else ""))  # fmt: skip
    if summary["skipped"]:
        print(f"{len(summary['skipped'])} unchanged submissions already graded (--force regrades)")
    out = Path(args.out).resolve()
    print(f"grades: {out / 'grades.csv'}  summary: {out / 'summary.md'}  "
          f"feedback: {out / 'feedback'}")  # fmt: skip
    if (out / "logs").is_dir():
        print(f"what nbgrader and each student's kernel printed: {out / 'logs'}")
    return 0


def _cmd_written(args: argparse.Namespace) -> int:
    from .instructor.course import CourseError
    from .instructor.written import apply_marks, export_pages

    out = Path(args.out).resolve()
    try:
        if args.marks or args.apply:
            results = apply_marks(args.lab, out, args.marks or (), args.course)
            done = sum(1 for r in results.values() if r.get("total") is not None)
            print(f"{done} of {len(results)} students have every answer graded by hand; "
                  f"grades: {out / 'grades.csv'}  lms: {out / 'lms.csv'}  "
                  f"summary: {out / 'summary.md'}")  # fmt: skip
            return 0
        pages = export_pages(args.lab, out, args.submissions, args.course)
    except CourseError as exc:
        print(f"mitdl written: {exc}", file=sys.stderr)
        return 1
    print(f"{len(pages) - 1} questions: open {pages[-1]}; then "
          f"`mitdl written {args.lab} {args.out} --marks MARKS.csv`")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mitdl",
        description="Hands-on deep learning labs: datasets, notebooks and grading.",
    )
    parser.add_argument("--version", action="version", version=f"mitdl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_data_commands(sub)
    _add_course_commands(sub)
    return parser


def _add_data_commands(sub) -> None:
    """`mitdl datasets`, `fetch` and `convert`: the data cache."""
    p = sub.add_parser("datasets", help="list the datasets, their sizes, licences and status")
    p.add_argument("name", nargs="?", help="show one dataset in full (credits, how to get it)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--cache-dir", help="data cache folder (default: $MITDL_DATA or user cache)")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("fetch", help="download a dataset (or URL) into the cache, print its path")
    p.add_argument("name", help="dataset name (see `mitdl datasets`) or URL")
    p.add_argument("--sha256", help="expected sha256 (hex) of the file")
    p.add_argument("--cache-dir", help="data cache folder (default: $MITDL_DATA or user cache)")
    p.add_argument("--retries", type=int, default=3, help="retries on transient errors (3)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser(
        "convert",
        aliases=["build"],
        help="turn downloaded NIH or SIIM-ACR images into train/val/test HDF5 files",
        description="Convert images downloaded by hand (see `mitdl datasets nih-chestxray14`) "
        "into the pneumothorax HDF5 files that load_pneumothorax('nih' or 'siim') reads.",
    )
    targets = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    q = targets.add_parser("nih", help="NIH ChestX-ray14: pneumothorax vs no finding")
    q.add_argument("--images", required=True, metavar="DIR", help="folder of the PNG images")
    q.add_argument("--csv", required=True, metavar="FILE", help="Data_Entry_2017.csv")
    q.add_argument("--bbox", metavar="FILE", help="BBox_List_2017.csv (pneumothorax boxes)")
    _add_convert_options(q)
    q = targets.add_parser("siim", help="SIIM-ACR Pneumothorax: images with masks")
    q.add_argument("--images", required=True, metavar="DIR", help="folder of .png or .dcm images")
    q.add_argument("--rle", required=True, metavar="FILE", help="train-rle.csv (the masks)")
    _add_convert_options(q)


def _add_course_commands(sub) -> None:
    """`mitdl run`, `release`, `validate`, `autograde` and `written`: the course."""
    course_help = "course folder (default: this repository's labs/)"
    p = sub.add_parser(
        "run",
        help="run the labs' solution notebooks headless and keep what they make",
        description="Execute each solution notebook top to bottom on the embedded data and "
        "write, per lab, the executed notebook, an HTML copy, its figures as PNG, the files it "
        "saved (tunes, audio) and metrics.json.",
    )
    p.add_argument("lab", nargs="?", default="all", help="lab1, lab2 ... or all (default)")
    p.add_argument("--fast", action="store_true", help=f"{FAST_VARIABLE}=1: every cell, briefly")
    p.add_argument("--out", default="mitdl-run", metavar="DIR", help="results (./mitdl-run)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per cell (1800)")
    p.add_argument("--course", metavar="DIR", help=course_help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("release", help="generate the student notebooks with nbgrader")
    p.add_argument("lab", nargs="?", default=None, help="one lab (default: all)")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when the committed release is out of date"
    )
    p.add_argument("--course", metavar="DIR", help=course_help)
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser(
        "validate",
        help="check a notebook before you submit it",
        description="Which lab is it, is its grading metadata intact (or repairable), which "
        "answers are missing, and which visible checks fail when it runs top to bottom.",
    )
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--no-run", action="store_true", help="only check the file; do not run it")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--course", metavar="DIR", help="course folder (default: this repository's "
                   "labs/, else the release notebooks installed with the package)")  # fmt: skip
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "autograde",
        help="grade a folder of submissions in parallel; write grades, feedback and a summary",
        description="Grade every student's notebooks for LAB from SUBMISSIONS (a folder per "
        "student, Canvas or Moodle downloads), in parallel on Dask, repairing lost grading "
        "metadata; write grades.csv, lms.csv, summary.md and feedback without hidden tests.",
    )
    p.add_argument("lab", help="the lab to grade (lab1, lab2 ...)")
    p.add_argument("submissions", help="the folder of submissions")
    p.add_argument("--out", default="grading", metavar="DIR", help="results (./grading)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (2)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler instead")
    p.add_argument("--timeout", type=float, default=900, help="seconds per student (900)")
    p.add_argument("--cell-timeout", type=float, default=120, help="seconds per cell (120)")
    p.add_argument("--memory-limit", type=float, default=4.0, metavar="GB",
                   help="memory of each grading process, GB (4; 0: none)")  # fmt: skip
    p.add_argument("--student", help="grade only this student (again)")
    p.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    p.add_argument("--course", metavar="DIR", help=course_help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_autograde)

    p = sub.add_parser(
        "written",
        help="read the answers graded by hand question by question; apply the marks",
        description="Write OUT/written/<question>.html: every student's answer to one question "
        "beside its rubric, with points boxes that download a CSV of marks. With --marks, "
        "apply such CSVs (student,question,points, or manual_grades.csv's columns) without "
        "grading again: manual_grades.csv, results.json, grades.csv, lms.csv, summary.md and "
        "the feedback pages get the points and totals.",
    )
    p.add_argument("lab", help="the lab graded (lab2 ...)")
    p.add_argument("out", help="the folder autograde wrote (its --out)")
    p.add_argument("--submissions", metavar="DIR",
                   help="the folder graded (needed once: its answers are kept in OUT)")  # fmt: skip
    p.add_argument("--marks", metavar="FILE", action="append",
                   help="a CSV of marks to apply (repeatable)")  # fmt: skip
    p.add_argument("--apply", action="store_true", help="apply OUT/manual_grades.csv as edited")
    p.add_argument("--course", metavar="DIR", help=course_help)
    p.set_defaults(func=_cmd_written)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .data import DataError

    try:
        return args.func(args)
    except (DataError, ValueError) as exc:
        print(f"mitdl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mitdl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
