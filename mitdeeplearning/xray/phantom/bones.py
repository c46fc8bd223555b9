"""The skeleton: posterior and anterior ribs, scapular borders, spine, clavicles, humeri."""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy, lateral_border, scapula_outline
from .draw import band, ellipses, fill, lines


def _cortex(canvas: np.ndarray, paths: np.ndarray, width: float, value: int, inner: int) -> None:
    """A bone in profile along (m, n, 2) paths: bright cortex at both edges, paler medulla."""
    fill(canvas, band(paths, width), value)
    fill(canvas, band(paths, width - 2.5 / 256), inner)


def _ribs(anatomy: Anatomy, canvas: np.ndarray, faint: np.ndarray) -> None:
    """Posterior ribs on `canvas` (out from the spine, arching up, then down the lateral wall);
    fainter anterior ribs (from the wall down and in) on `faint`."""
    chest = anatomy
    rib = np.arange(11)[:, None]
    y_start = chest.rib_top + chest.rib_spacing * rib * (1 + 0.035 * rib)
    t = np.clip((y_start + 0.04 - chest.apex_y) / (0.75 - chest.apex_y), 0.0, 1.0)
    reach = lateral_border(t, 1, chest) + 0.025
    reach[0] = chest.mediastinum + chest.apex_inset + 0.035  # the first rib rings the apex
    drop = np.where(rib == 0, 1.8, 1.0) * chest.rib_drop
    u = np.linspace(0.0, 1.0, 14)[None]
    out = np.concatenate(
        [0.03 + u * (reach - 0.03), reach + [[0.006, 0.006]] * np.ones_like(rib)], 1
    )
    ys = y_start - chest.rib_rise * np.sin(np.pi * u * 0.8) + drop * u**2.5
    ys = np.concatenate([ys, ys[:, -1:] + [[0.02, 0.045]]], 1)
    posterior = np.concatenate([np.stack([chest.midline + s * out, ys], -1) for s in (-1, 1)])
    first = np.arange(len(posterior)) % len(rib) == 0  # the first ribs cross the next ones
    _cortex(canvas, posterior[~first], chest.rib_width, 255, 170)
    _cortex(canvas, posterior[first], chest.rib_width, 255, 170)
    v = np.linspace(0.0, 1.0, 8)[None]
    chosen = slice(1, 7)
    inward = reach[chosen] - v * (reach[chosen] - 0.12)
    y_anterior = ys[chosen, -1:] + 0.01 + chest.anterior_rib_drop * v + 0.02 * v**2
    anterior = np.concatenate(
        [np.stack([chest.midline + s * inward, y_anterior], -1) for s in (-1, 1)]
    )
    _cortex(faint, anterior, 0.85 * chest.rib_width, 80, 60)


def _spine(anatomy: Anatomy, canvas: np.ndarray, pixel: float) -> None:
    """Vertebral bodies, pedicles and spinous processes, faint behind the mediastinum."""
    chest = anatomy
    count = 24
    height = chest.vertebra_height * 1.03 ** np.arange(count)
    top = -0.02 + np.concatenate([[0.0], np.cumsum(height)[:-1]])
    width = chest.vertebra_width * 1.02 ** np.arange(count)
    keep = top < 1.0
    height, top, width = height[keep], top[keep], width[keep]
    left, right, bottom = chest.midline - width / 2, chest.midline + width / 2, top + 0.82 * height
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    fill(canvas, np.stack([np.stack(c, 1) for c in corners], 1), 70)
    pedicles = np.concatenate(
        [np.stack([chest.midline + s * 0.36 * width, top + 0.35 * height], 1) for s in (-1, 1)]
    )
    lines(canvas, ellipses(pedicles, (0.009, 0.014), 10), 130, 1.5 * pixel, closed=True)
    spinous = np.stack([np.full_like(top, chest.midline), top + 0.75 * height], 1)
    fill(canvas, ellipses(spinous, (0.006, 0.01), 8), 110)


def _shoulders(anatomy: Anatomy, canvas: np.ndarray, centre_x: float) -> None:
    """Clavicles over the apices, scapular borders, and the humeri when the arms are out."""
    chest = anatomy
    u = np.linspace(0.0, 1.0, 16)
    y_clavicle = chest.clavicle_y - chest.clavicle_rise * u + 0.012 * np.sin(2 * np.pi * u)
    clavicles = np.stack(
        [
            np.stack([centre_x + s * (0.04 + u * (chest.lung_reach + 0.05)), y_clavicle], 1)
            for s in (-1, 1)
        ]
    )
    _cortex(canvas, clavicles, 0.034, 255, 190)
    for side in (-1, 1):
        if chest.scapula[side]:  # its medial border: a line over the lung, like a pleural line
            fill(canvas, band(scapula_outline(chest, side)[None, :3], 1.5 / 256), 90)
    if not chest.arms_out:
        return
    for side in (-1, 1):
        x_head = chest.midline + side * (chest.lung_reach + chest.wall + 0.14)
        shaft = np.linspace([x_head, chest.apex_y + 0.06], [x_head + side * 0.02, 0.75], 4)[None]
        _cortex(canvas, shaft, 0.05, 230, 150)
        head = np.array([[x_head - side * 0.01, chest.apex_y + 0.05]])
        fill(canvas, ellipses(head, (0.055, 0.055), 20), 230)
        fill(canvas, ellipses(head, (0.045, 0.045), 20), 150)


def bone_density(anatomy: Anatomy, size: int, centre_x: float) -> np.ndarray:
    """(size, size) float32 density of the skeleton."""
    ribs = np.zeros((size, size), np.uint8)
    other = np.zeros((size, size), np.uint8)
    _ribs(anatomy, ribs, other)
    _spine(anatomy, other, size / 256)
    _shoulders(anatomy, other, centre_x)
    out = ribs.astype(np.float32)
    out *= np.float32(anatomy.rib_contrast / 255)
    out += other * np.float32(1.1 * anatomy.rib_contrast / 150)
    return out
