"""The 2018 course's HDF5 format for pneumothorax data: `save_h5` writes it, `load_h5` reads it.

## The format

A file holds a dataset ``image`` of shape (N, H, W, 1), uint8 (0-255), and ``label`` of shape
(N, 2), float32 one-hot (``[1, 0]`` is no finding, ``[0, 1]`` pneumothorax). Files made here
may add ``mask`` (N, H, W) uint8 0/1, ``box`` (N, 4) float32 (x, y, width, height in pixels;
NaN where there is none), and ``image_id`` and ``group`` (patient) strings that say where each
image came from. Images are gzip-compressed one per chunk, so a slice of the first n images
reads only those.

Files are written to a temporary file beside their destination and renamed into place once
complete (`mitdeeplearning.files.atomic_path`), so a crash or an error never leaves a
half-written file behind.

## Let's test-drive it

>>> import numpy as np, tempfile, os
>>> masks = np.zeros((2, 8, 8), bool)
>>> masks[1, 2:5, 2:5] = True
>>> path = save_h5(os.path.join(tempfile.mkdtemp(), "two.h5"), np.zeros((2, 8, 8)), [0, 1], masks)
>>> images, labels, masks = load_h5(path)
>>> images.shape, images.dtype, labels.tolist(), int(masks.sum())
((2, 8, 8, 1), dtype('float32'), [0, 1], 9)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import renamed_keywords
from ..files import atomic_path

__all__ = [
    "FORMAT",
    "create_datasets",
    "load_h5",
    "one_hot",
    "save_h5",
    "to_uint8",
]

#: The ``format`` attribute of the files written here.
FORMAT = "mitdeeplearning pneumothorax HDF5 (2018 course layout), version 1"
_READ_BLOCK = 256  # images converted to float at a time, to bound temporary memory


def _images_for_storage(images: Any, *, quantise: bool) -> np.ndarray:
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
    if quantise:
        return to_uint8(images)
    return images.astype(np.float32, copy=False)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] to uint8 0-255, rounding to the nearest level.

    Parameters
    ----------
    unit : ndarray of any shape
        Floats, meant to lie in [0, 1]; values outside are clipped.

    Returns
    -------
    ndarray of the same shape
        uint8, ``round(255 * unit)``: an error of at most 1/510 once divided by 255 again.

    Examples
    --------
    >>> to_uint8(np.array([0.0, 0.5, 1.0, 1.2])).tolist()
    [0, 128, 255, 255]
    """
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


def create_datasets(
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
    """Create the datasets of the format in an open HDF5 file, for `n` images.

    Every dataset is resizable along its first axis, so a converter can allocate one row per
    listed image and trim the rows it could not fill (``f[name].resize(rows, axis=0)``).

    Parameters
    ----------
    f : h5py.File
        Open for writing; its ``format`` attribute is set to `FORMAT`.
    n : int
        Number of images (rows).
    height, width : int
        Image size in pixels.
    image_dtype : dtype
        Of ``image`` (N, H, W, 1): uint8, uint16 or float32.
    masks : bool
        Also create ``mask`` (N, H, W) uint8.
    boxes : bool
        Also create ``box`` (N, 4) float32, NaN until written.
    ids : bool
        Also create ``image_id`` and ``group`` (N,) variable-length strings.

    Examples
    --------
    >>> import h5py, io
    >>> with h5py.File(io.BytesIO(), "w") as f:
    ...     create_datasets(f, 3, 8, 8, image_dtype="uint8", masks=True, boxes=False, ids=False)
    ...     sorted(f), f["image"].shape, f["label"].shape, f["mask"].maxshape
    (['image', 'label', 'mask'], (3, 8, 8, 1), (3, 2), (None, 8, 8))
    """
    import h5py

    f.attrs["format"] = FORMAT
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


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Class ids 0/1 of any shape to one-hot float32 rows, as the ``label`` dataset stores them.

    Parameters
    ----------
    labels : int ndarray of shape (...)
        0 (no finding) or 1 (pneumothorax).

    Returns
    -------
    ndarray of shape (..., 2)
        float32: ``[1, 0]`` for 0, ``[0, 1]`` for 1.

    Examples
    --------
    >>> one_hot(np.array([0, 1])).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    return np.eye(2, dtype=np.float32)[labels]


@renamed_keywords(quantize="quantise")
def save_h5(
    path: str | os.PathLike,
    images: Any,
    labels: Any,
    masks: Any = None,
    *,
    boxes: Any = None,
    attrs: Mapping[str, Any] | None = None,
    quantise: bool = True,
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
        space of float32), unless ``quantise=False`` stores them as float32.
    labels : array of shape (N,) or (N, 2)
        0 (no finding) or 1 (pneumothorax), or the same one-hot. Stored one-hot, (N, 2) float32.
    masks : array of shape (N, H, W), optional
        True (or non-zero) inside the pneumothorax. Stored as uint8 0/1.
    boxes : array of shape (N, 4), optional
        (x, y, width, height) in pixels of the stored images; NaN rows where there is no box.
    attrs : mapping, optional
        Extra attributes of the file (numbers or strings), e.g. where the data came from.
    quantise : bool
        Store float images as uint8 (default) rather than float32. (Formerly ``quantize``;
        the old keyword still works and warns once.)

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
    stored = _images_for_storage(images, quantise=quantise)
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

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial, h5py.File(partial, "w") as f:
        create_datasets(
            f, n, height, width, image_dtype=stored.dtype, masks=masks is not None,
            boxes=boxes is not None, ids=False,
        )  # fmt: skip
        f.attrs.update(dict(attrs or {}))
        f["image"][...] = stored
        f["label"][...] = one_hot(labels)
        if masks is not None:
            f["mask"][...] = masks.astype(np.uint8)
        if boxes is not None:
            f["box"][...] = boxes
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


@renamed_keywords(n="limit")
def load_h5(
    path: str | os.PathLike, *, limit: int | None = None, return_boxes: bool = False
) -> tuple:
    """Read an HDF5 file in the 2018 course's format (as written by `save_h5` and the converters).

    Parameters
    ----------
    path : path
        The file. It must hold datasets ``image`` (N, H, W, 1) or (N, H, W) and ``label``
        (N, 2) one-hot or (N,) 0/1; ``mask`` (N, H, W) is read when present.
    limit : int, optional
        Read at most this many images, the first ones (all when None). Files made by the
        converters are shuffled, so the first `limit` are a random sample. (Formerly ``n``;
        the old keyword still works and warns once.)
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
    mitdeeplearning.xray.load_pneumothorax : load a split of any source by name.

    Examples
    --------
    >>> import tempfile, os
    >>> boxes = np.array([[2, 3, 4, 5], [np.nan] * 4, [np.nan] * 4])
    >>> path = save_h5(os.path.join(tempfile.mkdtemp(), "x.h5"), np.zeros((3, 16, 16)),
    ...                [1, 0, 0], boxes=boxes)
    >>> images, labels, masks, boxes = load_h5(path, limit=2, return_boxes=True)
    >>> images.shape, labels.tolist(), masks, boxes[0].tolist()
    ((2, 16, 16, 1), [1, 0], None, [2.0, 3.0, 4.0, 5.0])
    """
    import h5py

    path = Path(path)
    if limit is not None and (not isinstance(limit, int | np.integer) or limit < 0):
        raise ValueError(f"limit={limit!r} must be a non-negative integer or None.")
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
        count = total if limit is None else min(int(limit), total)

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
