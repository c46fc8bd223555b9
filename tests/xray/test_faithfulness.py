"""mitdeeplearning.xray.faithfulness: deletion and insertion curves against a random order, and
the model-randomisation check, on a hand-made "model" that reads known pixels and a tiny
trained GAP-CNN."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
from scipy import ndimage

from mitdeeplearning.xray import (
    build_cam_cnn,
    class_activation_maps,
    deletion_curve,
    insertion_curve,
    randomization_check,
    train_cam_cnn,
)

SIZE = 32


def texture_images(n: int = 6, seed: int = 0) -> np.ndarray:
    """``(n, 32, 32, 1)`` float32: a flat grey image with a fine checkerboard texture (which a
    blur removes) in the top-left 8 x 8 px, the only place `texture_model` reads."""
    rng = np.random.default_rng(seed)
    images = 0.5 + 0.02 * rng.standard_normal((n, SIZE, SIZE, 1))
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 2 - 1  # +1 / -1
    images[:, :8, :8, 0] = 0.5 + 0.4 * checker * rng.uniform(0.8, 1.0, (n, 1, 1))
    return images.astype(np.float32)


def texture_model(x) -> np.ndarray:
    """Logits ``(batch, 2)``: class 1 grows with the texture of the top-left 8 x 8 px."""
    texture = np.abs(np.asarray(x) - 0.5)[:, :8, :8, 0].mean(axis=(1, 2))
    return np.stack([np.zeros(len(x)), 30.0 * texture - 6.0], axis=1)


def region_maps(n: int, top: int, left: int) -> np.ndarray:
    maps = np.zeros((n, SIZE, SIZE))
    maps[:, top : top + 8, left : left + 8] = 1.0
    return maps


def test_a_map_on_the_evidence_deletes_faster_and_inserts_faster_than_random():
    images = texture_images()
    right = region_maps(6, 0, 0)
    wrong = -right  # the evidence last
    for curve, better in ((deletion_curve, np.less), (insertion_curve, np.greater)):
        good = curve(texture_model, images, right, steps=11, blur_sigma=2.0)
        assert good.curves.shape == good.random_curves.shape == (6, 11)
        assert good.fractions.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
        assert better(good.areas, good.random_areas).all() and good.beats_random.all()
        assert (np.abs(good.areas - good.random_areas) > 0.2).all()
        # a map that ranks the evidence last does worse than chance, the other way round
        bad = curve(texture_model, images, wrong, steps=11, blur_sigma=2.0)
        assert better(bad.random_areas, bad.areas).all() and not bad.beats_random.any()


def test_deletion_has_the_evidence_gone_once_its_pixels_are():
    good = deletion_curve(texture_model, texture_images(), region_maps(6, 0, 0), steps=33)
    # 8 x 8 of 32 x 32 px is 1/16 of the image: the 3rd of 33 steps
    assert (good.curves[:, 0] > 0.97).all() and (good.curves[:, 2:] < 0.01).all()


def test_the_curves_run_from_the_image_to_its_blurred_copy_and_back():
    images = texture_images()
    maps = np.random.default_rng(1).random((6, SIZE, SIZE))
    blurred = ndimage.gaussian_filter(images, (0, 1.5, 1.5, 0), mode="reflect")

    def p1(x):
        z = texture_model(x)
        return 1 / (1 + np.exp(z[:, 0] - z[:, 1]))

    deletion = deletion_curve(texture_model, images, maps, steps=5, blur_sigma=1.5)
    insertion = insertion_curve(texture_model, images, maps, steps=5, blur_sigma=1.5)
    np.testing.assert_allclose(deletion.curves[:, 0], p1(images), rtol=1e-6)
    np.testing.assert_allclose(deletion.curves[:, -1], p1(blurred), rtol=1e-5)
    np.testing.assert_allclose(insertion.curves[:, 0], p1(blurred), rtol=1e-5)
    np.testing.assert_allclose(insertion.curves[:, -1], p1(images), rtol=1e-6)
    expected = np.trapezoid(deletion.curves, deletion.fractions, axis=1)
    np.testing.assert_allclose(deletion.areas, expected)


def test_a_flat_map_is_a_random_order_not_row_major():
    # Ties broken in row-major order would delete the top-left evidence first and look faithful.
    result = deletion_curve(texture_model, texture_images(40), np.zeros((40, SIZE, SIZE)))
    assert abs(result.areas.mean() - result.random_areas.mean()) < 0.05


def test_coarser_maps_are_upsampled_and_one_logit_models_work():
    images = texture_images()
    coarse = np.zeros((6, 8, 8))
    coarse[:, :2, :2] = 1.0  # the top-left quarter of the image, at a quarter of its size

    def one_logit(x):
        z = texture_model(x)
        return z[:, 1:] - z[:, :1]

    full = deletion_curve(texture_model, images, coarse, blur_sigma=2.0)
    single = deletion_curve(one_logit, images, coarse, blur_sigma=2.0)
    assert full.beats_random.all()
    np.testing.assert_allclose(single.curves, full.curves, atol=1e-9)
    zero = deletion_curve(one_logit, images, coarse, blur_sigma=2.0, class_index=0)
    np.testing.assert_allclose(zero.curves, 1 - full.curves, atol=1e-9)
    assert deletion_curve(texture_model, images, coarse, random_order=False).random_areas is None


def test_bad_input_is_refused_with_what_was_expected():
    images = texture_images()
    maps = region_maps(6, 0, 0)
    with pytest.raises(ValueError, match=r"maps has shape \(5, 32, 32\).*one map per image"):
        deletion_curve(texture_model, images, maps[:5])
    with pytest.raises(ValueError, match=r"maps has shape \(6, 64, 64\).*or coarser"):
        deletion_curve(texture_model, images, np.zeros((6, 64, 64)))
    with pytest.raises(ValueError, match=r"maps has shape \(6, 16, 8\).*aspect"):
        insertion_curve(texture_model, images, np.zeros((6, 16, 8)))
    with pytest.raises(ValueError, match=r"maps has shape \(6, 32\)"):
        insertion_curve(texture_model, images, maps[..., 0])
    for steps in (1, 0, 2.5):
        with pytest.raises(ValueError, match=rf"steps={steps}; expected an int >= 2"):
            deletion_curve(texture_model, images, maps, steps=steps)
    with pytest.raises(ValueError, match="images must be a float array"):
        deletion_curve(texture_model, images[0], maps)
    with pytest.raises(ValueError, match="blur_sigma=0"):
        deletion_curve(texture_model, images, maps, blur_sigma=0)
    with pytest.raises(ValueError, match="model must be a keras.Model or a function"):
        deletion_curve("model", images, maps)
    with pytest.raises(ValueError, match="NaN"):
        deletion_curve(texture_model, images, maps * np.nan)
    with pytest.raises(ValueError, match="class_index holds 2; the model has 2 classes"):
        deletion_curve(texture_model, images, maps, class_index=2)
    with pytest.raises(ValueError, match="class_index=-1"):
        insertion_curve(texture_model, images, maps, class_index=-1)


@pytest.fixture(scope="module")
def trained():
    """A tiny GAP-CNN trained for a few seconds to find a bright square, and its data."""
    rng = np.random.default_rng(0)
    labels = np.arange(128) % 2
    images = 0.5 + 0.1 * rng.standard_normal((128, 64, 64, 1)).astype("float32")
    for i in np.flatnonzero(labels):
        r, c = rng.integers(4, 52, 2)
        images[i, r : r + 8, c : c + 8] += 0.4
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    train_cam_cnn(model, images, labels, epochs=6, batch_size=16, learning_rate=3e-3,
                  augment=False, progress=False)  # fmt: skip
    return model, images, labels


def test_the_trained_models_cam_beats_a_random_order(trained):
    model, images, labels = trained
    positives = images[labels == 1]
    cams = class_activation_maps(model, positives, class_index=1)
    deletion = deletion_curve(model, positives, cams, steps=11)
    insertion = insertion_curve(model, positives, cams, steps=11)
    assert np.median(deletion.areas) < np.median(deletion.random_areas)
    assert np.median(insertion.areas) > np.median(insertion.random_areas)
    assert deletion.beats_random.mean() > 0.7 and insertion.beats_random.mean() > 0.7


def test_randomisation_lowers_the_correlation_and_leaves_the_model_alone(trained):
    model, images, _ = trained
    weights = [w.copy() for w in model.get_weights()]
    logits = np.asarray(model(images[:8]))
    stages = randomization_check(model, images[:32], seed=0)
    assert [s.name for s in stages] == ["cam_logits", "block2", "block1"]
    assert stages[-1].layers == ("cam_logits", "block2_bn", "block2_conv", "block1_bn",
                                 "block1_conv")  # fmt: skip
    for stage in stages:
        assert stage.correlations.shape == (32,)
        assert stage.quartiles[0] <= stage.median <= stage.quartiles[1]
        assert stage.median < 0.97
    assert min(s.median for s in stages) < 0.6
    # the caller's model is untouched: same weights, same outputs
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    np.testing.assert_array_equal(np.asarray(model(images[:8])), logits)
    # and its own CAMs are the maps the check started from
    again = randomization_check(model, images[:32], layers=["block1_conv"], seed=0)
    assert again[0].name == "block1_conv" and again[0].median < 0.97


def test_randomisation_reads_a_model_trained_with_a_notebook_loss():
    """A model compiled with a loss written in the notebook (``train_cam_cnn(loss=...)``) cannot
    be recompiled from its config; the check copies the architecture alone."""
    import tensorflow as tf

    def notebook_loss(labels, logits):
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True))  # fmt: skip

    rng = np.random.default_rng(1)
    images = rng.random((16, 64, 64, 1), dtype=np.float32)
    labels = np.arange(16) % 2
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    train_cam_cnn(model, images, labels, epochs=1, batch_size=8, loss=notebook_loss,
                  class_weight=None, augment=False, progress=False)  # fmt: skip
    with pytest.raises(TypeError, match="notebook_loss"):
        keras.models.clone_model(model)  # what the check used to call
    weights = [w.copy() for w in model.get_weights()]
    stages = randomization_check(model, images[:4], seed=0)
    assert [s.name for s in stages] == ["cam_logits", "block2", "block1"]
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    # the copy starts from the trained weights: re-initialising a weightless layer keeps every map
    same = randomization_check(model, images[:4], layers=["gap"], seed=0)
    np.testing.assert_allclose(same[0].correlations, 1.0, atol=1e-6)


def test_randomisation_needs_a_gap_dense_head_and_real_layers(trained):
    model, images, _ = trained
    inputs = keras.Input((64, 64, 1))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="cam_features")(inputs)
    flat = keras.layers.Flatten()(features)
    no_gap = keras.Model(inputs, keras.layers.Dense(2, name="cam_logits")(flat))
    with pytest.raises(ValueError, match="no GAP → Dense head; expected a model ending"):
        randomization_check(no_gap, images[:4])
    with pytest.raises(ValueError, match="has no layer 'features'"):
        randomization_check(model, images[:4], feature_layer="features")
    with pytest.raises(ValueError, match=r"layers=\['block9'\]: \['block9'\] names no layer"):
        randomization_check(model, images[:4], layers=["block9"])
    with pytest.raises(ValueError, match="model is a function"):
        randomization_check(texture_model, images[:4])


def test_randomisation_reads_other_gap_cnns_through_dropout_and_by_layer_names():
    images = np.random.default_rng(0).random((4, 64, 64, 1)).astype("float32")
    dropout = build_cam_cnn((64, 64, 1), filters=(4, 8), convs_per_block=2, dropout=0.3, seed=0)
    stages = randomization_check(dropout, images)
    assert [s.name for s in stages] == ["cam_logits", "block2", "block1"]
    assert set(stages[1].layers) == {"cam_logits", "block2_conv1", "block2_bn1", "block2_conv2",
                                     "block2_bn2"}  # fmt: skip
    sequential = keras.Sequential([
        keras.Input((64, 64, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="maps"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, name="scores"),
    ])  # fmt: skip
    stages = randomization_check(sequential, images, feature_layer="maps", logits_layer="scores")
    assert [s.name for s in stages] == ["scores", "maps"]


def test_the_compiled_forward_pass_does_not_keep_a_model_alive():
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    images = np.random.default_rng(0).random((2, 64, 64, 1)).astype("float32")
    deletion_curve(model, images, np.zeros((2, 8, 8)), steps=2, random_order=False)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
