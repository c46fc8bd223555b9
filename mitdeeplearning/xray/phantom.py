"""Synthetic chest radiographs with pneumothorax masks: the offline default data of Lab 2.

Real pneumothorax data (SIIM-ACR, NIH ChestX-ray14) needs a login or tens of gigabytes;
`make_synthetic_cxr` draws a labelled, segmented data set of any size in seconds, with no
network, so the lab always runs.

Long because the anatomy and the lesion are drawn together by one renderer
(`_render_case`), which is due to be rewritten, in parts a reader can take one at a time, with
the phantom's realism; the module is split then, along those parts.

The anatomy model
-----------------
Each image is drawn as a *density* map D (how much the body attenuates the beam along each ray;
bright on the film) in coordinates normalised to the unit square, then exposed like a film.

* **Body**: a torso silhouette (neck, shoulders, chest wall) whose soft-tissue thickness falls off
  towards the sides like the projection of an elliptic cylinder; the abdomen below the
  diaphragm is denser still.
* **Lungs**: two polygons (apex, convex lateral wall, hemidiaphragm dome meeting the wall in a
  sharp costophrenic angle, medial border along the mediastinum) that *remove* density (air).
  Lung tissue adds a little back, with a mottled parenchymal texture and pulmonary vessels: a
  branching tree from each hilum whose branches get thinner and fainter towards the periphery.
* **Mediastinum and heart**: the space between the lungs, widening into the heart (mostly to the
  patient's left, i.e. image right), with the aortic knob, and the trachea and main bronchi as
  air columns; the spine shows faintly through it.
* **Bones**: vertebrae with pedicles, posterior ribs (from the spine, arching out and down),
  fainter anterior ribs (from the lateral wall, descending medially), clavicles, and in many
  films the scapulae over the upper lateral lungs.
* **Acquisition**: upright PA or supine AP films, patient size, a slightly rotated patient
  (one side more lucent), inspiration depth, exposure (contrast and gamma), blur, quantum
  noise, and a small rotation, scaling and shift of the film.

A **pneumothorax** is air between the lung and the chest wall. The lung collapses towards its
hilum: its outline is pulled inwards, mostly from the apex and the lateral wall, while the
base stays on the diaphragm (upright, air rises). On a supine film the air collects in the
costophrenic sulcus instead, which gets deep and lucent (the deep sulcus sign); under tension
the lung collapses from all round, the mediastinum is pushed to the other side and the
hemidiaphragm flattens. Sizes range from thin apical rims to large collapses, most of them
moderate, so the lesion stays visible when the lab shrinks the images to 128 px.
Between the collapsed lung and the chest wall there is no lung tissue: the markings (vessels,
texture) end, the film is more lucent, and the thin bright visceral pleural line bounds the
air. The mask is that air region, pleural line included. Nothing else changes (except in
tension): the collapsed lung keeps its markings where they were, so the visible evidence is
inside the mask, and the brightness, contrast and left/right balance of the film as a whole
do not tell the classes apart.

Look-alikes appear in both classes at the same rate, so no single cue decides: skin folds
(density edges along the lateral lung, running past it), scapular borders, thin apical lines
parallel to the chest wall (companion shadows) that, unlike a pleural line, have lung markings
on both sides, and unequal lucency of the two sides.

Every image comes from its own random streams derived from ``(seed, index)``: the anatomy and
acquisition from one, the lesion from another, a chest drain from a third. So one index gives
the same patient with and without a pneumothorax, and the drain can be added without moving
anything else.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

SHORTCUTS = (None, "chest_tube")

# Fixed-point precision for OpenCV drawing: coordinates are passed as integers times 2**_SHIFT,
# so thin lines and small shapes land at sub-pixel positions instead of jumping a pixel.
_SHIFT = 4
_FIX = float(1 << _SHIFT)

# SeedSequence spawn keys: (0, index, stream) for the images, (1, n) for the order of labels.
_IMAGE_KEY, _LABEL_KEY = 0, 1
_ANATOMY, _LESION, _TUBE = 0, 1, 2

# Vessel trees: trunks per lung and branching depth (6 x 63 segments per lung).
_TRUNKS, _DEPTH = 6, 6
_VESSEL_WIDTH = (5.0, 3.6, 2.6, 1.9, 1.4, 1.0)  # pixels at 256 px
_VESSEL_AMP = (0.16, 0.13, 0.1, 0.08, 0.06, 0.045)

# Lesion kinds: name, probability, collapse (fraction of the hilum-to-wall distance at the most
# collapsed point), direction of the collapse (degrees above the lateral horizontal), and how
# far round the lung it reaches (0: a narrow cap, 1: all but the medial side).
_KINDS = (
    ("rim", 0.10, (0.10, 0.18), (55, 85), (0.0, 0.3)),
    ("moderate", 0.60, (0.28, 0.42), (35, 80), (0.1, 0.5)),
    ("large", 0.22, (0.42, 0.55), (20, 60), (0.4, 0.9)),
    ("tension", 0.08, (0.5, 0.62), (20, 60), (0.5, 1.0)),
)
_TUBE_RATE = {1: 0.8, 0: 0.1}  # chest drains: most treated pneumothoraces, few others


@dataclass
class _Case:
    """One drawn image with what the tests and the lab may want to inspect."""

    image: np.ndarray  # (size, size) float32 in [0, 1]
    mask: np.ndarray  # (size, size) bool: the pneumothorax
    lung: np.ndarray  # (size, size) bool: both lung fields, as drawn (before collapse)
    side: int  # -1 image left (patient right), +1 image right, 0 no pneumothorax
    kind: str  # "none" or one of _KINDS' names, "+sulcus" for a supine deep sulcus
    tube: bool  # whether a chest drain was drawn


def make_synthetic_cxr(
    n: int,
    *,
    size: int = 256,
    seed: int = 0,
    positive_fraction: float = 0.5,
    shortcut: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw synthetic chest radiographs, half of them (by default) with a pneumothorax.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    size : int, default 256
        Height and width in pixels, at least 64.
    seed : int, default 0
        Non-negative seed. The same arguments give identical arrays. Image ``i`` depends on
        ``(seed, i)``, its label and `size` only, never on `n`: image ``i`` with label 1 is
        the same patient as image ``i`` with label 0, plus the pneumothorax.
    positive_fraction : float, default 0.5
        Fraction of images with a pneumothorax, in [0, 1]. Exactly
        ``round(n * positive_fraction)`` images are positive (Python's rounding: half to
        even), in a random order fixed by ``(seed, n)``. So the first ``k`` images of a larger
        ``n`` are those of ``n = k`` where their labels agree (always, for a fraction of 0 or 1),
        but an exact count for every ``n`` cannot keep every label.
    shortcut : {None, "chest_tube"}, default None
        ``"chest_tube"`` adds chest drains to about 80 % of the positives and 10 % of the
        negatives, as in real data where treated patients have tubes: a confound a classifier
        can learn instead of the disease. Drains are drawn last, so each image equals the one
        drawn with ``shortcut=None`` except on the pixels of its drain.

    Returns
    -------
    images : numpy.ndarray
        ``(n, size, size, 1) float32`` in [0, 1]; bright is dense (bone), dark is air.
    labels : numpy.ndarray
        ``(n,) int64``; 1 for pneumothorax, 0 otherwise.
    masks : numpy.ndarray
        ``(n, size, size) bool``; the pneumothorax (the pleural air and its visceral pleural
        line), inside a lung field. Non-empty for every positive, all False for negatives.

    Raises
    ------
    ValueError
        If an argument is out of range or ``shortcut`` is not one of the allowed values.

    Notes
    -----
    See the module's notes for the anatomy, the lesions and the look-alikes. Lesion sizes are
    chosen for a 128 px CNN: most are moderate (median mask about 4 % of the image), 10 % are
    thin apical rims. At 256 px one image takes about 6 ms on one core (NumPy and OpenCV).

    Examples
    --------
    >>> images, labels, masks = make_synthetic_cxr(8, size=128, seed=1)
    >>> images.shape, images.dtype, labels.sum(), masks.shape
    ((8, 128, 128, 1), dtype('float32'), np.int64(4), (8, 128, 128))
    >>> bool(masks[labels == 0].any()), bool(masks[labels == 1].any(axis=(1, 2)).all())
    (False, True)
    """
    _check(n, size, seed, positive_fraction, shortcut)
    labels = _labels(int(n), float(positive_fraction), int(seed))
    images = np.empty((n, size, size, 1), np.float32)
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        case = _render_case(int(size), int(seed), i, int(labels[i]), shortcut)
        images[i, :, :, 0] = case.image
        masks[i] = case.mask
    return images, labels, masks


def _check(n, size, seed, positive_fraction, shortcut) -> None:
    def is_int(v) -> bool:
        return isinstance(v, Integral) and not isinstance(v, bool)

    if not is_int(n) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not is_int(size) or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (
        not isinstance(positive_fraction, Real)
        or isinstance(positive_fraction, bool)
        or not 0.0 <= positive_fraction <= 1.0  # also False for NaN
    ):
        raise ValueError(f"positive_fraction must be a number in [0, 1], got {positive_fraction!r}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS!r}, got {shortcut!r}")


def _labels(n: int, positive_fraction: float, seed: int) -> np.ndarray:
    """Exactly round(n * positive_fraction) ones, in an order fixed by (seed, n)."""
    labels = np.zeros(n, np.int64)
    labels[: round(n * positive_fraction)] = 1
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_LABEL_KEY, n)))
    return rng.permutation(labels)


def _stream(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(_IMAGE_KEY, index, stream))
    )


# --------------------------------------------------------------------------------------------
# Cached per-size tables


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel coordinates: x as a (1, size) row, y as a (size, 1) column."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[None, :], c[:, None]


@functools.lru_cache(maxsize=8)
def _noise_banks(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (2 size, 2 size) noise fields, cut at random offsets for each image.

    Drawing 65k normals per image would cost more than all the anatomy together; a crop of a
    field twice the size, at one of size**2 offsets and 4 flips, is as good for noise and free.
    Returns white noise (quantum noise) and unit-variance mottle of a few pixels (lung texture).
    """
    import cv2

    rng = np.random.default_rng(20240607)
    white = rng.standard_normal((2 * size, 2 * size), dtype=np.float32)
    scale = size / 256
    fine = cv2.GaussianBlur(white, (0, 0), 1.1 * scale)
    coarse = cv2.GaussianBlur(
        rng.standard_normal((2 * size, 2 * size), dtype=np.float32), (0, 0), 2.6 * scale
    )
    mottle = fine / fine.std() + 0.8 * coarse / coarse.std()
    mottle -= cv2.GaussianBlur(mottle, (0, 0), 8.0 * scale)  # band-pass: no slow shading
    mottle /= mottle.std()
    return white, mottle


def _crop(bank: np.ndarray, size: int, offset: np.ndarray) -> np.ndarray:
    oy, ox, flip = (int(v) for v in offset)
    view = bank[oy : oy + size, ox : ox + size]
    if flip & 1:
        view = view[::-1]
    if flip & 2:
        view = view[:, ::-1]
    return view


def _fix(points: np.ndarray, size: int) -> np.ndarray:
    """Normalised (..., 2) points to OpenCV's fixed-point pixel coordinates."""
    return np.round(points * (size * _FIX) - 0.5 * _FIX).astype(np.int32)


def _smoothstep(x, a: float, b: float):
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# --------------------------------------------------------------------------------------------
# Parameters


class _P:
    """A bag of sampled parameters (attributes set by the samplers)."""


def _sample_anatomy(rng: np.random.Generator, size: int) -> _P:
    """Patient and acquisition: a fixed number of draws, whatever the label."""
    u = rng.uniform
    g = _P()
    g.supine = rng.random() < 0.25
    g.mid = 0.5 + rng.normal(0.0, 0.008)
    g.hw = u(0.32, 0.37)  # lateral reach of the lungs from the midline
    g.soft = u(0.025, 0.07)  # chest-wall soft tissue: patient size
    g.arms = rng.random() < 0.5
    g.tilt = u(-0.1, 0.1)  # rotated patient, unequal chest walls: one side more lucent
    g.ya = u(0.09, 0.14)  # lung apices
    g.yd = {-1: u(0.61, 0.70) - (0.03 if g.supine else 0.0)}  # dome of each hemidiaphragm
    g.yd[1] = g.yd[-1] + u(0.01, 0.04)  # the left one is lower
    g.cpd = {-1: u(0.06, 0.10), 1: u(0.06, 0.10)}  # depth of each costophrenic angle
    g.kmed = {-1: u(0.02, 0.04), 1: u(0.015, 0.03)}  # dome to cardiophrenic angle
    g.lat = {-1: g.hw + u(-0.01, 0.01), 1: g.hw + u(-0.01, 0.01)}
    g.mw = u(0.045, 0.06)  # half-width of the upper mediastinum
    g.apex_off = u(0.04, 0.065)
    g.hy = {-1: u(0.40, 0.45), 1: u(0.38, 0.43)}  # hila: the left one is higher
    g.heart = u(0.11, 0.16) * (1.12 if g.supine else 1.0)  # left heart border beyond mw
    g.heart_top = u(0.38, 0.44)
    g.ra = u(0.035, 0.055)  # right atrium beyond mw
    g.knob = u(0.015, 0.03)
    g.knob_y = u(0.26, 0.30)
    g.carina = u(0.32, 0.36)
    # Bones
    g.rib_y0 = g.ya - u(0.0, 0.02)
    g.rib_sp = u(0.05, 0.058)
    g.rib_w = u(0.018, 0.024)
    g.rib_amp = u(0.06, 0.09)
    g.rib_rise = u(0.02, 0.04)
    g.rib_drop = u(0.05, 0.085)
    g.ant_drop = u(0.1, 0.15)
    g.clav_y = u(0.15, 0.2) - (0.03 if g.supine else 0.0)
    g.clav_rise = u(0.02, 0.07) * (0.5 if g.supine else 1.0)
    g.vert_h = u(0.039, 0.046)
    g.vert_w = u(0.06, 0.075)
    g.scapula = {s: rng.random() < (0.9 if g.supine else 0.45) for s in (-1, 1)}
    g.scap_x = {s: u(0.03, 0.12) for s in (-1, 1)}
    g.scap_y = {s: u(0.40, 0.52) for s in (-1, 1)}
    # Soft tissue and look-alikes
    g.body_amp = u(0.4, 0.5)
    g.abd_amp = u(0.14, 0.2)
    g.med_amp = u(0.1, 0.15)
    g.heart_amp = u(0.1, 0.16)
    g.air_amp = u(0.3, 0.44)  # inflation, emphysema: some lungs much darker than others
    g.rho = u(0.05, 0.08)  # lung tissue: what a pneumothorax takes away
    g.tex_amp = u(0.02, 0.03)
    g.ves_amp = u(0.8, 1.2)
    g.breasts = rng.random() < 0.3
    g.breast_amp = u(0.04, 0.08)
    g.bubble = rng.random() < (0.3 if g.supine else 0.65)
    g.bubble_xy = (u(0.1, 0.22), u(0.04, 0.07))
    g.fold = rng.random() < 0.3
    g.fold_side = 1 if rng.random() < 0.5 else -1
    g.fold_pts = u(0.0, 1.0, 5)
    g.mimic = rng.random() < 0.2
    g.mimic_side = 1 if rng.random() < 0.5 else -1
    g.mimic_scale = u(0.08, 0.16)
    g.line_amp = u(0.1, 0.16)  # pleural line and its look-alike share one brightness
    g.trunk_jitter = u(-1.0, 1.0, (2 * _TRUNKS, 2))
    g.branch = rng.random((_DEPTH, (2 * _TRUNKS) << _DEPTH, 3))
    # Acquisition
    g.k = u(1.5, 2.5)  # exposure: contrast and saturation of the dense parts
    g.gamma = u(0.8, 1.25)
    g.lo = u(-0.05, 0.08)
    g.hi = u(0.85, 1.1)
    g.blur = u(0.45, 1.0) * size / 256
    g.noise = u(0.006, 0.02)
    g.angle = float(np.clip(rng.normal(0.0, 2.5), -6.0, 6.0))
    g.scale = u(0.93, 1.07)
    g.shift = np.clip(rng.normal(0.0, 0.018, 2), -0.045, 0.045)
    g.crops = np.stack(
        [rng.integers(0, size, 2), rng.integers(0, size, 2), rng.integers(0, 4, 2)], axis=1
    )
    return g


def _sample_lesion(rng: np.random.Generator, supine: bool) -> _P:
    """The pneumothorax: side, kind, size and shape of the collapse (positives only)."""
    les = _P()
    les.side = 1 if rng.random() < 0.5 else -1
    cumulative = np.cumsum([kind[1] for kind in _KINDS])
    k = min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(_KINDS) - 1)
    name, _, amount, phi, beta = _KINDS[k]
    les.kind = name
    les.amount = rng.uniform(*amount)
    les.phi = rng.uniform(*phi)
    les.beta = rng.uniform(*beta)
    les.deepen = 0.0
    sulcus = supine and name != "tension" and rng.random() < 0.5
    if sulcus:
        # Supine, the air collects in front, over the costophrenic sulcus: the lung lifts off
        # the lateral base, and the sulcus is deep and lucent.
        les.kind += "+sulcus"
        les.phi = -rng.uniform(20, 55)
        les.beta = rng.uniform(0.1, 0.5)
        les.deepen = rng.uniform(0.03, 0.06)
    # Upright, air rises: the lung base stays on the diaphragm (except under tension).
    les.keep_base = not sulcus and name != "tension"
    les.power = rng.uniform(0.8, 1.5)
    les.shift = rng.uniform(0.03, 0.055) if name == "tension" else 0.0
    les.flatten = rng.uniform(0.03, 0.05) if name == "tension" else 0.0
    return les


# --------------------------------------------------------------------------------------------
# Geometry (normalised coordinates: x to the right, y down, the image is the unit square)


def _medial(y: np.ndarray, side: int, g: _P) -> np.ndarray:
    """Distance of a lung's medial border from the mediastinal midline, at heights y."""
    t = np.clip((y - g.ya) / 0.12, 0.0, 1.0)
    d = g.mw + g.apex_off * (1 - t) ** 2 + 0.012 * np.exp(-(((y - g.hy[side]) / 0.045) ** 2))
    if side < 0:  # patient right: the right atrium
        v = (y - (g.yd[-1] - 0.04)) / 0.14
        d = d + g.ra * np.sqrt(np.clip(1 - v * v, 0.0, None))
    else:  # patient left: aortic knob, then the left ventricle
        d = d + g.knob * np.exp(-(((y - g.knob_y) / 0.028) ** 2))
        top, bottom = g.heart_top, g.yd[1] + 0.03
        v = (y - bottom) / (bottom - top)
        d = d + g.heart * np.sqrt(np.clip(1 - v * v, 0.0, None))
    return d


def _lateral(t, side: int, g: _P):
    """Distance of a lung's lateral border from the midline, t = 0 at the apex, 1 at the angle."""
    d0 = g.mw + g.apex_off
    tau = 0.45
    arc = np.sqrt(np.clip(1 - (1 - np.minimum(t / tau, 1.0)) ** 2, 0.0, 1.0))
    base = np.clip((t - tau) / (1 - tau), 0.0, 1.0)
    return d0 + (g.lat[side] - d0) * arc - 0.012 * base**2 + 0.008 * np.sin(np.pi * t)


def _lung_outline(
    side: int, g: _P, mid_med: float, yd: float, ycp: float, deepen: float = 0.0
) -> dict:
    """Closed outline of one lung (N, 2) and its parts, image side -1 (left) or +1 (right).

    ``deepen`` lowers the costophrenic angle (a deep sulcus) without moving the rest.
    """
    t = np.linspace(0.0, 1.0, 36)
    y_lat = g.ya + t * (ycp - g.ya) + deepen * _smoothstep(t, 0.7, 1.0) ** 2
    x_lat = g.mid + side * _lateral(t, side, g)
    y_cph = yd + g.kmed[side]
    ym = np.linspace(y_cph, g.ya, 36)
    dm = _medial(np.append(ym, g.hy[side]), side, g)
    x_end = mid_med + side * dm[0]
    # Hemidiaphragm: a dome whose lateral limb meets the wall in the costophrenic angle.
    x0 = x_lat[-1]
    x_dome = x_end + 0.45 * (x0 - x_end)
    xs = np.linspace(x0, x_end, 24)[1:]
    lat_part = (xs - x_dome) / (x0 - x_dome)
    med_part = (x_dome - xs) / (x_dome - x_end)
    y_dia = np.where(lat_part >= 0, yd + (ycp - yd) * lat_part**2, yd + (y_cph - yd) * med_part**2)
    y_dia += deepen * _smoothstep(lat_part, 0.5, 1.0) ** 2
    medial = np.stack([mid_med + side * dm[1:-2], ym[1:-1]], 1)
    dome = np.stack([xs, y_dia], 1)
    return {
        "outline": np.concatenate([np.stack([x_lat, y_lat], 1), dome, medial]),
        "n_lat": len(t),
        "dome": dome,
        "medial": medial,
        "hilum": np.array([mid_med + side * (dm[-1] + 0.03), g.hy[side]]),
    }


def _collapse(points: np.ndarray, centre: np.ndarray, les: _P, side: int) -> np.ndarray:
    """Pull points towards the hilum, most along the lesion's direction (the collapse map)."""
    v = points - centre
    r = np.sqrt((v**2).sum(-1)) + 1e-9
    phi = math.radians(les.phi)
    e = np.array([side * math.cos(phi), -math.sin(phi)])
    w = np.clip(((v @ e) / r + les.beta) / (1 + les.beta), 0.0, 1.0) ** les.power
    # The lung stays attached at the hilum and along the mediastinum: no medial air.
    w *= np.clip(side * v[..., 0] / r * 2.0 + 1.0, 0.0, 1.0)
    if les.keep_base:  # upright: nothing collapses downwards, the base stays on the diaphragm
        w *= np.clip((0.55 - v[..., 1] / r) / 0.35, 0.0, 1.0)
    return centre + v * (1 - les.amount * w)[..., None]


def _vessel_tree(hila: np.ndarray, targets: np.ndarray, jitter: np.ndarray, draws: np.ndarray):
    """Branching vessels from each hilum (K, 2) towards targets on the lung outline (K, 2).

    Returns one (K 2**level, 2, 2) array of segments (start, end) per level. Each segment forks
    into two shorter ones; the random draws are a fixed-size array, so the same patient gets the
    same tree whatever else is drawn.
    """
    d = targets - hila
    dist = np.sqrt((d**2).sum(-1))
    ang = np.arctan2(d[:, 1], d[:, 0]) + 0.15 * jitter[:, 0]
    length = dist * (0.32 + 0.03 * jitter[:, 1])
    start = hila
    levels = []
    for level in range(_DEPTH):
        m = len(ang)
        end = start + length[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
        levels.append(np.stack([start, end], 1))
        u = draws[level, : 2 * m].reshape(m, 2, 3)
        spread = 0.22 + 0.3 * u[:, 0, 0]  # half-angle between the two children
        skew = 0.2 * (u[:, 0, 1] - 0.5)
        ang = np.stack([ang - spread + skew, ang + spread + skew], 1).ravel()
        ang = ang + 0.12 * (u[:, :, 2].ravel() - 0.5)  # a little wiggle
        length = np.repeat(length, 2) * (0.66 + 0.18 * u[:, 1, :2].ravel())
        start = np.repeat(end, 2, axis=0)
    return levels


def _ellipses(centres: np.ndarray, axes: tuple[float, float], n: int = 14) -> np.ndarray:
    """(m, n, 2) polygons approximating axis-aligned ellipses: many shapes in one draw call."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    unit = np.stack([np.cos(t) * axes[0], np.sin(t) * axes[1]], 1)
    return centres[:, None, :] + unit[None]


# --------------------------------------------------------------------------------------------
# Drawing


def _render_case(size: int, seed: int, index: int, label: int, shortcut: str | None) -> _Case:
    """Draw image ``index`` of ``seed`` with the given label (see the module's notes).

    Depends on ``(seed, index, label, shortcut)`` and the size only, never on the other images.
    """
    import cv2

    S = size
    S4 = max(16, S // 4)  # smooth densities are drawn at a quarter of the size, then enlarged
    px = S / 256  # one pixel of the 256 px design, in pixels of this size
    g = _sample_anatomy(_stream(seed, index, _ANATOMY), S)
    les = _sample_lesion(_stream(seed, index, _LESION), g.supine) if label else None
    X4, Y4 = _grid(S4)
    white, mottle = _noise_banks(S)

    def fill(canvas, polys, value=1):
        line = cv2.LINE_AA if canvas.dtype == np.uint8 else cv2.LINE_8
        cv2.fillPoly(canvas, [_fix(p, canvas.shape[0]) for p in polys], value, line, _SHIFT)
        return canvas

    def lines(canvas, polys, value, width, closed=False):
        pts = _fix(polys, S) if isinstance(polys, np.ndarray) else [_fix(p, S) for p in polys]
        cv2.polylines(canvas, pts, closed, value, max(1, round(width)), cv2.LINE_AA, _SHIFT)

    def box(img, k):
        k = max(3, int(k) | 1)
        return cv2.blur(cv2.blur(img, (k, k)), (k, k))

    def small():
        return np.zeros((S4, S4), np.float32)

    def full():
        return np.zeros((S, S), np.uint8)

    # ---- geometry
    side_p = les.side if les else 0
    mid_med = g.mid - side_p * (les.shift if les else 0.0)  # tension pushes the mediastinum
    yd = dict(g.yd)
    ycp = {s: yd[s] + g.cpd[s] for s in (-1, 1)}
    deepen = {-1: 0.0, 1: 0.0}
    if les:
        yd[side_p] += les.flatten
        ycp[side_p] += 0.5 * les.flatten
        deepen[side_p] = les.deepen
    lungs = {s: _lung_outline(s, g, mid_med, yd[s], ycp[s], deepen[s]) for s in (-1, 1)}
    # The lungs as they would be without the lesion: the vessels and the thickness of the lungs
    # are anatomy, and a deeper sulcus or a pushed mediastinum does not change them.
    plain = lungs
    if les and (les.deepen or les.shift):
        plain = {s: _lung_outline(s, g, g.mid, g.yd[s], g.yd[s] + g.cpd[s]) for s in (-1, 1)}
    hb = g.hw + g.soft + 0.015  # half-width of the chest at the skin

    # ---- smooth densities, at a quarter of the size
    half = [[g.mid + 0.07, -0.05], [g.mid + 0.075, g.ya - 0.05], [g.mid + 0.14, g.ya - 0.02]]
    if g.arms:  # shoulder, the arm hanging down, the axilla between arm and chest
        half += [[g.mid + hb + 0.06, g.ya], [1.1, g.ya + 0.01], [1.1, 0.8]]
        half += [[g.mid + hb + 0.12, 0.8], [g.mid + hb + 0.06, 0.4], [g.mid + hb + 0.03, 0.27]]
    else:
        half += [[g.mid + hb + 0.05, g.ya + 0.01], [g.mid + hb + 0.04, 0.17]]
    yb = np.linspace(0.26, 1.08, 8)
    half += list(np.stack([g.mid + hb + 0.03 * np.sin(np.pi * (yb - 0.26) / 0.9), yb], 1))
    half = np.array(half)
    body = np.concatenate([half, half[::-1] * [-1, 1] + [2 * g.mid, 0]])
    profile = np.sqrt(np.clip(1 - ((X4 - g.mid) / (hb + 0.04)) ** 2, 0.12, 1.0))
    # Shoulder girdle muscles: the upper chest is denser than the lower.
    upper = 1.0 + 0.25 * np.exp(-(((Y4 - g.ya) / 0.1) ** 2))
    profile *= 1.0 + g.tilt * np.clip((X4 - g.mid) / 0.4, -1.0, 1.0)
    body4 = box(fill(small(), [body]), 3)
    soft = g.body_amp * body4 * (profile * upper)

    dome_l, dome_r = lungs[-1]["dome"], lungs[1]["dome"]
    abdomen = np.concatenate(
        [
            [[-0.1, dome_l[0, 1] + 0.01]],
            dome_l,
            dome_r[::-1],
            [[1.1, dome_r[0, 1] + 0.01], [1.1, 1.1], [-0.1, 1.1]],
        ]
    )
    ml, mr = lungs[-1]["medial"], lungs[1]["medial"]
    bottom = max(ml[0, 1], mr[0, 1]) + 0.04  # the heart sits on the diaphragm
    mediastinum = np.concatenate(
        [
            ml[::-1],
            [[ml[0, 0], bottom], [mr[0, 0], bottom]],
            mr,
            [[mr[-1, 0], g.ya - 0.06], [ml[-1, 0], g.ya - 0.06]],
        ]
    )
    dense = fill(small(), [abdomen], g.abd_amp) * body4
    heart = g.med_amp + g.heart_amp * _smoothstep(Y4, g.heart_top - 0.04, g.heart_top + 0.1)
    dense += fill(small(), [mediastinum]) * heart
    hila = _ellipses(
        np.stack([lungs[s]["hilum"] + [s * 0.012, 0.0] for s in (-1, 1)]), (0.02, 0.04)
    )
    dense += fill(small(), hila, 0.08)
    extra = small()
    if g.breasts:
        c = np.array([[g.mid + s * 0.21, yd[s] + 0.03] for s in (-1, 1)])
        fill(extra, _ellipses(c, (0.17, 0.11), 24), g.breast_amp)
    for s in (-1, 1):
        if g.scapula[s]:
            fill(extra, [_scapula(g, s)], 0.045)
    if g.bubble:  # gastric air under the left hemidiaphragm, an air-fluid level if upright
        c = np.array([mid_med + g.bubble_xy[0] + 0.04, yd[1] + g.bubble_xy[1] + 0.03])
        bub = _ellipses(c[None], (0.05, 0.035), 16)[0]
        if not g.supine:
            bub[:, 1] = np.minimum(bub[:, 1], c[1])
        fill(extra, [bub], -0.16)
    tx = mid_med - 0.008
    air4 = np.zeros((S4, S4), np.uint8)
    cv2.polylines(
        air4,
        [_fix(np.array([[tx, -0.05], [tx, g.carina]]), S4)],
        False,
        255,
        max(1, round(0.038 * S4)),
        cv2.LINE_AA,
        _SHIFT,
    )
    for s in (-1, 1):
        h = lungs[s]["hilum"]
        seg = np.array([[tx, g.carina], [h[0] - s * 0.025, h[1] - 0.015]])
        cv2.polylines(
            air4, [_fix(seg, S4)], False, 150, max(1, round(0.02 * S4)), cv2.LINE_AA, _SHIFT
        )
    soft += box(dense + extra, 3) - (0.12 / 255) * box(air4, 3) * (g.hy[-1] > Y4)

    lung4 = fill(small(), [plain[s]["outline"] for s in (-1, 1)])
    thick = box(lung4, 0.1 * S4)
    air = g.air_amp * (0.3 + 0.7 * np.minimum(thick * 1.6, 1.0))
    up = (S, S)
    D = cv2.resize(soft, up, interpolation=cv2.INTER_LINEAR)
    air = cv2.resize(air, up, interpolation=cv2.INTER_LINEAR)

    # ---- lungs, full size: crisp edges, vessels, texture; and what a pneumothorax does
    lung_u8 = {}
    for s in (-1, 1):  # binary, not anti-aliased: these are masks
        lung_u8[s] = full()
        cv2.fillPoly(lung_u8[s], [_fix(lungs[s]["outline"], S)], 1, cv2.LINE_8, _SHIFT)
    lung_both = lung_u8[-1] | lung_u8[1]
    tissue = lung_both.astype(np.float32)
    D -= tissue * air

    aims = [1, 7, 14, 22, 30, lungs[-1]["n_lat"] + 9]  # outline points: apex .. base, dome
    hila = np.repeat([lungs[s]["hilum"] for s in (-1, 1)], _TRUNKS, 0)
    targets = np.concatenate([plain[s]["outline"][aims] for s in (-1, 1)])
    tree = _vessel_tree(hila, targets, g.trunk_jitter, g.branch)

    mask_u8 = None
    if les:
        s = side_p
        lg = lungs[s]
        centre = lg["hilum"]
        kernel = np.ones((3, 3), np.uint8)
        # A deep sulcus is pleural air below the lung's own angle: the lung that collapses is
        # the one without it.
        outline = plain[s]["outline"] if les.deepen else lg["outline"]
        for _attempt in range(6):
            collapsed = _collapse(outline, centre, les, s)
            coll_u8 = full()
            cv2.fillPoly(coll_u8, [_fix(collapsed, S)], 1, cv2.LINE_8, _SHIFT)
            coll_u8 &= lung_u8[s]
            # Opening drops slivers along the medial border, where the lung barely moved.
            ptx = cv2.morphologyEx(lung_u8[s] & (1 - coll_u8), cv2.MORPH_OPEN, kernel)
            coll_u8 = lung_u8[s] & (1 - ptx)
            # The mask reaches 2 px into the collapsed lung so the pleural line is inside it.
            mask_u8 = cv2.dilate(ptx, kernel, iterations=max(1, round(2 * px)))
            mask_u8 &= lung_u8[s]
            if mask_u8.sum() >= 0.002 * S * S:
                break
            les.amount = min(0.7, les.amount * 1.4)  # too small to see at this size: enlarge
        tissue -= ptx
        # The evidence stays in the air space: there the lung markings end (tissue) and the
        # film is more lucent. The collapsed lung keeps its vessels where they were, so nothing
        # outside the mask changes (a denser, crowded lung would be evidence outside it).
        D -= ptx * np.float32(0.01)
        # Visceral pleural line: the collapsed outline, where it has left the chest wall.
        moved = np.sqrt(((collapsed - outline) ** 2).sum(-1)) * S > 1.5 * px
        seg = np.stack([collapsed, np.roll(collapsed, -1, 0)], 1)[moved & np.roll(moved, -1)]
        pleura = full()
        lines(pleura, seg, 255, 2 * px)
        D += (pleura & -mask_u8) * np.float32(g.line_amp / 255)  # only where it borders air

    vessels = full()  # thick and bright at the hila, thin and faint towards the periphery
    for level, (amp, width) in enumerate(zip(_VESSEL_AMP, _VESSEL_WIDTH, strict=True)):
        lines(vessels, tree[level], round(255 * amp / _VESSEL_AMP[0]), width * px)
    mot = _crop(mottle, S, g.crops[0])
    D += tissue * (g.rho + g.tex_amp * mot + vessels * np.float32(_VESSEL_AMP[0] * g.ves_amp / 255))

    if g.mimic:  # companion shadow: a thin apical line parallel to the wall, vessels across it
        s = g.mimic_side
        lg = lungs[s]
        arc = lg["outline"][: int(lg["n_lat"] * 0.55)]
        arc = lg["hilum"] + (arc - lg["hilum"]) * (1 - g.mimic_scale)
        mim = full()
        lines(mim, arc[None], 255, 2 * px)
        D += (mim & -lung_u8[s]) * np.float32(g.line_amp / 255)
    if g.fold:  # a skin fold: a density edge along the lateral lung, running past its ends
        s, f = g.fold_side, g.fold_pts
        xw = g.mid + s * g.hw
        curve = np.stack(
            [xw - s * (0.03 + 0.07 * f[:3]), 0.18 + 0.15 * f[3] + np.array([0.0, 0.3, 0.62])], 1
        )
        curve[1, 0] -= s * 0.02
        region = np.concatenate([curve, [[xw + s * 0.3, curve[2, 1]], [xw + s * 0.3, curve[0, 1]]]])
        D += fill(full(), [region], 255) * np.float32((0.025 + 0.02 * f[4]) / 255)

    D += _bones(g, S, px, mid_med)

    # ---- acquisition: blur, positioning, exposure, noise
    D = cv2.GaussianBlur(D, (0, 0), g.blur)
    M = cv2.getRotationMatrix2D((S / 2, S / 2), g.angle, g.scale)
    M[:, 2] += g.shift * S
    D = cv2.warpAffine(D, M, (S, S), flags=cv2.INTER_LINEAR, borderValue=0.0)
    lung = cv2.warpAffine(lung_both, M, (S, S), flags=cv2.INTER_NEAREST).astype(bool)
    if mask_u8 is not None:
        mask = cv2.warpAffine(mask_u8, M, (S, S), flags=cv2.INTER_NEAREST).astype(bool)
    else:
        mask = np.zeros((S, S), bool)

    img = (1.0 - np.exp(-g.k * np.maximum(D, 0.0))) * (1.0 / (1.0 - math.exp(-g.k * 1.2)))
    img = np.power(np.maximum(img, 1e-6), g.gamma, dtype=np.float32)
    img += (g.noise * (0.5 + img)) * _crop(white, S, g.crops[1])
    img = np.clip((img - g.lo) * (1.0 / (g.hi - g.lo)), 0.0, 1.0).astype(np.float32)

    tube = False
    if shortcut == "chest_tube":
        trng = _stream(seed, index, _TUBE)
        if trng.random() < _TUBE_RATE[label]:
            tube = True
            side = side_p if les else (1 if trng.random() < 0.5 else -1)
            _draw_tube(img, trng, g, side, M, S)
    kind = les.kind if les else "none"
    return _Case(image=img, mask=mask, lung=lung, side=side_p, kind=kind, tube=tube)


def _scapula(g: _P, s: int) -> np.ndarray:
    """Outline of a scapula projected over the upper lateral chest; its medial border first."""
    xw = g.mid + s * g.hw
    inner = xw - s * g.scap_x[s]
    return np.array(
        [
            [xw - s * 0.1, g.ya + 0.02],
            [inner - s * 0.015, g.ya + 0.12],
            [inner, g.scap_y[s]],
            [xw + s * 0.03, g.scap_y[s] - 0.1],
            [xw + s * 0.08, g.ya + 0.05],
        ]
    )


def _band(paths: np.ndarray, width: float) -> np.ndarray:
    """(m, 2n, 2) outlines of bands of the given width around (m, n, 2) centre lines.

    OpenCV draws thick anti-aliased polylines slowly (a disc at every joint); filling the
    outline of the band is several times faster and looks the same.
    """
    tangent = np.empty_like(paths)
    tangent[:, 1:-1] = paths[:, 2:] - paths[:, :-2]
    tangent[:, 0] = paths[:, 1] - paths[:, 0]
    tangent[:, -1] = paths[:, -1] - paths[:, -2]
    tangent /= np.sqrt((tangent**2).sum(-1, keepdims=True)) + 1e-12
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], -1) * (width / 2)
    return np.concatenate([paths + normal, (paths - normal)[:, ::-1]], 1)


def _bones(g: _P, S: int, px: float, mid_med: float) -> np.ndarray:
    """Density of the skeleton: ribs, clavicles, spine, scapular borders, humeri."""
    import cv2

    def fill(canvas, polys, value):
        # One call for many polygons; fillPoly's even-odd rule makes holes where they overlap,
        # so each call gets shapes that do not.
        cv2.fillPoly(canvas, _fix(polys, S), value, cv2.LINE_8, _SHIFT)

    def cortex(canvas, paths, width, value, inner):
        # A bone in profile: bright cortex at both edges, paler medulla between.
        fill(canvas, _band(paths, width), value)
        fill(canvas, _band(paths, width - 2.5 / 256), inner)

    ribs = np.zeros((S, S), np.uint8)
    other = np.zeros((S, S), np.uint8)
    k = np.arange(11)[:, None]
    y0 = g.rib_y0 + g.rib_sp * k * (1 + 0.035 * k)
    tt = np.clip((y0 + 0.04 - g.ya) / (0.75 - g.ya), 0.0, 1.0)
    reach = _lateral(tt, 1, g) + 0.025
    reach[0] = g.mw + g.apex_off + 0.035  # the first rib rings the apex
    drop = np.where(k == 0, 1.8, 1.0) * g.rib_drop
    u = np.linspace(0.0, 1.0, 14)[None]
    # Posterior ribs: out from the spine, arching up, then down along the lateral wall.
    d = np.concatenate([0.03 + u * (reach - 0.03), reach + [[0.006, 0.006]] * np.ones_like(k)], 1)
    ys = y0 - g.rib_rise * np.sin(np.pi * u * 0.8) + drop * u**2.5
    ys = np.concatenate([ys, ys[:, -1:] + [[0.02, 0.045]]], 1)
    post = np.concatenate([np.stack([g.mid + s * d, ys], -1) for s in (-1, 1)])
    first = np.arange(len(post)) % len(k) == 0  # the first ribs cross the second and third
    cortex(ribs, post[~first], g.rib_w, 255, 170)
    cortex(ribs, post[first], g.rib_w, 255, 170)
    # Anterior ribs: from the lateral wall down and in, to the (invisible) costal cartilage.
    v = np.linspace(0.0, 1.0, 8)[None]
    sel = slice(1, 7)
    da = reach[sel] - v * (reach[sel] - 0.12)
    ya = ys[sel, -1:] + 0.01 + g.ant_drop * v + 0.02 * v**2
    ant = np.concatenate([np.stack([g.mid + s * da, ya], -1) for s in (-1, 1)])
    cortex(other, ant, 0.85 * g.rib_w, 80, 60)
    for s in (-1, 1):
        if g.scapula[s]:
            fill(other, _band(_scapula(g, s)[None, :3], 1.5 / 256), 90)
    # Spine: vertebral bodies, pedicles and spinous processes, faint behind the mediastinum.
    n = 24
    hv = g.vert_h * 1.03 ** np.arange(n)
    top = -0.02 + np.concatenate([[0.0], np.cumsum(hv)[:-1]])
    wv = g.vert_w * 1.02 ** np.arange(n)
    keep = top < 1.0
    hv, top, wv = hv[keep], top[keep], wv[keep]
    xl, xr, yb = g.mid - wv / 2, g.mid + wv / 2, top + 0.82 * hv
    corners = [(xl, top), (xr, top), (xr, yb), (xl, yb)]
    bodies = np.stack([np.stack(c, 1) for c in corners], 1)
    fill(other, bodies, 70)
    ped = np.concatenate([np.stack([g.mid + s * 0.36 * wv, top + 0.35 * hv], 1) for s in (-1, 1)])
    ring = _ellipses(ped, (0.009, 0.014), 10)
    cv2.polylines(other, _fix(ring, S), True, 130, max(1, round(1.5 * px)), cv2.LINE_AA, _SHIFT)
    spinous = np.stack([np.full_like(top, g.mid), top + 0.75 * hv], 1)
    fill(other, _ellipses(spinous, (0.006, 0.01), 8), 110)
    # Clavicles: over the apices, medial ends at the top of the mediastinum.
    uc = np.linspace(0.0, 1.0, 16)
    yc = g.clav_y - g.clav_rise * uc + 0.012 * np.sin(2 * np.pi * uc)
    clav = np.stack([np.stack([mid_med + s * (0.04 + uc * (g.hw + 0.05)), yc], 1) for s in (-1, 1)])
    cortex(other, clav, 0.034, 255, 190)
    if g.arms:  # humeral heads and shafts, at the edges
        for s in (-1, 1):
            hx = g.mid + s * (g.hw + g.soft + 0.14)
            shaft = np.linspace([hx, g.ya + 0.06], [hx + s * 0.02, 0.75], 4)[None]
            cortex(other, shaft, 0.05, 230, 150)
            head = _ellipses(np.array([[hx - s * 0.01, g.ya + 0.05]]), (0.055, 0.055), 20)
            fill(other, head, 230)
            fill(
                other, _ellipses(np.array([[hx - s * 0.01, g.ya + 0.05]]), (0.045, 0.045), 20), 150
            )
    out = ribs.astype(np.float32)
    out *= np.float32(g.rib_amp / 255)
    out += other * np.float32(1.1 * g.rib_amp / 150)
    return out


def _draw_tube(img: np.ndarray, rng: np.random.Generator, g: _P, side: int, M, S: int) -> None:
    """Composite a chest drain onto img, in place, in the image frame given by the affine M.

    The drain enters through the lateral chest wall low down, and curves up inside the pleura
    towards the apex; its radio-opaque stripe is broken by side holes near the tip.
    """
    import cv2

    px = S / 256
    u = rng.uniform
    y_in = u(0.52, 0.7)
    skin = np.array([g.mid + side * (g.hw + g.soft + 0.015), y_in])
    outside = np.array([g.mid + side * 0.62, y_in + u(0.04, 0.15)])
    ctrl = np.array([g.mid + side * (g.hw - u(0.0, 0.04)), y_in - u(0.15, 0.3)])
    tip = np.array([g.mid + side * u(0.14, 0.24), g.ya + u(0.04, 0.12)])
    t = np.linspace(0.0, 1.0, 40)[:, None]
    inside = (1 - t) ** 2 * skin + 2 * t * (1 - t) * ctrl + t**2 * tip
    path = np.concatenate([np.linspace(outside, skin, 6)[:-1], inside]) * S
    path = path @ M[:, :2].T + M[:, 2]  # follow the patient's positioning
    pts = np.round(path * _FIX).astype(np.int32)
    layer = np.zeros((S, S), np.uint8)
    cv2.polylines(layer, [pts], False, 120, max(2, round(3.5 * px)), cv2.LINE_AA, _SHIFT)
    # Radio-opaque stripe, interrupted by the side holes over the last stretch of the tube.
    n_hole = int(rng.integers(3, 6))
    holes = set(range(len(pts) - 2, len(pts) - 2 - 4 * n_hole, -4))
    stripe = [pts[j : j + 2] for j in range(len(pts) - 1) if j not in holes]
    cv2.polylines(layer, stripe, False, 255, max(1, round(1.2 * px)), cv2.LINE_AA, _SHIFT)
    for j in holes:
        cv2.circle(
            layer,
            (int(pts[j, 0]), int(pts[j, 1])),
            int(1.3 * px * _FIX),
            40,
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )
    ys, xs = np.nonzero(layer)
    if len(ys):  # composite only where the drain is, so everything else stays as it was
        a = layer[ys, xs] * (u(0.7, 0.9) / 255)
        img[ys, xs] = img[ys, xs] * (1 - a) + a * 0.97
