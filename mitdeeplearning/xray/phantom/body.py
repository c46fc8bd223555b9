"""Smooth soft-tissue densities: torso, abdomen, mediastinum and heart, breasts, airways.

They vary slowly, so they are drawn at a quarter of the size and enlarged.
"""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy, scapula_outline
from .draw import box_blur, ellipses, fill, grid, lines, smoothstep


def quarter(size: int) -> int:
    """The side of the quarter-size canvas of the smooth densities."""
    return max(16, size // 4)


def body_outline(anatomy: Anatomy) -> np.ndarray:
    """(n, 2) outline of the torso: neck, shoulders (arms out or down), chest wall, abdomen."""
    chest = anatomy
    skin = chest.lung_reach + chest.wall + 0.015  # half-width of the chest at the skin
    half = [[chest.midline + 0.07, -0.05], [chest.midline + 0.075, chest.apex_y - 0.05]]
    half += [[chest.midline + 0.14, chest.apex_y - 0.02]]
    if chest.arms_out:  # shoulder, the arm hanging down, the axilla between arm and chest
        half += [
            [chest.midline + skin + 0.06, chest.apex_y],
            [1.1, chest.apex_y + 0.01],
            [1.1, 0.8],
        ]
        half += [[chest.midline + skin + 0.12, 0.8], [chest.midline + skin + 0.06, 0.4]]
        half += [[chest.midline + skin + 0.03, 0.27]]
    else:
        half += [
            [chest.midline + skin + 0.05, chest.apex_y + 0.01],
            [chest.midline + skin + 0.04, 0.17],
        ]
    ys = np.linspace(0.26, 1.08, 8)
    half += list(np.stack([chest.midline + skin + 0.03 * np.sin(np.pi * (ys - 0.26) / 0.9), ys], 1))
    half = np.array(half)
    return np.concatenate([half, half[::-1] * [-1, 1] + [2 * chest.midline, 0]])


def _organs(anatomy: Anatomy, lungs: dict, canvas: int) -> np.ndarray:
    """Quarter-size density of the abdomen, mediastinum and heart, and the hila."""
    chest = anatomy
    _, ys = grid(canvas)
    dome_l, dome_r = lungs[-1].dome, lungs[1].dome
    abdomen = np.concatenate(
        [
            [[-0.1, dome_l[0, 1] + 0.01]],
            dome_l,
            dome_r[::-1],
            [[1.1, dome_r[0, 1] + 0.01], [1.1, 1.1], [-0.1, 1.1]],
        ]
    )
    medial_l, medial_r = lungs[-1].medial, lungs[1].medial
    bottom = max(medial_l[0, 1], medial_r[0, 1]) + 0.04  # the heart sits on the diaphragm
    mediastinum = np.concatenate(
        [
            medial_l[::-1],
            [[medial_l[0, 0], bottom], [medial_r[0, 0], bottom]],
            medial_r,
            [[medial_r[-1, 0], chest.apex_y - 0.06], [medial_l[-1, 0], chest.apex_y - 0.06]],
        ]
    )
    blank = np.zeros((canvas, canvas), np.float32)
    dense = fill(blank.copy(), [abdomen], chest.abdomen_density)
    heart = chest.mediastinum_density + chest.heart_density * smoothstep(
        ys, chest.heart_top - 0.04, chest.heart_top + 0.1
    )
    dense += fill(blank.copy(), [mediastinum]) * heart
    hila = ellipses(np.stack([lungs[s].hilum + [s * 0.012, 0.0] for s in (-1, 1)]), (0.02, 0.04))
    return dense + fill(blank.copy(), hila, 0.08)


def _extras(anatomy: Anatomy, supine: bool, dome_y: dict, centre_x: float, canvas: int):
    """Quarter-size density of the breasts, the scapulae and the gastric air bubble."""
    chest = anatomy
    extra = np.zeros((canvas, canvas), np.float32)
    if chest.breasts:
        centres = np.array([[chest.midline + s * 0.21, dome_y[s] + 0.03] for s in (-1, 1)])
        fill(extra, ellipses(centres, (0.17, 0.11), 24), chest.breast_density)
    for side in (-1, 1):
        if chest.scapula[side]:
            fill(extra, [scapula_outline(chest, side)], 0.045)
    if chest.gastric_bubble:  # under the left hemidiaphragm, an air-fluid level if upright
        offset = chest.bubble_offset
        centre = np.array([centre_x + offset[0] + 0.04, dome_y[1] + offset[1] + 0.03])
        bubble = ellipses(centre[None], (0.05, 0.035), 16)[0]
        if not supine:
            bubble[:, 1] = np.minimum(bubble[:, 1], centre[1])
        fill(extra, [bubble], -0.16)
    return extra


def _airways(anatomy: Anatomy, lungs: dict, centre_x: float, canvas: int) -> np.ndarray:
    """Quarter-size uint8 drawing of the trachea and main bronchi (air columns)."""
    chest = anatomy
    x_trachea = centre_x - 0.008
    air = np.zeros((canvas, canvas), np.uint8)
    trachea = np.array([[[x_trachea, -0.05], [x_trachea, chest.carina_y]]])
    lines(air, trachea, 255, 0.038 * canvas)
    for side in (-1, 1):
        hilum = lungs[side].hilum
        bronchus = np.array(
            [[[x_trachea, chest.carina_y], [hilum[0] - side * 0.025, hilum[1] - 0.015]]]
        )
        lines(air, bronchus, 150, 0.02 * canvas)
    return air


def soft_tissue(
    anatomy: Anatomy, supine: bool, lungs: dict, plain: dict, dome_y: dict, centre_x: float, size
) -> tuple[np.ndarray, np.ndarray]:
    """Full-size (size, size) float32 soft-tissue density, and the air the lungs take away
    (thicker lungs are darker); `plain` is the lungs' outlines without a pneumothorax."""
    import cv2

    chest = anatomy
    canvas = quarter(size)
    xs, ys = grid(canvas)
    profile = np.sqrt(
        np.clip(1 - ((xs - chest.midline) / (chest.lung_reach + chest.wall + 0.055)) ** 2, 0.12, 1)
    )
    upper = 1.0 + 0.25 * np.exp(-(((ys - chest.apex_y) / 0.1) ** 2))  # shoulder girdle muscles
    profile = profile * (1.0 + chest.rotation * np.clip((xs - chest.midline) / 0.4, -1.0, 1.0))
    body = box_blur(fill(np.zeros((canvas, canvas), np.float32), [body_outline(chest)]), 3)
    soft = chest.body_density * body * (profile * upper)
    dense = _organs(chest, lungs, canvas) * body + _extras(chest, supine, dome_y, centre_x, canvas)
    airways = box_blur(_airways(chest, lungs, centre_x, canvas), 3) * (chest.hilum_y[-1] > ys)
    soft += box_blur(dense, 3) - (0.12 / 255) * airways
    lungs_small = fill(np.zeros((canvas, canvas), np.float32), [plain[s].outline for s in (-1, 1)])
    thickness = box_blur(lungs_small, 0.1 * canvas)
    air = chest.air * (0.3 + 0.7 * np.minimum(thickness * 1.6, 1.0))
    full = (size, size)
    return (
        cv2.resize(soft, full, interpolation=cv2.INTER_LINEAR),
        cv2.resize(air, full, interpolation=cv2.INTER_LINEAR),
    )
