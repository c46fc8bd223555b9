"""SIIM-ACR Pneumothorax to the lab's HDF5 files, with masks.

The SIIM-ACR Pneumothorax Segmentation challenge (Kaggle, 2019) gives chest radiographs as
1024 x 1024 DICOM files, and the mask of each pneumothorax, run-length encoded
(`~mitdeeplearning.xray.rle`), in ``train-rle.csv``: one row per region, ``-1`` for an image
without one. It needs a Kaggle login; ``mitdl datasets siim-acr-pneumothorax`` says how.

>>> paths = convert_siim("~/siim/dicom-images-train", "~/siim/train-rle.csv")  # doctest: +SKIP
>>> sorted(paths)                                                               # doctest: +SKIP
['test', 'train', 'val']
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
from .image_files import find_image_files, read_image, resize_image, resize_mask
from .rle import rle_decode

__all__ = ["SIIM_COLUMNS", "convert_siim"]

SIIM_COLUMNS = ("ImageId", "EncodedPixels")


def convert_siim(
    images_dir: str | os.PathLike,
    rle_csv: str | os.PathLike,
    *,
    size: int = 256,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> dict[str, Path]:
    """Convert SIIM-ACR Pneumothorax to HDF5 files with masks (``mitdl convert siim``).

    Each image's mask is the union of its rows in ``train-rle.csv`` (``"-1"`` rows are empty),
    decoded over the image's own pixel grid (1024 x 1024 in SIIM-ACR); its label is 1 when the
    mask is not empty. Images are split at random by image and written as
    ``siim_pneumothorax_train.h5``, ``..._val.h5`` and ``..._test.h5`` (see
    `~mitdeeplearning.xray.save_h5`; with a ``mask`` dataset) in the data cache's
    ``siim-acr-pneumothorax`` folder. (Formerly ``build_siim``; the old name still works and
    warns once.)

    Parameters
    ----------
    images_dir : path
        Folder holding ``<ImageId>.png`` or ``<ImageId>.dcm`` files, searched recursively (the
        Kaggle download's ``dicom-images-train``). DICOM needs pydicom (``pip install pydicom``).
    rle_csv : path
        ``train-rle.csv``: columns "ImageId" and "EncodedPixels" (the Kaggle file's
        " EncodedPixels", with its leading space, is accepted).
    size : int
        Side of the square images written. Images are resized with cv2.INTER_AREA; a mask pixel
        is kept when at least half of it was covered (and a tiny mask keeps one pixel).
    val_fraction, test_fraction : float
        Fractions of the images in the validation and test splits (each gets at least one).
    seed, out, limit, progress, workers
        As in `~mitdeeplearning.xray.convert_nih`.

    Returns
    -------
    dict
        {split: path of the file written}.

    Raises
    ------
    FileNotFoundError
        `images_dir` is not a folder or `rle_csv` does not exist.
    ImportError
        Some images are DICOM files and pydicom is not installed.
    ValueError
        The CSV lacks the expected columns, or an RLE is malformed or does not fit its image.
    mitdeeplearning.data.DataError
        None of the images could be found or read.

    See Also
    --------
    mitdeeplearning.xray.load_pneumothorax : ``load_pneumothorax("siim", split)`` reads them.

    Examples
    --------
    >>> convert_siim("~/siim/dicom-images-train", "~/siim/train-rle.csv")  # doctest: +SKIP
    {'train': PosixPath('.../siim-acr-pneumothorax/siim_pneumothorax_train.h5'), ...}
    """
    images_dir, rle_path = Path(images_dir), Path(rle_csv)
    check_arguments(
        images_dir, {"rle_csv": rle_path}, size=size, val_fraction=val_fraction,
        test_fraction=test_fraction,
    )  # fmt: skip

    selected: dict[str, Item] = {}
    for _, (image_id, rle) in read_csv(rle_path, SIIM_COLUMNS, "SIIM-ACR's train-rle.csv"):
        item = selected.setdefault(image_id, Item(image_id, Path(image_id), group=image_id))
        item.rles.append(rle)

    items = subsample(list(selected.values()), limit, seed)
    found = find_image_files(
        items, images_dir, lambda item: [f"{item.image_id}.png", f"{item.image_id}.dcm"],
        suffixes=(".png", ".dcm"), source="siim",
    )  # fmt: skip
    if not found:
        raise data.DataError(
            f"No usable SIIM-ACR images: none of the {len(selected)} images in {rle_path.name} "
            f"is under {images_dir} (searched recursively for '<ImageId>.png' or '.dcm')."
        )
    _check_pydicom(found)

    def prepare(item: Item) -> Prepared:
        image = read_image(item.path)
        mask = np.zeros(image.shape, dtype=bool)
        for rle in item.rles:
            try:
                mask |= rle_decode(rle, image.shape)
            except ValueError as exc:
                raise ValueError(
                    f"{rle_path.name}, ImageId {item.image_id} (a {image.shape[0]} x "
                    f"{image.shape[1]} image): {exc} The RLE must be for the image as it is; "
                    "SIIM-ACR's are for the original 1024 x 1024 images."
                ) from None
        image = to_uint8(resize_image(image, size))
        return Prepared(image, int(mask.any()), resize_mask(mask, size), None)

    return write_splits(
        found, prepare, source="siim", out=out, size=size, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed, group_name="ImageId", with_masks=True,
        with_boxes=False, progress=progress, workers=workers,
        attrs={"source": "SIIM-ACR Pneumothorax Segmentation"},
    )  # fmt: skip


def _check_pydicom(items: list[Item]) -> None:
    """Fail early, with the command that fixes it, when DICOM files need a missing pydicom."""
    dicoms = sum(item.path.suffix.lower() == ".dcm" for item in items)
    if dicoms:
        try:
            import pydicom  # noqa: F401
        except ImportError:
            raise ImportError(
                f"{dicoms} of the SIIM-ACR images are DICOM (.dcm) files, and reading them needs "
                "pydicom: pip install pydicom (or convert them to <ImageId>.png first)."
            ) from None
