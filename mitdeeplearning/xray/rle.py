"""SIIM-ACR's run-length encoding of pneumothorax masks (``train-rle.csv``).

SIIM-ACR stores each mask as a string of numbers in a *relative* run-length form: the mask is
flattened column by column (Fortran order, as SIIM's ``mask2rle`` reads the transposed image),
and each pair of numbers is (number of background pixels since the end of the previous run,
length of the run). An empty mask is ``"-1"``. An image with several pneumothorax regions has
one row per region; the converter (`~mitdeeplearning.xray.convert_siim`) takes their union.

>>> import numpy as np
>>> mask = np.zeros((3, 3), bool)
>>> mask[1:, 0] = mask[0, 1] = True      # pixels 1, 2 and 3 in column-major order
>>> rle_encode(mask)
'1 3'
>>> bool((rle_decode("1 3", (3, 3)) == mask).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["rle_decode", "rle_encode"]


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
