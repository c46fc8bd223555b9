"""Devices and marks on the film: ECG leads, central lines and side markers on both classes,
and chest drains (the ``"chest_tube"`` shortcut) on treated patients.

Real films carry wires, lines and lead letters whatever the diagnosis; a drain, though, is put
in to treat a pneumothorax, so in real data it goes with the label (Oakden-Rayner et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy
from .draw import FIX, SHIFT, ellipses, fill, lines, side_sign

#: Rates on (upright, supine) films: supine films are mostly from intensive care.
RATES = {"ecg": (0.3, 0.75), "central_line": (0.1, 0.5), "marker": (0.85, 0.85)}


@dataclass
class Devices:
    """What lies on one film besides the patient, as sampled by `sample_devices`."""

    electrodes: np.ndarray  # (k, 2) positions of ECG electrodes (k may be 0)
    wire_ends: np.ndarray  # (k, 2) where each lead leaves the film
    central_line: str  # "" (none), "jugular" or "subclavian"
    line_side: int
    line_draws: np.ndarray  # (3,) uniform draws: course and tip of the line
    marker: str  # "" (none), "L" or "R"
    marker_place: np.ndarray  # (2,) normalised position of the lead letter


def sample_devices(rng: np.random.Generator, supine: bool, anatomy: Anatomy) -> Devices:
    """Draw the devices of a film (a fixed number of draws, whatever the label)."""
    column = 1 if supine else 0
    chest = anatomy
    ecg = rng.random() < RATES["ecg"][column]
    count = int(rng.integers(2, 5))
    sides = np.where(rng.random(count) < 0.5, -1, 1)
    high = rng.random(count) < 0.5  # below the clavicles, or over the lower chest
    x = chest.midline + sides * rng.uniform(0.12, chest.lung_reach + 0.03, count)
    y = np.where(high, rng.uniform(0.12, 0.3, count), rng.uniform(0.55, 0.8, count))
    ends = np.stack([np.where(sides < 0, -0.05, 1.05), rng.uniform(0.2, 1.0, count)], 1)
    line_kind = ("jugular", "subclavian")[int(rng.random() < 0.4)]
    has_line = rng.random() < RATES["central_line"][column]
    line_side = -1 if rng.random() < 0.7 else 1  # the right side is the usual route
    has_marker = rng.random() < RATES["marker"][column]
    corner = side_sign(rng)  # the lead letter of the side it lies on: L on the image's right
    marker = ("L" if corner > 0 else "R") if has_marker else ""
    marker_place = np.array([0.5 + corner * rng.uniform(0.3, 0.42), rng.uniform(0.04, 0.14)])
    return Devices(
        electrodes=np.stack([x, y], 1)[:count] if ecg else np.zeros((0, 2)),
        wire_ends=ends if ecg else np.zeros((0, 2)),
        central_line=line_kind if has_line else "",
        line_side=line_side,
        line_draws=rng.random(3),
        marker=marker,
        marker_place=marker_place,
    )


def _central_line_path(devices: Devices, anatomy: Anatomy) -> np.ndarray:
    """(n, 2) course of a central venous catheter, ending in the superior vena cava."""
    chest, side, draws = anatomy, devices.line_side, devices.line_draws
    tip = np.array(
        [chest.midline - 0.035 - 0.01 * draws[0], chest.carina_y + 0.06 * (draws[1] - 0.5)]
    )
    if devices.central_line == "jugular":
        entry = np.array([chest.midline + side * 0.07, -0.02])
        bend = np.array([chest.midline + side * 0.06, chest.clavicle_y])
    else:  # below the clavicle, then medially into the brachiocephalic vein
        entry = np.array([chest.midline + side * (0.25 + 0.08 * draws[2]), chest.clavicle_y + 0.03])
        bend = np.array([chest.midline + side * 0.08, chest.clavicle_y + 0.02])
    t = np.linspace(0.0, 1.0, 16)[:, None]
    return (1 - t) ** 2 * entry + 2 * t * (1 - t) * bend + t**2 * tip


def device_density(devices: Devices, anatomy: Anatomy, size: int) -> np.ndarray:
    """(size, size) float32 density of the ECG leads, central line and side marker."""
    import cv2

    pixel = size / 256
    canvas = np.zeros((size, size), np.uint8)
    for electrode, end in zip(devices.electrodes, devices.wire_ends, strict=True):
        middle = (electrode + end) / 2 + np.array([0.0, 0.08])
        t = np.linspace(0.0, 1.0, 12)[:, None]
        wire = (1 - t) ** 2 * electrode + 2 * t * (1 - t) * middle + t**2 * end
        lines(canvas, wire[None], 70, 1.2 * pixel)
        fill(canvas, ellipses(electrode[None], (0.02, 0.02), 16), 40)
        fill(canvas, ellipses(electrode[None], (0.007, 0.007), 10), 255)
    if devices.central_line:
        lines(canvas, _central_line_path(devices, anatomy)[None], 110, 1.8 * pixel)
    if devices.marker:
        origin = (devices.marker_place * size).astype(int)
        scale = 0.5 * pixel
        cv2.putText(
            canvas, devices.marker, tuple(int(v) for v in origin), cv2.FONT_HERSHEY_SIMPLEX,
            scale, 255, max(1, round(1.5 * pixel)), cv2.LINE_AA,
        )  # fmt: skip
    return canvas * np.float32(0.45 / 255)


@dataclass
class Tube:
    """A chest drain, as sampled by `sample_tube`."""

    side: int
    entry_y: float  # where it enters the chest wall (4th-6th intercostal space), 0 apex, 1 dome
    outside: np.ndarray  # (2,) uniform draws: the tube's course outside the patient
    bend: np.ndarray  # (2,) uniform draws: where it turns up inside the chest
    tip: np.ndarray  # (2,) uniform draws: where its tip lies, below the apex
    holes: int  # side holes near the tip
    opacity: float


def sample_tube(
    rng: np.random.Generator, label: int, tube_rate: tuple[float, float], lesion_side: int
) -> Tube | None:
    """A drain for a patient, with probability ``tube_rate[0]`` for a pneumothorax (on its
    side) and ``tube_rate[1]`` otherwise; None without one. A fixed number of draws."""
    has_tube = rng.random() < tube_rate[0 if label else 1]
    side = lesion_side if lesion_side else side_sign(rng)
    tube = Tube(
        side=side,
        entry_y=rng.uniform(0.55, 0.8),
        outside=rng.random(2),
        bend=rng.random(2),
        tip=rng.random(2),
        holes=int(rng.integers(3, 6)),
        opacity=rng.uniform(0.7, 0.9),
    )
    return tube if has_tube else None


def tube_path(tube: Tube, anatomy: Anatomy) -> np.ndarray:
    """(n, 2) course of a drain: from outside, through the lateral chest wall low in the
    mid-axillary line, then medially up over the lung towards the apex."""
    chest, side = anatomy, tube.side
    y_entry = chest.apex_y + tube.entry_y * (chest.dome_y[side] - chest.apex_y)
    skin = np.array([chest.midline + side * (chest.lung_reach + chest.wall + 0.015), y_entry])
    outside = np.array([chest.midline + side * 0.62, y_entry + 0.04 + 0.11 * tube.outside[0]])
    bend = np.array(
        [
            chest.midline + side * chest.lung_reach * (0.6 + 0.2 * tube.bend[0]),
            y_entry - 0.08 - 0.1 * tube.bend[1],
        ]
    )
    tip = np.array(
        [
            chest.midline + side * (0.12 + 0.1 * tube.tip[0]),
            chest.apex_y + 0.08 + 0.08 * tube.tip[1],
        ]
    )
    t = np.linspace(0.0, 1.0, 40)[:, None]
    inside = (1 - t) ** 2 * skin + 2 * t * (1 - t) * bend + t**2 * tip
    return np.concatenate([np.linspace(outside, skin, 6)[:-1], inside])


def draw_tube(image: np.ndarray, tube: Tube, anatomy: Anatomy, affine: np.ndarray) -> np.ndarray:
    """Composite a drain onto a (size, size) film, in place, where the affine map placed the
    patient; its radio-opaque stripe is broken by side holes near the tip. Returns the
    (size, size) bool mask of the pixels it changed."""
    import cv2

    size = image.shape[0]
    pixel = size / 256
    path = tube_path(tube, anatomy) * size
    path = path @ affine[:, :2].T + affine[:, 2]  # follow the patient's positioning
    points = np.round(path * FIX).astype(np.int32)
    layer = np.zeros((size, size), np.uint8)
    cv2.polylines(layer, [points], False, 120, max(2, round(3.5 * pixel)), cv2.LINE_AA, SHIFT)
    holes = set(range(len(points) - 2, len(points) - 2 - 4 * tube.holes, -4))
    stripe = [points[j : j + 2] for j in range(len(points) - 1) if j not in holes]
    cv2.polylines(layer, stripe, False, 255, max(1, round(1.2 * pixel)), cv2.LINE_AA, SHIFT)
    for j in holes:
        centre = (int(points[j, 0]), int(points[j, 1]))
        cv2.circle(layer, centre, int(1.3 * pixel * FIX), 40, -1, cv2.LINE_AA, SHIFT)
    drawn = layer > 0
    alpha = layer[drawn] * (tube.opacity / 255)
    image[drawn] = image[drawn] * (1 - alpha) + alpha * 0.97
    return drawn
