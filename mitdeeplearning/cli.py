"""The `mitdl` command: list, fetch and build datasets (more commands arrive with the labs).

Stays fast: nothing heavy (TensorFlow, music21, nbgrader) is imported to parse arguments or
print help; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence

from ._version import __version__


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
        root = data._cache_root(args.cache_dir) / entry.name
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
        print(json.dumps({"cache_dir": str(data._cache_root(args.cache_dir)), "datasets": rows}))
        return 0
    name_w = max(len(r["name"]) for r in rows)
    status_w = max(len(r["status"]) for r in rows)
    print(f"{'NAME':<{name_w}}  {'SIZE':>8}  {'STATUS':<{status_w}}  LICENSE")
    for r in rows:
        license_ = r["license"] if len(r["license"]) <= 60 else r["license"][:57] + "..."
        size = _human_size(r["size"])
        print(f"{r['name']:<{name_w}}  {size:>8}  {r['status']:<{status_w}}  {license_}")
    print(f"\nCache: {data._cache_root(args.cache_dir)} (set MITDL_DATA to move it)")
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


def _cmd_build(args: argparse.Namespace) -> int:
    from .xray import datasets

    options = {
        "size": args.size,
        "out": args.out,
        "seed": args.seed,
        "limit": args.limit,
        "progress": False if args.quiet else None,
    }
    try:
        if args.source == "nih":
            paths = datasets.build_nih(args.images, args.csv, bbox_csv=args.bbox, **options)
        else:
            paths = datasets.build_siim(args.images, args.rle, **options)
    except (OSError, ImportError) as exc:  # a missing input, or pydicom for DICOM files
        print(f"mitdl: error: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(path)
    return 0


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=256, help="side of the square images (256)")
    p.add_argument("--out", metavar="DIR", help="folder to write to (default: the data cache)")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split (0)")
    p.add_argument("--limit", type=int, help="use at most this many images (a random subset)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_build)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mitdl",
        description="Hands-on deep learning labs: datasets, notebooks and grading.",
    )
    parser.add_argument("--version", action="version", version=f"mitdl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
        "build",
        help="turn downloaded NIH or SIIM-ACR images into train/val/test HDF5 files",
        description="Build the pneumothorax HDF5 files that load_pneumothorax('nih' or 'siim') "
        "reads, from images downloaded by hand (see `mitdl datasets nih-chestxray14`).",
    )
    targets = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    q = targets.add_parser("nih", help="NIH ChestX-ray14: pneumothorax vs no finding")
    q.add_argument("--images", required=True, metavar="DIR", help="folder of the PNG images")
    q.add_argument("--csv", required=True, metavar="FILE", help="Data_Entry_2017.csv")
    q.add_argument("--bbox", metavar="FILE", help="BBox_List_2017.csv (pneumothorax boxes)")
    _add_build_options(q)
    q = targets.add_parser("siim", help="SIIM-ACR Pneumothorax: images with masks")
    q.add_argument("--images", required=True, metavar="DIR", help="folder of .png or .dcm images")
    q.add_argument("--rle", required=True, metavar="FILE", help="train-rle.csv (the masks)")
    _add_build_options(q)
    return parser


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
