"""The synthetic chest radiographs: contract, determinism, no global shortcuts, and lesions where
their masks say (positions, proportions, drains and label noise: test_phantom_cases.py).

Generation is cached per module (a few hundred small images), so the whole file runs in seconds.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mitdeeplearning.xray import make_synthetic_cxr
from mitdeeplearning.xray.phantom import SHORTCUTS, render_case


@functools.cache
def _data(n, size=128, seed=0, positive_fraction=0.5, shortcut=None):
    return make_synthetic_cxr(
        n, size=size, seed=seed, positive_fraction=positive_fraction, shortcut=shortcut
    )


def _area_down(a: np.ndarray, size: int) -> np.ndarray:
    """The lab's preprocessing: 256 px drawings shrunk with INTER_AREA."""
    return cv2.resize(a.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


# ---- contract


@pytest.mark.parametrize("size", [64, 100, 256])
def test_shapes_dtypes_and_range(size):
    images, labels, masks = make_synthetic_cxr(6, size=size, seed=3)
    assert images.shape == (6, size, size, 1) and images.dtype == np.float32
    assert labels.shape == (6,) and labels.dtype == np.int64
    assert masks.shape == (6, size, size) and masks.dtype == bool
    assert np.isfinite(images).all()
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(labels)) <= {0, 1}
    # Masks: empty exactly for the negatives.
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), labels == 1)


@pytest.mark.parametrize(
    ("n", "fraction"), [(10, 0.5), (7, 0.5), (10, 0.3), (9, 0.0), (9, 1.0), (1, 0.5), (3, 0.9)]
)
def test_number_of_positives_is_exact(n, fraction):
    _, labels, masks = make_synthetic_cxr(n, size=64, seed=1, positive_fraction=fraction)
    assert labels.sum() == round(n * fraction)
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), labels == 1)


@pytest.mark.slow
def test_label_order_is_random_but_seeded():
    _, a, _ = _data(400)
    _, b, _ = make_synthetic_cxr(400, size=64, seed=0)  # the order does not depend on size
    np.testing.assert_array_equal(a, b)
    _, c, _ = make_synthetic_cxr(400, size=64, seed=1)
    assert not np.array_equal(a, c)
    # Not sorted, not alternating: runs of equal labels as in a shuffle.
    changes = np.count_nonzero(np.diff(a))
    assert 150 < changes < 250


def test_masks_are_nonempty_and_inside_the_lungs():
    for i in range(40):
        case = render_case(128, 5, i, 1, None)
        assert case.mask.any(), i
        assert not (case.mask & ~case.lung).any(), i
        assert case.side in (-1, 1)
        # The mask is on the side the lesion was drawn: image left (-1) or right (+1).
        cols = np.flatnonzero(case.mask.any(axis=0))
        assert (np.median(cols) - 64) * case.side > 0, i
    negative = render_case(128, 5, 0, 0, None)
    assert not negative.mask.any() and negative.side == 0 and negative.lung.any()


def test_lesions_vary_in_size_and_side():
    images, labels, masks = _data(400)
    area = masks[labels == 1].mean(axis=(1, 2))  # fraction of the image
    q = np.percentile(area, [0, 10, 50, 90, 100])
    print(f"mask area, % of the image: min/p10/median/p90/max = {np.round(100 * q, 2)}")
    assert q[0] > 0.0012  # every lesion visible at 128 px: 20 pixels or more
    assert q[4] / q[0] > 10  # thin rims to large collapses
    assert 0.004 < q[2] < 0.02  # most are small: the median under 2 % of the image
    sides = np.sign(
        np.array([np.flatnonzero(m.any(axis=0)).mean() for m in masks[labels == 1]]) - 64
    )
    assert 0.35 < (sides > 0).mean() < 0.65


def test_every_kind_of_lesion_occurs():
    kinds = {render_case(64, 2, i, 1, None).kind for i in range(300)}
    positions = {kind.split("/")[0] for kind in kinds}
    sizes = {kind.split("/")[1] for kind in kinds}
    assert positions == {"apical", "lateral", "deep sulcus", "anteromedial", "subpulmonic"}
    assert sizes == {"rim", "small", "moderate", "large", "tension"}


# ---- determinism


def test_same_seed_same_arrays():
    a = make_synthetic_cxr(5, size=96, seed=11)
    b = make_synthetic_cxr(5, size=96, seed=11)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seed_different_images():
    a, _, _ = make_synthetic_cxr(3, size=96, seed=11)
    b, _, _ = make_synthetic_cxr(3, size=96, seed=12)
    assert all(not np.array_equal(a[i], b[i]) for i in range(3))


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_prefix_property_for_fixed_labels(fraction):
    small = make_synthetic_cxr(4, size=96, seed=3, positive_fraction=fraction)
    large = make_synthetic_cxr(9, size=96, seed=3, positive_fraction=fraction)
    for x, y in zip(small, large, strict=True):
        np.testing.assert_array_equal(x, y[:4])


def test_image_depends_on_seed_index_and_label_only():
    # With exact label counts the order of labels depends on n, but an image whose label is the
    # same is the same image, whatever n.
    a = make_synthetic_cxr(6, size=96, seed=4)
    b = make_synthetic_cxr(11, size=96, seed=4)
    same = a[1] == b[1][:6]
    assert same.any()
    for i in np.flatnonzero(same):
        np.testing.assert_array_equal(a[0][i], b[0][i])
        np.testing.assert_array_equal(a[2][i], b[2][i])


# ---- no global shortcut


def test_global_statistics_do_not_give_the_class_away():
    images, labels, _ = _data(400)
    x = images[..., 0]
    half = x.shape[2] // 2
    stats = {
        "mean brightness": x.mean(axis=(1, 2)),
        "left/right asymmetry": np.abs(
            x[:, :, :half].mean(axis=(1, 2)) - x[:, :, half:].mean(axis=(1, 2))
        ),
        "variance": x.var(axis=(1, 2)),
    }
    aucs = {name: roc_auc_score(labels, v) for name, v in stats.items()}
    print("AUC of global statistics:", {k: round(v, 3) for k, v in aucs.items()})
    for name, auc in aucs.items():
        assert abs(auc - 0.5) <= 0.1, (name, auc)


# ---- the evidence is where the mask is
#
# Index i is one patient: drawn with label 1 and with label 0 it shares anatomy, acquisition
# and noise, so the pair differs only by what the pneumothorax does. That makes the checks
# exact: what a classifier can use is where the two differ.


@functools.cache
def _patients(n=24, seed=9):
    """The same patients drawn at 256 px with and without a lesion (labels 1 and 0)."""
    return [
        (render_case(256, seed, i, 1, None), render_case(256, seed, i, 0, None)) for i in range(n)
    ]


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def test_pairs_are_the_public_images():
    images, _, masks = make_synthetic_cxr(3, size=256, seed=9, positive_fraction=1.0)
    negatives, _, _ = make_synthetic_cxr(3, size=256, seed=9, positive_fraction=0.0)
    for i, (pos, neg) in enumerate(_patients()[:3]):
        np.testing.assert_array_equal(images[i, ..., 0], pos.image)
        np.testing.assert_array_equal(negatives[i, ..., 0], neg.image)
        np.testing.assert_array_equal(masks[i], pos.mask)


def test_the_lesion_changes_nothing_outside_its_mask():
    checked = 0
    for i, (pos, neg) in enumerate(_patients()):
        if pos.kind.endswith("tension"):
            continue  # tension also pushes the mediastinum over: evidence outside the mask
        diff = np.abs(pos.image - neg.image)
        assert diff[pos.mask].mean() > 0.03, i
        if pos.kind.startswith("deep sulcus"):
            # The deeper angle also moves the diaphragm's shadow beside it, in the chest wall;
            # the other side of the chest is untouched.
            half = slice(0, 100) if pos.side > 0 else slice(156, 256)
            assert diff[:, half].max() < 1e-5, i
            continue
        np.testing.assert_array_equal(pos.lung, neg.lung)  # the same lungs, one collapsed
        # Within a few pixels, the blur and the warp spread the lesion's edges; beyond them, only
        # float round-off of adding zeros in a different order.
        near = cv2.dilate(pos.mask.astype(np.uint8), _disc(6)).astype(bool)
        assert diff[~near].max() < 1e-5, i
        checked += 1
    assert checked >= 15


def test_the_air_is_lucent_and_has_no_lung_markings():
    darker, removed = [], []
    for pos, neg in _patients():
        # Inside the air, away from its edges (the chest wall, and the pleural line the mask
        # includes): thin rims have no inside and are skipped.
        core = cv2.erode((pos.mask & neg.lung).astype(np.uint8), _disc(4)).astype(bool)
        if core.sum() < 40:
            continue
        darker.append(neg.image[core].mean() - pos.image[core].mean())
        # What the lesion took away is the lung's own fine structure (vessels, mottle): the
        # detail of the difference follows the detail of the same patient's negative.
        detail = _high_pass(neg.image)[core]
        taken = _high_pass(neg.image - pos.image)[core]
        removed.append(np.corrcoef(detail, taken)[0, 1])
    print("darker:", np.round(darker, 3), "markings removed (correlation):", np.round(removed, 2))
    assert len(darker) >= 8
    assert min(darker) > 0.01 and np.median(darker) > 0.04  # more lucent, not a black hole
    assert np.median(darker) < 0.3  # the lung's own density is gone, the film not burnt out
    assert min(removed) > 0.05 and np.median(removed) > 0.3


def _high_pass(img: np.ndarray) -> np.ndarray:
    """Detail finer than a few pixels: vessels and parenchymal mottle, rib edges, noise."""
    return img - cv2.GaussianBlur(img, (0, 0), 2.0)


def test_pleural_line_along_the_mask_border():
    # At 128 px, as the lab sees it: the mask's edge next to the collapsed lung (where the
    # visceral pleura is) is brighter than the air inside the mask.
    brighter = []
    for pos, _ in _patients():
        img = _area_down(pos.image, 128)
        mask = (_area_down(pos.mask, 128) > 0.5).astype(np.uint8)
        lung = _area_down(pos.lung, 128) > 0.5
        rest = cv2.dilate(((mask == 0) & lung).astype(np.uint8), _disc(1)).astype(bool)
        edge = mask.astype(bool) & rest
        inner = cv2.erode(mask, _disc(1), iterations=2).astype(bool)
        if edge.sum() < 5 or inner.sum() < 5:
            continue
        brighter.append(img[edge].mean() - img[inner].mean())
    brighter = np.array(brighter)
    assert len(brighter) >= 10  # thin rims have no inside at 128 px
    assert np.mean(brighter > 0) >= 0.9, np.round(brighter, 3)


# ---- the chest-tube shortcut


@pytest.mark.slow
def test_chest_tubes_follow_the_label():
    tubed, labels, masks = _data(200, 128, 21, 0.5, "chest_tube")
    plain, labels0, masks0 = _data(200, 128, 21)
    np.testing.assert_array_equal(labels, labels0)
    np.testing.assert_array_equal(masks, masks0)
    changed = tubed[..., 0] != plain[..., 0]
    has_tube = changed.any(axis=(1, 2))
    pos_rate, neg_rate = has_tube[labels == 1].mean(), has_tube[labels == 0].mean()
    print(f"chest tubes: {pos_rate:.2f} of positives, {neg_rate:.2f} of negatives")
    assert 0.8 <= pos_rate <= 0.97  # tube_rate's default: (0.9, 0.05)
    assert 0.01 <= neg_rate <= 0.12
    # Drawn last: everything else is untouched, and a drain is a thin curve.
    assert changed.mean(axis=(1, 2)).max() < 0.05
    # Bright where drawn (a radio-opaque stripe).
    assert (tubed[..., 0][changed] > plain[..., 0][changed]).mean() > 0.7


def test_no_shortcut_means_no_tubes():
    a = _data(20, 128, 21)
    b = make_synthetic_cxr(20, size=128, seed=21, shortcut=None)
    np.testing.assert_array_equal(a[0], b[0])
    assert None in SHORTCUTS and "chest_tube" in SHORTCUTS


# ---- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"n must be an integer >= 1, got 0"),
        ({"n": -3}, r"n must be an integer >= 1, got -3"),
        ({"n": 2.0}, r"n must be an integer >= 1, got 2\.0"),
        ({"n": True}, r"n must be an integer >= 1, got True"),
        ({"size": 32}, r"size must be an integer >= 64, got 32"),
        ({"size": 128.0}, r"size must be an integer >= 64, got 128\.0"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
        ({"positive_fraction": 1.5}, r"positive_fraction must be a number in \[0, 1\], got 1\.5"),
        ({"positive_fraction": -0.1}, r"positive_fraction must be a number in \[0, 1\], got -0\.1"),
        ({"positive_fraction": float("nan")}, r"positive_fraction must be .*got nan"),
        ({"positive_fraction": "half"}, r"positive_fraction must be .*got 'half'"),
        ({"shortcut": "ruler"}, r"shortcut must be one of \(None, 'chest_tube'\), got 'ruler'"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"n": 2, "size": 64} | kwargs
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        make_synthetic_cxr(n, **args)


def test_numpy_integers_are_accepted():
    images, labels, _ = make_synthetic_cxr(np.int64(2), size=np.int32(64), seed=np.uint8(3))
    assert images.shape == (2, 64, 64, 1) and labels.sum() == 1
