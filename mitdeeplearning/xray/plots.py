"""Showing where the network looked: saliency maps over X-rays, a grid of cases.

A map is drawn over the grey image in a perceptually uniform colormap (``magma``: darker is
less, brighter is more, readable in greyscale and by colour-blind readers), and only where it
is high: each pixel's opacity grows with the map, so the anatomy stays visible where the map
says nothing. The ground-truth region, where known, is outlined.

`plot_cams` draws a grid of cases; `worst_cases` picks the model's worst errors (the positives
it scored lowest, the negatives it scored highest) and `plot_failures` draws them, one row per
class, each case named by what the decision at a threshold made of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import matplotlib.figure

#: Names of classes 0 and 1 in titles.
CLASS_NAMES = ("no pneumothorax", "pneumothorax")


def _grey(image) -> np.ndarray:
    """``(H, W)`` float in [0, 1] from an image of shape (H, W), (H, W, 1) or (H, W, 3)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        image = image.mean(axis=-1) if image.shape[-1] == 3 else image[..., 0]
    if image.ndim != 2:
        raise ValueError(
            f"image must have shape (height, width), (height, width, 1) or "
            f"(height, width, 3), got {image.shape}."
        )
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float64) / 255.0
    return np.clip(image.astype(np.float64), 0.0, 1.0)


def _display_scale(cam) -> np.ndarray:
    """The map's positive part divided by its maximum: 0 = no evidence, 1 = the most."""
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"cam must have shape (height, width), got {cam.shape}.")
    if not np.isfinite(cam).all():
        raise ValueError("cam holds NaN or infinite values.")
    positive = np.maximum(cam, 0.0)
    top = positive.max()
    return positive / top if top > 0 else positive


def overlay(image, cam, *, alpha: float = 0.45, cmap: str = "magma") -> np.ndarray:
    """An RGB picture of `cam` laid over `image`.

    The map is scaled for display: its positive part divided by its maximum (negative
    evidence shows as nothing). Each pixel mixes the colormap's colour into the grey image
    with opacity ``alpha * scaled map``, so places the map ignores keep the X-ray unchanged.

    Parameters
    ----------
    image : array of shape (height, width), (height, width, 1) or (height, width, 3)
        Floats in [0, 1] (clipped) or uint8.
    cam : array of shape (height, width)
        A map at the image's size (`class_activation_maps` and `grad_cam` return them so).
    alpha : float, default 0.45
        Opacity of the map where it is highest, in [0, 1].
    cmap : str, default "magma"
        A matplotlib colormap; a perceptually uniform one (magma, inferno, viridis) shows the
        map's values honestly, unlike jet.

    Returns
    -------
    float array of shape (height, width, 3)
        RGB in [0, 1], for ``plt.imshow``.

    Examples
    --------
    >>> picture = overlay(np.full((4, 4), 0.5), np.eye(4))
    >>> picture.shape, float(picture.min()) >= 0, float(picture.max()) <= 1
    ((4, 4, 3), True, True)
    """
    import matplotlib

    grey = _grey(image)
    heat = _display_scale(cam)
    if heat.shape != grey.shape:
        raise ValueError(
            f"cam has shape {heat.shape} but the image {grey.shape}; expected the same "
            "height and width (upsample the map first)."
        )
    if not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
        raise ValueError(f"alpha={alpha!r} must be in [0, 1].")
    colours = matplotlib.colormaps[cmap](heat)[..., :3]
    weight = (alpha * heat)[..., None]
    return np.clip((1 - weight) * grey[..., None] + weight * colours, 0.0, 1.0)


def plot_cams(
    images,
    cams,
    *,
    labels=None,
    probabilities=None,
    masks=None,
    ncols: int = 4,
    alpha: float = 0.45,
    cmap: str = "magma",
    class_names: Sequence[str] = CLASS_NAMES,
    panel_size: float = 2.2,
) -> matplotlib.figure.Figure:
    """A grid of cases: each the X-ray and, beside it, the map over it.

    Parameters
    ----------
    images : array of shape (n, height, width) or (n, height, width, channels)
        The X-rays, floats in [0, 1].
    cams : array of shape (n, height, width)
        Their maps.
    labels : int array of shape (n,), optional
        True classes, named by `class_names` in the titles.
    probabilities : float array of shape (n,), optional
        The model's probability of class 1 (pneumothorax), shown as ``p = 0.93``.
    masks : bool array of shape (n, height, width), optional
        Ground-truth regions, outlined in cyan on both panels (empty masks draw nothing).
    ncols : int, default 4
        Cases per row (two panels each).
    alpha, cmap : float, str
        As for `overlay`.
    class_names : (str, str)
        Names of classes 0 and 1.
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    cams = np.asarray(cams)
    n = len(images)
    if cams.ndim != 3 or len(cams) != n:
        raise ValueError(
            f"cams must have shape (n, height, width) with n = {n} images, got {cams.shape}."
        )
    for name, value in (("labels", labels), ("probabilities", probabilities)):
        if value is not None and np.shape(value) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {np.shape(value)}.")
    if masks is not None and np.shape(masks) != cams.shape:
        raise ValueError(f"masks must have shape {cams.shape}, got {np.shape(masks)}.")
    if not (isinstance(ncols, int) and ncols >= 1):
        raise ValueError(f"ncols={ncols!r} must be a positive integer.")
    if n == 0:
        raise ValueError("There is nothing to draw: no images.")

    cols = min(ncols, n)
    rows = -(-n // cols)
    fig, axes = _panels(plt, rows, cols, panel_size)
    for i in range(n):
        parts = []
        if labels is not None:
            parts.append(str(class_names[int(labels[i])]))
        if probabilities is not None:
            parts.append(f"p = {float(probabilities[i]):.2f}")
        pair = axes[i // cols, 2 * (i % cols)], axes[i // cols, 2 * (i % cols) + 1]
        mask = None if masks is None else masks[i]
        _draw_case(pair, images[i], cams[i], mask, ", ".join(parts) or f"case {i}", alpha, cmap)
    fig.tight_layout()
    return fig


def _panels(plt, rows: int, cols: int, panel_size: float):
    """A figure of `rows` x `cols` cases, two panels each, every axis off until drawn on."""
    fig, axes = plt.subplots(
        rows,
        2 * cols,
        figsize=(2 * cols * panel_size, rows * (panel_size + 0.35)),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _draw_case(pair, image, cam, mask, title: str, alpha: float, cmap: str) -> None:
    """The X-ray on the left axis, the map over it on the right, the mask outlined on both."""
    left, right = pair
    left.imshow(_grey(image), cmap="gray", vmin=0, vmax=1)
    right.imshow(overlay(image, cam, alpha=alpha, cmap=cmap))
    left.set_title(title, fontsize="small", loc="left")
    if mask is not None and np.any(mask):
        for ax in pair:
            ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors="cyan", linewidths=1)


def _labels_and_probabilities(labels, probabilities) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be a 1-D array of 0s and 1s, got shape {labels.shape}.")
    if probabilities.shape != labels.shape or not np.issubdtype(probabilities.dtype, np.number):
        raise ValueError(
            f"probabilities must be numbers of shape {labels.shape} (one per label), got "
            f"{probabilities.dtype} of shape {probabilities.shape}."
        )
    if not np.isfinite(probabilities).all():
        raise ValueError("probabilities holds NaN or infinite values.")
    return labels.astype(np.int64), probabilities.astype(np.float64)


def worst_cases(labels, probabilities, count: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The model's worst errors: the positives it scored lowest, the negatives it scored highest.

    Parameters
    ----------
    labels : int array of shape (n,)
        True classes, 0 or 1.
    probabilities : float array of shape (n,)
        The model's probability of class 1 (any score that ranks like it).
    count : int, default 4
        How many of each, at most.

    Returns
    -------
    positives, negatives : int64 arrays of shape (k,), k <= count
        Indices into `labels`, worst first: the positives by increasing probability, the
        negatives by decreasing probability (ties in index order). Whether they are errors
        depends on the threshold: `plot_failures` says so for each.

    Examples
    --------
    >>> worst_cases([1, 0, 1, 0, 1], [0.9, 0.8, 0.1, 0.2, 0.5], count=2)
    (array([2, 4]), array([1, 3]))
    """
    labels, probabilities = _labels_and_probabilities(labels, probabilities)
    if not (isinstance(count, int | np.integer) and count >= 1):
        raise ValueError(f"count={count!r} must be a positive integer.")
    positives = np.flatnonzero(labels == 1)
    negatives = np.flatnonzero(labels == 0)
    positives = positives[np.argsort(probabilities[positives], kind="stable")]
    negatives = negatives[np.argsort(-probabilities[negatives], kind="stable")]
    return positives[:count].astype(np.int64), negatives[:count].astype(np.int64)


def plot_failures(
    images,
    cams,
    labels,
    probabilities,
    threshold: float,
    *,
    masks=None,
    alpha: float = 0.45,
    cmap: str = "magma",
    panel_size: float = 2.2,
) -> matplotlib.figure.Figure:
    """A gallery of cases, positives on the first row and negatives on the second, each named
    by the decision at `threshold`: "missed" or "caught", "false alarm" or "cleared".

    Parameters
    ----------
    images : array of shape (n, height, width) or (n, height, width, channels)
        The X-rays of the cases (e.g. those `worst_cases` picks), floats in [0, 1].
    cams : array of shape (n, height, width)
        Their maps.
    labels : int array of shape (n,)
        True classes, 0 or 1.
    probabilities : float array of shape (n,)
        The model's probability of class 1; a case is called positive when ``p >= threshold``.
    threshold : float
        The operating point.
    masks : bool array of shape (n, height, width), optional
        Ground-truth regions, outlined in cyan.
    alpha, cmap, panel_size : float, str, float
        As for `plot_cams`.

    Returns
    -------
    matplotlib.figure.Figure
        One row per class present, in the order given within each row.
    """
    import matplotlib.pyplot as plt

    labels, probabilities = _labels_and_probabilities(labels, probabilities)
    images, cams = np.asarray(images), np.asarray(cams)
    n = len(labels)
    if n == 0:
        raise ValueError("There is nothing to draw: no cases.")
    if cams.shape[:1] != (n,) or cams.ndim != 3 or len(images) != n:
        raise ValueError(
            f"images and cams must hold one case per label ({n}), got {len(images)} images and "
            f"cams of shape {cams.shape} (expected (n, height, width))."
        )
    if masks is not None and np.shape(masks) != cams.shape:
        raise ValueError(f"masks must have shape {cams.shape}, got {np.shape(masks)}.")
    if not (isinstance(threshold, int | float | np.number) and np.isfinite(threshold)):
        raise ValueError(f"threshold={threshold!r} must be a finite number.")
    rows = [np.flatnonzero(labels == label) for label in (1, 0)]
    rows = [row for row in rows if len(row)]
    fig, axes = _panels(plt, len(rows), max(len(row) for row in rows), panel_size)
    names = {(1, True): "caught", (1, False): "missed", (0, True): "false alarm",
             (0, False): "cleared"}  # fmt: skip
    for r, row in enumerate(rows):
        for c, i in enumerate(row):
            flagged = bool(probabilities[i] >= threshold)
            title = f"{names[labels[i], flagged]}, p = {probabilities[i]:.2f}"
            mask = None if masks is None else masks[i]
            pair = axes[r, 2 * c], axes[r, 2 * c + 1]
            _draw_case(pair, images[i], cams[i], mask, title, alpha, cmap)
    fig.tight_layout()
    return fig
