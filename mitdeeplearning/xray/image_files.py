"""Radiographs from image files, for the converters: the files found under a download folder,
PNG and DICOM read as float32 (H, W) in [0, 1], and images and masks resized to the converted
size.

Every reader raises `Unreadable` for a file that exists but cannot be decoded, which the
converters skip (and count) rather than stop.

>>> import cv2, tempfile
>>> path = Path(tempfile.mkdtemp()) / "x.png"
>>> cv2.imwrite(str(path), np.full((64, 64), 255, np.uint8))
True
>>> resize_image(read_image(path), 16).shape
(16, 16)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .convert import Item

log = logging.getLogger(__name__)

__all__ = [
    "Unreadable",
    "find_image_files",
    "read_dicom",
    "read_image",
    "read_png",
    "resize_image",
    "resize_mask",
]


def find_image_files(
    items: list[Item],
    images_dir: Path,
    names: Callable[[Item], Sequence[str]],
    *,
    suffixes: tuple[str, ...],
    source: str,
) -> list[Item]:
    """The items whose image file is under `images_dir`, each with its `path` set.

    Every file under `images_dir` (recursively) that ends with one of `suffixes` is indexed by
    its name; an item's file is the first of ``names(item)`` found. Missing files are skipped
    and their number logged as a warning.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "deep").mkdir(); _ = (folder / "deep" / "a.png").write_bytes(b"")
    >>> from mitdeeplearning.xray.convert import Item
    >>> items = [Item("a", Path("a"), group="a"), Item("b", Path("b"), group="b")]
    >>> found = find_image_files(items, folder, lambda item: [f"{item.image_id}.png"],
    ...                          suffixes=(".png",), source="test")
    >>> [(item.image_id, item.path.relative_to(folder).as_posix()) for item in found]
    [('a', 'deep/a.png')]
    """
    files: dict[str, Path] = {}
    for root, dirs, names_here in os.walk(images_dir):
        dirs.sort()
        for name in sorted(names_here):
            if name.lower().endswith(suffixes):
                files.setdefault(name, Path(root) / name)
    found, missing = [], []
    for item in items:
        path = next((files[name] for name in names(item) if name in files), None)
        if path is None:
            missing.append(item.image_id)
        else:
            found.append(dataclasses.replace(item, path=path))
    if missing:
        log.warning(
            "%s: %d of the %d selected images were not found under %s and were skipped, e.g. %s",
            source, len(missing), len(items), images_dir, ", ".join(missing[:3]),
        )  # fmt: skip
    return found


class Unreadable(Exception):
    """An image file that exists but cannot be decoded; the converters skip it."""


def read_png(path: Path) -> np.ndarray:
    """A PNG (8- or 16-bit, grey, RGB or RGBA) as float32 (H, W) in [0, 1].

    Colour images are converted to grey; 8-bit values are divided by 255, 16-bit by 65535.

    Raises
    ------
    Unreadable
        The file cannot be read or is not an image OpenCV can decode.

    Examples
    --------
    >>> import cv2, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "grey.png"
    >>> cv2.imwrite(str(path), np.full((2, 3), 51, np.uint8))
    True
    >>> image = read_png(path)
    >>> image.shape, image.dtype, round(float(image[0, 0]), 3)
    ((2, 3), dtype('float32'), 0.2)
    """
    import cv2

    try:
        buffer = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise Unreadable(str(exc)) from exc
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise Unreadable(f"{path} is not an image OpenCV can read")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def read_dicom(path: Path) -> np.ndarray:
    """A DICOM image as float32 (H, W) in [0, 1] (needs pydicom).

    Integer pixels are divided by the largest value their ``BitsStored`` can hold; float pixels
    are scaled from their own minimum and maximum. Colour is averaged to grey, and
    ``MONOCHROME1`` images (low values shown white) are inverted so that air is dark.

    Raises
    ------
    Unreadable
        pydicom cannot read the file or its pixels.

    Examples
    --------
    >>> image = read_dicom(Path("1.2.276.0.7230010.3.1.4.8323329.1000.dcm"))  # doctest: +SKIP
    >>> image.shape, image.dtype                                               # doctest: +SKIP
    ((1024, 1024), dtype('float32'))
    """
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many kinds for a damaged file
        raise Unreadable(f"{path}: {exc}") from exc
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


def read_image(path: Path) -> np.ndarray:
    """`read_dicom` for a ``.dcm`` file, `read_png` otherwise: float32 (H, W) in [0, 1].

    Examples
    --------
    >>> import cv2, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "white.png"
    >>> cv2.imwrite(str(path), np.full((2, 2), 65535, np.uint16))
    True
    >>> read_image(path).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    return read_dicom(path) if path.suffix.lower() == ".dcm" else read_png(path)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """float32 (H, W) to (size, size), averaging pixels (cv2.INTER_AREA).

    Examples
    --------
    >>> resize_image(np.array([[0, 1], [1, 1]], np.float32), 1).tolist()
    [[0.75]]
    """
    import cv2

    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W) to bool (size, size): a pixel is in the mask when at least half of it was.

    A mask too small to cover half of any output pixel keeps its best-covered pixel, so a
    positive image never ends up with an empty mask.

    Examples
    --------
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[0, 0] = True                       # 1/16 of the first output pixel
    >>> resize_mask(mask, 2).astype(int).tolist()
    [[1, 0], [0, 0]]
    """
    import cv2

    if mask.shape == (size, size):
        return mask
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    out = coverage >= 0.5
    if mask.any() and not out.any():
        out[np.unravel_index(int(np.argmax(coverage)), coverage.shape)] = True
    return out
