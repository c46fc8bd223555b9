"""NIH ChestX-ray14 to the lab's HDF5 files: pneumothorax against no finding, split by patient.

NIH ChestX-ray14 (Wang et al., CVPR 2017) has 112,120 frontal radiographs of 30,805 patients,
1024 x 1024 PNGs, with labels mined from the radiology reports: 5,302 mention a pneumothorax
and 60,361 no finding; a few also have a box around the finding. It comes as
twelve ``images_*.tar.gz`` archives (45 GB) and the CSV files ``Data_Entry_2017.csv`` (labels,
patients) and ``BBox_List_2017.csv`` (boxes); ``mitdl datasets nih-chestxray14`` says where.

>>> paths = convert_nih("~/nih/images", "~/nih/Data_Entry_2017.csv", limit=2000)  # doctest: +SKIP
>>> sorted(paths)                                                                  # doctest: +SKIP
['test', 'train', 'val']
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import data
from .convert import (
    Item,
    Prepared,
    check_arguments,
    read_csv,
    subsample,
    write_splits,
)
from .h5 import to_uint8
from .image_files import find_image_files, read_png, resize_image

log = logging.getLogger(__name__)

__all__ = ["NIH_BOX_COLUMNS", "NIH_BOX_REFERENCE", "NIH_COLUMNS", "convert_nih"]

NIH_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")
NIH_BOX_COLUMNS = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
#: NIH's boxes are in the pixel coordinates of its 1024 x 1024 PNGs.
NIH_BOX_REFERENCE = 1024


def convert_nih(
    images_dir: str | os.PathLike,
    csv_path: str | os.PathLike,
    *,
    bbox_csv: str | os.PathLike | None = None,
    size: int = 256,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> dict[str, Path]:
    """Convert NIH ChestX-ray14 to pneumothorax-vs-no-finding HDF5 files (``mitdl convert nih``).

    Images whose "Finding Labels" include Pneumothorax (e.g. ``"Pneumothorax|Effusion"``) get
    label 1, those with ``"No Finding"`` label 0; all others are left out. The images are split
    by patient, so no patient is in two splits, and written as ``nih_pneumothorax_train.h5``,
    ``..._val.h5`` and ``..._test.h5`` (see `~mitdeeplearning.xray.save_h5` for the format) in
    the data cache's ``nih-chestxray14`` folder. In full that is about 65,000 images (5,302
    pneumothorax), which takes a while to read and about 3 GB on disk at 256 x 256; try
    ``limit=`` first. (Formerly ``build_nih``; the old name still works and warns once.)

    Parameters
    ----------
    images_dir : path
        Folder holding the PNG files, searched recursively (the extracted ``images_*.tar.gz``).
    csv_path : path
        ``Data_Entry_2017.csv`` (or its v2020 revision): columns "Image Index", "Finding
        Labels" (pipe-separated) and "Patient ID".
    bbox_csv : path, optional
        ``BBox_List_2017.csv``: columns "Image Index", "Finding Label", "Bbox [x", "y", "w",
        "h]" in the 1024 x 1024 PNGs' pixels. The pneumothorax boxes are scaled to `size` and
        stored as ``box`` (N, 4) float32 (x, y, width, height), NaN for images without one.
    size : int
        Side of the square images written; images are resized with cv2.INTER_AREA (any input
        size is accepted).
    val_fraction, test_fraction : float
        Fractions of the *patients* in the validation and test splits (each gets at least one).
    seed : int
        Seed of the split, the shuffle within splits, and the `limit` subset.
    out : path, optional
        Folder to write to instead of the data cache.
    limit : int, optional
        Use a random subset of at most this many images (for a quick try).
    progress : bool, optional
        Progress bar; by default on a terminal or in a notebook, never when ``$CI`` is set.
    workers : int, optional
        Threads reading images (default: the number of CPUs, at most 8).

    Returns
    -------
    dict
        {split: path of the file written}.

    Raises
    ------
    FileNotFoundError
        `images_dir` is not a folder, or a CSV file does not exist.
    ValueError
        A CSV file lacks the expected columns (the message lists expected and found ones), or
        there are too few patients to split.
    mitdeeplearning.data.DataError
        None of the selected images could be found or read. Missing and unreadable files are
        otherwise skipped, and their number is logged as a warning.

    See Also
    --------
    mitdeeplearning.xray.load_pneumothorax : ``load_pneumothorax("nih", split)`` reads them.

    Examples
    --------
    >>> convert_nih("~/nih/images", "~/nih/Data_Entry_2017.csv", limit=2000)  # doctest: +SKIP
    {'train': PosixPath('.../nih-chestxray14/nih_pneumothorax_train.h5'), ...}
    """
    images_dir, csv_path = Path(images_dir), Path(csv_path)
    bbox_path = Path(bbox_csv) if bbox_csv is not None else None
    check_arguments(
        images_dir, {"csv_path": csv_path, "bbox_csv": bbox_path}, size=size,
        val_fraction=val_fraction, test_fraction=test_fraction,
    )  # fmt: skip

    selected = _select_images(csv_path)
    if bbox_path is not None:
        scale = size / NIH_BOX_REFERENCE
        for name, box in _read_boxes(bbox_path).items():
            item = selected.get(name)
            if item is not None and item.label == 1:
                item.box = tuple(v * scale for v in box)  # type: ignore[assignment]

    items = subsample(list(selected.values()), limit, seed)
    items = find_image_files(
        items, images_dir, lambda item: [item.image_id], suffixes=(".png",), source="nih"
    )
    if not items:
        raise data.DataError(
            f"No usable NIH images: none of the {len(selected)} pneumothorax or no-finding images "
            f"listed in {csv_path.name} is under {images_dir} (searched recursively for "
            "'<Image Index>' PNG files)."
        )

    def prepare(item: Item) -> Prepared:
        image = to_uint8(resize_image(read_png(item.path), size))
        return Prepared(image, item.label or 0, None, item.box)

    return write_splits(
        items, prepare, source="nih", out=out, size=size, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed, group_name="patient", with_masks=False,
        with_boxes=bbox_path is not None, progress=progress, workers=workers,
        attrs={"source": "NIH ChestX-ray14"},
    )  # fmt: skip


def _select_images(csv_path: Path) -> dict[str, Item]:
    """The pneumothorax (label 1) and no-finding (label 0) images of ``Data_Entry_2017.csv``,
    by file name, grouped by patient; images with other findings only are left out."""
    selected: dict[str, Item] = {}
    excluded = 0
    for _, (name, findings, patient) in read_csv(
        csv_path, NIH_COLUMNS, "NIH ChestX-ray14's Data_Entry_2017.csv"
    ):
        labels = {label.strip() for label in findings.split("|")}
        if "Pneumothorax" in labels:
            label = 1
        elif labels == {"No Finding"}:
            label = 0
        else:
            excluded += 1
            continue
        selected.setdefault(name, Item(name, Path(name), group=patient, label=label))
    log.info("nih: %d images selected, %d with other findings left out", len(selected), excluded)
    return selected


def _read_boxes(path: Path) -> dict[str, tuple[float, float, float, float]]:
    """Pneumothorax boxes by image: (x, y, w, h); several boxes of one image are merged."""
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for line, (name, finding, *numbers) in read_csv(
        path, NIH_BOX_COLUMNS, "NIH ChestX-ray14's BBox_List_2017.csv"
    ):
        if finding.lower() != "pneumothorax":
            continue
        try:
            x, y, w, h = (float(v) for v in numbers)
        except ValueError:
            raise ValueError(f"{path}, line {line}: box {numbers} is not four numbers.") from None
        if name in boxes:  # the smallest box that holds both
            x0, y0, w0, h0 = boxes[name]
            left, top = min(x, x0), min(y, y0)
            right, bottom = max(x + w, x0 + w0), max(y + h, y0 + h0)
            x, y, w, h = left, top, right - left, bottom - top
        boxes[name] = (x, y, w, h)
    return boxes
