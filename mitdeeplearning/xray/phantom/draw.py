"""Drawing helpers of the phantom: random streams, cached grids and noise, OpenCV shapes.

Shapes are given in normalised coordinates (x to the right, y down, the image is the unit
square) and drawn with OpenCV at sub-pixel precision.
"""

from __future__ import annotations

import functools

import numpy as np

#: OpenCV fixed-point precision: coordinates are passed as integers times 2**SHIFT, so thin
#: lines and small shapes land at sub-pixel positions instead of jumping a pixel.
SHIFT = 4
FIX = float(1 << SHIFT)

#: SeedSequence spawn keys: (IMAGE_KEY, index, stream) for one image's parts, (LABEL_KEY, n)
#: for the order of labels and (NOISE_KEY, n) for the labels a `label_noise` flips.
IMAGE_KEY, LABEL_KEY, NOISE_KEY = 0, 1, 2
#: One random stream per part of an image, so that drawing one part never moves another.
STREAMS = {"acquisition": 0, "lesion": 1, "tube": 2, "anatomy": 3, "mimics": 4, "devices": 5}


def stream(seed: int, index: int, part: str) -> np.random.Generator:
    """The random generator of one part (a key of `STREAMS`) of image `index` of `seed`."""
    key = (IMAGE_KEY, index, STREAMS[part])
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def side_sign(rng: np.random.Generator) -> int:
    """-1 (image left, the patient's right) or +1 (image right), each with probability 1/2."""
    return 1 if rng.random() < 0.5 else -1


@functools.lru_cache(maxsize=8)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel centres: x as a (1, size) row, y as a (size, 1) column, float32."""
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    return centres[None, :], centres[:, None]


@functools.lru_cache(maxsize=8)
def noise_banks(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (2 size, 2 size) float32 noise fields, cut at random offsets for each image.

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


def crop(bank: np.ndarray, size: int, offset: np.ndarray) -> np.ndarray:
    """A (size, size) view of a noise bank at ``offset = (row, column, flips)``."""
    row, column, flips = (int(v) for v in offset)
    view = bank[row : row + size, column : column + size]
    if flips & 1:
        view = view[::-1]
    if flips & 2:
        view = view[:, ::-1]
    return view


def to_fixed(points: np.ndarray, size: int) -> np.ndarray:
    """Normalised (..., 2) points to OpenCV's fixed-point pixel coordinates (int32)."""
    return np.round(points * (size * FIX) - 0.5 * FIX).astype(np.int32)


def smoothstep(x, low: float, high: float):
    """0 below `low`, 1 above `high`, a smooth cubic between."""
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def ellipses(centres: np.ndarray, axes: tuple[float, float], corners: int = 14) -> np.ndarray:
    """(m, corners, 2) polygons approximating axis-aligned ellipses around (m, 2) centres."""
    angle = np.linspace(0.0, 2 * np.pi, corners, endpoint=False)
    unit = np.stack([np.cos(angle) * axes[0], np.sin(angle) * axes[1]], 1)
    return centres[:, None, :] + unit[None]


def band(paths: np.ndarray, width: float) -> np.ndarray:
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


def _fixed_list(shapes, size: int) -> list:
    """Fixed-point shapes for OpenCV from one (m, n, 2) array (converted at once) or a list."""
    if isinstance(shapes, np.ndarray):
        return list(to_fixed(shapes, size))
    return [to_fixed(np.asarray(shape), size) for shape in shapes]


def fill(canvas: np.ndarray, polygons, value: float = 1, smooth: bool = True) -> np.ndarray:
    """Fill polygons (a list of (n, 2) arrays, or one (m, n, 2) array) on `canvas`, in place.

    uint8 canvases are anti-aliased unless `smooth` is False (masks); float canvases get hard
    edges (OpenCV's rule). One call for many polygons uses the even-odd rule: overlapping
    shapes make holes, so give it disjoint ones.
    """
    import cv2

    size = canvas.shape[0]
    line = cv2.LINE_AA if canvas.dtype == np.uint8 and smooth else cv2.LINE_8
    cv2.fillPoly(canvas, _fixed_list(polygons, size), value, line, SHIFT)
    return canvas


def lines(canvas: np.ndarray, paths, value: float, width_px: float, closed: bool = False) -> None:
    """Draw anti-aliased polylines (paths: (m, n, 2) or a list of (n, 2)) `width_px` wide."""
    import cv2

    size = canvas.shape[0]
    points = _fixed_list(paths, size)
    cv2.polylines(canvas, points, closed, value, max(1, round(width_px)), cv2.LINE_AA, SHIFT)


def box_blur(image: np.ndarray, width: float) -> np.ndarray:
    """Two passes of a box filter `width` pixels wide (odd, at least 3): a cheap soft blur."""
    import cv2

    width = max(3, int(width) | 1)
    return cv2.blur(cv2.blur(image, (width, width)), (width, width))
