"""The acquisition: patient position, then the exposure that turns densities into a film."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .draw import crop, noise_banks

#: Share of films taken supine (AP, in bed: intensive care, trauma); the rest are upright PA.
SUPINE_RATE = 0.4


@dataclass
class Acquisition:
    """How one film was taken and exposed, as sampled by `sample_acquisition`."""

    supine: bool  # AP supine (in bed) rather than PA upright: where pleural air collects
    contrast: float  # exposure: contrast and saturation of the dense parts
    gamma: float
    window_low: float  # the film's display window
    window_high: float
    blur: float  # focal spot and detector blur, in pixels of this size
    noise: float  # quantum noise
    angle: float  # degrees of rotation of the patient on the film
    scale: float  # magnification
    shift: np.ndarray  # (2,) offset of the patient, fractions of the width
    noise_crops: np.ndarray  # (2, 3) offsets of the texture and the quantum noise crops


def sample_acquisition(rng: np.random.Generator, size: int) -> Acquisition:
    """Draw a film's position and exposure (a fixed number of draws)."""
    uniform = rng.uniform
    return Acquisition(
        supine=rng.random() < SUPINE_RATE,
        contrast=uniform(1.5, 2.5),
        gamma=uniform(0.8, 1.25),
        window_low=uniform(-0.05, 0.08),
        window_high=uniform(0.85, 1.1),
        blur=uniform(0.45, 1.0) * size / 256,
        noise=uniform(0.006, 0.02),
        angle=float(np.clip(rng.normal(0.0, 3.0), -7.0, 7.0)),
        scale=uniform(0.88, 1.12),
        shift=np.clip(rng.normal(0.0, 0.035, 2), -0.08, 0.08),
        noise_crops=np.stack(
            [rng.integers(0, size, 2), rng.integers(0, size, 2), rng.integers(0, 4, 2)], axis=1
        ),
    )


def placement(acquisition: Acquisition, size: int) -> np.ndarray:
    """The (2, 3) affine map from the drawing to the film (rotation, scale, shift), in pixels."""
    import cv2

    film = acquisition
    affine = cv2.getRotationMatrix2D((size / 2, size / 2), film.angle, film.scale)
    affine[:, 2] += film.shift * size
    return affine


def place_mask(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """A (size, size) uint8 mask of the drawing moved onto the film as a bool mask."""
    import cv2

    size = mask.shape[0]
    return cv2.warpAffine(mask, affine, (size, size), flags=cv2.INTER_NEAREST).astype(bool)


def expose(density: np.ndarray, acquisition: Acquisition, affine: np.ndarray) -> np.ndarray:
    """Film of a (size, size) float32 density map: blur, placement, exposure curve, noise.

    Returns (size, size) float32 in [0, 1], bright where dense.
    """
    import cv2

    film = acquisition
    size = density.shape[0]
    density = cv2.GaussianBlur(density, (0, 0), film.blur)
    density = cv2.warpAffine(density, affine, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    scale = 1.0 / (1.0 - math.exp(-film.contrast * 1.2))
    image = (1.0 - np.exp(-film.contrast * np.maximum(density, 0.0))) * scale
    image = np.power(np.maximum(image, 1e-6), film.gamma, dtype=np.float32)
    white, _ = noise_banks(size)
    image += (film.noise * (0.5 + image)) * crop(white, size, film.noise_crops[1])
    image = (image - film.window_low) * (1.0 / (film.window_high - film.window_low))
    return np.clip(image, 0.0, 1.0).astype(np.float32)
