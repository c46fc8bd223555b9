"""Lab 2's graded checks, second part: Class Activation Maps and the pointing game.

Each check takes what the student wrote, tries it on small inputs of its own (the course's
GAP-CNN with weights set from a seed, random maps and masks) and either prints one line starting
with a check mark or raises `GradingError` with one sentence that says what is wrong. The
references are `mitdeeplearning.xray`'s own CAMs and pointing game, imported when a check runs,
after the answer's output has been read; inside the answer those refuse to run (`refuses`).
The first part of Lab 2's checks is in `mitdeeplearning.grading.lab2`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import (
    Answer,
    expect_close,
    expect_shape,
    fail,
    flat_values,
    graded_answer,
    max_difference,
    passed,
    preview,
)
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_int64 = np.int64

__all__ = [
    "check_cams",
    "check_features_and_weights",
    "check_pointing_game",
    "check_upsample",
]


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


# Keras' way of reading a layer's output (keras.Model(model.input, layer.output)) is what the
# exercise teaches: nothing refuses.
@refuses()
def check_features_and_weights(
    get_features_and_weights: Callable, seed: int = 0, filters: tuple = (4, 8)
) -> None:
    """`get_features_and_weights(model, images)` returns the last convolution block's maps
    ``(n, h, w, channels)`` (the layer ``"cam_features"``, the input of global average
    pooling) and the Dense layer's kernel ``(channels, 2)`` (the layer ``"cam_logits"``)."""
    answer = graded_answer(
        get_features_and_weights, "get_features_and_weights", "check_features_and_weights"
    )
    model, images = _check_model(seed, filters=filters)
    weights_before = [w.copy() for w in model.get_weights()]
    result = answer(model, images.copy())
    if not isinstance(result, tuple | list) or len(result) != 2:
        fail("get_features_and_weights should return a pair (features, weights).")
    got_features = answer.array(result[0], "features")
    got_kernel = answer.array(result[1], "weights")
    after = model.get_weights()
    if len(after) != len(weights_before) or any(
        a.shape != b.shape or max_difference(a, b) != 0
        for a, b in zip(after, weights_before, strict=False)
    ):
        fail("get_features_and_weights changed the model's weights: it should only read them.")
    features, kernel = _reference_parts(model, images)
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


# The package's CAMs (and Grad-CAM, the same picture on this network) refuse; NumPy's einsum,
# which the exercise suggests, stays allowed.
@refuses(package=("xray.class_activation_maps", "xray.grad_cam"))
def check_cams(compute_cams: Callable, seed: int = 0, filters: tuple = (4, 8)) -> None:
    """`compute_cams(features, weights, class_index)`: ``sum_k weights[k, class_index] *
    features[..., k]`` for every image at once, ``(n, h, w)``; checked on random inputs and
    against `mitdeeplearning.xray.class_activation_maps` on a model."""
    import tensorflow as tf

    answer = graded_answer(compute_cams, "compute_cams", "check_cams")
    rng = np.random.default_rng(seed)
    for n, h, k in ((3, 5, 4), (1, 2, 3), (40, 8, 16)):
        features = rng.normal(size=(n, h, h, k)).astype("float32")
        weights = rng.normal(size=(k, 2)).astype("float32")
        for class_index in (1, 0):
            _check_cams_case(answer, features, weights, class_index)
    model, images = _check_model(seed, filters=filters)
    features, kernel = _reference_parts(model, images)
    for class_index in (0, 1):
        inputs = features.astype("float32"), kernel.astype("float32")
        got = answer.array(answer(*inputs, class_index), "the maps")
        expect_shape(got, features.shape[:3], "the maps")
        upsampled = tf.image.resize(got[..., None], images.shape[1:3], method="bilinear")
        from mitdeeplearning.xray.cam import class_activation_maps

        package = class_activation_maps(model, images, class_index, contrast=False)
        expect_close(
            _asarray(upsampled[..., 0], dtype=_float64),
            package.astype(_float64),
            "your maps (upsampled) against mitdeeplearning.xray's",
            tol=1e-3,
        )
    passed("compute_cams weighs the feature maps by the class's weights, for a whole batch")


def _check_cams_case(
    answer: Answer, features: np.ndarray, weights: np.ndarray, class_index: int
) -> None:
    """One case of `check_cams`: the answer's maps of random `features` ``(n, h, w, k)`` and
    `weights` ``(k, 2)`` for `class_index`."""
    n, h, _, k = features.shape
    got = answer.array(answer(features.copy(), weights.copy(), class_index), "the maps")
    expect_shape(got, (n, h, h), f"the maps of {n} images of {h}x{h}x{k} features")
    expected = np.einsum(
        "nhwk,k->nhw", features.astype(_float64), weights[:, class_index].astype(_float64)
    )
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


# The exercise suggests tf.image.resize (and cv2.resize does the same): resizing is not what it
# is about, so nothing refuses.
@refuses()
def check_upsample(upsample_cams: Callable, seed: int = 0) -> None:
    """`upsample_cams(cams, size)` resizes ``(n, h, w)`` maps to ``(n, size, size)``
    bilinearly (pixel centres aligned, as `tf.image.resize` and `cv2.resize` do)."""
    import tensorflow as tf

    answer = graded_answer(upsample_cams, "upsample_cams", "check_upsample")
    rng = np.random.default_rng(seed)
    for n, h, size in ((2, 4, 16), (3, 8, 64), (1, 5, 12)):
        cams = rng.normal(size=(n, h, h)).astype("float32")
        got = answer.array(answer(cams.copy(), size), "the maps")
        if got.shape == (n, size, size, 1):
            fail("Return maps of shape (n, size, size): drop the channel axis.")
        expect_shape(got, (n, size, size), f"{n} maps of {h}x{h} upsampled to {size}")
        expected = _asarray(
            tf.image.resize(cams[..., None], (size, size), method="bilinear")[..., 0],
            dtype=_float64,
        )
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


@refuses(package=("xray.pointing_game",))
def check_pointing_game(pointing_game: Callable, seed: int = 0) -> None:
    """`pointing_game(cams, masks, tolerance)` is True for each map whose maximum lies within
    `tolerance` pixels (Euclidean) of its mask, False otherwise (and for a flat map): the
    same as `mitdeeplearning.xray.pointing_game`."""
    answer = graded_answer(pointing_game, "pointing_game", "check_pointing_game")
    for cams, masks, tolerance in _pointing_cases(seed):
        got = answer.array(
            answer(cams.copy(), masks.copy(), tolerance), "the hits", dtype=_int64
        ).ravel()
        expect_shape(got, (len(cams),), "the hits (one per map)")
        from mitdeeplearning.xray.localisation import pointing_game as reference

        expected = reference(cams, masks, tolerance)
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
