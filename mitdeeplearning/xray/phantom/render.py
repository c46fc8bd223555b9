"""One synthetic radiograph, drawn part by part: `render_case`.

The film is a *density* map (how much the body attenuates each ray; bright on the film) summed
from its parts, then exposed (`film.expose`). Each part draws from its own random stream of
``(seed, index)``, so the same patient can be drawn with and without a pneumothorax or a drain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy, lung_outline, sample_anatomy
from .body import soft_tissue
from .bones import bone_density
from .devices import device_density, draw_tube, sample_devices, sample_tube
from .draw import crop, fill, noise_banks, stream
from .film import expose, place_mask, placement, sample_acquisition
from .lesion import Lesion, collapse_centre, pneumothorax, sample_lesion
from .lungs import markings
from .mimics import draw_mimics, sample_mimics

#: Density of the brightest lung marking, times `Anatomy.vessel_contrast`.
VESSEL_DENSITY = 0.11


@dataclass
class Case:
    """One drawn film with what the tests and the lab may want to inspect."""

    image: np.ndarray  # (size, size) float32 in [0, 1]
    mask: np.ndarray  # (size, size) bool: the pneumothorax
    lung: np.ndarray  # (size, size) bool: both lung fields, as drawn (before collapse)
    tube_mask: np.ndarray  # (size, size) bool: the pixels a chest drain changed
    side: int  # -1 image left (patient right), +1 image right, 0 no pneumothorax
    kind: str  # "none" or "<position>/<size>" (see `lesion.POSITIONS`, `lesion.SIZES`)
    supine: bool


def _lungs(anatomy: Anatomy, lesion: Lesion | None) -> tuple[float, dict, dict, dict]:
    """The mediastinum's midline, the domes' heights, the lungs' outlines, and the outlines
    without the lesion (a deep sulcus or a tension pneumothorax moves them)."""
    a = anatomy
    dome_y = dict(a.dome_y)
    angle_y = {s: dome_y[s] + a.angle_depth[s] for s in (-1, 1)}
    deepen = {-1: 0.0, 1: 0.0}
    centre_x = a.midline
    if lesion is not None:
        centre_x -= lesion.side * lesion.shift  # tension pushes the mediastinum over
        dome_y[lesion.side] += lesion.flatten
        angle_y[lesion.side] += 0.5 * lesion.flatten
        deepen[lesion.side] = lesion.deepen
    lungs = {s: lung_outline(s, a, centre_x, dome_y[s], angle_y[s], deepen[s]) for s in (-1, 1)}
    plain = lungs
    if lesion is not None and (lesion.deepen or lesion.shift):
        plain = {
            s: lung_outline(s, a, a.midline, a.dome_y[s], a.dome_y[s] + a.angle_depth[s])
            for s in (-1, 1)
        }
    return centre_x, dome_y, lungs, plain


def _lung_fields(lungs: dict, size: int) -> dict:
    """Each lung as a (size, size) uint8 mask, 1 inside (hard edges: these are masks)."""
    return {
        s: fill(np.zeros((size, size), np.uint8), [lungs[s].outline], 1, smooth=False)
        for s in (-1, 1)
    }


def render_case(
    size: int,
    seed: int,
    index: int,
    label: int,
    shortcut: str | None = None,
    tube_rate: tuple[float, float] = (0.9, 0.05),
) -> Case:
    """Draw film `index` of `seed` with the given label (see the package's notes).

    Depends on ``(seed, index, label)``, the size and the drain options only: never on the
    other films. Without the label's lesion the film is the same patient, identical outside
    the lesion's pixels; with a drain, identical outside the drain's.
    """
    acquisition = sample_acquisition(stream(seed, index, "acquisition"), size)
    supine = acquisition.supine
    anatomy = sample_anatomy(stream(seed, index, "anatomy"), supine)
    mimics = sample_mimics(stream(seed, index, "mimics"), supine)
    devices = sample_devices(stream(seed, index, "devices"), supine, anatomy)
    lesion = sample_lesion(stream(seed, index, "lesion"), supine) if label else None
    centre_x, dome_y, lungs, plain = _lungs(anatomy, lesion)
    density, air = soft_tissue(anatomy, supine, lungs, plain, dome_y, centre_x, size)
    lung = _lung_fields(lungs, size)
    both = lung[-1] | lung[1]
    density -= both * air
    pleural_air = np.zeros((size, size), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    if lesion is not None:
        side = lesion.side
        outline = plain[side].outline if lesion.deepen else lungs[side].outline
        centre = collapse_centre(outline, lungs[side].hilum, lesion)
        pleural_air, mask, line = pneumothorax(lung[side], outline, centre, lesion)
        density += line * np.float32(anatomy.line_contrast / 255)
    look_alikes, bulla = draw_mimics(mimics, anatomy, lungs, lung, size)
    # Lung tissue, where there is no pleural air and no bulla: its density, mottle and vessels.
    tissue = (both & ~pleural_air & ~bulla).astype(np.float32)
    _, mottle = noise_banks(size)
    vessels = markings(plain, anatomy, size)
    vessel_density = np.float32(VESSEL_DENSITY * anatomy.vessel_contrast / 255)
    density += tissue * (
        anatomy.lung_tissue
        + anatomy.texture * crop(mottle, size, acquisition.noise_crops[0])
        + vessels * vessel_density
    )
    density += look_alikes + bone_density(anatomy, size, centre_x)
    density += device_density(devices, anatomy, size)
    affine = placement(acquisition, size)
    image = expose(density, acquisition, affine)
    tube_mask = np.zeros((size, size), bool)
    if shortcut == "chest_tube":
        tube = sample_tube(
            stream(seed, index, "tube"), label, tube_rate, lesion.side if lesion else 0
        )
        if tube is not None:
            tube_mask = draw_tube(image, tube, anatomy, affine)
    return Case(
        image=image,
        mask=place_mask(mask, affine),
        lung=place_mask(both, affine),
        tube_mask=tube_mask,
        side=lesion.side if lesion else 0,
        kind=lesion.kind if lesion else "none",
        supine=supine,
    )
