"""Localisation scores of saliency maps on hand-made maps, masks and boxes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mitdeeplearning.xray import (
    cam_iou,
    energy_in_mask,
    iobb_hits,
    location_prior,
    mask_sides,
    pointing_game,
)
from mitdeeplearning.xray.localisation import iobb


def square_masks(n: int = 1, size: int = 224, top: int = 100, side: int = 20) -> np.ndarray:
    masks = np.zeros((n, size, size), bool)
    masks[:, top : top + side, top : top + side] = True  # rows and columns 100..119
    return masks


def test_pointing_game_hits_misses_and_tolerance():
    masks = square_masks(5)
    cams = np.zeros((5, 224, 224))
    cams[0, 110, 110] = 1.0  # inside
    cams[1, 110, 134] = 1.0  # 15 px right of the last column: on the default tolerance
    cams[2, 110, 135] = 1.0  # 16 px: out
    cams[3, 130, 130] = 1.0  # 11 px down and right: sqrt(2) * 11 = 15.6 px, out
    cams[4] = 0.3  # flat: points nowhere
    assert pointing_game(cams, masks).tolist() == [True, True, False, False, False]
    assert pointing_game(cams, masks, tolerance=0).tolist() == [True, False, False, False, False]
    assert pointing_game(cams, masks, tolerance=16).tolist() == [True, True, True, True, False]


def test_pointing_game_tolerance_scales_with_the_image():
    masks = square_masks(2, size=112, top=50, side=10)  # columns 50..59
    cams = np.zeros((2, 112, 112))
    cams[0, 55, 66] = 1.0  # 7 px: within 15 * 112 / 224 = 7.5
    cams[1, 55, 68] = 1.0  # 9 px: out
    assert pointing_game(cams, masks).tolist() == [True, False]
    negative_peak = -np.ones((1, 112, 112))
    negative_peak[0, 52, 52] = -0.5  # the maximum of an all-negative map still counts
    assert pointing_game(negative_peak, masks[:1]).tolist() == [True]


def test_empty_masks_and_bad_shapes_are_refused():
    masks = square_masks(3)
    masks[1] = False
    with pytest.raises(ValueError, match=r"masks \[1\] is empty.*labels == 1"):
        pointing_game(np.random.rand(3, 224, 224), masks)
    for score in (pointing_game, energy_in_mask, cam_iou):
        with pytest.raises(ValueError, match="empty"):
            score(np.random.rand(3, 224, 224), masks)
        with pytest.raises(ValueError, match="same|masks has shape"):
            score(np.random.rand(3, 112, 112), square_masks(3))
        with pytest.raises(ValueError, match="cam\\[None\\]"):
            score(np.random.rand(224, 224), square_masks(1)[0])
    with pytest.raises(ValueError, match="NaN"):
        pointing_game(np.full((1, 224, 224), np.nan), square_masks())
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(np.random.rand(1, 224, 224), square_masks(), tolerance=-1)


def test_energy_in_mask_hand_example():
    cams = np.zeros((3, 4, 4))
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :2] = True  # the top-left quarter
    cams[0, 0, 0], cams[0, 3, 3] = 3.0, 1.0  # 3 of 4 units inside
    cams[1] = 1.0  # uniform: the mask's share of the image
    cams[1, 3, 3] = -10.0  # negative values don't count
    cams[2] = -1.0  # no positive energy
    shares = energy_in_mask(cams, masks)
    assert shares[0] == 0.75 and shares[1] == pytest.approx(4 / 15) and math.isnan(shares[2])


def test_cam_iou_hand_example():
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :2] = True  # 4 pixels
    cams = np.zeros((3, 4, 4))
    cams[0, :2, :2] = 2.0  # exactly the mask
    cams[1, :2, :] = 1.0  # the top half ...
    cams[1, 0, 0] = 0.0  # ... but one pixel: 3 of its 7 hot pixels in the mask, union 8
    cams[2] = 5.0  # flat: nothing hot
    np.testing.assert_allclose(cam_iou(cams, masks), [1.0, 3 / 8, 0.0])
    assert cam_iou(cams[1:2] - 7.0, masks[:1], threshold=1.0)[0] == 3 / 8  # min-max: shift-free
    with pytest.raises(ValueError, match="threshold"):
        cam_iou(cams, masks, threshold=0)


def test_iobb_hand_example():
    cams = np.zeros((3, 10, 10))
    cams[0, 2:4, 2:6] = 1.0  # a detected box 4 wide and 2 high (area 8)
    cams[1, 2:4, 2:6] = 1.0
    cams[1, 8:, 8:] = 0.9  # a second hot region: its own box, entirely inside the truth
    cams[2, 2:4, 2:6] = 1.0
    boxes = np.array([[4, 0, 6, 6], [7.5, 7.5, 2.5, 2.5], [0, 0, 1, 1]], dtype=float)
    np.testing.assert_allclose(iobb(cams, boxes), [4 / 8, 1.0, 0.0])
    hits = iobb_hits(cams, boxes)
    assert list(hits) == [0.1, 0.25, 0.5]
    assert hits[0.1].tolist() == [True, True, False]
    assert hits[0.5].tolist() == [False, True, False]  # IoBB must exceed T, as Wang et al.
    # At a higher CAM threshold the second region (0.9) is no longer hot.
    assert iobb_hits(cams, boxes, cam_threshold=0.95)[0.5].tolist() == [False, False, False]
    half_pixel = iobb(cams[:1], [[4.5, 0, 6, 6]])[0]
    assert half_pixel == pytest.approx(3 / 8)  # fractions of a pixel are measured exactly
    with pytest.raises(ValueError, match="shape"):
        iobb_hits(cams, boxes[:2])
    with pytest.raises(ValueError, match="positive width"):
        iobb_hits(cams, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="T\\(IoBB\\)"):
        iobb_hits(cams, boxes, thresholds=(1.5,))


def test_location_prior_counts_the_training_masks_and_skips_empty_ones():
    train = np.zeros((5, 6, 8), bool)
    train[0, 1:3, 0:2] = True
    train[1, 1:2, 0:3] = True
    train[2, 4:6, 6:8] = True  # train[3] and train[4] are negatives: empty
    prior = location_prior(train)
    assert prior.shape == (6, 8) and prior.dtype == np.float64
    assert prior[1, 0] == pytest.approx(2 / 3) and prior[2, 0] == pytest.approx(1 / 3)
    assert prior[5, 7] == pytest.approx(1 / 3) and prior[0, 4] == 0.0
    assert mask_sides(train[:3]).tolist() == [0, 0, 1]


def test_the_prior_per_side_uses_only_that_sides_masks():
    train = np.zeros((3, 6, 8), bool)
    train[0, 0:2, 0:2] = train[1, 0:1, 0:3] = True  # left half
    train[2, 4:6, 6:8] = True  # right half
    maps = location_prior(train, sides=[1, 0, 1])
    assert maps.shape == (3, 6, 8)
    assert maps[0].max() == 1.0 and maps[0][train[2]].min() == 1.0 and maps[0][:, :4].max() == 0
    assert maps[1][0, 0] == 1.0 and maps[1][:, 4:].max() == 0
    assert np.array_equal(maps[0], maps[2])


def test_the_prior_scored_as_a_map_is_the_most_hit_pixel_baseline():
    # Pointing at the pixel most often inside the training masks, every time: the prior's
    # own maximum, so the pointing game scores the prior itself.
    rng = np.random.default_rng(0)
    train = np.zeros((30, 32, 32), bool)
    test = np.zeros((10, 32, 32), bool)
    for masks in (train, test):
        for mask in masks:
            top, left = rng.integers(0, 24, size=2)
            mask[top : top + 8, left : left + 8] = True
    prior = location_prior(train)
    point = np.zeros(test.shape)
    row, col = np.unravel_index(np.argmax(prior), prior.shape)
    point[:, row, col] = 1.0
    scored = pointing_game(np.broadcast_to(prior, test.shape), test, 2.0)
    assert np.array_equal(scored, pointing_game(point, test, 2.0))
    per_side = location_prior(train, sides=mask_sides(test))
    assert per_side.shape == test.shape
    energy = energy_in_mask(per_side, test)
    assert np.all((energy >= 0) & (energy <= 1))


@pytest.mark.parametrize(
    ("masks", "sides", "message"),
    [
        (np.zeros((3, 4, 4), bool), None, "no non-empty mask"),
        (np.ones((2, 4), bool), None, "shape (n, height, width)"),
        (np.full((1, 4, 4), 0.5), None, "boolean"),
        (np.ones((2, 4, 4), bool), [0, 2], "0 (left half) and 1 (right half)"),
        (np.pad(np.ones((1, 4, 2), bool), ((0, 0), (0, 0), (0, 2))), [1], "no training mask"),
    ],
)
def test_location_prior_refuses_bad_arguments(masks, sides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        location_prior(masks, sides)


def test_mask_sides_refuses_an_empty_mask():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 0, 0] = True
    with pytest.raises(ValueError, match=r"masks \[1\] is empty"):
        mask_sides(masks)
