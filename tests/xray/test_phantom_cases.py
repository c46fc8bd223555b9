"""The phantom's case mix and options: positions and sides of the lesions in their stated
proportions, look-alikes and devices on both classes, chest drains (`tube_rate`, tube masks, how
much of a drain lies in the pneumothorax), `label_noise`, and a golden film that pins the output.
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest

from mitdeeplearning.xray import load_pneumothorax, make_synthetic_cxr
from mitdeeplearning.xray.phantom import render_case
from mitdeeplearning.xray.phantom.anatomy import sample_anatomy
from mitdeeplearning.xray.phantom.devices import RATES as DEVICE_RATES
from mitdeeplearning.xray.phantom.devices import sample_devices
from mitdeeplearning.xray.phantom.film import SUPINE_RATE
from mitdeeplearning.xray.phantom.lesion import POSITIONS, SIZES, sample_lesion
from mitdeeplearning.xray.phantom.mimics import RATES as MIMIC_RATES
from mitdeeplearning.xray.phantom.mimics import sample_mimics


@functools.cache
def _tubed(n=80, seed=31):
    """Positives and negatives at 128 px, each with a drain (tube_rate 1, 1), and without."""
    with_tubes = make_synthetic_cxr(
        n, size=128, seed=seed, shortcut="chest_tube", tube_rate=(1.0, 1.0), return_tube_masks=True
    )
    return with_tubes, make_synthetic_cxr(n, size=128, seed=seed)


# ---- positions, sizes and sides


def test_lesion_proportions_follow_the_tables():
    rng = np.random.default_rng(0)
    for film, supine in (("upright", False), ("supine", True)):
        lesions = [sample_lesion(rng, supine) for _ in range(3000)]
        positions = collections.Counter(lesion.position for lesion in lesions)
        for name, probability, *_ in POSITIONS[film]:
            assert abs(positions[name] / 3000 - probability) < 0.035, (film, name)
        sizes = collections.Counter(lesion.size for lesion in lesions)
        for name, probability, *_ in SIZES:
            assert abs(sizes[name] / 3000 - probability) < 0.03, (film, name)
        right = np.mean([lesion.side == 1 for lesion in lesions])
        assert abs(right - 0.5) < 0.03


def test_rendered_lesions_mix_positions_and_sides():
    cases = [render_case(64, 13, i, 1) for i in range(300)]
    positions = collections.Counter(case.kind.split("/")[0] for case in cases)
    expected = collections.Counter()
    for film, weight in (("upright", 1 - SUPINE_RATE), ("supine", SUPINE_RATE)):
        for name, probability, *_ in POSITIONS[film]:
            expected[name] += weight * probability
    for name, share in expected.items():
        assert abs(positions[name] / 300 - share) < 0.08, (name, positions[name] / 300, share)
    # No single place dominates: apical ones are about a third, as are lateral ones.
    assert max(positions.values()) / 300 < 0.45
    sides = np.array([case.side for case in cases])
    columns = np.array([np.nonzero(case.mask)[1].mean() for case in cases])
    np.testing.assert_array_equal(np.sign(columns - 32), sides)  # on the side it says
    assert 0.4 < np.mean(sides == 1) < 0.6
    supine = np.array([case.supine for case in cases])
    assert abs(supine.mean() - SUPINE_RATE) < 0.08


def test_small_lesions_are_the_rule():
    cases = [render_case(64, 14, i, 1) for i in range(200)]
    sizes = collections.Counter(case.kind.split("/")[1] for case in cases)
    assert (sizes["rim"] + sizes["small"]) / 200 > 0.55
    assert (sizes["large"] + sizes["tension"]) / 200 < 0.2


# ---- look-alikes and devices: both classes, at the stated rates


@pytest.mark.parametrize("supine", [False, True])
def test_look_alikes_and_devices_at_their_rates(supine):
    rng = np.random.default_rng(1)
    column = int(supine)
    mimics = [sample_mimics(rng, supine) for _ in range(2000)]
    for name in MIMIC_RATES:
        share = np.mean([getattr(m, name) for m in mimics])
        assert abs(share - MIMIC_RATES[name][column]) < 0.04, name
    anatomy = sample_anatomy(rng, supine)
    devices = [sample_devices(rng, supine, anatomy) for _ in range(2000)]
    shares = {
        "ecg": np.mean([len(d.electrodes) > 0 for d in devices]),
        "central_line": np.mean([bool(d.central_line) for d in devices]),
        "marker": np.mean([bool(d.marker) for d in devices]),
    }
    for name, share in shares.items():
        assert abs(share - DEVICE_RATES[name][column]) < 0.04, name


def test_devices_and_look_alikes_do_not_depend_on_the_label():
    # The same index drawn with either label: identical outside the lesion's mask, so every
    # wire, line, marker, fold and bulla is in both (the pairing test checks the pixels).
    for i in range(12):
        pos, neg = render_case(128, 17, i, 1), render_case(128, 17, i, 0)
        if pos.kind.endswith("tension") or pos.kind.startswith("deep sulcus"):
            continue
        far = ~_near(pos.mask, 6)
        assert np.abs(pos.image - neg.image)[far].max() < 1e-5, i


def _near(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


# ---- chest drains


def test_tube_masks_are_exactly_the_pixels_a_drain_changed():
    (images, labels, masks, tubes), (plain, labels0, masks0) = _tubed()
    np.testing.assert_array_equal(labels, labels0)
    np.testing.assert_array_equal(masks, masks0)
    assert tubes.shape == masks.shape and tubes.dtype == bool
    assert tubes.any(axis=(1, 2)).all()  # tube_rate (1, 1): every film has one
    changed = images[..., 0] != plain[..., 0]
    assert not (changed & ~tubes).any()  # a drain changes nothing outside its own pixels
    assert changed.sum() > 0.9 * tubes.sum()
    assert tubes.mean(axis=(1, 2)).max() < 0.05  # a thin tube


def test_most_of_a_drain_lies_outside_the_pneumothorax():
    (_, labels, masks, tubes), _ = _tubed()
    positive = labels == 1
    inside = (tubes & masks)[positive].sum()
    share = inside / tubes[positive].sum()
    print(f"share of drain pixels inside the pneumothorax mask: {share:.3f}")
    assert share < 0.15
    # Drains are on the side of the pneumothorax.
    for tube, mask in zip(tubes[positive], masks[positive], strict=True):
        assert (np.nonzero(tube)[1].mean() - 64) * (np.nonzero(mask)[1].mean() - 64) > 0


@pytest.mark.parametrize(
    ("rate", "positives", "negatives"), [((1.0, 0.0), 1, 0), ((0.0, 1.0), 0, 1)]
)
def test_tube_rate_decides_who_gets_a_drain(rate, positives, negatives):
    _, labels, _, tubes = make_synthetic_cxr(
        20, size=64, seed=5, shortcut="chest_tube", tube_rate=rate, return_tube_masks=True
    )
    has = tubes.any(axis=(1, 2))
    assert has[labels == 1].mean() == positives and has[labels == 0].mean() == negatives


def test_no_shortcut_means_empty_tube_masks():
    _, _, _, tubes = make_synthetic_cxr(4, size=64, seed=5, return_tube_masks=True)
    assert tubes.shape == (4, 64, 64) and not tubes.any()


# ---- label noise


@pytest.mark.parametrize("share", [0.1, 0.25, 0.45])
def test_label_noise_flips_labels_only(share):
    clean = make_synthetic_cxr(40, size=64, seed=8, positive_fraction=0.2)
    noisy = make_synthetic_cxr(40, size=64, seed=8, positive_fraction=0.2, label_noise=share)
    np.testing.assert_array_equal(noisy[0], clean[0])  # the same films
    np.testing.assert_array_equal(noisy[2], clean[2])  # the true masks
    flipped = noisy[1] != clean[1]
    assert flipped.sum() == round(40 * share)
    # A flipped positive keeps its mask; a flipped negative has none.
    assert noisy[2][flipped & (clean[1] == 1)].any(axis=(1, 2)).all()
    assert not noisy[2][flipped & (clean[1] == 0)].any()


def test_label_noise_is_seeded():
    a = make_synthetic_cxr(30, size=64, seed=8, label_noise=0.2)[1]
    b = make_synthetic_cxr(30, size=64, seed=8, label_noise=0.2)[1]
    np.testing.assert_array_equal(a, b)


# ---- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tube_rate": (1.2, 0.0)}, r"tube_rate must be a pair .* in \[0, 1\], got \(1\.2, 0\.0\)"),
        ({"tube_rate": (0.5,)}, r"tube_rate must be a pair .*got \(0\.5,\)"),
        ({"tube_rate": 0.5}, r"tube_rate must be a pair .*got 0\.5"),
        ({"tube_rate": ("a", 0.1)}, r"tube_rate must be a pair .*got \('a', 0\.1\)"),
        ({"tube_rate": (float("nan"), 0.1)}, r"tube_rate must be a pair .*got \(nan, 0\.1\)"),
        ({"label_noise": 0.5}, r"label_noise must be a number in \[0, 0\.5\), got 0\.5"),
        ({"label_noise": -0.1}, r"label_noise must be a number in \[0, 0\.5\), got -0\.1"),
        ({"label_noise": True}, r"label_noise must be a number in \[0, 0\.5\), got True"),
    ],
)
def test_bad_drain_and_noise_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_cxr(2, size=64, **kwargs)


# ---- through load_pneumothorax


def test_load_pneumothorax_passes_the_options_through():
    images, labels, masks, tubes = load_pneumothorax(
        "synthetic", "train", size=64, limit=10, positive_fraction=0.5, shortcut="chest_tube",
        tube_rate=(1.0, 0.0), label_noise=0.2, return_tube_masks=True,
    )  # fmt: skip
    true_positive = masks.any(axis=(1, 2))
    assert tubes.any(axis=(1, 2)).tolist() == true_positive.tolist()
    assert (labels != true_positive).sum() == 2


def test_load_pneumothorax_refuses_label_noise_outside_training():
    with pytest.raises(ValueError, match=r"label_noise=0\.1 applies to the 'train' split only"):
        load_pneumothorax("synthetic", "test", size=64, limit=4, label_noise=0.1)
    with pytest.raises(ValueError, match="label_noise only applies to source='synthetic'"):
        load_pneumothorax("nih", "train", label_noise=0.1)


# ---- golden film: a change of the drawing shows here (update the numbers on purpose)

GOLDEN = [  # (label, mean, std, mask pixels, side, kind) of make_synthetic_cxr(4, 128, 2024)
    (0, 0.6375, 0.1945, 0, 0, "none"),
    (1, 0.5721, 0.2625, 158, -1, "apical/rim"),
    (1, 0.3961, 0.2949, 66, 1, "anteromedial/rim"),
    (0, 0.5142, 0.1965, 0, 0, "none"),
]


def test_golden_films():
    images, labels, masks = make_synthetic_cxr(4, size=128, seed=2024)
    kinds = [render_case(128, 2024, i, int(labels[i])) for i in range(4)]
    found = [
        (int(labels[i]), float(images[i].mean()), float(images[i].std()), int(masks[i].sum()),
         kinds[i].side, kinds[i].kind)
        for i in range(4)
    ]  # fmt: skip
    print(found)
    assert len(found) == len(GOLDEN)
    for got, want in zip(found, GOLDEN, strict=True):
        assert got[0] == want[0] and got[4:] == want[4:]
        assert got[1] == pytest.approx(want[1], abs=2e-3)
        assert got[2] == pytest.approx(want[2], abs=2e-3)
        assert got[3] == pytest.approx(want[3], rel=0.03, abs=3)
