"""Showing where the network looked: saliency maps over X-rays, a grid of cases.

A map is drawn over the grey image in a perceptually uniform colormap (``magma``: darker is
less, brighter is more, readable in greyscale and by colour-blind readers), and only where it
is high: each pixel's opacity grows with the map, so the anatomy stays visible where the map
says nothing. The ground-truth region, where known, is outlined.
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
    fig, axes = plt.subplots(
        rows,
        2 * cols,
        figsize=(2 * cols * panel_size, rows * (panel_size + 0.35)),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        left, right = axes[i // cols, 2 * (i % cols)], axes[i // cols, 2 * (i % cols) + 1]
        left.imshow(_grey(images[i]), cmap="gray", vmin=0, vmax=1)
        right.imshow(overlay(images[i], cams[i], alpha=alpha, cmap=cmap))
        parts = []
        if labels is not None:
            parts.append(str(class_names[int(labels[i])]))
        if probabilities is not None:
            parts.append(f"p = {float(probabilities[i]):.2f}")
        left.set_title(", ".join(parts) or f"case {i}", fontsize="small", loc="left")
        if masks is not None and np.any(masks[i]):
            for ax in (left, right):
                ax.contour(
                    np.asarray(masks[i], dtype=float), levels=[0.5], colors="cyan", linewidths=1
                )
    fig.tight_layout()
    return fig
