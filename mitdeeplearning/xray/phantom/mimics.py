"""Look-alikes of a pneumothorax, drawn in both classes at the same rates (hard negatives).

* Skin folds: on supine films above all, a fold of skin over the chest makes a density edge
  (with a thin bright margin) running along the lateral lung, which a reader can take for a
  pleural line; unlike one, it runs past the lung, and markings continue beyond it.
* Companion shadows: thin lines parallel to the wall near the apex (soft tissue along the
  first ribs), with lung markings on both sides.
* Bullae: thin-walled air spaces in the lung without markings inside, mostly in the upper
  zones: air without markings, like a small pneumothorax, but round and inside the lung.

Scapular borders, the other classic look-alike, are part of the skeleton (`bones`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy
from .draw import ellipses, fill, lines, side_sign

#: Rates of each look-alike on (upright, supine) films.
RATES = {"skin_fold": (0.25, 0.45), "companion": (0.25, 0.25), "bulla": (0.1, 0.1)}


@dataclass
class Mimics:
    """The look-alikes of one film, as sampled by `sample_mimics`."""

    skin_fold: bool
    fold_side: int
    fold_shape: np.ndarray  # (6,) uniform draws: inset, bow, top, length, contrast
    companion: bool
    companion_side: int
    companion_inset: float  # fraction of the hilum-to-wall distance
    bulla: bool
    bulla_side: int
    bulla_place: np.ndarray  # (2,) uniform draws: angle round the hilum and distance out
    bulla_radius: float


def sample_mimics(rng: np.random.Generator, supine: bool) -> Mimics:
    """Draw the look-alikes of a film (a fixed number of draws, whatever the label)."""
    column = 1 if supine else 0
    return Mimics(
        skin_fold=rng.random() < RATES["skin_fold"][column],
        fold_side=side_sign(rng),
        fold_shape=rng.random(6),
        companion=rng.random() < RATES["companion"][column],
        companion_side=side_sign(rng),
        companion_inset=rng.uniform(0.06, 0.16),
        bulla=rng.random() < RATES["bulla"][column],
        bulla_side=side_sign(rng),
        bulla_place=rng.random(2),
        bulla_radius=rng.uniform(0.02, 0.05),
    )


def _skin_fold(mimics: Mimics, anatomy: Anatomy, canvas: np.ndarray, edge: np.ndarray) -> None:
    """A density step along the lateral lung, running past it, with a thin bright margin."""
    a, side, shape = anatomy, mimics.fold_side, mimics.fold_shape
    wall = a.midline + side * a.lung_reach
    top = 0.12 + 0.25 * shape[2]
    ys = top + (0.3 + 0.4 * shape[3]) * np.linspace(0.0, 1.0, 6)
    bow = np.sin(np.linspace(0.0, np.pi, 6)) * (0.01 + 0.03 * shape[1])
    xs = wall - side * (0.02 + 0.1 * shape[0] + bow)
    curve = np.stack([xs, ys], 1)
    region = np.concatenate([curve, [[wall + side * 0.3, ys[-1]], [wall + side * 0.3, ys[0]]]])
    fill(canvas, [region], round(255 * (0.25 + 0.3 * shape[4])))
    lines(edge, curve[None], 255, 1.3 * canvas.shape[0] / 256)


def draw_mimics(
    mimics: Mimics, anatomy: Anatomy, lungs: dict, lung: dict, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The look-alikes' density (size, size) float32, and the bulla's air (size, size) uint8,
    1 where lung tissue is missing. `lungs`: outlines; `lung`: uint8 lung fields by side."""
    density = np.zeros((size, size), np.float32)
    bulla = np.zeros((size, size), np.uint8)
    contrast = np.float32(anatomy.line_contrast / 255)
    if mimics.skin_fold:
        step, edge = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
        _skin_fold(mimics, anatomy, step, edge)
        density += step * np.float32(0.1 / 255) + edge * contrast
    if mimics.companion:  # a line parallel to the apex, with markings on both sides
        side = mimics.companion_side
        outline = lungs[side]
        arc = outline.outline[: int(outline.n_lateral * 0.5)]
        arc = outline.hilum + (arc - outline.hilum) * (1 - mimics.companion_inset)
        line = np.zeros((size, size), np.uint8)
        lines(line, arc[None], 255, 1.3 * size / 256)
        density += (line & (lung[side] * 255)) * contrast
    if mimics.bulla:
        side = mimics.bulla_side
        outline = lungs[side]
        angle = np.radians(95 + 75 * mimics.bulla_place[0])  # from the apex to the lateral wall
        toward = np.array([-side * np.cos(angle), -np.sin(angle)])
        centre = outline.hilum + toward * (0.12 + 0.12 * mimics.bulla_place[1])
        radius = mimics.bulla_radius
        ring = ellipses(centre[None], (radius, radius * 0.85), 20)
        fill(bulla, ring, 1, smooth=False)
        bulla &= lung[side]
        wall = np.zeros((size, size), np.uint8)
        lines(wall, ring, 255, 1.3 * size / 256, closed=True)
        density += (wall & (lung[side] * 255)) * contrast
    return density, bulla
