"""Lab 2's graded checks: pneumothorax classification, ROC and Class Activation Maps.

Each check takes what the student wrote, tries it on small inputs of its own (a tiny Keras
classifier, the course's GAP-CNN with weights set from a seed, random maps and masks) and either
prints one line starting with a check mark or raises `GradingError` with one sentence that says
what is wrong. The references are scikit-learn's ROC curve and `mitdeeplearning.xray`'s own
CAMs and pointing game, imported when a check runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import (
    GradingError,
    call_answer,
    expect_close,
    expect_shape,
    fail,
    flat_values,
    log_softmax,
    max_difference,
    passed,
    preview,
    sigmoid,
    to_array,
)

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_int64 = np.int64

__all__ = [
    "check_cams",
    "check_class_weights",
    "check_features_and_weights",
    "check_pointing_game",
    "check_predict",
    "check_roc",
    "check_upsample",
    "check_weighted_loss",
]


# ## Classifying: class weights, the weighted loss, predictions ------------------------------------


def _softmax_positive(logits: np.ndarray) -> np.ndarray:
    """P(class 1) of ``(n, 2)`` logits, in float64."""
    return np.exp(log_softmax(logits.astype(_float64)))[:, 1]


def _cross_entropy(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    log_probs = log_softmax(logits.astype(_float64))
    return -np.take_along_axis(log_probs, labels[:, None].astype(_int64), -1)[:, 0]


def _scalar(value: Any, name: str) -> float:
    array = to_array(value, name)
    if array.size != 1:
        fail(
            f"`{name}` should be one number (the mean over the batch), not shape "
            f"{tuple(array.shape)}."
        )
    return float(flat_values(array)[0])


def check_class_weights(balanced_class_weights: Callable) -> None:
    """`balanced_class_weights(labels)` gives ``n / (2 * n_c)`` for classes 0 and 1.

    Parameters
    ----------
    balanced_class_weights : callable
        The student's function: labels ``(n,)`` of 0 and 1 → two weights ``(2,)``, float.

    Examples
    --------
    An answer that gives each class its share of the examples instead:

    >>> try:
    ...     check_class_weights(lambda y: np.bincount(y, minlength=2) / len(y))
    ... except GradingError as error:
    ...     print(error)
    For 4 labels with 1 positive, the weights are [0.75, 0.25];
    expected n / (2 n_c) = [0.6667, 2.0].
    """
    rng = np.random.default_rng(5)
    cases = [np.array([0, 0, 0, 1]), np.array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0])]
    cases.append((rng.random(101) < 0.2).astype(_int64))
    for labels in cases:
        n, positives = len(labels), int(labels.sum())
        expected = _asarray([n / (2.0 * (n - positives)), n / (2.0 * positives)], dtype=_float64)
        got = to_array(
            call_answer(balanced_class_weights, "balanced_class_weights", labels.copy()),
            "the weights",
        ).ravel()
        expect_shape(got, (2,), "the weights (one per class)")
        if max_difference(got, expected) > 1e-6 * float(expected.max()):
            hint = ""
            if max_difference(got, expected[::-1]) <= 1e-6 * float(expected.max()):
                hint = " The rarer class should get the larger weight."
            fail(
                f"For {n} labels with {positives} positive, the weights are "
                f"{preview(got)}; expected n / (2 n_c) = {preview(expected)}.{hint}"
            )
    passed("balanced_class_weights gives n / (2 n_c): each class carries half of the loss")


def check_weighted_loss(weighted_cross_entropy: Callable, seed: int = 0) -> None:
    """`weighted_cross_entropy(labels, logits, class_weights)`: the mean over the batch of
    ``class_weights[label] * cross-entropy(logits)``, in TensorFlow operations (it runs inside
    the compiled training step)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for batch in (6, 1, 33):
        logits = (rng.normal(size=(batch, 2)) * 2).astype("float32")
        labels = rng.integers(0, 2, size=batch).astype("int32")
        weights = _asarray([0.6, 2.5], dtype="float32") + rng.random(2).astype("float32")
        ce = _cross_entropy(labels, logits)
        w = weights.astype(_float64)[labels]
        expected = float((w * ce).mean())
        inputs = tf.constant(labels), tf.constant(logits), tf.constant(weights)
        got = _scalar(
            call_answer(weighted_cross_entropy, "weighted_cross_entropy", *inputs), "the loss"
        )
        if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
            picked = np.take_along_axis(logits, labels[:, None], -1)[:, 0]
            hints = {
                "Multiply each example's cross-entropy by the weight of its class.":
                    float(ce.mean()),
                "Divide by the number of examples, not by the sum of the weights.":
                    float((w * ce).sum() / w.sum()),
                "The model outputs logits: use a cross-entropy from logits (softmax inside).":
                    float((w * -np.log(np.clip(picked, 1e-7, 1))).mean()),
                "Return the mean over the batch, not the sum.": float((w * ce).sum()),
            }  # fmt: skip
            hint = next(
                (h for h, v in hints.items() if abs(got - v) <= 1e-4 * max(1.0, abs(v))), ""
            )
            fail(f"For {batch} examples the loss is {got:.4f}; expected {expected:.4f}. {hint}")
    graph = tf.function(lambda a, b, c: weighted_cross_entropy(a, b, c))
    try:
        got = _scalar(graph(*inputs), "the loss inside tf.function")
    except GradingError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever fails when traced into a graph
        fail(
            "weighted_cross_entropy must also run inside the training step (a tf.function): "
            "use TensorFlow operations such as tf.gather and "
            "tf.nn.sparse_softmax_cross_entropy_with_logits, not NumPy "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})."
        )
    if not abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        fail(f"Inside tf.function the loss is {got:.4f}; expected {expected:.4f}.")
    passed("weighted_cross_entropy is the class-weighted mean cross-entropy of the logits")


def _tiny_classifier(seed: int):
    """A Keras model with known weights: (4, 4, 1) images → Flatten → Dense(2) logits."""
    import keras

    rng = np.random.default_rng(seed)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    kernel, bias = rng.normal(size=(16, 2)), rng.normal(size=(2,)) * 0.5
    model.layers[-1].set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model, kernel.astype("float32").astype(_float64), bias.astype("float32")


def check_predict(predict_pneumothorax: Callable, seed: int = 0) -> None:
    """`predict_pneumothorax(model, images, threshold=0.5)` returns ``(probabilities,
    predictions)``: P(pneumothorax) = softmax(logits)[:, 1] per image, and 1 where it is at
    least `threshold`, else 0."""
    model, kernel, bias = _tiny_classifier(seed)
    rng = np.random.default_rng(seed + 1)
    images = rng.normal(size=(70, 4, 4, 1)).astype("float32")
    logits = images.reshape(70, -1).astype(_float64) @ kernel + bias
    expected = _softmax_positive(logits)
    for threshold in (0.5, 0.2, 0.9):
        result = call_answer(
            predict_pneumothorax, "predict_pneumothorax", model, images.copy(), threshold=threshold
        )
        if not isinstance(result, tuple | list) or len(result) != 2:
            fail("predict_pneumothorax should return a pair (probabilities, predictions).")
        probabilities = to_array(result[0], "probabilities").reshape(-1)
        predictions = to_array(result[1], "predictions").reshape(-1)
        expect_shape(probabilities, (70,), "probabilities (one per image)")
        expect_shape(predictions, (70,), "predictions (one per image)")
        if max_difference(probabilities, expected) > 1e-4:
            hint = ""
            if max_difference(probabilities, sigmoid(logits[:, 1])) <= 1e-4:
                hint = " Take the softmax of both logits, not the sigmoid of one."
            elif max_difference(probabilities, 1 - expected) <= 1e-4:
                hint = " Class 1 (the second column) is pneumothorax."
            fail(
                f"The probabilities are {preview(probabilities)}; expected softmax(logits)"
                f"[:, 1] = {preview(expected)}.{hint}"
            )
        wanted = (expected >= threshold).astype(_float64)
        if max_difference(predictions, wanted) != 0:
            fail(
                f"At threshold {threshold} the predictions should be 1 where the probability "
                f"is at least {threshold}: {int(wanted.sum())} of 70 here, your predictions "
                f"have {int(sum(v == 1 for v in flat_values(predictions)))}."
            )
    passed("predict_pneumothorax gives P(pneumothorax) and the label at the threshold")


# ## The ROC curve ---------------------------------------------------------------------------------


def _distinct_points(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """The curve's points, with consecutive repeats dropped: ``(m, 2)``."""
    points = []
    for x, y in zip(flat_values(fpr), flat_values(tpr), strict=True):
        if not points or abs(points[-1][0] - x) > 1e-12 or abs(points[-1][1] - y) > 1e-12:
            points.append((float(x), float(y)))
    return _asarray(points, dtype=_float64)


def _never_decreases(values: list) -> bool:
    return all(b >= a for a, b in zip(values, values[1:], strict=False))


def _roc_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(60) < 0.3).astype(_int64)
    labels[:2] = [0, 1]
    return [
        (_asarray([0, 0, 1, 1]), _asarray([0.1, 0.4, 0.35, 0.8])),
        (_asarray([1, 0, 1, 0, 0, 1]), _asarray([0.9, 0.9, 0.5, 0.5, 0.1, 0.5])),  # ties
        (labels, np.round(rng.random(60) + 0.4 * labels, 1)),  # many ties
        (labels, rng.normal(size=60) + labels),
    ]


def check_roc(roc_curve: Callable, cases: list | None = None, seed: int = 0) -> None:
    """`roc_curve(labels, scores)` returns ``(fpr, tpr, thresholds)``, one point per distinct
    score from the highest down, starting at (0, 0) and ending at (1, 1): the same curve as
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as reference

    for labels, scores in cases or _roc_cases(seed):
        labels, scores = _asarray(labels, dtype=_int64), _asarray(scores, dtype=_float64)
        result = call_answer(roc_curve, "roc_curve", labels.copy(), scores.copy())
        if not isinstance(result, tuple | list) or len(result) != 3:
            fail("roc_curve should return three arrays (fpr, tpr, thresholds).")
        fpr = to_array(result[0], "fpr").ravel()
        tpr = to_array(result[1], "tpr").ravel()
        thresholds = to_array(result[2], "thresholds").ravel()
        if not (fpr.shape == tpr.shape == thresholds.shape) or fpr.size < 2:
            fail(
                f"fpr, tpr and thresholds should have one entry per point of the curve; "
                f"got {fpr.size}, {tpr.size} and {thresholds.size}."
            )
        if not (_never_decreases(flat_values(fpr)) and _never_decreases(flat_values(tpr))):
            fail(
                "fpr and tpr should never decrease: go through the thresholds from the highest "
                "score down."
            )
        ref_fpr, ref_tpr, _ = reference(labels, scores, drop_intermediate=False)
        got, expected = _distinct_points(fpr, tpr), _distinct_points(ref_fpr, ref_tpr)
        ends = flat_values(got[0]) == [0.0, 0.0] and flat_values(got[-1]) == [1.0, 1.0]
        if not ends:
            fail(
                f"The curve should start at (fpr, tpr) = (0, 0) and end at (1, 1); yours runs "
                f"from {tuple(flat_values(got[0]))} to {tuple(flat_values(got[-1]))}."
            )
        if got.shape != expected.shape or max_difference(got, expected) > 1e-9:
            area = float(np.sum(np.diff(got[:, 0]) * (got[1:, 1] + got[:-1, 1]) / 2))
            fail(
                f"For labels {preview(labels)} and scores {preview(scores)}, the curve has "
                f"{len(got)} distinct points (area {area:.4f}); expected {len(expected)} "
                f"(area {roc_auc_score(labels, scores):.4f}). Use one threshold per distinct "
                "score, predicting positive where score >= threshold, so tied scores move "
                "together."
            )
    passed("roc_curve gives the same curve as scikit-learn, ties included")


# ## Class Activation Maps and the pointing game ---------------------------------------------------


def _check_model(seed: int, size: int = 64, filters: tuple = (4, 8)):
    from mitdeeplearning.xray.model import build_cam_cnn

    model = build_cam_cnn((size, size, 1), filters=filters, seed=seed)
    rng = np.random.default_rng(seed)
    images = rng.random((5, size, size, 1)).astype("float32")
    # Give the BatchNorm layers and the head non-trivial values, as after training.
    for layer in model.layers:
        weights = layer.get_weights()
        if weights and layer.name != "cam_logits":
            layer.set_weights(
                [
                    w + rng.normal(size=w.shape).astype("float32") * 0.1 if w.ndim == 1 else w
                    for w in weights
                ]
            )
        elif layer.name == "cam_logits":
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in weights])
    return model, images


def _reference_parts(model, images) -> tuple[np.ndarray, np.ndarray]:
    import keras

    features_model = keras.Model(model.input, model.get_layer("cam_features").output)
    features = _asarray(features_model(images, training=False), dtype=_float64)
    kernel = _asarray(model.get_layer("cam_logits").kernel.numpy(), dtype=_float64)
    return features, kernel


def check_features_and_weights(
    get_features_and_weights: Callable, seed: int = 0, filters: tuple = (4, 8)
) -> None:
    """`get_features_and_weights(model, images)` returns the last convolution block's maps
    ``(n, h, w, channels)`` (the layer ``"cam_features"``, the input of global average
    pooling) and the Dense layer's kernel ``(channels, 2)`` (the layer ``"cam_logits"``)."""
    model, images = _check_model(seed, filters=filters)
    features, kernel = _reference_parts(model, images)
    result = call_answer(get_features_and_weights, "get_features_and_weights", model, images.copy())
    if not isinstance(result, tuple | list) or len(result) != 2:
        fail("get_features_and_weights should return a pair (features, weights).")
    got_features = to_array(result[0], "features")
    got_kernel = to_array(result[1], "weights")
    if got_features.shape == (len(images), features.shape[-1]):
        fail(
            "`features` are already averaged (shape (n, channels)): take the maps *before* "
            "global average pooling, the output of the layer 'cam_features'."
        )
    expect_shape(got_features, features.shape, "features")
    if got_kernel.shape == (2,):
        fail("`weights` has shape (2,): that is the bias; return the kernel (channels, 2).")
    expect_shape(got_kernel, kernel.shape, "weights")
    expect_close(got_features, features, "features", tol=1e-4)
    expect_close(got_kernel, kernel, "weights", tol=1e-6)
    passed(
        f"get_features_and_weights gives maps {features.shape[1:]} per image and the "
        f"kernel {kernel.shape}"
    )


def check_cams(compute_cams: Callable, seed: int = 0, filters: tuple = (4, 8)) -> None:
    """`compute_cams(features, weights, class_index)`: ``sum_k weights[k, class_index] *
    features[..., k]`` for every image at once, ``(n, h, w)``; checked on random inputs and
    against `mitdeeplearning.xray.class_activation_maps` on a model."""
    import tensorflow as tf

    from mitdeeplearning.xray.cam import class_activation_maps

    rng = np.random.default_rng(seed)
    for n, h, k in ((3, 5, 4), (1, 2, 3), (40, 8, 16)):
        features = rng.normal(size=(n, h, h, k)).astype("float32")
        weights = rng.normal(size=(k, 2)).astype("float32")
        for class_index in (1, 0):
            got = to_array(
                call_answer(
                    compute_cams, "compute_cams", features.copy(), weights.copy(), class_index
                ),
                "the maps",
            )
            expected = np.einsum(
                "nhwk,k->nhw", features.astype(_float64), weights[:, class_index].astype(_float64)
            )
            expect_shape(got, (n, h, h), f"the maps of {n} images of {h}x{h}x{k} features")
            largest = float(np.abs(expected).max())
            if max_difference(got, expected) > 1e-4 * max(1.0, largest):
                other = np.einsum(
                    "nhwk,k->nhw",
                    features.astype(_float64),
                    weights[:, 1 - class_index].astype(_float64),
                )
                hint = ""
                if max_difference(got, other) <= 1e-3 * max(1.0, float(np.abs(other).max())):
                    hint = " Use the weights of `class_index`: weights[:, class_index]."
                elif max_difference(got, expected / k) <= 1e-3 * max(1.0, largest / k):
                    hint = " Sum over the channels; do not average them."
                fail(
                    f"compute_cams(..., class_index={class_index}) gives "
                    f"{preview(got)}; expected {preview(expected)}.{hint}"
                )
    model, images = _check_model(seed, filters=filters)
    features, kernel = _reference_parts(model, images)
    for class_index in (0, 1):
        inputs = features.astype("float32"), kernel.astype("float32")
        got = to_array(call_answer(compute_cams, "compute_cams", *inputs, class_index), "the maps")
        expect_shape(got, features.shape[:3], "the maps")
        upsampled = tf.image.resize(got[..., None], images.shape[1:3], method="bilinear")
        package = class_activation_maps(model, images, class_index, contrast=False)
        expect_close(
            _asarray(upsampled[..., 0], dtype=_float64),
            package.astype(_float64),
            "your maps (upsampled) against mitdeeplearning.xray's",
            tol=1e-3,
        )
    passed("compute_cams weighs the feature maps by the class's weights, for a whole batch")


def check_upsample(upsample_cams: Callable, seed: int = 0) -> None:
    """`upsample_cams(cams, size)` resizes ``(n, h, w)`` maps to ``(n, size, size)``
    bilinearly (pixel centres aligned, as `tf.image.resize` and `cv2.resize` do)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for n, h, size in ((2, 4, 16), (3, 8, 64), (1, 5, 12)):
        cams = rng.normal(size=(n, h, h)).astype("float32")
        expected = _asarray(
            tf.image.resize(cams[..., None], (size, size), method="bilinear")[..., 0],
            dtype=_float64,
        )
        got = to_array(call_answer(upsample_cams, "upsample_cams", cams.copy(), size), "the maps")
        if got.shape == (n, size, size, 1):
            fail("Return maps of shape (n, size, size): drop the channel axis.")
        expect_shape(got, (n, size, size), f"{n} maps of {h}x{h} upsampled to {size}")
        if max_difference(got, expected) > 1e-4 * max(1.0, float(np.abs(expected).max())):
            nearest = np.repeat(np.repeat(cams, size // h, 1), size // h, 2)
            hint = ""
            if size % h == 0 and max_difference(got, nearest) <= 1e-4:
                hint = " That is nearest-neighbour (blocky): interpolate bilinearly."
            fail(
                f"Upsampling {h}x{h} maps to {size}x{size} gives {preview(got)}; bilinear "
                f"interpolation gives {preview(expected)}.{hint}"
            )
    passed("upsample_cams resizes the maps bilinearly to the image size")


def _pointing_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    n, size = 12, 32
    masks = np.zeros((n, size, size), bool)
    cams = rng.random((n, size, size))
    for i in range(n):
        top, left = rng.integers(2, 20, size=2)
        masks[i, top : top + 8, left : left + 6] = True
    cams[0, 4, 4] = cams[0].max() + 1  # a peak at a chosen spot
    cams[1] = 0.25  # a flat map points nowhere, even where argmax lands in the mask
    masks[1] = False
    masks[1, :8, :6] = True
    cams[2, masks[2]] = 5.0  # the whole mask ties for the maximum
    # Peaks just inside and just outside a 3 px tolerance.
    ys, xs = np.nonzero(masks[3])
    cams[3, ys.min(), min(xs.max() + 3, size - 1)] = 9.0
    ys, xs = np.nonzero(masks[4])
    if ys.max() + 3 < size:
        cams[4, ys.max() + 3, xs.max() + 1] = 9.0
    return [(cams, masks, 3.0), (cams, masks, 0.0), (cams[:5], masks[:5], 7.5)]


def check_pointing_game(pointing_game: Callable, seed: int = 0) -> None:
    """`pointing_game(cams, masks, tolerance)` is True for each map whose maximum lies within
    `tolerance` pixels (Euclidean) of its mask, False otherwise (and for a flat map): the
    same as `mitdeeplearning.xray.pointing_game`."""
    from mitdeeplearning.xray.localisation import pointing_game as reference

    for cams, masks, tolerance in _pointing_cases(seed):
        expected = reference(cams, masks, tolerance)
        got = to_array(
            call_answer(pointing_game, "pointing_game", cams.copy(), masks.copy(), tolerance),
            "the hits",
            dtype=_int64,
        ).ravel()
        expect_shape(got, (len(cams),), "the hits (one per map)")
        for i, (g, e) in enumerate(zip(flat_values(got), expected.tolist(), strict=True)):
            if bool(g) != bool(e):
                flat = float(cams[i].max()) == float(cams[i].min())
                row, col = np.unravel_index(int(np.argmax(cams[i])), cams[i].shape)
                ys, xs = np.nonzero(masks[i])
                distance = float(np.sqrt(np.min((ys - row) ** 2 + (xs - col) ** 2)))
                if flat:
                    why = "the map is flat: it points nowhere, a miss"
                else:
                    why = (
                        f"its maximum is at row {row}, column {col}, {distance:.2f} px from the "
                        f"mask, with tolerance {tolerance}"
                    )
                fail(f"Map {i} should be a {'hit' if e else 'miss'}: {why}.")
    passed("pointing_game finds each map's maximum and checks it against the mask")
