"""Lab 2's graded checks: right answers pass, typical mistakes fail and say why.

The right answers here are the ones in the lab's source notebook.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import grading
from mitdeeplearning.grading import GradingError

# ## Right answers ---------------------------------------------------------------------------


def balanced_class_weights(labels):
    counts = np.bincount(labels, minlength=2)
    return len(labels) / (2 * counts)


def weighted_cross_entropy(labels, logits, class_weights):
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(tf.gather(class_weights, labels) * per_example)


def predict_pneumothorax(model, images, threshold=0.5):
    logits = model.predict(images, verbose=0)
    probabilities = tf.nn.softmax(logits)[:, 1].numpy()
    return probabilities, (probabilities >= threshold).astype(int)


def roc_curve(labels, scores):
    labels = np.asarray(labels)
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    tpr = np.array([(scores[labels == 1] >= t).mean() for t in thresholds])
    fpr = np.array([(scores[labels == 0] >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds


def get_features_and_weights(model, images):
    extractor = keras.Model(model.input, model.get_layer("cam_features").output)
    return extractor.predict(images, verbose=0), model.get_layer("cam_logits").get_weights()[0]


def compute_cams(features, weights, class_index):
    return np.einsum("nhwk,k->nhw", features, weights[:, class_index])


def upsample_cams(cams, size):
    return np.stack([cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR) for cam in cams])


def pointing_game(cams, masks, tolerance):
    hits = []
    for cam, mask in zip(cams, masks, strict=True):
        if cam.max() == cam.min():
            hits.append(False)
            continue
        row, col = np.unravel_index(np.argmax(cam), cam.shape)
        ys, xs = np.nonzero(mask)
        hits.append(bool(np.min((ys - row) ** 2 + (xs - col) ** 2) <= tolerance**2))
    return np.array(hits)


RIGHT = [
    ("check_class_weights", balanced_class_weights),
    ("check_weighted_loss", weighted_cross_entropy),
    ("check_predict", predict_pneumothorax),
    ("check_roc", roc_curve),
    ("check_features_and_weights", get_features_and_weights),
    ("check_cams", compute_cams),
    ("check_upsample", upsample_cams),
    ("check_pointing_game", pointing_game),
]


@pytest.mark.parametrize(("check", "answer"), RIGHT, ids=[name for name, _ in RIGHT])
def test_right_answers_pass(check, answer, capsys):
    getattr(grading.fresh(), check)(answer)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")


def test_hidden_variants_pass_too():
    checks = grading.fresh()
    checks.check_weighted_loss(weighted_cross_entropy, seed=7)
    checks.check_predict(predict_pneumothorax, seed=3)
    checks.check_roc(roc_curve, seed=11)
    checks.check_roc(roc_curve, cases=[([0, 1, 1, 0], [3, 3, 3, 3]), ([1, 0], [0.2, 0.7])])
    checks.check_features_and_weights(get_features_and_weights, seed=2, filters=(4, 8, 16))
    checks.check_cams(compute_cams, seed=4, filters=(3, 6, 12))
    checks.check_upsample(upsample_cams, seed=9)
    checks.check_pointing_game(pointing_game, seed=5)


def test_the_reference_roc_and_pointing_game_agree_with_the_package():
    from mitdeeplearning.xray import pointing_game as package_pointing
    from mitdeeplearning.xray import roc as package_roc

    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.2).astype(int)
    scores = np.round(rng.random(200) + labels * 0.5, 2)
    fpr, tpr, _ = roc_curve(labels, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(package_roc(labels, scores)[3])
    cams = rng.random((6, 20, 20))
    masks = np.zeros((6, 20, 20), bool)
    masks[:, 5:12, 3:9] = True
    assert (pointing_game(cams, masks, 2.0) == package_pointing(cams, masks, 2.0)).all()


# ## Typical mistakes ------------------------------------------------------------------------


def unweighted(labels, logits, class_weights):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def normalised_by_weights(labels, logits, class_weights):
    w = tf.gather(class_weights, labels)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    return tf.reduce_sum(w * ce) / tf.reduce_sum(w)


def numpy_loss(labels, logits, class_weights):
    labels, logits = np.asarray(labels), np.asarray(logits, dtype=float)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(
        np.mean(np.asarray(class_weights)[labels] * -log_p[np.arange(len(labels)), labels])
    )


def sigmoid_probability(model, images, threshold=0.5):
    p = tf.sigmoid(model(images)[:, 1]).numpy()
    return p, (p >= threshold).astype(int)


def argmax_prediction(model, images, threshold=0.5):
    logits = model(images)
    return tf.nn.softmax(logits)[:, 1].numpy(), np.argmax(logits, 1)


def roc_per_sample(labels, scores):  # a threshold per example: ties split arbitrarily
    order = np.argsort(-np.asarray(scores), kind="stable")
    labels = np.asarray(labels)[order]
    tpr = np.r_[0, np.cumsum(labels) / labels.sum()]
    fpr = np.r_[0, np.cumsum(1 - labels) / (1 - labels).sum()]
    return fpr, tpr, np.r_[np.inf, np.asarray(scores)[order]]


def roc_strict(labels, scores):  # predicts positive only above the threshold: misses (1, 1)?
    labels = np.asarray(labels)
    thresholds = np.unique(scores)[::-1]
    tpr = np.array([(scores[labels == 1] > t).mean() for t in thresholds])
    fpr = np.array([(scores[labels == 0] > t).mean() for t in thresholds])
    return fpr, tpr, thresholds


def pooled_features(model, images):
    extractor = keras.Model(model.input, model.get_layer("gap").output)
    return extractor(images), model.get_layer("cam_logits").get_weights()[0]


def bias_not_kernel(model, images):
    extractor = keras.Model(model.input, model.get_layer("cam_features").output)
    return extractor(images), model.get_layer("cam_logits").get_weights()[1]


def averaged_cams(features, weights, class_index):
    return np.einsum("nhwk,k->nhw", features, weights[:, class_index]) / features.shape[-1]


def wrong_class_cams(features, weights, class_index):
    return np.einsum("nhwk,k->nhw", features, weights[:, 1 - class_index])


def nearest_upsample(cams, size):
    factor = size // cams.shape[1]
    return np.repeat(np.repeat(cams, factor, 1), factor, 2)


def channel_axis_upsample(cams, size):
    return tf.image.resize(np.asarray(cams)[..., None], (size, size)).numpy()


def inside_only(cams, masks, tolerance):  # ignores the tolerance
    pairs = zip(cams, masks, strict=True)
    return np.array([cam.max() > cam.min() and mask.flat[np.argmax(cam)] for cam, mask in pairs])


def pointing_without_flat_maps(cams, masks, tolerance):
    hits = []
    for cam, mask in zip(cams, masks, strict=True):
        row, col = np.unravel_index(np.argmax(cam), cam.shape)
        ys, xs = np.nonzero(mask)
        hits.append(bool(np.min((ys - row) ** 2 + (xs - col) ** 2) <= tolerance**2))
    return np.array(hits)


MISTAKES = [
    ("check_class_weights", lambda y: np.bincount(y, minlength=2) / len(y), "expected n / (2 n_c)"),
    ("check_weighted_loss", unweighted, "weight of its class"),
    ("check_weighted_loss", normalised_by_weights, "not by the sum of the weights"),
    # The error's own message, not the "in user code:" line that TensorFlow puts first.
    (
        "check_weighted_loss",
        numpy_loss,
        "`weighted_cross_entropy` must run inside tf.function (the training step compiles it): "
        "use TensorFlow operations such as tf.gather and "
        "tf.nn.sparse_softmax_cross_entropy_with_logits, not NumPy or .numpy() on tensors "
        "(NotImplementedError: Cannot convert a symbolic tf.Tensor",
    ),
    ("check_predict", sigmoid_probability, "softmax of both logits"),
    ("check_predict", argmax_prediction, "At threshold 0.2"),
    ("check_roc", roc_per_sample, "tied scores move together"),
    ("check_roc", roc_strict, "call an example positive when its score is at least"),
    ("check_features_and_weights", pooled_features, "already averaged"),
    ("check_features_and_weights", bias_not_kernel, "that is the bias"),
    ("check_cams", averaged_cams, "do not average"),
    ("check_cams", wrong_class_cams, "weights[:, class_index]"),
    ("check_upsample", nearest_upsample, "nearest-neighbour"),
    ("check_upsample", channel_axis_upsample, "drop the channel axis"),
    ("check_pointing_game", inside_only, "tolerance 3.0"),
    ("check_pointing_game", pointing_without_flat_maps, "flat"),
]


@pytest.mark.parametrize(("check", "answer", "message"), MISTAKES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(MISTAKES)])  # fmt: skip
def test_mistakes_fail_with_a_message(check, answer, message):
    with pytest.raises(GradingError, match=re.escape(message)):
        getattr(grading, check)(answer)


@pytest.mark.parametrize("check", [name for name, _ in RIGHT])
def test_unanswered_functions_fail_clearly(check):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not implemented yet"):
        getattr(grading, check)(stub)


# ## No word from TensorFlow on a right answer ----------------------------------------------------

#: A notebook's kernel, reduced to what matters: an interactive interpreter (``sys.ps1`` is set,
#: so AutoGraph echoes its warnings on stdout, whatever the loggers' levels), TensorFlow started
#: in an earlier cell, the answer defined in a file whose source can be read (a cell's is).
KERNEL = """
import sys
sys.ps1 = ">>> "
import tensorflow as tf
from mitdeeplearning import grading


def weighted_cross_entropy(labels, logits, class_weights):
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(tf.gather(class_weights, labels) * per_example)


tf.zeros(1).numpy()
print("--- test cell ---", flush=True)
print("--- test cell ---", file=sys.stderr, flush=True)
checks = grading.fresh()
checks.check_weighted_loss(weighted_cross_entropy)
checks.check_weighted_loss(weighted_cross_entropy, seed=7)
grading.fresh().check_weighted_loss(weighted_cross_entropy)
"""


def test_a_right_weighted_loss_makes_tensorflow_say_nothing(tmp_path):
    # Regression: the check traced a lambda of its own, defined in a fresh copy whose source
    # AutoGraph cannot find: "AutoGraph could not transform <function check_weighted_loss.
    # <locals>.<lambda>> ... Please report this to the TensorFlow team", on stdout and stderr.
    script = tmp_path / "kernel.py"
    script.write_text(textwrap.dedent(KERNEL), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.split("--- test cell ---\n", 1)[1]
    err = done.stderr.split("--- test cell ---\n", 1)[1]
    right = "\N{CHECK MARK} weighted_cross_entropy is the class-weighted mean cross-entropy"
    assert out.splitlines() == [out.splitlines()[0]] * 3 and out.startswith(right)
    assert err == ""
