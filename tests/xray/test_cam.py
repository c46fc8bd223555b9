"""CAM and Grad-CAM: against a direct NumPy computation, on the lab's GAP-CNN and on other models
by the names of their layers, batched, one forward pass per batch; and the overlays that show
them."""

from __future__ import annotations

import gc
import warnings
import weakref

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning.xray import build_cam_cnn, class_activation_maps, grad_cam, overlay, plot_cams

matplotlib.use("Agg")

RNG = np.random.default_rng(7)
IMAGES = RNG.random((7, 64, 64, 1)).astype(np.float32)


def reference_cam(features, kernel, classes, size, contrast=True):
    """Zhou et al.'s map in NumPy: sum_k w_k^c f_k(x, y), resized bilinearly to `size`; with
    `contrast`, w^c minus the mean of the other classes' weights."""
    kernel = np.asarray(kernel, np.float64)
    c = kernel.shape[1]
    if contrast and c > 1:
        kernel = np.stack([kernel[:, i] - np.delete(kernel, i, 1).mean(1) for i in range(c)], 1)
    if c == 1:  # one logit: class 1 is w, class 0 is -w
        weights = np.where(np.asarray(classes)[:, None] == 1, 1, -1) * kernel[:, 0]
    else:
        weights = kernel.T[classes]
    maps = np.einsum("bhwk,bk->bhw", np.asarray(features, np.float64), weights)
    return tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0], maps


@pytest.fixture(scope="module")
def model():
    return build_cam_cnn((64, 64, 1), filters=(4, 8, 8), seed=3)


def test_cam_equals_a_direct_computation_from_the_features_and_weights(model):
    features = keras.Model(model.input, model.get_layer("cam_features").output)(IMAGES)
    dense = model.get_layer("cam_logits")
    logits = np.asarray(model(IMAGES))
    bias = np.asarray(dense.bias)
    classes = RNG.integers(0, 2, len(IMAGES))
    rows = np.arange(len(IMAGES))
    for contrast in (False, True):
        cams = class_activation_maps(model, IMAGES, classes, contrast=contrast)
        expected, low = reference_cam(features, dense.kernel, classes, (64, 64), contrast)
        assert cams.shape == (7, 64, 64) and cams.dtype == np.float32
        np.testing.assert_allclose(cams, expected, rtol=1e-4, atol=1e-5)
        # The mean of a raw map over the feature grid, plus the bias, is the class's logit;
        # of a contrast map (two classes), plus the difference of biases, the log-odds.
        other = 1 - classes
        if contrast:
            target = logits[rows, classes] - logits[rows, other]
            offset = bias[classes] - bias[other]
        else:
            target, offset = logits[rows, classes], bias[classes]
        np.testing.assert_allclose(low.mean(axis=(1, 2)) + offset, target, rtol=1e-4, atol=1e-5)


def test_contrast_maps_ignore_a_common_offset_of_the_class_weights():
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=5)
    dense = model.get_layer("cam_logits")
    probabilities = np.asarray(keras.ops.softmax(model(IMAGES)))
    cams, raw = (class_activation_maps(model, IMAGES, 1, contrast=c) for c in (True, False))
    grads = grad_cam(model, IMAGES, 1)
    dense.kernel.assign(dense.kernel + RNG.normal(0, 1, (8, 1)))  # the same v for both classes
    np.testing.assert_allclose(keras.ops.softmax(model(IMAGES)), probabilities, atol=1e-6)
    np.testing.assert_allclose(class_activation_maps(model, IMAGES, 1), cams, atol=1e-5)
    np.testing.assert_allclose(grad_cam(model, IMAGES, 1), grads, atol=1e-6)
    assert not np.allclose(class_activation_maps(model, IMAGES, 1, contrast=False), raw, atol=0.1)


def test_batches_give_the_same_maps_as_single_images(model):
    whole, logits = class_activation_maps(model, IMAGES, return_logits=True)
    one_by_one = np.concatenate([class_activation_maps(model, IMAGES[i : i + 1]) for i in range(7)])
    in_threes = class_activation_maps(model, IMAGES, batch_size=3)
    np.testing.assert_allclose(whole, one_by_one, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(whole, in_threes, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits, model(IMAGES), rtol=1e-4, atol=1e-5)


def test_class_index_none_maps_the_predicted_class(model):
    predicted = np.argmax(model(IMAGES), axis=1)
    np.testing.assert_allclose(
        class_activation_maps(model, IMAGES), class_activation_maps(model, IMAGES, predicted)
    )
    np.testing.assert_allclose(
        class_activation_maps(model, IMAGES, 1),
        class_activation_maps(model, IMAGES, np.ones(7, int)),
    )
    for bad in (2, -1, [0, 1], np.zeros(7)):
        with pytest.raises(ValueError, match="class_index"):
            class_activation_maps(model, IMAGES, bad)


class Counting(keras.layers.Layer):
    """An identity layer that counts the batches it sees, in graphs as well as eagerly."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     dtype="int32", name="count")  # fmt: skip

    def call(self, x):
        self.count.assign_add(1)
        return x


def test_one_forward_pass_per_batch():
    inputs = keras.Input((32, 32, 1))
    x = Counting()(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="maps")(x)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    counted = keras.Model(inputs, outputs)
    images = IMAGES[:, :32, :32]
    counter = counted.layers[1]
    for explain in (class_activation_maps, grad_cam):
        counter.count.assign(0)
        explain(counted, images, feature_layer="maps", logits_layer="head", batch_size=3)
        assert int(counter.count.numpy()) == 3, explain.__name__  # 7 images: 3 batches


def _sequential(units):
    """A Sequential GAP-CNN whose Dense layer applies the softmax (or sigmoid) itself."""
    activation = "softmax" if units > 1 else "sigmoid"
    return keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="maps"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(units, activation=activation, name="head"),
        ]
    )


def _functional(units):
    """A functional GAP-CNN with a branch, pooling that keeps its axes, and logits followed by
    a separate softmax (or sigmoid) layer."""
    inputs = keras.Input((32, 32, 1))
    a = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    b = keras.layers.Conv2D(6, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(keras.layers.Add()([a, b]))
    x = keras.layers.Conv2D(5, 3, padding="same")(x)
    x = keras.layers.Activation("relu", name="maps")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(units, name="head")(x)
    squash = keras.layers.Softmax() if units > 1 else keras.layers.Activation("sigmoid")
    return keras.Model(inputs, squash(outputs))


@pytest.mark.parametrize("build", [_sequential, _functional])
@pytest.mark.parametrize("units", [3, 2, 1])
def test_other_models_name_their_layers(build, units):
    keras.utils.set_random_seed(units)
    model = build(units)
    images = IMAGES[:, :32, :32]
    named = {"feature_layer": "maps", "logits_layer": "head"}
    features = keras.Model(model.inputs[0], model.get_layer("maps").output)(images)
    probabilities = np.asarray(model(images))
    predicted = (probabilities[:, 0] > 0.5).astype(int) if units == 1 else probabilities.argmax(1)
    cams, logits = class_activation_maps(model, images, return_logits=True, **named)
    expected, _ = reference_cam(features, model.get_layer("head").kernel, predicted, (32, 32))
    np.testing.assert_allclose(cams, expected, rtol=1e-4, atol=1e-5)
    squash = keras.ops.softmax if units > 1 else keras.ops.sigmoid
    np.testing.assert_allclose(squash(logits), probabilities, rtol=1e-4, atol=1e-6)
    if units == 1:  # a one-logit head: class 0's map is minus class 1's
        np.testing.assert_allclose(
            class_activation_maps(model, images, 0, **named),
            -class_activation_maps(model, images, 1, **named),
            atol=1e-6,
        )
    if build is _sequential:  # its Dense layer gives probabilities: Grad-CAM needs logits
        with pytest.raises(ValueError, match="applies the activation"):
            grad_cam(model, images, **named)
        return
    # Grad-CAM of the logits (before the softmax or sigmoid) is ReLU(CAM) / (h w) here.
    area = np.prod(np.shape(features)[1:3])
    for c, contrast in ((0, True), (1, True), (1, False)):
        np.testing.assert_allclose(
            grad_cam(model, images, c, contrast=contrast, **named),
            np.maximum(class_activation_maps(model, images, c, contrast=contrast, **named), 0)
            / area,
            rtol=1e-4,
            atol=1e-6,
        )


def test_grad_cam_is_relu_cam_up_to_a_positive_scale_on_the_gap_cnn(model):
    cams = class_activation_maps(model, IMAGES)
    maps = grad_cam(model, IMAGES)
    assert maps.shape == cams.shape and maps.dtype == np.float32 and (maps >= 0).all()
    relu = np.maximum(cams, 0)
    assert (relu.max(axis=(1, 2)) > 0).sum() >= 4
    for g, r in zip(maps, relu, strict=True):
        if r.max() == 0:  # no positive evidence for the predicted class: both maps are empty
            assert g.max() == 0
            continue
        scale = g.max() / r.max()
        assert scale > 0
        np.testing.assert_allclose(g, scale * r, rtol=1e-4, atol=1e-4 * g.max())
    np.testing.assert_allclose(maps, relu / (16 * 16), rtol=1e-4, atol=1e-7)  # 16x16 features
    one_by_one = np.concatenate([grad_cam(model, IMAGES[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(maps, one_by_one, rtol=1e-4, atol=1e-7)
    assert grad_cam(model, IMAGES[:0]).shape == (0, 64, 64)


def test_grad_cam_on_a_model_without_global_pooling():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(4, 3, name="conv_a"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(name="conv_a_relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    images = IMAGES[:, :32, :32]
    maps = grad_cam(model, images, feature_layer="conv_a_relu", logits_layer="logits")
    assert maps.shape == (7, 32, 32) and (maps >= 0).all() and maps.max() > 0
    relu = model.get_layer("conv_a_relu")  # a layer works as well as its name
    np.testing.assert_allclose(maps, grad_cam(model, images, feature_layer=relu,
                                              logits_layer="logits"))  # fmt: skip
    assert not np.allclose(maps, grad_cam(model, images, feature_layer="conv_a",
                                          logits_layer="logits"))  # fmt: skip
    with pytest.raises(ValueError, match="4-D"):
        grad_cam(model, images, feature_layer="flat", logits_layer="logits")
    with pytest.raises(ValueError, match=r"CAM needs \(batch, h, w, 900\)"):
        class_activation_maps(model, images, feature_layer="conv_a_relu", logits_layer="logits")


def test_a_model_without_the_named_layers_is_refused():
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    unnamed = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x), name="mine")
    images = IMAGES[:, :32, :32]
    for explain in (class_activation_maps, grad_cam):
        with pytest.raises(ValueError) as error:
            explain(unnamed, images)
        message = str(error.value)  # the missing layer, the layers there are, what to pass
        assert "'mine' has no layer 'cam_features'" in message
        assert "'conv', 'pool', 'dense'" in message and "Pass feature_layer=" in message
        with pytest.raises(ValueError, match="has no layer 'cam_logits'.*Pass logits_layer="):
            explain(unnamed, images, feature_layer="conv")
    with pytest.raises(ValueError, match="logits_layer='pool' is a GlobalAveragePooling2D"):
        class_activation_maps(unnamed, images, feature_layer="conv", logits_layer="pool")
    with pytest.raises(ValueError, match="keras.Model"):
        class_activation_maps(lambda x: x, IMAGES)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.maps = keras.layers.Conv2D(5, 3, activation="relu", name="cam_features")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(2, name="cam_logits")

    def call(self, x):
        return self.head(self.pool(self.maps(x)))


def test_a_subclassed_model_is_refused_with_what_to_do():
    model = Subclassed()
    model(IMAGES[:1, :32, :32])
    for explain in (class_activation_maps, grad_cam):
        with pytest.raises(ValueError, match="build a subclassed model as a functional one"):
            explain(model, IMAGES[:, :32, :32])


def test_layer_is_the_old_name_of_feature_layer(model):
    for explain in (class_activation_maps, grad_cam):
        with pytest.warns(FutureWarning, match=f"{explain.__name__}\\(feature_layer="):
            old = explain(model, IMAGES, layer="cam_features")
        np.testing.assert_allclose(old, explain(model, IMAGES))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once only
            explain(model, IMAGES[:1], layer="cam_features")


def test_images_are_checked(model):
    with pytest.raises(ValueError, match=r"image\[None\]"):
        class_activation_maps(model, IMAGES[0])
    with pytest.raises(ValueError, match="floats"):
        class_activation_maps(model, (IMAGES * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="the model takes"):
        class_activation_maps(model, IMAGES[:, :32, :32])
    with pytest.raises(ValueError, match="batch_size"):
        grad_cam(model, IMAGES, batch_size=0)
    assert class_activation_maps(model, IMAGES[:0]).shape == (0, 64, 64)


def test_overlay_is_rgb_in_range_and_leaves_cold_pixels_alone():
    image = RNG.random((64, 64))
    cam = np.zeros((64, 64))
    cam[10:20, 10:20] = 3.0
    cam[40:, 40:] = -5.0  # negative evidence is not shown
    picture = overlay(image[..., None], cam)
    assert picture.shape == (64, 64, 3) and picture.min() >= 0 and picture.max() <= 1
    np.testing.assert_allclose(picture[30:, 30:], np.repeat(image[30:, 30:, None], 3, axis=2))
    assert not np.allclose(picture[10:20, 10:20, 0], image[10:20, 10:20])
    assert overlay((image * 255).astype(np.uint8), cam).max() <= 1
    with pytest.raises(ValueError, match="same"):
        overlay(image, cam[:32])


def test_plot_cams_draws_a_grid_with_titles_and_outlines(model):
    cams = class_activation_maps(model, IMAGES)
    masks = np.zeros((7, 64, 64), bool)
    masks[:, 20:30, 20:30] = True
    fig = plot_cams(
        IMAGES,
        cams,
        labels=[0, 1, 1, 0, 1, 0, 1],
        probabilities=np.linspace(0, 1, 7),
        masks=masks,
        ncols=3,
    )
    assert len(fig.axes) == 3 * 6
    assert fig.axes[2].get_title(loc="left") == "pneumothorax, p = 0.17"
    assert sum(len(ax.collections) for ax in fig.axes) >= 14  # an outline on both panels
    assert plot_cams(IMAGES[:1, ..., 0], cams[:1]).axes[0].get_title(loc="left") == "case 0"
    with pytest.raises(ValueError, match="cams"):
        plot_cams(IMAGES, cams[:3])
    matplotlib.pyplot.close("all")


def test_cam_is_traced_once_for_any_batch_size():
    from mitdeeplearning.xray import cam as cam_module

    fresh_model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    images = np.random.default_rng(0).random((70, 64, 64, 1)).astype("float32")
    for n in (1, 3, 7, 70):  # 70 runs as 64 + 6
        class_activation_maps(fresh_model, images[:n], batch_size=64)
        grad_cam(fresh_model, images[:n], batch_size=64)
    steps = cam_module._STEPS[fresh_model].values()
    assert [step.experimental_get_tracing_count() for step in steps] == [1, 1]


def test_the_compiled_steps_do_not_keep_a_model_alive():
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    class_activation_maps(model, IMAGES[:2])
    grad_cam(model, IMAGES[:2])
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
