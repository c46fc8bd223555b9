"""The patient: sizes and positions of the chest's parts, and the outlines of the lungs.

All lengths are fractions of the image width (normalised coordinates, x to the right, y down).
Image side -1 is the image's left, the patient's right; +1 the patient's left (heart side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .draw import smoothstep

#: Vessel trees: trunks per lung and branching depth.
TRUNKS, DEPTH = 7, 6


@dataclass
class Anatomy:
    """One patient's chest, as sampled by `sample_anatomy` (lengths: fractions of the width)."""

    midline: float  # x of the spine and mediastinum
    lung_reach: float  # lateral reach of the lungs from the midline
    wall: float  # chest-wall soft tissue beyond the lungs: the patient's size
    arms_out: bool  # humeri and axillae visible at the edges
    rotation: float  # unequal chest walls of a rotated patient: one side more lucent
    apex_y: float  # y of the lung apices
    dome_y: dict  # y of each hemidiaphragm's dome (the left one lower)
    angle_depth: dict  # depth of each costophrenic angle below its dome
    cardiophrenic_drop: dict  # dome to the cardiophrenic angle
    lateral: dict  # lateral reach of each lung
    mediastinum: float  # half-width of the upper mediastinum
    apex_inset: float  # how far the apex stands in from the mediastinum's edge
    hilum_y: dict  # y of each hilum (the left one higher)
    heart: float  # left heart border beyond the mediastinum
    heart_top: float  # y where the heart's shadow begins
    atrium: float  # right atrium beyond the mediastinum
    knob: float  # aortic knob
    knob_y: float
    carina_y: float
    rib_top: float  # y of the first posterior rib at the spine
    rib_spacing: float
    rib_width: float
    rib_contrast: float  # density of a rib's cortex
    rib_rise: float  # posterior ribs arch up before descending
    rib_drop: float  # and fall this much towards the lateral wall
    anterior_rib_drop: float
    clavicle_y: float
    clavicle_rise: float
    vertebra_height: float
    vertebra_width: float
    scapula: dict  # whether each scapula projects over the lung (bool)
    scapula_inset: dict  # how far its medial border reaches into the lung
    scapula_bottom: dict  # y of its inferior angle
    body_density: float
    abdomen_density: float
    mediastinum_density: float
    heart_density: float
    air: float  # how much the air of the lungs darkens the film (inflation, emphysema)
    lung_tissue: float  # density of lung tissue: what a pneumothorax takes away
    texture: float  # contrast of the parenchymal mottle
    vessel_contrast: float  # brightness of the lung markings
    breasts: bool
    breast_density: float
    gastric_bubble: bool
    bubble_offset: tuple
    line_contrast: float  # a pleural line and its look-alikes share one brightness
    trunk_draws: np.ndarray = field(repr=False)  # (2 TRUNKS, 3) uniform draws: vessel trunks
    branch_draws: np.ndarray = field(repr=False)  # (DEPTH, 2 TRUNKS 2**DEPTH, 5): branching


def sample_anatomy(rng: np.random.Generator, supine: bool) -> Anatomy:
    """Draw a patient (a fixed number of draws, whatever the label). Supine: higher diaphragm,
    wider heart, flatter clavicles and scapulae over the lungs."""
    uniform = rng.uniform
    midline = 0.5 + rng.normal(0.0, 0.008)
    lung_reach = uniform(0.31, 0.37)
    dome_right = uniform(0.61, 0.70) - (0.03 if supine else 0.0)
    return Anatomy(
        midline=midline,
        lung_reach=lung_reach,
        wall=uniform(0.025, 0.07),
        arms_out=rng.random() < 0.5,
        rotation=uniform(-0.1, 0.1),
        apex_y=uniform(0.08, 0.15),
        dome_y={-1: dome_right, 1: dome_right + uniform(0.01, 0.04)},
        angle_depth={-1: uniform(0.06, 0.10), 1: uniform(0.06, 0.10)},
        cardiophrenic_drop={-1: uniform(0.02, 0.04), 1: uniform(0.015, 0.03)},
        lateral={s: lung_reach + uniform(-0.012, 0.012) for s in (-1, 1)},
        mediastinum=uniform(0.045, 0.06),
        apex_inset=uniform(0.04, 0.065),
        hilum_y={-1: uniform(0.40, 0.45), 1: uniform(0.38, 0.43)},
        heart=uniform(0.11, 0.16) * (1.12 if supine else 1.0),
        heart_top=uniform(0.38, 0.44),
        atrium=uniform(0.035, 0.055),
        knob=uniform(0.015, 0.03),
        knob_y=uniform(0.26, 0.30),
        carina_y=uniform(0.32, 0.36),
        rib_top=uniform(0.07, 0.14),
        rib_spacing=uniform(0.05, 0.058),
        rib_width=uniform(0.018, 0.024),
        rib_contrast=uniform(0.06, 0.1),
        rib_rise=uniform(0.02, 0.04),
        rib_drop=uniform(0.05, 0.085),
        anterior_rib_drop=uniform(0.1, 0.15),
        clavicle_y=uniform(0.15, 0.2) - (0.03 if supine else 0.0),
        clavicle_rise=uniform(0.02, 0.07) * (0.5 if supine else 1.0),
        vertebra_height=uniform(0.039, 0.046),
        vertebra_width=uniform(0.06, 0.075),
        scapula={s: rng.random() < (0.9 if supine else 0.5) for s in (-1, 1)},
        scapula_inset={s: uniform(0.03, 0.13) for s in (-1, 1)},
        scapula_bottom={s: uniform(0.40, 0.55) for s in (-1, 1)},
        body_density=uniform(0.4, 0.5),
        abdomen_density=uniform(0.14, 0.2),
        mediastinum_density=uniform(0.1, 0.15),
        heart_density=uniform(0.1, 0.16),
        air=uniform(0.3, 0.44),
        lung_tissue=uniform(0.12, 0.18),
        texture=uniform(0.02, 0.035),
        vessel_contrast=uniform(0.7, 1.2),
        breasts=rng.random() < 0.3,
        breast_density=uniform(0.04, 0.08),
        gastric_bubble=rng.random() < (0.3 if supine else 0.65),
        bubble_offset=(uniform(0.1, 0.22), uniform(0.04, 0.07)),
        line_contrast=uniform(0.15, 0.22),
        trunk_draws=rng.random((2 * TRUNKS, 3)),
        branch_draws=rng.random((DEPTH, (2 * TRUNKS) << DEPTH, 5)),
    )


def medial_border(y: np.ndarray, side: int, anatomy: Anatomy) -> np.ndarray:
    """Distance of a lung's medial border from the mediastinal midline, at heights `y`."""
    chest = anatomy
    t = np.clip((y - chest.apex_y) / 0.12, 0.0, 1.0)
    hilum = 0.012 * np.exp(-(((y - chest.hilum_y[side]) / 0.045) ** 2))
    distance = chest.mediastinum + chest.apex_inset * (1 - t) ** 2 + hilum
    if side < 0:  # patient right: the right atrium
        height = (y - (chest.dome_y[-1] - 0.04)) / 0.14
        return distance + chest.atrium * np.sqrt(np.clip(1 - height * height, 0.0, None))
    # patient left: aortic knob, then the left ventricle
    distance = distance + chest.knob * np.exp(-(((y - chest.knob_y) / 0.028) ** 2))
    top, bottom = chest.heart_top, chest.dome_y[1] + 0.03
    height = (y - bottom) / (bottom - top)
    return distance + chest.heart * np.sqrt(np.clip(1 - height * height, 0.0, None))


def lateral_border(t, side: int, anatomy: Anatomy):
    """Distance of a lung's lateral border from the midline; t = 0 at the apex, 1 at the angle."""
    chest = anatomy
    start = chest.mediastinum + chest.apex_inset
    knee = 0.45
    arc = np.sqrt(np.clip(1 - (1 - np.minimum(t / knee, 1.0)) ** 2, 0.0, 1.0))
    base = np.clip((t - knee) / (1 - knee), 0.0, 1.0)
    return start + (chest.lateral[side] - start) * arc - 0.012 * base**2 + 0.008 * np.sin(np.pi * t)


@dataclass
class LungOutline:
    """One lung's closed outline (N, 2) and its parts, in normalised coordinates."""

    outline: np.ndarray  # apex, down the lateral wall, the dome, up the medial border
    n_lateral: int  # the first n_lateral points are the lateral wall, apex first
    dome: np.ndarray  # (m, 2) the hemidiaphragm, lateral to medial
    medial: np.ndarray  # (k, 2) the medial border, bottom to top
    hilum: np.ndarray  # (2,)


def lung_outline(
    side: int, anatomy: Anatomy, centre_x: float, dome_y: float, angle_y: float, deepen=0.0
) -> LungOutline:
    """The outline of one lung, image side -1 (left) or +1 (right).

    `centre_x` is the mediastinum's midline (moved by a tension pneumothorax), `dome_y` and
    `angle_y` the heights of the dome and the costophrenic angle; `deepen` lowers the angle
    (a deep sulcus) without moving the rest.
    """
    chest = anatomy
    t = np.linspace(0.0, 1.0, 36)
    y_lateral = chest.apex_y + t * (angle_y - chest.apex_y) + deepen * smoothstep(t, 0.7, 1.0) ** 2
    x_lateral = chest.midline + side * lateral_border(t, side, chest)
    y_cardiophrenic = dome_y + chest.cardiophrenic_drop[side]
    y_medial = np.linspace(y_cardiophrenic, chest.apex_y, 36)
    distance = medial_border(np.append(y_medial, chest.hilum_y[side]), side, chest)
    x_end = centre_x + side * distance[0]
    # Hemidiaphragm: a dome whose lateral limb meets the wall in the costophrenic angle.
    x_angle = x_lateral[-1]
    x_dome = x_end + 0.45 * (x_angle - x_end)
    xs = np.linspace(x_angle, x_end, 24)[1:]
    lateral_part = (xs - x_dome) / (x_angle - x_dome)
    medial_part = (x_dome - xs) / (x_dome - x_end)
    y_dome = np.where(
        lateral_part >= 0,
        dome_y + (angle_y - dome_y) * lateral_part**2,
        dome_y + (y_cardiophrenic - dome_y) * medial_part**2,
    )
    y_dome += deepen * smoothstep(lateral_part, 0.5, 1.0) ** 2
    medial = np.stack([centre_x + side * distance[1:-2], y_medial[1:-1]], 1)
    dome = np.stack([xs, y_dome], 1)
    return LungOutline(
        outline=np.concatenate([np.stack([x_lateral, y_lateral], 1), dome, medial]),
        n_lateral=len(t),
        dome=dome,
        medial=medial,
        hilum=np.array([centre_x + side * (distance[-1] + 0.03), chest.hilum_y[side]]),
    )


def scapula_outline(anatomy: Anatomy, side: int) -> np.ndarray:
    """(5, 2) outline of a scapula over the upper lateral chest; its medial border first."""
    chest = anatomy
    wall = chest.midline + side * chest.lung_reach
    inner = wall - side * chest.scapula_inset[side]
    return np.array(
        [
            [wall - side * 0.1, chest.apex_y + 0.02],
            [inner - side * 0.015, chest.apex_y + 0.12],
            [inner, chest.scapula_bottom[side]],
            [wall + side * 0.03, chest.scapula_bottom[side] - 0.1],
            [wall + side * 0.08, chest.apex_y + 0.05],
        ]
    )
