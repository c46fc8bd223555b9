"""What the converters of NIH ChestX-ray14 (`~mitdeeplearning.xray.nih`) and SIIM-ACR
(`~mitdeeplearning.xray.siim`) share: reading their CSV files, finding and reading their image
files, splitting by patient, and writing one HDF5 file per split.

The real datasets cannot be downloaded blindly (45 GB, or a Kaggle login). Once downloaded by
hand, ``convert_nih`` and ``convert_siim`` (also ``mitdl convert nih|siim``) turn them into the
lab's files, ``<prefix>_train.h5``, ``_val.h5`` and ``_test.h5`` in the format of
`~mitdeeplearning.xray.h5`, which `~mitdeeplearning.xray.load_pneumothorax` then reads by name.

## The algorithm

1. Read the CSV into one `Item` per image: its id, its group (the patient; images of one group
   never go to two splits) and, where the CSV says it, its label.
2. Find each item's image file under the download folder
   (`~mitdeeplearning.xray.image_files.find_image_files`), searched recursively; missing files
   are skipped with a warning.
3. `write_splits`: assign whole groups to train, val and test at random (`split_groups`),
   shuffle each split, then read, resize and write the images a few at a time on a pool of
   threads. Files are written to temporary files first and renamed into place only once every
   split succeeded, so a failure leaves the previous files untouched.

## Let's test-drive it

>>> assignment = split_groups(["p1", "p2", "p3", "p4", "p5"], val_fraction=0.2,
...                           test_fraction=0.2, seed=0, what="patient")
>>> sorted(assignment.values())
['test', 'train', 'train', 'train', 'val']
>>> converted_path("nih", "val").name
'nih_pneumothorax_val.h5'
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..files import atomic_path
from .h5 import create_datasets, one_hot
from .image_files import Unreadable

log = logging.getLogger(__name__)

__all__ = [
    "CONVERTED_FILES",
    "SPLITS",
    "Item",
    "Prepared",
    "check_arguments",
    "converted_path",
    "read_csv",
    "split_groups",
    "subsample",
    "write_splits",
]

#: The splits every converted dataset has, and that `load_pneumothorax` accepts.
SPLITS = ("train", "val", "test")

#: Where the converters put their files: {source: (data-cache folder, which is also the name of
#: the dataset in `mitdeeplearning.data`, file prefix)}.
CONVERTED_FILES = {
    "nih": ("nih-chestxray14", "nih_pneumothorax"),
    "siim": ("siim-acr-pneumothorax", "siim_pneumothorax"),
}


def converted_path(source: str, split: str, folder: str | os.PathLike | None = None) -> Path:
    """The file that holds `split` of a converted `source`.

    Parameters
    ----------
    source : {"nih", "siim"}
    split : {"train", "val", "test"}
    folder : path, optional
        The folder the converter wrote to (its ``out=``); default the dataset's folder in the
        data cache (`mitdeeplearning.data.default_cache_dir`).

    Returns
    -------
    pathlib.Path
        ``<folder>/<prefix>_<split>.h5``.

    Examples
    --------
    >>> converted_path("siim", "test", "/tmp/out").as_posix()
    '/tmp/out/siim_pneumothorax_test.h5'
    """
    cache_folder, prefix = CONVERTED_FILES[source]
    folder = Path(folder).expanduser() if folder is not None else None
    return (folder or data.default_cache_dir() / cache_folder) / f"{prefix}_{split}.h5"


# ## Listing the images ------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    """One image listed in a dataset's CSV file.

    Attributes
    ----------
    image_id : str
        The CSV's name for it (NIH: the PNG's file name; SIIM: the ImageId).
    path : pathlib.Path
        Its file, once found (`~mitdeeplearning.xray.image_files.find_image_files`).
    group : str
        Images of one group (patient) never go to two splits.
    label : int or None
        1 for pneumothorax, 0 for no finding; None when the mask decides it (SIIM).
    rles : list of str
        SIIM's run-length encoded masks of the image, one per CSV row.
    box : (x, y, width, height) or None
        NIH's pneumothorax box, in pixels of the converted image.
    """

    image_id: str
    path: Path
    group: str
    label: int | None = None
    rles: list[str] = dataclasses.field(default_factory=list)
    box: tuple[float, float, float, float] | None = None


@dataclasses.dataclass
class Prepared:
    """One image as `write_splits` stores it: image (size, size) uint8, label 0/1, mask
    (size, size) bool or None, box (x, y, width, height) floats or None."""

    image: np.ndarray
    label: int
    mask: np.ndarray | None
    box: tuple[float, float, float, float] | None


def read_csv(path: Path, required: Sequence[str], what: str) -> Iterable[tuple[int, list[str]]]:
    """Rows of a CSV file as (line number, values of the `required` columns, stripped).

    Header names are compared stripped (SIIM's header has ``" EncodedPixels"``); blank rows are
    skipped.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file, UTF-8 with or without a byte-order mark.
    required : sequence of str
        The columns to return, in this order.
    what : str
        What the file should be, for the error message (``"SIIM-ACR's train-rle.csv"``).

    Raises
    ------
    ValueError
        A required column is missing (the message lists the expected and the found ones), or
        a row is too short.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rle.csv"
    >>> _ = path.write_text("ImageId, EncodedPixels\\n1.2.3, -1\\n\\n1.2.4, 5 3\\n")
    >>> list(read_csv(path, ("ImageId", "EncodedPixels"), "a test file"))
    [(2, ['1.2.3', '-1']), (4, ['1.2.4', '5 3'])]
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(
                f"{path} does not look like {what}: expected the columns "
                f"{', '.join(map(repr, required))}, found {', '.join(map(repr, header)) or 'none'}."
            )
        index = [header.index(c) for c in required]
        for row in reader:
            if not any(v.strip() for v in row):
                continue
            if len(row) <= max(index):
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(row)} values, expected at least "
                    f"{max(index) + 1} (the header has {len(header)})."
                )
            yield reader.line_num, [row[i].strip() for i in index]


def check_arguments(
    images_dir: Path,
    files: Mapping[str, Path | None],
    *,
    size: int,
    val_fraction: float,
    test_fraction: float,
) -> None:
    """Check a converter's arguments before it reads anything.

    Parameters
    ----------
    images_dir : pathlib.Path
        Must be a folder.
    files : mapping
        Argument name → path that must be a file (None: not given).
    size : int
        Must be an integer of at least 8.
    val_fraction, test_fraction : float
        Each in [0, 1), together below 1.

    Raises
    ------
    FileNotFoundError, ValueError
        The message names the argument and its value.

    Examples
    --------
    >>> check_arguments(Path("."), {}, size=4, val_fraction=0.1, test_fraction=0.2)
    Traceback (most recent call last):
    ...
    ValueError: size=4 must be an integer of at least 8 (pixels).
    """
    if not images_dir.is_dir():
        raise FileNotFoundError(f"images_dir={str(images_dir)!r} is not a folder.")
    for argument, path in files.items():
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{argument}={str(path)!r} is not a file.")
    if not isinstance(size, int | np.integer) or size < 8:
        raise ValueError(f"size={size!r} must be an integer of at least 8 (pixels).")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name}={value!r} must be in [0, 1).")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves nothing to "
            "train on; it must be below 1."
        )


def subsample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """At most `limit` of `items`, a random subset (seeded) in their original order.

    Examples
    --------
    >>> items = [Item(str(i), Path(str(i)), group=str(i)) for i in range(10)]
    >>> [item.image_id for item in subsample(items, 3, seed=0)]
    ['4', '8', '9']
    """
    if limit is not None and (not isinstance(limit, int | np.integer) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None.")
    if limit is None or limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng([seed, 1]).choice(len(items), int(limit), replace=False))
    return [items[i] for i in keep]


# ## Writing the splits ------------------------------------------------------------------------


def split_groups(
    groups: Iterable[str], *, val_fraction: float, test_fraction: float, seed: int, what: str
) -> dict[str, str]:
    """Assign each group to a split at random (seeded): {group: "train" | "val" | "test"}.

    Each split with a non-zero fraction gets at least one group; the fractions are of groups.
    `what` names a group in the error raised when there are too few (``"patient"``).

    Examples
    --------
    >>> split = split_groups(["a", "b", "c"], val_fraction=0, test_fraction=0.3, seed=0,
    ...                      what="patient")
    >>> dict(sorted(split.items()))
    {'a': 'train', 'b': 'train', 'c': 'test'}
    """
    keys = sorted(set(groups))
    count = {
        "test": max(1, round(test_fraction * len(keys))) if test_fraction else 0,
        "val": max(1, round(val_fraction * len(keys))) if val_fraction else 0,
    }
    if len(keys) - count["test"] - count["val"] < 1:
        raise ValueError(
            f"Only {len(keys)} {what}(s) with usable images, too few to split into train, val "
            f"and test with val_fraction={val_fraction}, test_fraction={test_fraction}."
        )
    order = np.random.default_rng(seed).permutation(len(keys))
    assignment = {}
    for rank, i in enumerate(order):
        if rank < count["test"]:
            assignment[keys[i]] = "test"
        elif rank < count["test"] + count["val"]:
            assignment[keys[i]] = "val"
        else:
            assignment[keys[i]] = "train"
    return assignment


@dataclasses.dataclass
class _Writer:
    """What writing one split's file needs besides its items."""

    prepare: Callable[[Item], Prepared]
    pool: concurrent.futures.Executor
    bar: Any  # a tqdm progress bar
    block: int  # images prepared at a time
    unreadable: list[str]


def _write_split(f, members: list[Item], writer: _Writer, *, masks: bool, boxes: bool) -> int:
    """Prepare `members` on the pool and write them to the open file `f`; trim the unused rows
    (unreadable images) and return the number of rows written."""
    row = 0
    for start in range(0, len(members), writer.block):
        chunk = members[start : start + writer.block]
        for item, result in zip(chunk, writer.pool.map(_try(writer.prepare), chunk), strict=True):
            writer.bar.update(1)
            if result is None:
                writer.unreadable.append(str(item.path))
                continue
            f["image"][row, ..., 0] = result.image
            f["label"][row] = one_hot(np.array(result.label))
            if masks:
                f["mask"][row] = result.mask
            if boxes and result.box is not None:
                f["box"][row] = result.box
            f["image_id"][row] = item.image_id
            f["group"][row] = item.group
            row += 1
    for name in f:
        f[name].resize(row, axis=0)
    f.attrs["positives"] = int(f["label"][:, 1].sum())
    return row


def _try(prepare: Callable[[Item], Prepared]) -> Callable[[Item], Prepared | None]:
    def attempt(item: Item) -> Prepared | None:
        try:
            return prepare(item)
        except Unreadable as exc:
            log.debug("Cannot read %s: %s", item.path, exc)
            return None

    return attempt


def write_splits(
    items: list[Item],
    prepare: Callable[[Item], Prepared],
    *,
    source: str,
    out: str | os.PathLike | None,
    size: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_name: str,
    with_masks: bool,
    with_boxes: bool,
    attrs: Mapping[str, Any],
    progress: bool | None,
    workers: int | None,
) -> dict[str, Path]:
    """Split `items` by group, prepare each image, and write one HDF5 file per split.

    All files are written to temporary files first and renamed into place only once every
    split succeeded, so a failure leaves the previous conversion (if any) untouched. A split
    file of an earlier conversion that this one does not make (``val_fraction=0``) is removed:
    its images may now be in another split.

    Parameters
    ----------
    items : list of Item
        The images, with their files found.
    prepare : callable
        ``prepare(item)`` reads and converts one image to a `Prepared`, raising `Unreadable`
        for a file it cannot decode (skipped and counted). It runs on `workers` threads.
    source : {"nih", "siim"}
        Names the files (`converted_path`) and the log messages.
    out : path, optional
        Folder to write to instead of the data cache.
    size : int
        Side of the prepared images, recorded as the ``size`` attribute.
    val_fraction, test_fraction, seed, group_name
        Passed to `split_groups` (`group_name` as its `what`); `seed` also shuffles each split.
    with_masks, with_boxes : bool
        Whether the files get ``mask`` and ``box`` datasets.
    attrs : mapping
        Attributes of every file, besides ``split``, ``size``, ``seed``, ``citation`` (the
        dataset's, from `mitdeeplearning.data`) and ``positives``.
    progress : bool, optional
        Progress bar (`mitdeeplearning.data.progress_enabled` decides by default).
    workers : int, optional
        Threads preparing images (default: the number of CPUs, at most 8).

    Returns
    -------
    dict
        {split: path of the file written}, for each split with a non-zero fraction.

    Raises
    ------
    mitdeeplearning.data.DataError
        Every image was unreadable; nothing is written.

    Examples
    --------
    >>> import tempfile
    >>> items = [Item(f"{i}", Path(f"{i}.png"), group=f"patient{i}", label=i % 2) for i in range(6)]
    >>> def prepare(item):
    ...     return Prepared(np.zeros((8, 8), np.uint8), item.label, None, None)
    >>> paths = write_splits(
    ...     items, prepare, source="nih", out=tempfile.mkdtemp(), size=8, val_fraction=0.2,
    ...     test_fraction=0.2, seed=0, group_name="patient", with_masks=False,
    ...     with_boxes=False, attrs={"source": "a test"}, progress=False, workers=1)
    >>> {split: path.name for split, path in paths.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'train': 'nih_pneumothorax_train.h5', 'val': 'nih_pneumothorax_val.h5',
     'test': 'nih_pneumothorax_test.h5'}
    """
    import h5py
    from tqdm.auto import tqdm

    assignment = split_groups(
        (item.group for item in items),
        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, what=group_name,
    )  # fmt: skip
    rng = np.random.default_rng([seed, 2])
    by_split = {}
    for split in SPLITS:
        members = [item for item in items if assignment[item.group] == split]
        by_split[split] = [members[i] for i in rng.permutation(len(members))]  # shuffled
    workers = workers or min(8, os.cpu_count() or 1)
    citation = data.get_dataset(CONVERTED_FILES[source][0]).citation
    attrs = {**attrs, "citation": citation, "size": size, "seed": seed}

    written: dict[str, int] = {}
    with contextlib.ExitStack() as files:  # renames every split's file into place, or none
        with (
            tqdm(total=len(items), desc=f"build {source}", unit="image",
                 disable=not data.progress_enabled(progress)) as bar,
            concurrent.futures.ThreadPoolExecutor(workers) as pool,
        ):  # fmt: skip
            writer = _Writer(prepare, pool, bar, block=4 * workers, unreadable=[])
            for split, members in by_split.items():
                if not members:
                    continue
                path = converted_path(source, split, out)
                path.parent.mkdir(parents=True, exist_ok=True)
                with h5py.File(files.enter_context(atomic_path(path)), "w") as f:
                    create_datasets(
                        f, len(members), size, size, image_dtype="uint8", masks=with_masks,
                        boxes=with_boxes, ids=True,
                    )  # fmt: skip
                    f.attrs.update({**attrs, "split": split})
                    written[split] = _write_split(
                        f, members, writer, masks=with_masks, boxes=with_boxes
                    )
        _check_written(source, written, writer.unreadable, len(items))
    return _finish_splits(source, written, out)


def _check_written(source: str, written: dict[str, int], unreadable: list[str], total: int) -> None:
    if unreadable:
        log.warning(
            "%s: %d image file(s) could not be read and were skipped, e.g. %s",
            source, len(unreadable), ", ".join(unreadable[:3]),
        )  # fmt: skip
    if not sum(written.values()):
        raise data.DataError(
            f"No usable {source} images: all {total} listed image files were "
            "unreadable. Nothing was written."
        )


def _finish_splits(
    source: str, written: dict[str, int], folder: str | os.PathLike | None
) -> dict[str, Path]:
    """The split files written, after removing the splits this conversion has not made, which
    an earlier one left behind."""
    paths = {}
    for split in written:
        paths[split] = converted_path(source, split, folder)
        if not written[split]:
            log.warning("%s: the %s split has no images.", source, split)
    for split in SPLITS:  # a split this conversion has not made must not outlive the old split
        if split not in written and (stale := converted_path(source, split, folder)).exists():
            log.info("%s: removing %s, left from an earlier build", source, stale)
            stale.unlink()
    log.info("%s: wrote %s", source, ", ".join(f"{k} {v}" for k, v in written.items()))
    return paths
