"""mitdeeplearning.xray.rle: SIIM-ACR's relative, column-major run-length encoding, against a
pixel-by-pixel reference."""

from __future__ import annotations

import numpy as np
import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.xray.rle import rle_decode, rle_encode


def reference_decode(rle: str, height: int, width: int) -> np.ndarray:
    """SIIM's convention, pixel by pixel: runs over the transposed image, relative starts."""
    flat = np.zeros(width * height, bool)
    if rle.strip() != "-1":
        values = [int(v) for v in rle.split()]
        position = 0
        for gap, length in zip(values[0::2], values[1::2], strict=True):
            position += gap
            flat[position : position + length] = True
            position += length
    return flat.reshape(width, height).T


def reference_encode(mask: np.ndarray) -> str:
    out, previous_end, run_start = [], 0, None
    flat = list(mask.T.ravel()) + [False]
    for i, inside in enumerate(flat):
        if inside and run_start is None:
            run_start = i
        elif not inside and run_start is not None:
            out += [run_start - previous_end, i - run_start]
            previous_end, run_start = i, None
    return " ".join(map(str, out)) if out else "-1"


def test_rle_known_example_is_column_major_and_relative():
    mask = np.zeros((4, 3), bool)
    mask[2:, 0] = True  # column-major pixels 2, 3
    mask[1, 1] = True  # pixel 5
    mask[0, 2] = mask[3, 2] = True  # pixels 8 and 11
    assert rle_encode(mask) == "2 2 1 1 2 1 2 1"
    np.testing.assert_array_equal(rle_decode("2 2 1 1 2 1 2 1", (4, 3)), mask)
    # SIIM's masks are 0/255 images, and train-rle.csv values start with a space
    np.testing.assert_array_equal(rle_decode(" 2 2 1 1 2 1 2 1", (4, 3)), mask)
    assert rle_encode(mask.astype(np.uint8) * 255) == "2 2 1 1 2 1 2 1"


@pytest.mark.parametrize("shape", [(5, 7), (16, 16), (1, 9), (9, 1)])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_rle_round_trip_random_masks_matches_reference(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    for _ in range(5):
        mask = rng.random(shape) < density
        rle = rle_encode(mask)
        assert rle == reference_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle, shape), mask)
        np.testing.assert_array_equal(reference_decode(rle, *shape), mask)


def test_rle_empty_full_and_corners():
    h, w = 6, 4
    assert rle_encode(np.zeros((h, w))) == "-1"
    for text in ("-1", " -1", "-1\n"):
        assert not rle_decode(text, (h, w)).any()
    assert rle_encode(np.ones((h, w))) == f"0 {h * w}"
    assert rle_decode(f"0 {h * w}", (h, w)).all()
    corners = {(0, 0): "0 1", (h - 1, 0): f"{h - 1} 1", (0, w - 1): f"{h * (w - 1)} 1"}
    corners[(h - 1, w - 1)] = f"{h * w - 1} 1"
    for (row, col), rle in corners.items():
        mask = np.zeros((h, w), bool)
        mask[row, col] = True
        assert rle_encode(mask) == rle
        np.testing.assert_array_equal(rle_decode(rle, (h, w)), mask)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("1 2 3", "3 values; expected pairs"),
        ("1 -2", "negative"),
        ("0 13", "beyond the 3 x 4 image"),
        ("5 5 0 3", "beyond"),
        ("a b", "not space-separated integers"),
        ("1.5 2", "not space-separated integers"),
        ("", "empty"),
        ("  ", "empty"),
    ],
)
def test_rle_decode_rejects_bad_strings(rle, message):
    with pytest.raises(ValueError) as info:
        rle_decode(rle, (3, 4))
    assert message in str(info.value)


def test_rle_rejects_bad_shapes():
    with pytest.raises(ValueError, match="2-D"):
        rle_encode(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="shape must be"):
        rle_decode("-1", (3,))
    with pytest.raises(ValueError, match="shape must be"):
        rle_decode("-1", (0, 3))


def test_the_old_module_path_of_the_codec_still_works_and_warns(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"xray\.datasets\.rle_encode has been renamed"):
        from mitdeeplearning.xray.datasets import rle_encode as old

    assert old is rle_encode
