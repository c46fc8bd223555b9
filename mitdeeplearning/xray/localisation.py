"""Does the explanation point at the disease? Scores of saliency maps against ground truth.

Each score compares maps (CAMs, Grad-CAMs: ``(n, height, width)``, higher = more evidence) with
where the pneumothorax really is, as a pixel mask or a bounding box, on positive cases only:

* `pointing_game` (Zhang et al., 2016): is the map's maximum inside the mask, give or take a
  few pixels? The simplest score, and blind to how spread out the map is.
* `energy_in_mask`: what share of the map's positive mass falls inside the mask (Wang et al.'s
  Score-CAM "energy-based pointing game", 2020)? 1 means nothing outside.
* `cam_iou`: the overlap (intersection over union) of the map's hot region with the mask.
* `iobb_hits`: ChestX-ray8's localisation accuracy (Wang et al., 2017): boxes around the hot
  regions, scored by the share of a box that lies in the ground-truth box (IoBB).

A score means little without the strongest simple baseline beside it: `location_prior` is a
map that ignores the image and says "where pneumothoraces usually are" (how often each pixel
lies in the training masks), optionally on the side each lesion is known to be on
(`mask_sides`). Scored like a CAM, it shows how much of a map's score a fixed guess earns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..guard import refuse_during_grading


def _check_maps(cams, name: str = "cams") -> np.ndarray:
    cams = np.asarray(cams)
    if cams.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n, height, width), got shape {cams.shape} "
            "(for one map pass cam[None])."
        )
    if not np.issubdtype(cams.dtype, np.number) or np.issubdtype(cams.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {cams.dtype}.")
    cams = cams.astype(np.float64)
    if not np.isfinite(cams).all():
        raise ValueError(f"{name} holds NaN or infinite values.")
    return cams


def _check_maps_and_masks(cams, masks) -> tuple[np.ndarray, np.ndarray]:
    cams = _check_maps(cams)
    masks = np.asarray(masks)
    if masks.shape != cams.shape:
        raise ValueError(
            f"masks has shape {masks.shape} but cams has shape {cams.shape}; expected one "
            "(height, width) mask per map, at the map's size (upsample the maps first)."
        )
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError("masks must be boolean (or 0/1) arrays.")
        masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
    if len(empty):
        raise ValueError(
            f"masks {empty[:5].tolist()} {'is' if len(empty) == 1 else 'are'} empty: "
            "localisation is scored on positive cases with a ground-truth region; "
            "select them first (e.g. cams[labels == 1], masks[labels == 1])."
        )
    return cams, masks


def _normalise(cams: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] by its own minimum and maximum; a flat map becomes zeros."""
    low = cams.min(axis=(1, 2), keepdims=True)
    span = cams.max(axis=(1, 2), keepdims=True) - low
    return np.divide(cams - low, span, out=np.zeros_like(cams), where=span > 0)


def pointing_game(cams, masks, tolerance: float | None = None) -> np.ndarray:
    """Hit or miss: does each map's maximum fall in its mask, within `tolerance` pixels?

    Parameters
    ----------
    cams : array of shape (n, height, width)
        Saliency maps (any scale; only the position of the maximum counts).
    masks : bool array of shape (n, height, width)
        Ground-truth regions, none empty.
    tolerance : float, optional
        A maximum at most this many pixels (Euclidean) from the mask is a hit. Default:
        15 px at 224 px wide, scaled to these maps (``15 * width / 224``), as in Zhang et al.'s
        pointing game. 0 asks for the maximum inside the mask.

    Returns
    -------
    bool array of shape (n,)
        ``hits.mean()`` is the pointing accuracy. A flat map (no maximum: all values equal,
        e.g. a ReLU'd map with no positive evidence) is a miss; with several equal maxima the
        first in row-major order counts.

    Raises
    ------
    ValueError
        If the shapes differ, a mask is empty, or the maps are not finite.

    Examples
    --------
    >>> cams = np.zeros((2, 224, 224)); masks = np.zeros((2, 224, 224), bool)
    >>> masks[:, 100:120, 100:120] = True
    >>> cams[0, 110, 110] = 1   # inside
    >>> cams[1, 110, 130] = 1   # 11 px right of the mask: within 15 px
    >>> pointing_game(cams, masks).tolist()
    [True, True]
    """
    refuse_during_grading("xray.pointing_game")
    cams, masks = _check_maps_and_masks(cams, masks)
    n, height, width = cams.shape
    if tolerance is None:
        tolerance = 15.0 * width / 224.0
    if not (isinstance(tolerance, int | float | np.number) and 0 <= tolerance < math.inf):
        raise ValueError(f"tolerance={tolerance!r} must be a number of pixels >= 0.")
    flat = cams.reshape(n, -1)
    peak = np.argmax(flat, axis=1)
    rows, cols = np.unravel_index(peak, (height, width))
    hits = np.zeros(n, dtype=bool)
    for i in range(n):
        if flat[i, peak[i]] == flat[i].min():
            continue  # a flat map points nowhere
        if masks[i, rows[i], cols[i]]:
            hits[i] = True
            continue
        ys, xs = np.nonzero(masks[i])
        nearest = np.min((ys - rows[i]) ** 2 + (xs - cols[i]) ** 2)
        hits[i] = nearest <= tolerance**2
    return hits


def energy_in_mask(cams, masks) -> np.ndarray:
    """The share of each map's positive energy that lies inside its mask.

    ``sum(relu(cam) * mask) / sum(relu(cam))``: negative values (evidence against the class)
    are left out, so the score asks where the map says "here".

    Parameters
    ----------
    cams : array of shape (n, height, width)
        Saliency maps.
    masks : bool array of shape (n, height, width)
        Ground-truth regions, none empty.

    Returns
    -------
    float array of shape (n,)
        In [0, 1]; NaN for a map with no positive value. A uniform map scores the mask's share
        of the image.

    Examples
    --------
    >>> cams = np.array([[[3.0, 1.0], [-2.0, 0.0]]])
    >>> masks = np.array([[[1, 0], [1, 0]]], dtype=bool)   # the left column
    >>> energy_in_mask(cams, masks).tolist()
    [0.75]
    """
    cams, masks = _check_maps_and_masks(cams, masks)
    positive = np.maximum(cams, 0.0)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(cams), np.nan), where=total > 0)


def cam_iou(cams, masks, threshold: float = 0.5) -> np.ndarray:
    """Intersection over union of each map's hot region with its mask.

    Each map is scaled to [0, 1] by its own minimum and maximum; its hot region is where the
    scaled map is ``>= threshold``.

    Parameters
    ----------
    cams : array of shape (n, height, width)
        Saliency maps.
    masks : bool array of shape (n, height, width)
        Ground-truth regions, none empty.
    threshold : float, default 0.5
        In (0, 1]: the fraction of the map's range above its minimum that counts as hot.

    Returns
    -------
    float array of shape (n,)
        In [0, 1]. A flat map has no hot region and scores 0.

    Examples
    --------
    >>> cams = np.array([[[1.0, 0.9, 0.0, 0.0]]]); masks = np.array([[[True, False, False, False]]])
    >>> cam_iou(cams, masks).tolist()   # hot: the first two pixels; one of them in the mask
    [0.5]
    """
    cams, masks = _check_maps_and_masks(cams, masks)
    if not (isinstance(threshold, int | float | np.number) and 0 < threshold <= 1):
        raise ValueError(f"threshold={threshold!r} must be in (0, 1].")
    hot = _normalise(cams) >= threshold
    intersection = (hot & masks).sum(axis=(1, 2))
    union = (hot | masks).sum(axis=(1, 2))
    return intersection / union


def _boxes_of_regions(hot: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` pixel-edge boxes (end exclusive) around each connected hot region."""
    from scipy import ndimage

    labelled, count = ndimage.label(hot, structure=np.ones((3, 3)))
    boxes = []
    for rows, cols in ndimage.find_objects(labelled)[:count]:
        boxes.append((cols.start, rows.start, cols.stop, rows.stop))
    return boxes


def iobb(cams, boxes, cam_threshold: float = 180 / 255) -> np.ndarray:
    """The best IoBB of each map: intersection over the detected box's area, of the boxes
    around the map's hot regions with the ground-truth box. See `iobb_hits`.

    Takes `cams` ``(n, height, width)`` and `boxes` ``(n, 4)`` as `iobb_hits` does; returns a
    float64 array of shape ``(n,)`` in [0, 1] (0 for a map without a hot region).

    Examples
    --------
    >>> cams = np.zeros((1, 10, 10)); cams[0, 2:4, 2:6] = 1.0   # a detected box 4 wide, 2 high
    >>> iobb(cams, [[4, 0, 6, 6]]).tolist()                      # covers half of it
    [0.5]
    """
    cams = _check_maps(cams)
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape != (len(cams), 4):
        raise ValueError(
            f"boxes must have shape (n, 4) = ({len(cams)}, 4) as (x, y, width, height) in "
            f"pixels of the maps, got shape {boxes.shape}."
        )
    if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any():
        raise ValueError("boxes must be finite, with positive width and height.")
    if not (isinstance(cam_threshold, int | float | np.number) and 0 < cam_threshold <= 1):
        raise ValueError(f"cam_threshold={cam_threshold!r} must be in (0, 1].")
    hot = _normalise(cams) >= cam_threshold
    best = np.zeros(len(cams))
    for i, (x, y, w, h) in enumerate(boxes):
        for x0, y0, x1, y1 in _boxes_of_regions(hot[i]):
            overlap_x = max(0.0, min(x1, x + w) - max(x0, x))
            overlap_y = max(0.0, min(y1, y + h) - max(y0, y))
            best[i] = max(best[i], overlap_x * overlap_y / ((x1 - x0) * (y1 - y0)))
    return best


def iobb_hits(
    cams,
    boxes,
    thresholds: Sequence[float] = (0.1, 0.25, 0.5),
    cam_threshold: float = 180 / 255,
) -> dict[float, np.ndarray]:
    """ChestX-ray8's localisation accuracy: hits at each T(IoBB) (Wang et al., CVPR 2017).

    Each map is scaled to [0, 1] by its minimum and maximum and thresholded at
    `cam_threshold`; every connected hot region (8-connectivity) gives a detected box. A map
    hits at threshold T when one of its boxes has IoBB > T, where IoBB = area(detected box ∩
    ground-truth box) / area(detected box): the share of the detection that is right. (IoBB
    rewards small boxes; report it with the pointing game or the IoU.)

    Parameters
    ----------
    cams : array of shape (n, height, width)
        Saliency maps.
    boxes : array of shape (n, 4)
        Ground-truth boxes ``(x, y, width, height)``, in pixels of the maps (``x`` across from
        the left edge, ``y`` down from the top; NIH's ``BBox_List_2017.csv`` gives them at
        1024 px: scale by ``height / 1024``). Fractions of pixels are measured exactly.
    thresholds : sequence of float, default (0.1, 0.25, 0.5)
        The T(IoBB) values, each in [0, 1); Wang et al. report 0.1 to 0.7.
    cam_threshold : float, default 180/255
        In (0, 1]; Wang et al. thresholded their heat maps at 60 and 180 of 255.

    Returns
    -------
    dict of float to bool array of shape (n,)
        ``{T: hits}``; ``hits.mean()`` is the localisation accuracy at T.

    Examples
    --------
    >>> cams = np.zeros((1, 10, 10)); cams[0, 2:4, 2:6] = 1.0   # a detected box 4 wide, 2 high
    >>> hits = iobb_hits(cams, [[4, 0, 6, 6]], thresholds=(0.25, 0.5))  # covers half of it
    >>> {t: h.tolist() for t, h in hits.items()}
    {0.25: [True], 0.5: [False]}
    """
    values = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]
    if not values or not all(0 <= t < 1 for t in values):
        raise ValueError(f"thresholds={thresholds!r} must be T(IoBB) values in [0, 1).")
    best = iobb(cams, boxes, cam_threshold)
    return {t: best > t for t in values}


def _check_masks(masks, name: str) -> np.ndarray:
    """``(n, height, width) bool``; a ValueError naming `name` otherwise."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n, height, width), got shape {masks.shape} "
            "(for one mask pass mask[None])."
        )
    if masks.dtype != bool:
        if not np.issubdtype(masks.dtype, np.number) or not np.isin(masks, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or 0/1) arrays, got dtype {masks.dtype}.")
        masks = masks.astype(bool)
    return masks


def mask_sides(masks) -> np.ndarray:
    """Which half of the image each mask lies in, by the column of its centroid.

    Parameters
    ----------
    masks : bool array of shape (n, height, width)
        Ground-truth regions, none empty.

    Returns
    -------
    int64 array of shape (n,)
        0 when the mask's centroid is in the image's left half (columns ``< width / 2``), 1 in
        its right half. On a frontal film the patient's right lung is on the image's left.

    Raises
    ------
    ValueError
        If `masks` is not an ``(n, height, width)`` boolean array or a mask is empty.

    Examples
    --------
    >>> masks = np.zeros((2, 4, 8), bool)
    >>> masks[0, 1:3, 1:3] = True   # left half
    >>> masks[1, 0:2, 5:8] = True   # right half
    >>> mask_sides(masks).tolist()
    [0, 1]
    """
    masks = _check_masks(masks, "masks")
    counts = masks.sum(axis=(1, 2))
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise ValueError(
            f"masks {empty[:5].tolist()} {'is' if len(empty) == 1 else 'are'} empty: a side "
            "needs a region; select the positives first (masks[labels == 1])."
        )
    columns = np.arange(masks.shape[2], dtype=np.float64)
    centroid = (masks.sum(axis=1) * columns).sum(axis=1) / counts
    return (centroid >= masks.shape[2] / 2).astype(np.int64)


def location_prior(masks, sides=None) -> np.ndarray:
    """Where the disease usually is: the share of training masks that cover each pixel.

    A map that never looks at the image to be mapped. Its maximum is the pixel most often
    inside the training masks: used as a saliency map it points there every time, the
    strongest single guess a pointing game can be scored against. With `sides`, each map is
    made from the training masks on the side its own image is known to have the lesion on, a
    stronger baseline still (it is told the side).

    Parameters
    ----------
    masks : bool array of shape (m, height, width)
        The training masks; empty ones (images without the disease) are skipped.
    sides : int array of shape (n,), optional
        The side (0: the image's left half, 1: its right half, as `mask_sides` gives them) of
        each image to map, e.g. ``mask_sides(test_masks)``.

    Returns
    -------
    float64 array of shape (height, width), or (n, height, width) with `sides`
        In [0, 1]: the share of the (non-empty) training masks, or of those on the given side,
        that cover each pixel. Score it like a CAM: ``pointing_game(np.broadcast_to(prior,
        test_masks.shape), test_masks)``, `energy_in_mask`.

    Raises
    ------
    ValueError
        If `masks` holds no non-empty mask, `sides` holds a value other than 0 and 1, or a
        side has no training mask.

    See Also
    --------
    mask_sides : the side of each mask.
    pointing_game, energy_in_mask : the scores to compare it with.

    Examples
    --------
    >>> train = np.zeros((3, 4, 4), bool)
    >>> train[0, 0, 0] = train[1, 0, :2] = train[2, 3, 3] = True
    >>> location_prior(train)[0].tolist()   # pixel (0, 0) is in 2 of the 3 masks
    [0.6666666666666666, 0.3333333333333333, 0.0, 0.0]
    >>> location_prior(train, sides=[1])[0, 3].tolist()   # right side: only the third mask
    [0.0, 0.0, 0.0, 1.0]
    """
    masks = _check_masks(masks, "masks")
    masks = masks[masks.reshape(len(masks), -1).any(axis=1)]
    if not len(masks):
        raise ValueError(
            "masks holds no non-empty mask: pass the training masks of images with the disease."
        )
    if sides is None:
        return masks.mean(axis=0, dtype=np.float64)
    sides = np.asarray(sides)
    if sides.ndim != 1 or not np.isin(sides, (0, 1)).all():
        raise ValueError(
            f"sides must be a 1-D array of 0 (left half) and 1 (right half), got "
            f"{np.unique(sides)[:5].tolist()} of shape {sides.shape}; mask_sides(masks) gives them."
        )
    own = mask_sides(masks)
    priors = np.zeros((2, *masks.shape[1:]))
    for side in np.unique(sides):
        if not (own == side).any():
            raise ValueError(
                f"no training mask lies on side {int(side)} "
                f"({'left' if side == 0 else 'right'} half), so it has no prior."
            )
        priors[side] = masks[own == side].mean(axis=0, dtype=np.float64)
    return priors[sides.astype(np.int64)]
