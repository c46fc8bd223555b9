"""Synthetic chest radiographs with pneumothorax masks: the offline default data of Lab 2.

Real pneumothorax data (SIIM-ACR, NIH ChestX-ray14) needs a login or tens of gigabytes;
`make_synthetic_cxr` draws a labelled, segmented data set of any size in seconds, with no
network, so the lab always runs. It is made hard on purpose: a trivial cue, a linear model or a
location prior must not solve it (``benchmarks/phantom_baselines.py`` checks them).

What is drawn, and the radiological fact each part models (one module each):

* ``film``: upright PA films (60 %) and supine AP films (40 %, intensive care and trauma:
  where pleural air collects depends on it); rotation, magnification and shift of the patient,
  exposure, blur and quantum noise.
* ``anatomy``, ``body``, ``bones``: torso and chest-wall soft tissue, a rotated patient's
  unequal lucency, lungs with apex, lateral wall, costophrenic angles and hemidiaphragms (the
  left lower), mediastinum, heart, aortic knob, trachea, hila; posterior and anterior ribs,
  clavicles, spine, humeri, and scapulae over the upper lateral lungs (90 % of supine films).
* ``lungs``: lung markings are pulmonary vessels, branching from the hila and fading towards
  the periphery; each patient's trees are irregular (random trunks, forks, bends and pruning),
  with parenchymal mottle.
* ``lesion``: the pneumothorax, on either side (1:1). Air rises: on upright films it collects
  at the apex (30 %) or along the lateral wall (70 %; a short crescent held off the apex by
  adhesions, anywhere from the upper to the lower zone); on supine films in front and low
  (Tocino et al., AJR 1985), as a deep, lucent costophrenic sulcus (the deep sulcus sign, 35 %),
  as an anteromedial lucency along the heart border (35 %), as subpulmonic air over the dome
  (20 %), or at the apex (10 %). Overall about 22 % apical, 42 % lateral, 14 % deep sulcus,
  14 % anteromedial, 8 % subpulmonic: no single place holds most of them. Sizes, most small:
  thin rims 34 %, small 32 %, moderate 22 %, large 9 %, tension 3 % (the mediastinum pushed
  over, the hemidiaphragm flattened); the median mask is under 1 % of the film. The evidence
  is subtle: a fine visceral pleural line, and beyond it no lung markings and a little more
  lucency (the lung tissue missing), not a black hole. The mask is that air and its line.
* ``mimics``: hard negatives in both classes at the same rates: skin folds (25 % upright,
  45 % supine: an edge along the lateral lung that runs past it), companion shadows along the
  apex (25 %), bullae (10 %: air without markings, but round and inside the lung), scapular
  borders (``bones``).
* ``devices``: ECG leads (30 % upright, 75 % supine), central venous lines (10 %, 50 %) and
  lead side markers (85 %) on both classes; with ``shortcut="chest_tube"``, chest drains on
  treated patients (``tube_rate``): they enter the lateral chest wall low (4th-6th intercostal
  space, mid-axillary line) and run medially up over the lung towards the apex, so most of a
  drain lies outside the pneumothorax's mask.

Pairing: every part of film ``i`` comes from its own random stream of ``(seed, i)``, so the same
patient is drawn with and without the pneumothorax, identical outside the lesion's pixels
(except the mediastinum of a tension and the diaphragm beside a deep sulcus), and a drain
changes only its own pixels. Speed: about 100-200 films per second at 256 px on one core.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from .draw import LABEL_KEY, NOISE_KEY
from .render import Case, render_case

__all__ = ["SHORTCUTS", "Case", "make_synthetic_cxr", "render_case"]

#: Spurious cues `make_synthetic_cxr` can add (None: none).
SHORTCUTS = (None, "chest_tube")


def make_synthetic_cxr(
    n: int,
    *,
    size: int = 256,
    seed: int = 0,
    positive_fraction: float = 0.5,
    shortcut: str | None = None,
    tube_rate: tuple[float, float] = (0.9, 0.05),
    label_noise: float = 0.0,
    return_tube_masks: bool = False,
) -> tuple[np.ndarray, ...]:
    """Draw synthetic chest radiographs, half of them (by default) with a pneumothorax.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    size : int, default 256
        Height and width in pixels, at least 64.
    seed : int, default 0
        Non-negative seed. The same arguments give identical arrays. Image ``i`` depends on
        ``(seed, i)``, its true label, `size` and the drain options only, never on `n`: image
        ``i`` with label 1 is the same patient as image ``i`` with label 0, plus the lesion.
    positive_fraction : float, default 0.5
        Fraction of images with a pneumothorax, in [0, 1]. Exactly
        ``round(n * positive_fraction)`` images are positive (Python's rounding: half to
        even), in a random order fixed by ``(seed, n)``.
    shortcut : {None, "chest_tube"}, default None
        ``"chest_tube"`` adds chest drains as in real data, where treated patients have them:
        a confound a classifier can learn instead of the disease. Drains are drawn last, so
        each image equals the one drawn with ``shortcut=None`` except on its drain's pixels.
    tube_rate : (float, float), default (0.9, 0.05)
        With ``shortcut="chest_tube"``: the probability of a drain for a patient with a
        pneumothorax and for one without, each in [0, 1].
    label_noise : float, default 0.0
        Share of the returned labels that are flipped, in [0, 0.5): exactly
        ``round(n * label_noise)`` images, chosen at random (fixed by ``(seed, n)``) among all
        of them, whatever their class, get the other label, as a mined report would give
        (meant for a training split). Only the labels change: the images are drawn with their
        true label and the masks stay true (a flipped positive keeps its mask, a flipped
        negative has an empty one).
    return_tube_masks : bool, default False
        Also return where the drains are.

    Returns
    -------
    images : numpy.ndarray
        ``(n, size, size, 1) float32`` in [0, 1]; bright is dense (bone), dark is air.
    labels : numpy.ndarray
        ``(n,) int64``; 1 for pneumothorax, 0 otherwise (after `label_noise`).
    masks : numpy.ndarray
        ``(n, size, size) bool``; the pneumothorax (the pleural air and its visceral pleural
        line), inside a lung field. Non-empty exactly for the truly positive images.
    tube_masks : numpy.ndarray
        Only with ``return_tube_masks=True``: ``(n, size, size) bool``, the pixels each drain
        changed (all False without ``shortcut="chest_tube"``).

    Raises
    ------
    ValueError
        If an argument is out of range or ``shortcut`` is not one of the allowed values; the
        message names the argument, its value and what was expected.

    Examples
    --------
    >>> images, labels, masks = make_synthetic_cxr(8, size=128, seed=1)
    >>> images.shape, images.dtype, labels.sum(), masks.shape
    ((8, 128, 128, 1), dtype('float32'), np.int64(4), (8, 128, 128))
    >>> bool(masks[labels == 0].any()), bool(masks[labels == 1].any(axis=(1, 2)).all())
    (False, True)
    >>> *_, tubes = make_synthetic_cxr(
    ...     4, size=64, positive_fraction=1.0, shortcut="chest_tube", tube_rate=(1.0, 0.0),
    ...     return_tube_masks=True)
    >>> bool(tubes.any(axis=(1, 2)).all())
    True
    """
    tube_rate = _check(n, size, seed, positive_fraction, shortcut, tube_rate, label_noise)
    truth = _labels(int(n), float(positive_fraction), int(seed))
    images = np.empty((n, size, size, 1), np.float32)
    masks = np.zeros((n, size, size), bool)
    tube_masks = np.zeros((n, size, size), bool) if return_tube_masks else None
    for i in range(n):
        case = render_case(int(size), int(seed), i, int(truth[i]), shortcut, tube_rate)
        images[i, :, :, 0] = case.image
        masks[i] = case.mask
        if tube_masks is not None:
            tube_masks[i] = case.tube_mask
    labels = flip_labels(truth, float(label_noise), int(seed))
    if tube_masks is not None:
        return images, labels, masks, tube_masks
    return images, labels, masks


def flip_labels(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of (n,) int64 `labels` with exactly ``round(n * share)`` of them flipped, chosen
    at random in an order fixed by ``(seed, n)``.

    Examples
    --------
    >>> flip_labels(np.zeros(10, np.int64), 0.2, seed=0).sum()
    np.int64(2)
    """
    flipped = labels.copy()
    count = round(len(labels) * share)
    if count:
        key = (NOISE_KEY, len(labels))
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
        chosen = rng.choice(len(labels), size=count, replace=False)
        flipped[chosen] = 1 - flipped[chosen]
    return flipped


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check(n, size, seed, positive_fraction, shortcut, tube_rate, label_noise) -> tuple:
    """Validate `make_synthetic_cxr`'s arguments; return `tube_rate` as a tuple of floats."""
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not _is_int(size) or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not _is_number(positive_fraction) or not 0.0 <= positive_fraction <= 1.0:  # NaN: False
        raise ValueError(f"positive_fraction must be a number in [0, 1], got {positive_fraction!r}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS!r}, got {shortcut!r}")
    pair = tuple(tube_rate) if isinstance(tube_rate, tuple | list | np.ndarray) else ()
    if len(pair) != 2 or not all(_is_number(p) and 0.0 <= p <= 1.0 for p in pair):
        raise ValueError(
            "tube_rate must be a pair (p_positive, p_negative) of probabilities in [0, 1], "
            f"got {tube_rate!r}"
        )
    if not _is_number(label_noise) or not 0.0 <= label_noise < 0.5:
        raise ValueError(f"label_noise must be a number in [0, 0.5), got {label_noise!r}")
    return float(pair[0]), float(pair[1])


def _labels(n: int, positive_fraction: float, seed: int) -> np.ndarray:
    """Exactly round(n * positive_fraction) ones, in an order fixed by (seed, n)."""
    labels = np.zeros(n, np.int64)
    labels[: round(n * positive_fraction)] = 1
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(LABEL_KEY, n)))
    return rng.permutation(labels)
