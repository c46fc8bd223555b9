"""Lung markings: irregular branching vessel trees from the hila, and parenchymal mottle."""

from __future__ import annotations

import numpy as np

from .anatomy import DEPTH, TRUNKS, Anatomy, LungOutline
from .draw import lines

#: Width (pixels at 256 px) and relative brightness of the vessels at each branching level.
VESSEL_WIDTH = (3.6, 2.7, 2.0, 1.5, 1.2, 1.0)
VESSEL_BRIGHTNESS = (1.0, 0.78, 0.6, 0.47, 0.37, 0.3)


def _trunks(lungs: dict, anatomy: Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start points (2 TRUNKS, 2), directions (radians) and lengths of the vessel trunks.

    Each trunk aims at a random point of its lung's lateral wall or dome, so no two patients
    share the pattern (real markings are not spokes at fixed angles).
    """
    draws = anatomy.trunk_draws
    starts, targets = [], []
    for column, side in enumerate((-1, 1)):
        lung: LungOutline = lungs[side]
        edge = lung.outline[: lung.n_lateral + len(lung.dome) - 4]
        picks = draws[column * TRUNKS : (column + 1) * TRUNKS, 0]
        order = np.sort((np.arange(TRUNKS) + picks) / TRUNKS)  # spread out, then jittered
        targets.append(edge[np.minimum((order * len(edge)).astype(int), len(edge) - 1)])
        starts.append(np.repeat(lung.hilum[None], TRUNKS, 0))
    starts, targets = np.concatenate(starts), np.concatenate(targets)
    delta = targets - starts
    angle = np.arctan2(delta[:, 1], delta[:, 0]) + 0.25 * (draws[:, 1] - 0.5)
    length = np.sqrt((delta**2).sum(-1)) * (0.26 + 0.12 * draws[:, 2])
    return starts, angle, length


def vessel_tree(lungs: dict, anatomy: Anatomy) -> list[np.ndarray]:
    """Branching vessels of both lungs: one (m, 3, 2) array of bent segments per level.

    Each segment forks into two shorter ones at random angles, bends a little in its middle,
    and some branches stop early (pruned). The draws are a fixed-size array of the anatomy,
    so the same patient gets the same tree whatever else is drawn.
    """
    start, angle, length = _trunks(lungs, anatomy)
    levels = []
    for level in range(DEPTH):
        count = len(angle)
        draws = anatomy.branch_draws[level, : 2 * count].reshape(count, 2, 5)
        direction = np.stack([np.cos(angle), np.sin(angle)], 1)
        end = start + length[:, None] * direction
        normal = np.stack([-direction[:, 1], direction[:, 0]], 1)
        bend = (draws[:, 0, 3] - 0.5) * 0.5 * length
        middle = (start + end) / 2 + normal * bend[:, None]
        alive = length > 0
        levels.append(np.stack([start, middle, end], 1)[alive])
        spread = 0.18 + 0.45 * draws[:, 0, 0]  # half-angle between the two children
        skew = 0.5 * (draws[:, 0, 1] - 0.5)
        angle = np.stack([angle - spread + skew, angle + spread + skew], 1).ravel()
        angle = angle + 0.3 * (draws[:, :, 2].ravel() - 0.5) + np.repeat(bend / (length + 1e-9), 2)
        ratio = 0.55 + 0.35 * draws[:, 1, :2].ravel()
        pruned = (draws[:, :, 4].ravel() < 0.12 * (level >= 1)) | ~np.repeat(alive, 2)
        length = np.where(pruned, 0.0, np.repeat(length, 2) * ratio)
        start = np.repeat(end, 2, axis=0)
    return levels


def markings(lungs: dict, anatomy: Anatomy, size: int) -> np.ndarray:
    """(size, size) uint8 drawing of the vessels: thick and bright at the hila, thin and faint
    towards the periphery; 255 is `anatomy.vessel_contrast` times the brightest."""
    canvas = np.zeros((size, size), np.uint8)
    pixel = size / 256
    for segments, width, brightness in zip(
        vessel_tree(lungs, anatomy), VESSEL_WIDTH, VESSEL_BRIGHTNESS, strict=True
    ):
        if len(segments):
            lines(canvas, segments, round(255 * brightness), width * pixel)
    return canvas
