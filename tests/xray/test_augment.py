"""mitdeeplearning.xray.augment: random transforms of a batch, their settings, and the stream
of augmented training batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning.xray.augment import (
    AUGMENT,
    augment_batch,
    augment_settings,
    make_training_dataset,
)


def test_augmentation_is_reproducible_and_keeps_shapes():
    x = np.random.default_rng(2).random((6, 64, 64, 1)).astype(np.float32)
    a = augment_batch(x, tf.constant([0, 1], tf.int64))
    b = augment_batch(x, tf.constant([0, 1], tf.int64))
    c = augment_batch(x, tf.constant([0, 2], tf.int64))
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    none = {key: 0 for key in AUGMENT}
    np.testing.assert_allclose(augment_batch(x, tf.constant([0, 1]), none), x, atol=1e-6)
    flipped = np.asarray(augment_batch(x, tf.constant([3, 4]), {**none, "flip": True}))
    for image, out in zip(x, flipped, strict=True):  # each unchanged or mirrored
        assert np.allclose(out, image) or np.allclose(out, image[:, ::-1])
    assert any(np.allclose(out, image[:, ::-1]) for image, out in zip(x, flipped, strict=True))


def test_augmentation_turns_about_the_centre_and_shifts_within_bounds():
    yy, xx = np.mgrid[:64, :64]
    spot = np.exp(-((yy - 20.0) ** 2 + (xx - 31.5) ** 2) / 8.0)  # above the centre
    x = np.repeat(spot[None, :, :, None], 8, axis=0).astype(np.float32)
    none = {key: 0 for key in AUGMENT}

    def centroids(images):
        w = np.asarray(images)[..., 0]
        return np.stack(
            [(w * yy).sum((1, 2)) / w.sum((1, 2)), (w * xx).sum((1, 2)) / w.sum((1, 2))], 1
        )

    turned = centroids(augment_batch(x, tf.constant([5, 6]), {**none, "rotation": 20}))
    radius = np.hypot(turned[:, 0] - 31.5, turned[:, 1] - 31.5)
    np.testing.assert_allclose(radius, 11.5, atol=0.3)  # the spot circles the image's centre
    assert np.ptp(turned[:, 1]) > 1
    shifted = centroids(augment_batch(x, tf.constant([5, 6]), {**none, "shift": 0.1}))
    moved = shifted - [20.0, 31.5]
    assert np.abs(moved).max() <= 6.4 + 0.2 and np.abs(moved).max() > 1


def test_augment_settings_fill_in_the_defaults_and_check_the_keys():
    assert augment_settings(True) == AUGMENT and augment_settings(True) is not AUGMENT
    assert not any(augment_settings(None).values())
    assert augment_settings({"rotation": 3}) == {**AUGMENT, "rotation": 3}
    with pytest.raises(ValueError, match="unknown keys"):
        augment_settings({"twist": 1})
    with pytest.raises(ValueError, match="must be a number >= 0"):
        augment_settings({"zoom": -1})
    with pytest.raises(ValueError, match="expected True, False or a dict"):
        augment_settings("yes")


def test_the_training_stream_reshuffles_every_epoch_and_keeps_examples_together():
    images = np.arange(6, dtype=np.float32)[:, None, None, None] * np.ones((6, 4, 4, 1), "float32")
    labels = np.array([0, 1, 0, 1, 0, 1])
    weights = np.linspace(1, 2, 6)
    stream = make_training_dataset(images, labels, weights, batch_size=4, augment=None, seed=0)
    seen = []
    for x, y, w in stream.take(4):  # two epochs of ceil(6 / 4) = 2 batches
        index = np.asarray(x)[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(np.asarray(y), labels[index])  # each image keeps its
        np.testing.assert_allclose(np.asarray(w), weights[index])  # label and weight
        seen.append(index)
    epochs = [np.concatenate(seen[:2]), np.concatenate(seen[2:])]
    assert all(sorted(epoch) == list(range(6)) for epoch in epochs)  # every example once
    assert not np.array_equal(epochs[0], epochs[1])  # in a new order
    assert all(x.dtype == tf.float32 for x, _, _ in stream.take(1))
