"""Pneumothorax data: the 2018 course's HDF5 format, SIIM-ACR's run-length masks, builders for
the NIH ChestX-ray14 and SIIM-ACR datasets, and one loader for every source.

A pneumothorax (collapsed lung) shows on a chest radiograph as a dark rim of air without lung
markings. Lab 2 trains a classifier on such images and then asks *where* it looked, so its data
has images, labels and, when a dataset has them, masks or boxes of the pneumothorax.

## Setup

Every source gives the same three arrays (see `load_pneumothorax`):

* images, a float32 array of shape (N, H, W, 1) in [0, 1];
* labels, an int64 array of shape (N,): 1 for pneumothorax, 0 for no finding;
* masks, a bool array of shape (N, H, W) (True inside the pneumothorax), or None.

The sources are ``"synthetic"`` (an offline phantom, with masks, made on the fly), ``"nih"``
(NIH ChestX-ray14, 5,302 pneumothorax and 60,361 no-finding images, a few with boxes),
``"siim"`` (SIIM-ACR, with masks), or the path of an HDF5 file. The real datasets cannot be
downloaded blindly (45 GB, or a Kaggle login), so `build_nih` and `build_siim` (also
``mitdl build nih|siim``) turn the downloaded images into HDF5 files in the data cache.

## The algorithm

The HDF5 files follow the 2018 course's format: a dataset ``image`` of shape (N, H, W, 1),
uint8 (0-255), and ``label`` of shape (N, 2), float32 one-hot (``[1, 0]`` is no finding,
``[0, 1]`` pneumothorax). Files made here may add ``mask`` (N, H, W) uint8 0/1, ``box``
(N, 4) float32 (x, y, width, height in pixels; NaN where there is none), and ``image_id`` and
``group`` (patient) strings that say where each image came from. Images are gzip-compressed one
per chunk, so a slice of the first n images reads only those.

SIIM-ACR stores masks as run-length encodings (RLE) in a *relative* form: the mask is flattened
column by column (Fortran order), and each pair of numbers is (number of background pixels
since the end of the previous run, length of the run). An empty mask is ``"-1"``.

Files are written to a temporary file beside their destination and renamed into place once
complete, so a crash or an error never leaves a half-written file behind.

## Let's test-drive it

>>> import numpy as np
>>> from mitdeeplearning.xray import rle_decode, rle_encode
>>> mask = np.zeros((3, 3), bool)
>>> mask[1:, 0] = mask[0, 1] = True      # pixels 1, 2 and 3 in column-major order
>>> rle_encode(mask)
'1 3'
>>> bool((rle_decode("1 3", (3, 3)) == mask).all())
True
>>> images, labels, masks = load_pneumothorax("synthetic", "val", n=8)  # doctest: +SKIP
>>> images.shape, labels.shape, masks.shape                             # doctest: +SKIP
((8, 256, 256, 1), (8,), (8, 256, 256))
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import data

log = logging.getLogger(__name__)

__all__ = [
    "SOURCES",
    "SPLITS",
    "build_nih",
    "build_siim",
    "load_h5",
    "load_pneumothorax",
    "rle_decode",
    "rle_encode",
    "save_h5",
]

#: The splits every built dataset has, and that `load_pneumothorax` accepts.
SPLITS = ("train", "val", "test")
#: Named sources of `load_pneumothorax` (besides the path of an HDF5 file).
SOURCES = ("synthetic", "nih", "siim")

#: Images per split that ``load_pneumothorax("synthetic")`` makes when `n` is not given.
SYNTHETIC_SIZES = {"train": 1000, "val": 200, "test": 400}

NIH_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")
NIH_BOX_COLUMNS = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
SIIM_COLUMNS = ("ImageId", "EncodedPixels")
#: NIH's boxes are in the pixel coordinates of its 1024 x 1024 PNGs.
NIH_BOX_REFERENCE = 1024

# Where the builders put their files, and what they are called: {source: (folder, prefix)}.
_BUILT = {
    "nih": ("nih-chestxray14", "nih_pneumothorax"),
    "siim": ("siim-acr-pneumothorax", "siim_pneumothorax"),
}
_FORMAT = "mitdeeplearning pneumothorax HDF5 (2018 course layout), version 1"
_READ_BLOCK = 256  # images converted to float at a time, to bound temporary memory


# ## The HDF5 format ---------------------------------------------------------------------------


def _images_for_storage(images: Any, *, quantize: bool) -> np.ndarray:
    """Validate images and return what is stored: (N, H, W, 1) uint8, uint16 or float32."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(
            f"images must have shape (N, H, W, 1) or (N, H, W) (one grey channel); got shape "
            f"{images.shape}."
        )
    if images.dtype in (np.uint8, np.uint16):
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images must be uint8 (0-255), uint16 (0-65535) or floats in [0, 1]; got dtype "
            f"{images.dtype}."
        )
    if images.size:
        low, high = float(np.min(images)), float(np.max(images))
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 1:
            raise ValueError(
                f"Float images must lie in [0, 1] (finite); got values from {low} to {high}. "
                "Scale them first, e.g. images / 255 for 8-bit pixel values."
            )
    if quantize:
        return _to_uint8(images)
    return images.astype(np.float32, copy=False)


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] to uint8 0-255, rounding to the nearest level."""
    return np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _labels_1d(labels: Any, *, what: str = "labels") -> np.ndarray:
    """(N,) ints or (N, 2) one-hot to an (N,) int64 array of 0/1."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 2 and labels.shape[1] == 2:
        bad = ~(np.isin(labels, (0, 1)).all(axis=1) & (labels.sum(axis=1) == 1))
        if bad.any():
            raise ValueError(
                f"{what} of shape (N, 2) must be one-hot rows ([1, 0] for no finding, [0, 1] "
                f"for pneumothorax); row {int(np.argmax(bad))} is {labels[bad][0].tolist()}."
            )
        return labels.argmax(axis=1).astype(np.int64)
    if labels.ndim != 1:
        raise ValueError(
            f"{what} must have shape (N,) (0 or 1) or (N, 2) (one-hot); got shape {labels.shape}."
        )
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"{what} must be 0 (no finding) or 1 (pneumothorax); found {np.unique(labels)[:5]}."
        )
    return labels.astype(np.int64)


def _masks_2d(masks: Any, shape: tuple[int, int, int]) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.shape != shape:
        raise ValueError(
            f"masks must have shape (N, H, W) = {shape}, like the images; got {masks.shape}."
        )
    return masks != 0


def _create_datasets(
    f,
    n: int,
    height: int,
    width: int,
    *,
    image_dtype: Any,
    masks: bool,
    boxes: bool,
    ids: bool,
) -> None:
    """The datasets of an HDF5 file for `n` images, resizable so builders can trim them."""
    import h5py

    f.attrs["format"] = _FORMAT
    f.create_dataset(
        "image", shape=(n, height, width, 1), maxshape=(None, height, width, 1),
        dtype=image_dtype, chunks=(1, height, width, 1), compression="gzip", compression_opts=4,
    )  # fmt: skip
    f.create_dataset("label", shape=(n, 2), maxshape=(None, 2), dtype="float32", chunks=(256, 2))
    if masks:
        f.create_dataset(
            "mask", shape=(n, height, width), maxshape=(None, height, width), dtype="uint8",
            chunks=(1, height, width), compression="gzip", compression_opts=4,
        )  # fmt: skip
    if boxes:
        f.create_dataset(
            "box", shape=(n, 4), maxshape=(None, 4), dtype="float32", chunks=(256, 4),
            fillvalue=np.nan,
        )  # fmt: skip
    if ids:
        for name in ("image_id", "group"):
            f.create_dataset(
                name, shape=(n,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(256,)
            )


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[labels]


def _temp_beside(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    return Path(name)


def _publish(tmp: Path, dest: Path) -> None:
    """Rename a finished temporary file into place, with the usual file mode (not 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def save_h5(
    path: str | os.PathLike,
    images: Any,
    labels: Any,
    masks: Any = None,
    *,
    boxes: Any = None,
    attrs: Mapping[str, Any] | None = None,
    quantize: bool = True,
) -> Path:
    """Write images, labels and optional masks to an HDF5 file in the 2018 course's format.

    Parameters
    ----------
    path : path
        The file to write (replaced if it exists). It is written to a temporary file beside it
        and renamed into place at the end, so it is never seen half-written.
    images : array of shape (N, H, W, 1) or (N, H, W)
        uint8 (0-255), uint16 (0-65535), or floats in [0, 1]. Float images are stored as uint8,
        rounded to the nearest of 256 levels (an error of at most 1/510, and a quarter of the
        space of float32), unless ``quantize=False`` stores them as float32.
    labels : array of shape (N,) or (N, 2)
        0 (no finding) or 1 (pneumothorax), or the same one-hot. Stored one-hot, (N, 2) float32.
    masks : array of shape (N, H, W), optional
        True (or non-zero) inside the pneumothorax. Stored as uint8 0/1.
    boxes : array of shape (N, 4), optional
        (x, y, width, height) in pixels of the stored images; NaN rows where there is no box.
    attrs : mapping, optional
        Extra attributes of the file (numbers or strings), e.g. where the data came from.
    quantize : bool
        Store float images as uint8 (default) rather than float32.

    Returns
    -------
    pathlib.Path
        `path`.

    See Also
    --------
    load_h5 : read such a file back.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> images = np.random.default_rng(0).random((4, 32, 32, 1), dtype=np.float32)
    >>> path = save_h5(os.path.join(tempfile.mkdtemp(), "x.h5"), images, [0, 1, 0, 0])
    >>> loaded, labels, masks = load_h5(path)
    >>> loaded.shape, labels.tolist(), masks
    ((4, 32, 32, 1), [0, 1, 0, 0], None)
    """
    import h5py

    path = Path(path)
    stored = _images_for_storage(images, quantize=quantize)
    n, height, width, _ = stored.shape
    labels = _labels_1d(labels)
    if len(labels) != n:
        raise ValueError(f"Got {n} images but {len(labels)} labels; there must be one per image.")
    if masks is not None:
        masks = _masks_2d(masks, (n, height, width))
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.shape != (n, 4):
            raise ValueError(
                f"boxes must have shape (N, 4) = ({n}, 4) (x, y, width, height); got {boxes.shape}."
            )

    tmp = _temp_beside(path)
    try:
        with h5py.File(tmp, "w") as f:
            _create_datasets(
                f, n, height, width, image_dtype=stored.dtype, masks=masks is not None,
                boxes=boxes is not None, ids=False,
            )  # fmt: skip
            f.attrs.update(dict(attrs or {}))
            f["image"][...] = stored
            f["label"][...] = _one_hot(labels)
            if masks is not None:
                f["mask"][...] = masks.astype(np.uint8)
            if boxes is not None:
                f["box"][...] = boxes
        _publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_h5(path: Path) -> None:
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"No HDF5 file at {path}.")
    if not path.is_file() or not h5py.is_hdf5(path):
        raise ValueError(
            f"{path} is not an HDF5 file. Expected the 2018 course's format: datasets 'image' "
            "(N, H, W, 1) and 'label' (N, 2) one-hot."
        )


def _unit_float(block: np.ndarray, *, where: str) -> np.ndarray:
    """Stored pixels to float32 in [0, 1]: uint8 / 255, uint16 / 65535, floats checked."""
    if block.dtype == np.uint8:
        return block.astype(np.float32) / np.float32(255)
    if block.dtype == np.uint16:
        return block.astype(np.float32) / np.float32(65535)
    if np.issubdtype(block.dtype, np.floating):
        block = block.astype(np.float32)
        if block.size:
            low, high = float(block.min()), float(block.max())
            if not (np.isfinite(low) and np.isfinite(high)) or low < -1e-6 or high > 1 + 1e-6:
                raise ValueError(
                    f"{where}: float images must lie in [0, 1]; found values from {low} to {high}."
                )
        return np.clip(block, 0.0, 1.0)
    raise ValueError(
        f"{where}: images are {block.dtype}; expected uint8 (0-255), uint16 or floats in [0, 1]."
    )


def load_h5(path: str | os.PathLike, *, n: int | None = None, return_boxes: bool = False) -> tuple:
    """Read an HDF5 file in the 2018 course's format (as written by `save_h5` and the builders).

    Parameters
    ----------
    path : path
        The file. It must hold datasets ``image`` (N, H, W, 1) or (N, H, W) and ``label``
        (N, 2) one-hot or (N,) 0/1; ``mask`` (N, H, W) is read when present.
    n : int, optional
        Read only the first `n` images (all when None or when the file has fewer). Files made
        by the builders are shuffled, so the first `n` are a random sample.
    return_boxes : bool
        Also return the ``box`` dataset: (N, 4) float32 (x, y, width, height), all NaN when the
        file has none.

    Returns
    -------
    images : ndarray of shape (N, H, W, 1)
        float32 in [0, 1] whatever the stored type: uint8 is divided by 255, uint16 by 65535,
        floats are checked to lie in [0, 1].
    labels : ndarray of shape (N,)
        int64, 1 for pneumothorax and 0 for no finding.
    masks : ndarray of shape (N, H, W) or None
        bool, True inside the pneumothorax; None when the file has no masks.
    boxes : ndarray of shape (N, 4)
        Only with ``return_boxes=True``.

    Raises
    ------
    FileNotFoundError
        There is no file at `path`.
    ValueError
        The file is not HDF5, lacks ``image`` or ``label`` (the message lists what it has), or
        its datasets have the wrong shapes, lengths or values.

    See Also
    --------
    save_h5 : write such a file.
    load_pneumothorax : load a split of any source by name.
    """
    import h5py

    path = Path(path)
    if n is not None and (not isinstance(n, int | np.integer) or n < 0):
        raise ValueError(f"n={n!r} must be a non-negative integer or None.")
    _check_h5(path)
    with h5py.File(path, "r") as f:
        present = {k: v for k, v in f.items() if isinstance(v, h5py.Dataset)}
        missing = [k for k in ("image", "label") if k not in present]
        if missing:
            found = ", ".join(f"{k} {v.shape}" for k, v in present.items()) or "no datasets"
            raise ValueError(
                f"{path} is not in the 2018 course's format: it has no {' or '.join(missing)} "
                f"dataset. Expected 'image' (N, H, W, 1) and 'label' (N, 2) one-hot, optionally "
                f"'mask' (N, H, W); found: {found}."
            )
        image_ds, label_ds = present["image"], present["label"]
        shape = image_ds.shape
        if len(shape) == 3:
            shape = (*shape, 1)
        if len(shape) != 4 or shape[-1] != 1:
            raise ValueError(
                f"{path}: 'image' must have shape (N, H, W, 1) or (N, H, W); got {image_ds.shape}."
            )
        total, height, width = shape[:3]
        if label_ds.shape[:1] != (total,):
            raise ValueError(
                f"{path}: 'image' has {total} images but 'label' has shape {label_ds.shape}; "
                "there must be one label per image."
            )
        mask_ds = present.get("mask")
        if mask_ds is not None and mask_ds.shape not in (
            (total, height, width),
            (total, height, width, 1),
        ):
            raise ValueError(
                f"{path}: 'mask' must have shape (N, H, W) = {(total, height, width)}, like the "
                f"images; got {mask_ds.shape}."
            )
        count = total if n is None else min(int(n), total)

        images = np.empty((count, height, width, 1), dtype=np.float32)
        for start in range(0, count, _READ_BLOCK):
            stop = min(start + _READ_BLOCK, count)
            block = image_ds[start:stop]
            images[start:stop] = _unit_float(block, where=str(path)).reshape(
                stop - start, height, width, 1
            )
        labels = _labels_1d(label_ds[:count], what=f"{path}: 'label'")
        masks = None
        if mask_ds is not None:
            masks = mask_ds[:count].reshape(count, height, width) != 0
        if not return_boxes:
            return images, labels, masks
        boxes = np.full((count, 4), np.nan, dtype=np.float32)
        if "box" in present:
            if present["box"].shape != (total, 4):
                raise ValueError(
                    f"{path}: 'box' must have shape (N, 4) = ({total}, 4); got "
                    f"{present['box'].shape}."
                )
            boxes[...] = present["box"][:count]
        return images, labels, masks, boxes


# ## SIIM-ACR's run-length encoding ------------------------------------------------------------


def rle_encode(mask: Any) -> str:
    """Encode a mask as SIIM-ACR's relative run-length string (``train-rle.csv``).

    The mask is flattened column by column (Fortran order, as SIIM's ``mask2rle`` reads the
    transposed image), and each run of mask pixels is written as two numbers: how many
    background pixels separate it from the end of the previous run (from pixel 0 for the first
    run), then its length.

    Parameters
    ----------
    mask : array of shape (H, W)
        True or non-zero (SIIM's masks use 255) inside.

    Returns
    -------
    str
        Space-separated numbers, or ``"-1"`` for an empty mask.

    See Also
    --------
    rle_decode : the inverse.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((4, 3), bool)
    >>> mask[2:, 0] = True      # column-major pixels 2 and 3
    >>> mask[1, 1] = True       # pixel 5 = 4 + 1
    >>> rle_encode(mask)
    '2 2 1 1'
    >>> rle_encode(np.zeros((4, 3)))
    '-1'
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, shape (H, W); got shape {mask.shape}.")
    flat = np.ravel(mask != 0, order="F")
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flat, [False])).astype(np.int8)))
    if edges.size == 0:
        return "-1"
    starts, ends = edges[0::2], edges[1::2]
    gaps = starts - np.concatenate(([0], ends[:-1]))
    pairs = np.stack([gaps, ends - starts], axis=1).ravel()
    return " ".join(map(str, pairs.tolist()))


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode SIIM-ACR's relative run-length string into a boolean mask.

    Parameters
    ----------
    rle : str
        Space-separated pairs (gap since the end of the previous run, run length) over the
        image flattened column by column; ``"-1"`` is the empty mask. Surrounding spaces, as
        in ``train-rle.csv``, are ignored.
    shape : (int, int)
        (height, width) of the image the mask belongs to (SIIM-ACR's are 1024 x 1024).

    Returns
    -------
    ndarray of shape (H, W)
        bool, True inside the mask.

    Raises
    ------
    ValueError
        The string is empty, has a non-integer or an odd number of values, a negative value,
        or a run that goes beyond the image.

    Examples
    --------
    >>> rle_decode("2 2 1 1", (4, 3)).astype(int)
    array([[0, 0, 0],
           [0, 1, 0],
           [1, 0, 0],
           [1, 0, 0]])
    """
    if len(shape) != 2 or not all(isinstance(s, int | np.integer) for s in shape) or min(shape) < 1:
        raise ValueError(f"shape must be (height, width), two positive integers; got {shape!r}.")
    height, width = int(shape[0]), int(shape[1])
    if not isinstance(rle, str):
        raise ValueError(f"rle must be a string such as '-1' or '5 3 10 2'; got {rle!r}.")
    text = rle.strip()
    if text == "-1":
        return np.zeros((height, width), dtype=bool)
    short = text if len(text) <= 40 else text[:37] + "..."
    try:
        values = np.array([int(v) for v in text.split()], dtype=np.int64)
    except ValueError:
        raise ValueError(
            f"RLE {short!r} is not space-separated integers (the empty mask is '-1')."
        ) from None
    if values.size == 0:
        raise ValueError("RLE is empty; the empty mask is written '-1'.")
    if values.size % 2:
        raise ValueError(
            f"RLE {short!r} has {values.size} values; expected pairs (gap, run length)."
        )
    if (values < 0).any():
        raise ValueError(f"RLE {short!r} has a negative value; gaps and lengths are >= 0.")
    gaps, lengths = values[0::2], values[1::2]
    ends = np.cumsum(gaps + lengths)
    starts = ends - lengths
    if ends[-1] > height * width:
        raise ValueError(
            f"RLE {short!r} runs to pixel {int(ends[-1])}, beyond the {height} x {width} image "
            f"({height * width} pixels)."
        )
    change = np.zeros(height * width + 1, dtype=np.int64)
    np.add.at(change, starts, 1)
    np.add.at(change, ends, -1)
    flat = np.cumsum(change[:-1]) > 0
    return flat.reshape(width, height).T.copy()


# ## Reading images ----------------------------------------------------------------------------


class _Unreadable(Exception):
    """An image file that exists but cannot be decoded."""


def _read_png(path: Path) -> np.ndarray:
    """A PNG (8- or 16-bit, grey, RGB or RGBA) as float32 (H, W) in [0, 1]."""
    import cv2

    try:
        buffer = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise _Unreadable(str(exc)) from exc
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise _Unreadable(f"{path} is not an image OpenCV can read")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _read_dicom(path: Path) -> np.ndarray:
    """A DICOM image as float32 (H, W) in [0, 1] (needs pydicom)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many kinds for a damaged file
        raise _Unreadable(f"{path}: {exc}") from exc
    if pixels.ndim == 3:  # colour: average the channels
        pixels = pixels[..., :3].mean(axis=-1)
    if np.issubdtype(pixels.dtype, np.integer):
        bits = int(getattr(ds, "BitsStored", 0) or pixels.dtype.itemsize * 8)
        image = pixels.astype(np.float32) / np.float32(2**bits - 1)
    else:
        low, high = float(pixels.min()), float(pixels.max())
        image = (pixels.astype(np.float32) - low) / max(high - low, 1e-12)
    image = np.clip(image, 0.0, 1.0)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        image = 1.0 - image  # MONOCHROME1 shows low values white
    return image


def _read_image(path: Path) -> np.ndarray:
    return _read_dicom(path) if path.suffix.lower() == ".dcm" else _read_png(path)


def _resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """float32 (H, W) to (size, size), averaging pixels (cv2.INTER_AREA)."""
    import cv2

    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W) to (size, size): a pixel is in the mask when at least half of it was.

    A mask too small to cover half of any output pixel keeps its best-covered pixel, so a
    positive image never ends up with an empty mask.
    """
    import cv2

    if mask.shape == (size, size):
        return mask
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    out = coverage >= 0.5
    if mask.any() and not out.any():
        out[np.unravel_index(int(np.argmax(coverage)), coverage.shape)] = True
    return out


# ## Building HDF5 files from the real datasets ------------------------------------------------


@dataclasses.dataclass
class _Item:
    image_id: str
    path: Path
    group: str  # images of one group (patient) never go to two splits
    label: int | None = None  # None: decided by the mask
    rles: list[str] = dataclasses.field(default_factory=list)
    box: tuple[float, float, float, float] | None = None


@dataclasses.dataclass
class _Prepared:
    image: np.ndarray  # (size, size) uint8
    label: int
    mask: np.ndarray | None
    box: tuple[float, float, float, float] | None


def _read_csv(path: Path, required: Sequence[str], what: str) -> Iterable[tuple[int, list[str]]]:
    """Rows of a CSV file as (line number, values of the `required` columns, stripped)."""
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


def _index_files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Every file under `folder` (recursively) with one of `suffixes`, by file name."""
    found: dict[str, Path] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(suffixes):
                found.setdefault(name, Path(root) / name)
    return found


def _check_inputs(images_dir: Path, files: Mapping[str, Path | None], size: int) -> None:
    if not images_dir.is_dir():
        raise FileNotFoundError(f"images_dir={str(images_dir)!r} is not a folder.")
    for argument, path in files.items():
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{argument}={str(path)!r} is not a file.")
    if not isinstance(size, int | np.integer) or size < 8:
        raise ValueError(f"size={size!r} must be an integer of at least 8 (pixels).")


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name}={value!r} must be in [0, 1).")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves nothing to "
            "train on; it must be below 1."
        )


def _split_groups(
    groups: Iterable[str], *, val_fraction: float, test_fraction: float, seed: int, what: str
) -> dict[str, str]:
    """Assign each group to a split at random (seeded): {group: "train" | "val" | "test"}.

    Each split with a non-zero fraction gets at least one group; the fractions are of groups.
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


def _subsample(items: list[_Item], limit: int | None, seed: int) -> list[_Item]:
    if limit is not None and (not isinstance(limit, int | np.integer) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None.")
    if limit is None or limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng([seed, 1]).choice(len(items), int(limit), replace=False))
    return [items[i] for i in keep]


def _build(
    items: list[_Item],
    prepare: Callable[[_Item], _Prepared],
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
    split succeeded, so a failure leaves the previous build (if any) untouched. A split file of
    an earlier build that this one does not make (``val_fraction=0``) is removed: its images
    may now be in another split.
    """
    import h5py
    from tqdm.auto import tqdm

    folder, prefix = _BUILT[source]
    out_dir = Path(out).expanduser() if out is not None else data.default_cache_dir() / folder
    assignment = _split_groups(
        (item.group for item in items),
        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, what=group_name,
    )  # fmt: skip
    rng = np.random.default_rng([seed, 2])
    by_split = {}
    for split in SPLITS:
        members = [item for item in items if assignment[item.group] == split]
        by_split[split] = [members[i] for i in rng.permutation(len(members))]  # shuffled
    workers = workers or min(8, os.cpu_count() or 1)

    temps: dict[str, Path] = {}
    written: dict[str, int] = {}
    unreadable: list[str] = []
    try:
        with (
            tqdm(total=len(items), desc=f"build {source}", unit="image",
                 disable=not data._progress_enabled(progress)) as bar,
            concurrent.futures.ThreadPoolExecutor(workers) as pool,
        ):  # fmt: skip
            for split, members in by_split.items():
                if not members:
                    continue
                temps[split] = tmp = _temp_beside(out_dir / f"{prefix}_{split}.h5")
                with h5py.File(tmp, "w") as f:
                    _create_datasets(
                        f, len(members), size, size, image_dtype="uint8", masks=with_masks,
                        boxes=with_boxes, ids=True,
                    )  # fmt: skip
                    f.attrs.update({**attrs, "split": split, "size": size, "seed": seed})
                    row = 0
                    for start in range(0, len(members), 4 * workers):
                        chunk = members[start : start + 4 * workers]
                        for item, result in zip(chunk, pool.map(_try(prepare), chunk), strict=True):
                            bar.update(1)
                            if result is None:
                                unreadable.append(str(item.path))
                                continue
                            f["image"][row, ..., 0] = result.image
                            f["label"][row] = _one_hot(np.array(result.label))
                            if with_masks:
                                f["mask"][row] = result.mask
                            if with_boxes and result.box is not None:
                                f["box"][row] = result.box
                            f["image_id"][row] = item.image_id
                            f["group"][row] = item.group
                            row += 1
                    for name in f:
                        f[name].resize(row, axis=0)
                    f.attrs["positives"] = int(f["label"][:, 1].sum())
                written[split] = row
        if unreadable:
            log.warning(
                "%s: %d image file(s) could not be read and were skipped, e.g. %s",
                source, len(unreadable), ", ".join(unreadable[:3]),
            )  # fmt: skip
        if not sum(written.values()):
            raise data.DataError(
                f"No usable {source} images: all {len(items)} listed image files were "
                "unreadable. Nothing was written."
            )
        paths = {}
        for split, tmp in temps.items():
            paths[split] = out_dir / f"{prefix}_{split}.h5"
            if not written[split]:
                log.warning("%s: the %s split has no images.", source, split)
            _publish(tmp, paths[split])
        for split in SPLITS:  # a split this build has not made must not outlive the old split
            if split not in temps and (stale := out_dir / f"{prefix}_{split}.h5").exists():
                log.info("%s: removing %s, left from an earlier build", source, stale)
                stale.unlink()
        log.info("%s: wrote %s", source, ", ".join(f"{k} {v}" for k, v in written.items()))
        return paths
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def _try(prepare: Callable[[_Item], _Prepared]) -> Callable[[_Item], _Prepared | None]:
    def attempt(item: _Item) -> _Prepared | None:
        try:
            return prepare(item)
        except _Unreadable as exc:
            log.debug("Cannot read %s: %s", item.path, exc)
            return None

    return attempt


def _citation(source: str) -> str:
    return data.get_dataset(_BUILT[source][0]).citation


def _report_missing(source: str, missing: list[str], total: int, images_dir: Path) -> None:
    if missing:
        log.warning(
            "%s: %d of the %d selected images were not found under %s and were skipped, e.g. %s",
            source, len(missing), total, images_dir, ", ".join(missing[:3]),
        )  # fmt: skip


def build_nih(
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
    """Build pneumothorax-vs-no-finding HDF5 files from NIH ChestX-ray14 (``mitdl build nih``).

    Images whose "Finding Labels" include Pneumothorax (e.g. ``"Pneumothorax|Effusion"``) get
    label 1, those with ``"No Finding"`` label 0; all others are left out. The images are split
    by patient, so no patient is in two splits, and written as ``nih_pneumothorax_train.h5``,
    ``..._val.h5`` and ``..._test.h5`` (see `save_h5` for the format) in the data cache's
    ``nih-chestxray14`` folder. In full that is about 65,000 images (5,302 pneumothorax), which
    takes a while to read and about 3 GB on disk at 256 x 256; try ``limit=`` first.

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
    """
    images_dir, csv_path = Path(images_dir), Path(csv_path)
    bbox_path = Path(bbox_csv) if bbox_csv is not None else None
    _check_inputs(images_dir, {"csv_path": csv_path, "bbox_csv": bbox_path}, size)
    _check_fractions(val_fraction, test_fraction)

    selected: dict[str, _Item] = {}
    excluded = 0
    for _, (name, findings, patient) in _read_csv(
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
        selected.setdefault(name, _Item(name, Path(name), group=patient, label=label))
    log.info("nih: %d images selected, %d with other findings left out", len(selected), excluded)

    if bbox_path is not None:
        boxes = _read_nih_boxes(bbox_path)
        scale = size / NIH_BOX_REFERENCE
        for name, box in boxes.items():
            item = selected.get(name)
            if item is not None and item.label == 1:
                item.box = tuple(v * scale for v in box)  # type: ignore[assignment]

    items = _subsample(list(selected.values()), limit, seed)
    files = _index_files(images_dir, (".png",))
    missing = [item.image_id for item in items if item.image_id not in files]
    _report_missing("nih", missing, len(items), images_dir)
    items = [
        dataclasses.replace(it, path=files[it.image_id]) for it in items if it.image_id in files
    ]
    if not items:
        raise data.DataError(
            f"No usable NIH images: none of the {len(selected)} pneumothorax or no-finding images "
            f"listed in {csv_path.name} is under {images_dir} (searched recursively for "
            "'<Image Index>' PNG files)."
        )

    def prepare(item: _Item) -> _Prepared:
        image = _to_uint8(_resize_image(_read_png(item.path), size))
        return _Prepared(image, item.label or 0, None, item.box)

    return _build(
        items, prepare, source="nih", out=out, size=size, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed, group_name="patient", with_masks=False,
        with_boxes=bbox_path is not None, progress=progress, workers=workers,
        attrs={"source": "NIH ChestX-ray14", "citation": _citation("nih")},
    )  # fmt: skip


def _read_nih_boxes(path: Path) -> dict[str, tuple[float, float, float, float]]:
    """Pneumothorax boxes by image: (x, y, w, h); several boxes of one image are merged."""
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for line, (name, finding, *numbers) in _read_csv(
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


def build_siim(
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
    """Build HDF5 files with masks from SIIM-ACR Pneumothorax (``mitdl build siim``).

    Each image's mask is the union of its rows in ``train-rle.csv`` (``"-1"`` rows are empty),
    decoded over the image's own pixel grid (1024 x 1024 in SIIM-ACR); its label is 1 when the
    mask is not empty. Images are split at random by image and written as
    ``siim_pneumothorax_train.h5``, ``..._val.h5`` and ``..._test.h5`` (see `save_h5`; with a
    ``mask`` dataset) in the data cache's ``siim-acr-pneumothorax`` folder.

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
        As in `build_nih`.

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
    """
    images_dir, rle_path = Path(images_dir), Path(rle_csv)
    _check_inputs(images_dir, {"rle_csv": rle_path}, size)
    _check_fractions(val_fraction, test_fraction)

    selected: dict[str, _Item] = {}
    for _, (image_id, rle) in _read_csv(rle_path, SIIM_COLUMNS, "SIIM-ACR's train-rle.csv"):
        item = selected.setdefault(image_id, _Item(image_id, Path(image_id), group=image_id))
        item.rles.append(rle)

    items = _subsample(list(selected.values()), limit, seed)
    files = _index_files(images_dir, (".png", ".dcm"))
    found, missing = [], []
    for item in items:
        path = files.get(f"{item.image_id}.png") or files.get(f"{item.image_id}.dcm")
        if path is None:
            missing.append(item.image_id)
        else:
            found.append(dataclasses.replace(item, path=path))
    _report_missing("siim", missing, len(items), images_dir)
    if not found:
        raise data.DataError(
            f"No usable SIIM-ACR images: none of the {len(selected)} images in {rle_path.name} "
            f"is under {images_dir} (searched recursively for '<ImageId>.png' or '.dcm')."
        )
    dicoms = sum(item.path.suffix.lower() == ".dcm" for item in found)
    if dicoms:
        try:
            import pydicom  # noqa: F401
        except ImportError:
            raise ImportError(
                f"{dicoms} of the SIIM-ACR images are DICOM (.dcm) files, and reading them needs "
                "pydicom: pip install pydicom (or convert them to <ImageId>.png first)."
            ) from None

    def prepare(item: _Item) -> _Prepared:
        image = _read_image(item.path)
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
        image = _to_uint8(_resize_image(image, size))
        return _Prepared(image, int(mask.any()), _resize_mask(mask, size), None)

    return _build(
        found, prepare, source="siim", out=out, size=size, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed, group_name="ImageId", with_masks=True,
        with_boxes=False, progress=progress, workers=workers,
        attrs={"source": "SIIM-ACR Pneumothorax Segmentation", "citation": _citation("siim")},
    )  # fmt: skip


# ## One loader for every source ---------------------------------------------------------------


def _built_path(source: str, split: str) -> Path:
    folder, prefix = _BUILT[source]
    return data.default_cache_dir() / folder / f"{prefix}_{split}.h5"


def _not_built(source: str, path: Path) -> data.ManualDownloadRequired:
    entry = data.get_dataset(_BUILT[source][0])
    title = {"nih": "NIH ChestX-ray14", "siim": "SIIM-ACR"}[source]
    builder = entry.builder if "then:" in entry.builder.lower() else f"Then: {entry.builder}"
    more = f"mitdl datasets {entry.name}"
    if source == "nih":
        more += " and mitdl datasets nih-chestxray14-labels (the CSV files)"
    return data.ManualDownloadRequired(
        f"The {title} pneumothorax files are not built yet ({path} is missing). "
        f"{entry.manual} {builder} (it writes the train, val and test files into "
        f"{path.parent}). Details: {more}."
    )


def _resize_batch(
    images: np.ndarray, masks: np.ndarray | None, size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    if images.shape[1:3] == (size, size):
        return images, masks
    out = np.empty((len(images), size, size, 1), dtype=np.float32)
    for i, image in enumerate(images):
        out[i, ..., 0] = cv2.resize(image[..., 0], (size, size), interpolation=cv2.INTER_AREA)
    if masks is not None:
        resized = np.zeros((len(masks), size, size), dtype=bool)
        for i, mask in enumerate(masks):
            small = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
            resized[i] = small != 0
        masks = resized
    return np.clip(out, 0.0, 1.0), masks


def load_pneumothorax(
    source: str | os.PathLike = "synthetic",
    split: str | None = None,
    *,
    size: int | None = None,
    n: int | None = None,
    seed: int = 0,
    positive_fraction: float | None = None,
    shortcut: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Load one split of pneumothorax data: images, labels and (where the source has them) masks.

    Parameters
    ----------
    source : str or path
        ``"synthetic"`` (phantom radiographs made on the fly, with masks), ``"nih"`` (NIH
        ChestX-ray14, built by ``mitdl build nih``; no masks), ``"siim"`` (SIIM-ACR, built by
        ``mitdl build siim``; with masks), or the path of an HDF5 file in the 2018 course's
        format (see `load_h5`).
    split : {"train", "val", "test"}, optional
        Which split (default ``"train"``). Splits never share images (for ``"nih"``, patients).
        An HDF5 file is a single split, so a path takes no `split`.
    size : int, optional
        Side of the square images returned; default the source's own (256). Images are
        resized with cv2.INTER_AREA, masks with nearest neighbour.
    n : int, optional
        How many images. Synthetic default: 1000 train, 200 val, 400 test. Otherwise the first
        `n` of the file (a random sample: the builders shuffle), or all of it.
    seed : int
        Synthetic only: seed of the phantom. Each split uses its own seed derived from it
        (``3 * seed`` + 0, 1 or 2), so no two (seed, split) pairs share images.
    positive_fraction : float, optional
        Synthetic only: the fraction of pneumothorax images (default 0.2, about 1 in 5, an
        imbalance like a clinic's).
    shortcut : optional
        Synthetic only: a spurious cue added to the images, passed to `make_synthetic_cxr`.

    Returns
    -------
    images : ndarray of shape (N, H, W, 1)
        float32 in [0, 1].
    labels : ndarray of shape (N,)
        int64, 1 for pneumothorax, 0 for no finding.
    masks : ndarray of shape (N, H, W) or None
        bool, True inside the pneumothorax; None for sources without masks (``"nih"``).

    Raises
    ------
    ValueError
        Unknown source or split (the message lists the valid ones), or an option that does not
        apply to the source.
    mitdeeplearning.data.ManualDownloadRequired
        ``"nih"`` or ``"siim"`` has not been built yet; the message says how.

    See Also
    --------
    mitdeeplearning.xray.make_synthetic_cxr : the phantom.
    build_nih, build_siim : make the real datasets' files.

    Examples
    --------
    >>> images, labels, masks = load_pneumothorax("synthetic", "test", n=50)  # doctest: +SKIP
    >>> images.shape, labels.dtype, masks.shape                              # doctest: +SKIP
    ((50, 256, 256, 1), dtype('int64'), (50, 256, 256))
    """
    if size is not None and (not isinstance(size, int | np.integer) or size < 8):
        raise ValueError(f"size={size!r} must be an integer of at least 8 (pixels) or None.")
    if n is not None and (not isinstance(n, int | np.integer) or n < 0):
        raise ValueError(f"n={n!r} must be a non-negative integer or None.")
    is_named = isinstance(source, str) and source in SOURCES
    if not is_named:
        text = os.fspath(source) if isinstance(source, str | os.PathLike) else None
        if text is None or not (text.lower().endswith((".h5", ".hdf5")) or Path(text).exists()):
            raise ValueError(
                f"Unknown source {source!r}: use one of {', '.join(map(repr, SOURCES))} or the "
                "path of an .h5 file."
            )
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(map(repr, SPLITS))}.")
    if source != "synthetic":
        given = [
            name
            for name, value in (("positive_fraction", positive_fraction), ("shortcut", shortcut))
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{' and '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to "
                f"source='synthetic'; real data has the labels and cues it has."
            )

    if source == "synthetic":
        from .phantom import make_synthetic_cxr

        split = split or "train"
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer.")
        options: dict[str, Any] = {
            "seed": 3 * int(seed) + SPLITS.index(split),
            "positive_fraction": 0.2 if positive_fraction is None else positive_fraction,
            "shortcut": shortcut,
        }
        if size is not None:
            options["size"] = int(size)
        count = SYNTHETIC_SIZES[split] if n is None else int(n)
        return make_synthetic_cxr(count, **options)

    if is_named:
        path = _built_path(str(source), split or "train")
        if not path.is_file():
            raise _not_built(str(source), path)
    else:
        if split is not None:
            raise ValueError(
                f"split={split!r} does not apply to a file ({source}): an HDF5 file is one split. "
                "Load each split's file by its path."
            )
        path = Path(source)
    images, labels, masks = load_h5(path, n=n)
    if size is not None:
        images, masks = _resize_batch(images, masks, int(size))
    return images, labels, masks
