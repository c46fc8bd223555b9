"""The pneumothorax: where the pleural air collects, how much the lung collapses, and its mask.

A pneumothorax is air between the lung and the chest wall. The lung collapses towards its hilum
away from where the air collects: at the apex and the lateral wall on an upright film (air
rises), in front and low on a supine one (the anterior costophrenic sulcus, seen as a deep,
lucent lateral angle; along the heart border, the anteromedial lucency; over the dome). Between the
visceral pleural line and the wall there is no lung tissue, so no markings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .draw import SHIFT, lines, to_fixed

#: Where the air collects, by film: (name, probability, direction of the collapse in degrees
#: above the lateral horizontal, how far round the lung it reaches).
POSITIONS = {
    "upright": (("apical", 0.3, (55, 120), (0.0, 0.3)), ("lateral", 0.7, (-33, 55), (0.0, 0.1))),
    "supine": (
        ("deep sulcus", 0.35, (-55, -20), (0.1, 0.4)),
        ("anteromedial", 0.35, (200, 235), (0.0, 0.3)),
        ("subpulmonic", 0.2, (-100, -80), (0.0, 0.3)),
        ("apical", 0.10, (55, 120), (0.0, 0.3)),
    ),
}
#: Sizes: (name, probability, collapse as a fraction of the hilum-to-wall distance at the most
#: collapsed point, extra reach round the lung). Most are small; thin rims are common.
SIZES = (
    ("rim", 0.34, (0.06, 0.11), 0.0),
    ("small", 0.32, (0.10, 0.17), 0.05),
    ("moderate", 0.22, (0.17, 0.27), 0.15),
    ("large", 0.09, (0.27, 0.42), 0.35),
    ("tension", 0.03, (0.40, 0.55), 0.6),
)


@dataclass
class Lesion:
    """One pneumothorax, as sampled by `sample_lesion`."""

    side: int  # -1 image left (the patient's right), +1 image right
    position: str  # a name of POSITIONS
    size: str  # a name of SIZES
    amount: float  # collapse at the most collapsed point, fraction of the hilum distance
    direction: float  # degrees above the lateral horizontal where the lung collapses most
    reach: float  # how far round the lung the collapse reaches (0: a narrow cap)
    sharpness: float  # exponent of the collapse's fall-off round the lung
    deepen: float  # supine deep sulcus: how far the costophrenic angle is lowered
    keep_base: bool  # upright: the base stays on the diaphragm
    keep_medial: bool  # the lung stays attached along the mediastinum
    shift: float  # tension: the mediastinum pushed to the other side
    flatten: float  # tension: the hemidiaphragm pushed down

    @property
    def kind(self) -> str:
        """``"<position>/<size>"``, e.g. ``"apical/rim"``."""
        return f"{self.position}/{self.size}"


def _choose(rng: np.random.Generator, table) -> tuple:
    """One row of a table whose second column is the probability."""
    cumulative = np.cumsum([row[1] for row in table])
    row = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return table[min(row, len(table) - 1)]


def sample_lesion(rng: np.random.Generator, supine: bool) -> Lesion:
    """Draw a pneumothorax for a film (a fixed number of draws)."""
    side = 1 if rng.random() < 0.5 else -1
    position, _, directions, reaches = _choose(rng, POSITIONS["supine" if supine else "upright"])
    size, _, amounts, extra_reach = _choose(rng, SIZES)
    amount, direction = rng.uniform(*amounts), rng.uniform(*directions)
    # A lateral pneumothorax held by apical adhesions reaches less far round the lung.
    extra_reach *= 0.4 if position == "lateral" else 1.0
    reach, sharpness = rng.uniform(*reaches) + extra_reach, rng.uniform(1.0, 3.5)
    if position == "lateral":  # loculated along the wall: a short crescent (about 15-25 degrees)
        sharpness = 6.0 + 4.0 * sharpness
    deepen, shift, flatten = (
        rng.uniform(0.03, 0.06),
        rng.uniform(0.03, 0.055),
        rng.uniform(0.03, 0.05),
    )
    tension = size == "tension"
    return Lesion(
        side=side,
        position=position,
        size=size,
        amount=amount,
        direction=direction,
        reach=reach,
        sharpness=sharpness,
        deepen=deepen if position == "deep sulcus" else 0.0,
        keep_base=position in ("apical", "lateral") and not tension,
        keep_medial=position != "anteromedial",
        shift=shift if tension else 0.0,
        flatten=flatten if tension else 0.0,
    )


def collapse_centre(outline: np.ndarray, hilum: np.ndarray, lesion: Lesion) -> np.ndarray:
    """The point the lung collapses towards: the hilum, or for an anteromedial pneumothorax
    a point lateral to the middle of the lung's lower half, so the lung leaves the heart border
    and the mediastinum."""
    if lesion.position == "anteromedial":
        lower = outline[outline[:, 1] > hilum[1]]
        return np.array([lower[:, 0].mean() + lesion.side * 0.05, lower[:, 1].mean() - 0.03])
    return hilum


def collapse(points: np.ndarray, centre: np.ndarray, lesion: Lesion) -> np.ndarray:
    """Pull (n, 2) outline points towards `centre`, most along the lesion's direction."""
    offset = points - centre
    radius = np.sqrt((offset**2).sum(-1)) + 1e-9
    phi = math.radians(lesion.direction)
    toward = np.array([lesion.side * math.cos(phi), -math.sin(phi)])
    weight = np.clip(((offset @ toward) / radius + lesion.reach) / (1 + lesion.reach), 0.0, 1.0)
    weight = weight**lesion.sharpness
    if lesion.keep_medial:  # attached at the hilum and along the mediastinum: no medial air
        weight *= np.clip(lesion.side * offset[..., 0] / radius * 2.0 + 1.0, 0.0, 1.0)
    if lesion.keep_base:  # upright: nothing collapses downwards
        weight *= np.clip((0.55 - offset[..., 1] / radius) / 0.35, 0.0, 1.0)
    return centre + offset * (1 - lesion.amount * weight)[..., None]


def pneumothorax(
    lung: np.ndarray, outline: np.ndarray, centre: np.ndarray, lesion: Lesion
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pleural air of one lung, its mask and its visceral pleural line.

    Parameters
    ----------
    lung : (size, size) uint8
        The lung field as drawn, 1 inside.
    outline : (n, 2) float
        The outline that collapses (without a deep sulcus: the air is below its angle).
    centre : (2,) float
        Where the lung collapses towards (`collapse_centre`).
    lesion : Lesion
        Its `amount` grows (up to 0.7) when the air is too small to see at this size.

    Returns
    -------
    air, mask, line : (size, size) uint8
        The air (1 inside), the mask (the air and 2 px of the collapsed lung, so the pleural line
        is inside it; 1 inside), and the pleural line (0-255, only where it borders air).
    """
    import cv2

    size = lung.shape[0]
    pixel = size / 256
    kernel = np.ones((3, 3), np.uint8)
    for _attempt in range(12):
        collapsed = collapse(outline, centre, lesion)
        inside = np.zeros_like(lung)
        cv2.fillPoly(inside, [to_fixed(collapsed, size)], 1, cv2.LINE_8, SHIFT)
        # Opening drops slivers along the medial border, where the lung barely moved.
        air = cv2.morphologyEx(lung & (1 - (inside & lung)), cv2.MORPH_OPEN, kernel)
        mask = cv2.dilate(air, kernel, iterations=max(1, round(2 * pixel))) & lung
        if mask.sum() >= 0.002 * size * size:
            break
        # Too small to see at this size: enlarge it, then let it reach further round.
        if lesion.amount < 0.7:
            lesion.amount = min(0.7, lesion.amount * 1.4)
        else:
            lesion.reach += 0.15
    # The visceral pleural line: the collapsed outline, where it has left the chest wall.
    moved = np.sqrt(((collapsed - outline) ** 2).sum(-1)) * size > 1.5 * pixel
    segments = np.stack([collapsed, np.roll(collapsed, -1, 0)], 1)[moved & np.roll(moved, -1)]
    line = np.zeros_like(lung)
    if len(segments):
        lines(line, segments, 255, 1.8 * pixel)
    return air, mask, line & (mask * 255)
