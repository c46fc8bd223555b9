"""Pneumothorax data from every source through one loader, `load_pneumothorax`.

A pneumothorax (collapsed lung) shows on a chest radiograph as a dark rim of air without lung
markings. Lab 2 trains a classifier on such images and then asks *where* it looked, so its data
has images, labels and, when a dataset has them, masks or boxes of the pneumothorax.

## Setup

Every source gives the same three arrays:

* images, a float32 array of shape (N, H, W, 1) in [0, 1];
* labels, an int64 array of shape (N,): 1 for pneumothorax, 0 for no finding;
* masks, a bool array of shape (N, H, W) (True inside the pneumothorax), or None.

The sources are ``"synthetic"`` (an offline phantom, with masks, made on the fly by
`~mitdeeplearning.xray.make_synthetic_cxr`), ``"nih"`` (NIH ChestX-ray14, 5,302 pneumothorax
and 60,361 no-finding images, a few with boxes), ``"siim"`` (SIIM-ACR, with masks), or the
path of an HDF5 file (`~mitdeeplearning.xray.h5`). The real datasets are downloaded by hand and
converted once (`~mitdeeplearning.xray.convert_nih`, `~mitdeeplearning.xray.convert_siim`, or
``mitdl convert nih|siim``) into HDF5 files in the data cache, which are read here by name.

## Let's test-drive it

>>> images, labels, masks = load_pneumothorax("synthetic", "val", limit=8)  # doctest: +SKIP
>>> images.shape, labels.shape, masks.shape                                 # doctest: +SKIP
((8, 256, 256, 1), (8,), (8, 256, 256))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from .._lazy import moved_names, renamed_keywords
from .convert import CONVERTED_FILES, SPLITS, converted_path
from .h5 import load_h5

__all__ = ["SOURCES", "SPLITS", "load_h5", "load_pneumothorax"]

#: Named sources of `load_pneumothorax` (besides the path of an HDF5 file).
SOURCES = ("synthetic", "nih", "siim")

#: Images per split that ``load_pneumothorax("synthetic")`` makes when `limit` is not given.
SYNTHETIC_SIZES = {"train": 1000, "val": 200, "test": 400}

#: Public names that lived in this module before the HDF5 format, the RLE codec and the
#: converters moved out: they still work and warn once.
__getattr__ = moved_names(
    __name__,
    {
        "build_nih": "mitdeeplearning.xray.nih:convert_nih",
        "build_siim": "mitdeeplearning.xray.siim:convert_siim",
        "save_h5": "mitdeeplearning.xray.h5:save_h5",
        "rle_encode": "mitdeeplearning.xray.rle:rle_encode",
        "rle_decode": "mitdeeplearning.xray.rle:rle_decode",
    },
    globals(),
)


def _not_converted(source: str, path: Path) -> data.ManualDownloadRequired:
    """The error for a named source whose files are missing: how to get and convert them."""
    entry = data.get_dataset(CONVERTED_FILES[source][0])
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
    """Images (N, H, W, 1) float32 and masks (N, H, W) bool or None to `size` x `size`:
    images averaged (cv2.INTER_AREA), masks by nearest neighbour."""
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


@renamed_keywords(n="limit")
def load_pneumothorax(
    source: str | os.PathLike = "synthetic",
    split: str | None = None,
    *,
    size: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    positive_fraction: float | None = None,
    shortcut: Any = None,
    tube_rate: tuple[float, float] | None = None,
    label_noise: float | None = None,
    return_tube_masks: bool = False,
) -> tuple[np.ndarray, ...]:
    """Load one split of pneumothorax data: images, labels and (where the source has them) masks.

    Parameters
    ----------
    source : str or path
        ``"synthetic"`` (phantom radiographs made on the fly, with masks), ``"nih"`` (NIH
        ChestX-ray14, converted by ``mitdl convert nih``; no masks), ``"siim"`` (SIIM-ACR,
        converted by ``mitdl convert siim``; with masks), or the path of an HDF5 file in the
        2018 course's format (see `load_h5`).
    split : {"train", "val", "test"}, optional
        Which split (default ``"train"``). Splits never share images (for ``"nih"``, patients).
        An HDF5 file is a single split, so a path takes no `split`.
    size : int, optional
        Side of the square images returned; default the source's own (256). Images are
        resized with cv2.INTER_AREA, masks with nearest neighbour.
    limit : int, optional
        How many images: synthetic, exactly this many (default 1000 train, 200 val, 400 test);
        otherwise at most this many, the first of the file (a random sample: the converters
        shuffle), or all of it. (Formerly ``n``; the old keyword still works and warns once.)
    seed : int
        Synthetic only: seed of the phantom. Each split uses its own seed derived from it
        (``3 * seed`` + 0, 1 or 2), so no two (seed, split) pairs share images.
    positive_fraction : float, optional
        Synthetic only: the fraction of pneumothorax images (default 0.2, about 1 in 5: an
        enriched set, like SIIM-ACR's; ChestX-ray14 has 4.7 %, a clinic fewer still).
    shortcut : optional
        Synthetic only: a spurious cue added to the images, passed to `make_synthetic_cxr`.
    tube_rate : (float, float), optional
        Synthetic only, with ``shortcut="chest_tube"``: the probability of a chest drain with
        and without a pneumothorax (default: `make_synthetic_cxr`'s, (0.9, 0.05)).
    label_noise : float, optional
        Synthetic ``"train"`` split only: the share of its labels flipped, in [0, 0.5) (the
        images and masks stay true; see `make_synthetic_cxr`). Validation and test labels are
        the truth, so another split with `label_noise` is an error.
    return_tube_masks : bool, default False
        Synthetic only: also return where the drains are, a bool array (N, H, W).

    Returns
    -------
    images : ndarray of shape (N, H, W, 1)
        float32 in [0, 1].
    labels : ndarray of shape (N,)
        int64, 1 for pneumothorax, 0 for no finding.
    masks : ndarray of shape (N, H, W) or None
        bool, True inside the pneumothorax; None for sources without masks (``"nih"``).
    tube_masks : ndarray of shape (N, H, W)
        Only with ``return_tube_masks=True``: bool, True on the drains' pixels.

    Raises
    ------
    ValueError
        Unknown source or split (the message lists the valid ones), or an option that does not
        apply to the source.
    mitdeeplearning.data.ManualDownloadRequired
        ``"nih"`` or ``"siim"`` has not been converted yet; the message says how.

    See Also
    --------
    mitdeeplearning.xray.make_synthetic_cxr : the phantom.
    mitdeeplearning.xray.convert_nih, mitdeeplearning.xray.convert_siim : make the real
        datasets' files.

    Examples
    --------
    >>> images, labels, masks = load_pneumothorax("synthetic", "test", limit=50)  # doctest: +SKIP
    >>> images.shape, labels.dtype, masks.shape                                  # doctest: +SKIP
    ((50, 256, 256, 1), dtype('int64'), (50, 256, 256))
    """
    synthetic_options = {
        "positive_fraction": positive_fraction,
        "shortcut": shortcut,
        "tube_rate": tube_rate,
        "label_noise": label_noise,
        "return_tube_masks": return_tube_masks or None,
    }
    is_named = _check_arguments(source, split, size, limit, synthetic_options)
    if source == "synthetic":
        return _load_synthetic(split or "train", size, limit, seed, synthetic_options)
    if is_named:
        path = converted_path(str(source), split or "train")
        if not path.is_file():
            raise _not_converted(str(source), path)
    else:
        if split is not None:
            raise ValueError(
                f"split={split!r} does not apply to a file ({source}): an HDF5 file is one split. "
                "Load each split's file by its path."
            )
        path = Path(source)
    images, labels, masks = load_h5(path, limit=limit)
    if size is not None:
        images, masks = _resize_batch(images, masks, int(size))
    return images, labels, masks


def _check_arguments(source, split, size, limit, synthetic_options: dict) -> bool:
    """Check `load_pneumothorax`'s arguments; return whether `source` is a named one."""
    if size is not None and (not isinstance(size, int | np.integer) or size < 8):
        raise ValueError(f"size={size!r} must be an integer of at least 8 (pixels) or None.")
    if limit is not None and (not isinstance(limit, int | np.integer) or limit < 0):
        raise ValueError(f"limit={limit!r} must be a non-negative integer or None.")
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
        given = [name for name, value in synthetic_options.items() if value is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to "
                f"source='synthetic'; real data has the labels and cues it has."
            )
    noise = synthetic_options["label_noise"]
    if source == "synthetic" and noise and (split or "train") != "train":
        raise ValueError(
            f"label_noise={noise!r} applies to the 'train' split only, got split={split!r}: "
            "validation and test labels are the truth the model is measured against."
        )
    return is_named


def _load_synthetic(split, size, limit, seed, synthetic_options: dict) -> tuple:
    """`make_synthetic_cxr` with a seed of its own for each (seed, split) pair."""
    from .phantom import make_synthetic_cxr

    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer.")
    fraction = synthetic_options["positive_fraction"]
    options: dict[str, Any] = {
        "seed": 3 * int(seed) + SPLITS.index(split),
        "positive_fraction": 0.2 if fraction is None else fraction,
        "shortcut": synthetic_options["shortcut"],
    }
    for name in ("tube_rate", "label_noise", "return_tube_masks"):
        if synthetic_options[name] is not None:
            options[name] = synthetic_options[name]
    if size is not None:
        options["size"] = int(size)
    count = SYNTHETIC_SIZES[split] if limit is None else int(limit)
    return make_synthetic_cxr(count, **options)
