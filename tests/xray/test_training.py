"""mitdeeplearning.xray.training: class weights, a tiny run that learns and localises, a time
limit, checked arguments, custom losses, and training under a tf.distribute strategy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning.xray import (
    build_cam_cnn,
    class_activation_maps,
    pointing_game,
    roc,
    train_cam_cnn,
)
from mitdeeplearning.xray.training import class_weights


def blobs(n: int, size: int = 64, seed: int = 0):
    """A toy set in which only a local shape tells the classes apart.

    A smooth noise texture; a dark blob somewhere; and a bright spot of the same mass: round
    in positives (its disk of radius 5 px is the mask), a bar in negatives. The classes have
    the same mean and spread of intensities, so no global cue (which the model's per-image
    standardisation would expose) gives the label away, and the evidence is where the mask is.
    Returns ``(images (n, size, size, 1) float32 in [0, 1], labels (n,), masks (n, size, size))``.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    yy, xx = np.mgrid[:size, :size]
    texture = ndimage.gaussian_filter(rng.standard_normal((n, size, size)), (0, 2, 2))
    images = 0.5 + 0.06 * texture / texture.std() + 0.03 * rng.standard_normal((n, size, size))
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        cy, cx = rng.uniform(8, size - 8, 2)
        images[i] -= 0.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2))
        cy, cx = rng.uniform(10, size - 10, 2)
        if labels[i]:
            sy = sx = 3.0
            masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= 5**2
        else:
            sy, sx = (1.5, 6.0) if rng.random() < 0.5 else (6.0, 1.5)
        images[i] += 0.4 * np.exp(-((yy - cy) ** 2 / (2 * sy**2) + (xx - cx) ** 2 / (2 * sx**2)))
    return np.clip(images, 0, 1)[..., None].astype(np.float32), labels, masks


def test_class_weights():
    labels = np.array([0] * 9 + [1])
    assert class_weights(labels) == pytest.approx({0: 10 / 18, 1: 5.0})
    assert class_weights(labels, None) == {0: 1.0, 1: 1.0}
    assert class_weights(labels, {0: 1, 1: 3}) == {0: 1.0, 1: 3.0}
    with pytest.raises(ValueError, match="only class 0"):
        class_weights(np.zeros(5, int))
    with pytest.raises(ValueError, match="class_weight="):
        class_weights(labels, "auto")


@pytest.mark.slow
def test_tiny_run_learns_and_its_maps_point_at_the_lesion():
    x, y, masks = blobs(320, seed=0)
    x_val, y_val, masks_val = blobs(128, seed=1)
    model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)
    result = train_cam_cnn(
        model, x, y, val=(x_val, y_val), epochs=10, learning_rate=3e-3, progress=False
    )
    assert result.epochs == 10 and result.stopped == "epochs"
    assert set(result.history.columns) >= {"epoch", "seconds", "loss", "auc", "val_loss", "val_auc"}
    assert result.history["epoch"] == list(range(1, 11)) and len(result.history["val_auc"]) == 10
    assert result.best_val_auc == max(result.history["val_auc"]) > 0.9
    assert result.best_epoch == 1 + int(np.argmax(result.history["val_auc"]))

    cams, logits = class_activation_maps(model, x_val, class_index=1, return_logits=True)
    probability = np.asarray(keras.ops.softmax(logits))[:, 1]
    auc = roc(y_val, probability)[3]
    assert auc == pytest.approx(result.best_val_auc, abs=0.01)  # the best weights were kept
    positives = y_val == 1
    hits = pointing_game(cams[positives], masks_val[positives])
    assert hits.mean() > 0.7
    print(f"tiny run: val AUC {auc:.3f}, pointing game {hits.mean():.2f}, {result.seconds} s")


@pytest.mark.slow
def test_max_seconds_stops_after_the_epoch_that_crosses_it(capsys):
    x, y, _ = blobs(32)
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    result = train_cam_cnn(model, x, y, epochs=50, max_seconds=1e-3, progress=False,
                           live_plot=True)  # fmt: skip
    assert result.epochs == 1 and result.stopped.startswith("max_seconds")
    assert result.best_val_auc is None and "val_auc" not in result.history
    assert result.history["seconds"][0] <= result.seconds
    # The live plot, outside a notebook, prints the epoch's figures.
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(printed) == 1 and printed[0].startswith("epoch 1: training ")


def test_training_arguments_are_checked():
    x, y, _ = blobs(8)
    model = build_cam_cnn((64, 64, 1), filters=(4, 8))
    cases = [
        ((x[..., 0], y), {}, "shape"),
        ((x[:, :32, :32], y), {}, "the model takes"),
        ((x, np.eye(2)[y]), {}, "argmax"),
        ((x, np.zeros(8, int)), {}, "only class 0"),
        ((x, y), {"val": (x, y[:3])}, r"val\[1\]"),
        ((x, y), {"val": (x, np.ones(8, int))}, "only one class"),
        ((x, y), {"epochs": 0}, "epochs"),
        ((x, y), {"augment": {"twist": 1}}, "unknown keys"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            train_cam_cnn(model, *args, progress=False, **kwargs)
    one_logit = keras.Sequential(
        [
            keras.Input((64, 64, 1)),
            keras.layers.Conv2D(2, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1),
        ]
    )
    with pytest.raises(ValueError, match="two logits"):
        train_cam_cnn(one_logit, x, y)


def test_strategy_needs_the_model_built_in_its_scope():
    x, y, _ = blobs(8)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = build_cam_cnn((64, 64, 1), filters=(4, 8))
    with pytest.raises(ValueError, match="strategy.scope"):
        train_cam_cnn(model, x, y, epochs=1, strategy=strategy, progress=False)


MIRRORED = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mitdeeplearning.xray import build_cam_cnn, train_cam_cnn
    rng = np.random.default_rng(0)
    y = np.arange(96) % 2
    x = 0.5 + 0.1 * rng.standard_normal((96, 64, 64, 1)).astype("float32")
    for i in np.flatnonzero(y):
        r, c = rng.integers(4, 52, 2)
        x[i, r:r + 8, c:c + 8] += 0.4
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    result = train_cam_cnn(model, x, y, val=(x[:48], y[:48]), epochs=4, batch_size=16,
                           learning_rate=1e-2, strategy=strategy, progress=False)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "loss": result.history["loss"], "val_auc": result.history["val_auc"]}))
    """
)


@pytest.mark.slow
def test_training_under_mirrored_strategy_on_two_cpu_devices():
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert len(result["loss"]) == 4 and all(np.isfinite(result["loss"]))
    assert result["loss"][-1] < result["loss"][0]  # it learns across both replicas
    assert max(result["val_auc"]) > 0.8


@pytest.mark.slow
def test_a_custom_loss_trains_like_the_built_in_one():
    x, y, _ = blobs(64, seed=3)
    weights = class_weights(y)
    table = tf.constant([weights[0], weights[1]], tf.float32)
    seen = {}

    def weighted_cross_entropy(labels, logits):
        seen["dtype"] = labels.dtype
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return tf.reduce_mean(tf.gather(table, labels) * per_example)

    histories = []
    for kwargs in ({}, {"loss": weighted_cross_entropy, "class_weight": None}):
        model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
        result = train_cam_cnn(model, x, y, epochs=2, seed=1, progress=False, **kwargs)
        histories.append(result.history["loss"])
    assert seen["dtype"] == tf.int32  # class ids, not Keras' float32 labels
    assert histories[1] == pytest.approx(histories[0], rel=1e-4)


def test_a_custom_loss_does_its_own_class_weighting():
    x, y, _ = blobs(8)
    model = build_cam_cnn((64, 64, 1), filters=(4, 8))
    with pytest.raises(ValueError, match="class_weight=None"):
        train_cam_cnn(model, x, y, loss=lambda labels, logits: 0.0, progress=False)
    with pytest.raises(ValueError, match="must be a function"):
        train_cam_cnn(model, x, y, loss="mse", class_weight=None, progress=False)
