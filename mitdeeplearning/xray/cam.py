"""Where did the network look? Class Activation Maps and Grad-CAM, for batches of images.

## The algorithm

A GAP-CNN ends ``features → GlobalAveragePooling2D → Dense``: the logit of class ``c`` is

    z_c = sum_k w_k^c * mean_xy f_k(x, y) + b_c = mean_xy [ sum_k w_k^c f_k(x, y) ] + b_c

so the map ``CAM_c(x, y) = sum_k w_k^c f_k(x, y)`` (Zhou et al., CVPR 2016) says how much each
place adds to the logit: its mean over the feature grid, plus the bias, *is* the logit. One
forward pass gives the feature maps ``f`` of a whole batch; one contraction over the channels
``k`` gives all the maps; a bilinear resize brings them to the image's size.

Grad-CAM (Selvaraju et al., ICCV 2017) needs no GAP: it weighs a convolution layer's maps by
the spatial mean of the gradient of the class logit with respect to them, and keeps the
positive part. On a GAP-CNN that gradient is ``w_k^c / (h w)`` everywhere, so Grad-CAM is
``ReLU(CAM) / (h w)``: the same picture.

## One class against the others (``contrast=True``, the default)

Softmax probabilities do not change when the same vector ``v`` is added to every class's
weights, but every map ``CAM_c`` changes by ``sum_k v_k f_k``, which differs from place to
place. Trained without weight decay, nothing pins ``v`` down, and a two-class network often
can mark a pneumothorax by a *negative* contribution to "no pneumothorax" rather than a
positive one to "pneumothorax" (on a toy set we saw the raw map of class 1 peak inside the
lesion for 0% of the positives and minus the raw map of class 0 for 95%: two halves of one
decision, disagreeing). So by default each class's weights are taken relative to
the mean of the other classes' weights, ``w^c - mean_{c' != c} w^{c'}``: the part that the
prediction depends on. With two classes that is ``w^1 - w^0``, the map of the log-odds
``z_1 - z_0``, as for a one-logit (sigmoid) head, whose class 1 uses ``w`` and class 0 ``-w``.
Grad-CAM likewise differentiates ``z_c - mean_{c' != c} z_{c'}`` (for two classes this equals,
up to a positive factor per image, the gradient of ``log p_c``). ``contrast=False`` gives
Zhou's and Selvaraju's maps of the raw logit.

## Which layers

Two layers, found by name, say where to read: `feature_layer`, whose ``(batch, h, w, K)`` maps
global average pooling averages, and `logits_layer`, the Dense layer that weighs the ``K``
pooled features into the logits. The defaults are the names that
`~mitdeeplearning.xray.build_cam_cnn` gives them, ``"cam_features"`` and ``"cam_logits"``; for
another functional or Sequential model (built on a `keras.Input`, channels-last), pass the names
of its layers. Grad-CAM reads the same two layers, but the maps may come from any layer with
4-D output and the logits from any layer whose output is the logits.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from .._lazy import renamed_keywords
from ..guard import refuse_during_grading
from .model import FEATURE_LAYER, LOGITS_LAYER

__all__ = ["class_activation_maps", "grad_cam"]

#: What each layer keyword names, for the message when a model has no such layer.
_ROLES = {
    "feature_layer": "the layer whose (batch, h, w, channels) maps to weigh, for CAM those that "
    "global average pooling averages (build_cam_cnn names it 'cam_features')",
    "logits_layer": "the Dense layer that gives the logits (build_cam_cnn names it 'cam_logits')",
}


def _find_layer(model, layer, keyword: str) -> keras.layers.Layer:
    """The top-level layer of `model` named `layer` (or `layer` itself), or a ValueError that
    names it, lists the model's layers and says what to pass."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    name = getattr(layer, "name", layer)
    for item in model.layers:
        if item is layer or item.name == name:
            return item
    names = ", ".join(repr(item.name) for item in model.layers)
    raise ValueError(
        f"model {model.name!r} has no layer {name!r}; its layers are {names}. Pass {keyword}= "
        f"the name of {_ROLES[keyword]}."
    )


def _image_input(model) -> keras.KerasTensor:
    """The image input of a functional or Sequential `model`, from which its layers' outputs
    can be read."""
    inputs = getattr(model, "inputs", None) if model.built else None
    if not inputs or len(inputs) != 1:
        raise ValueError(
            f"model {model.name!r} must be a functional or Sequential model built on one "
            "keras.Input (the image), so that its layers' outputs can be read; build a "
            "subclassed model as a functional one."
        )
    return inputs[0]


def _check_images(images, expected: tuple) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        raise ValueError(
            f"images must have shape (n, height, width, channels), got {images.shape}: for one "
            "image pass image[None]; for single-channel images without a channel axis pass "
            "images[..., None]."
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (n, height, width, channels), got {images.shape}."
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images must be floats (as the model was trained on, e.g. uint8 images / 255), "
            f"got dtype {images.dtype}."
        )
    if any(e is not None and e != a for e, a in zip(expected, images.shape[1:], strict=True)):
        raise ValueError(f"images have shape {images.shape[1:]} each; the model takes {expected}.")
    return images.astype(np.float32, copy=False)


def _check_class_index(class_index, n: int, classes: int) -> np.ndarray:
    """One class per image, or -1 (the predicted class) for each when `class_index` is None."""
    if class_index is None:
        return np.full(n, -1, np.int32)
    chosen = np.asarray(class_index)
    if chosen.ndim == 0:
        chosen = np.full(n, chosen)
    if chosen.shape != (n,) or not np.issubdtype(chosen.dtype, np.integer):
        raise ValueError(
            f"class_index must be None, an int or {n} ints of shape ({n},), got {class_index!r}."
        )
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= classes):
        raise ValueError(
            f"class_index must be in [0, {classes}), got values {np.unique(chosen)[:5].tolist()}."
        )
    return chosen.astype(np.int32)


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")


def _contrast(matrix):
    """Each class's column minus the mean of the other columns: ``(..., C)`` to ``(..., C)``."""
    classes = matrix.shape[-1]
    if classes < 2:
        return matrix
    total = tf.reduce_sum(matrix, axis=-1, keepdims=True)
    return matrix - (total - matrix) / (classes - 1)


def _class_weights(kernel, chosen):
    """``(B, K)`` weights of each image's class: columns of the kernel, or for a one-logit
    (sigmoid) head ``w`` for class 1 and ``-w`` for class 0 (its logit for class 0 is ``-z``)."""
    if kernel.shape[1] == 1:
        sign = tf.where(chosen == 1, 1.0, -1.0)
        return sign[:, None] * kernel[:, 0][None, :]
    return tf.gather(tf.transpose(kernel), chosen)


def _chosen_or_predicted(which, logits):
    """`which` where it is a class, each image's predicted class where it is -1 (argmax of the
    logits; for a one-logit head, 1 when the logit is > 0)."""
    if logits.shape[1] == 1:
        predicted = tf.cast(logits[:, 0] > 0, tf.int32)
    else:
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
    return tf.where(which < 0, predicted, which)


def _upsample(maps, size):
    """``(B, h, w)`` maps resized bilinearly (half-pixel centres) to ``(B, H, W)``."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]


def _cam_step(extractor, dense, contrast: bool, size: tuple):
    """Features and logits in one forward pass, the class weights, the contraction over
    channels and the upsampling, so that a CAM costs little more than a forward pass."""

    def step(x, which):
        kernel = tf.cast(dense.kernel, tf.float32)  # read now: the weights may have changed
        bias = tf.cast(dense.bias, tf.float32) if dense.use_bias else 0.0
        features = tf.cast(extractor(x, training=False), tf.float32)  # (B, h, w, K)
        logits = tf.reduce_mean(features, axis=(1, 2)) @ kernel + bias
        which = _chosen_or_predicted(which, logits)
        weights = _class_weights(_contrast(kernel) if contrast else kernel, which)  # (B, K)
        maps = tf.einsum("bhwk,bk->bhw", features, weights)
        return _upsample(maps, size), logits

    return step


def _grad_step(extractor, contrast: bool, size: tuple):
    """One forward and one backward pass: the maps weighed by their mean gradients."""

    def step(x, which):
        with tf.GradientTape() as tape:
            tape.watch(x)  # records the pass even through frozen (non-trainable) layers
            features, logits = extractor(x, training=False)
            logits = tf.cast(logits, tf.float32)
            which = _chosen_or_predicted(which, logits)
            if logits.shape[1] == 1:
                target = tf.where(which == 1, 1.0, -1.0) * logits[:, 0]
            else:
                target = tf.gather(_contrast(logits) if contrast else logits, which, batch_dims=1)
            total = tf.reduce_sum(target)  # each image's logit depends on that image only
        grads = tape.gradient(total, features)
        if grads is None:
            raise ValueError("the logits do not depend on the feature layer's maps.")
        alpha = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2))  # (B, K)
        maps = tf.einsum("bhwk,bk->bhw", tf.cast(features, tf.float32), alpha)
        return tf.nn.relu(_upsample(maps, size)), logits

    return step


# Per-model compiled steps (one per kind, layers, contrast and image shape), kept outside the
# model: an attribute set on a Keras model would be tracked as part of it, and a weak key lets
# the model go when nothing else holds it.
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model, key: tuple, shape: tuple, make):
    """The step `make()` for `model` and `key`, compiled once for images of `shape`
    ``(height, width, channels)`` and any batch size."""
    steps = _STEPS.setdefault(model, {})
    if (*key, shape) not in steps:
        signature = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int32)]
        steps[(*key, shape)] = tf.function(make(), input_signature=signature)
    return steps[(*key, shape)]


def _in_batches(step, images: np.ndarray, chosen: np.ndarray, batch_size: int, classes: int):
    """``(maps (n, H, W), logits (n, classes))`` float32, `step` run on each batch."""
    maps, logits = [np.zeros((0, *images.shape[1:3]), np.float32)], [np.zeros((0, classes))]
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        m, z = step(tf.constant(images[batch]), tf.constant(chosen[batch]))
        maps.append(m.numpy())
        logits.append(z.numpy())
    return np.concatenate(maps).astype(np.float32), np.concatenate(logits).astype(np.float32)


@renamed_keywords(layer="feature_layer")
def class_activation_maps(
    model: keras.Model,
    images,
    class_index=None,
    *,
    feature_layer: str | keras.layers.Layer = FEATURE_LAYER,
    logits_layer: str | keras.layers.Layer = LOGITS_LAYER,
    batch_size: int = 64,
    contrast: bool = True,
    return_logits: bool = False,
):
    """Class Activation Maps (Zhou et al., 2016) of a GAP-CNN for a batch of images.

    ``CAM_c(x, y) = sum_k w_k^c f_k(x, y)``, where ``f_k`` are the maps of `feature_layer`
    (those that global average pooling averages) and ``w^c`` the weights of class ``c`` of the
    Dense `logits_layer` (by default relative to the other classes': see `contrast`). The bias
    is not added: it would shift every pixel of a map by the same amount, moving nothing.
    Without it, the mean of a map at the feature resolution plus ``b_c`` is the logit ``z_c``
    (with `contrast`: plus ``b_c - mean_{c' != c} b_{c'}`` is ``z_c - mean_{c' != c} z_{c'}``,
    for two classes the log-odds). One forward pass per batch gives the maps and the logits
    (recomputed from the pooled features, before the Dense layer's activation); one contraction
    over the channels gives the maps, resized bilinearly to the images' size.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential model ending ``feature_layer → GlobalAveragePooling2D →
        (Dropout) → logits_layer``, as `~mitdeeplearning.xray.build_cam_cnn` builds it: two or
        more logits (softmax) or one (sigmoid).
    images : float array of shape (n, height, width, channels)
        As the model takes them. A rank-3 array is refused rather than guessed at (one image
        ``(H, W, C)`` or a batch ``(N, H, W)``): pass ``image[None]`` or ``images[..., None]``.
    class_index : None, int or int array of shape (n,)
        The class to map: None maps each image's predicted class (argmax of the logits; for a
        one-logit head, 1 when the logit is > 0).
    feature_layer : str or keras.layers.Layer, default "cam_features"
        The layer (or its name) whose ``(batch, h, w, K)`` maps the pooling averages. It was
        called ``layer`` before (that name still works and warns once).
    logits_layer : str or keras.layers.Layer, default "cam_logits"
        The Dense layer (or its name) whose kernel ``(K, classes)`` weighs the pooled features.
    batch_size : int, default 64
        Images per forward pass.
    contrast : bool, default True
        Weigh by ``w^c - mean_{c' != c} w^{c'}``, the part of the weights that the softmax
        depends on (see the module's notes: raw softmax weights can carry any common offset,
        and then the raw map points anywhere). False: Zhou's raw ``w^c``. A one-logit head is
        the same either way (``w`` and ``-w``).
    return_logits : bool, default False
        Also return the logits ``(n, classes)`` (``(n, 1)`` for a one-logit head) of the same
        forward pass, e.g. for the probabilities to show with the maps.

    Returns
    -------
    cams : float32 array of shape (n, height, width)
        Signed maps (positive: evidence for the class), on the logit's scale.
    logits : float32 array of shape (n, classes), only if `return_logits`

    Raises
    ------
    ValueError
        If the model has no such layers (the message lists the layers it has), the feature
        layer's output is not 4-D with as many channels as the Dense layer takes, or the
        images, class_index or batch_size are malformed.

    See Also
    --------
    grad_cam : the same picture from gradients, for models without the GAP ending.
    mitdeeplearning.xray.localisation : scores of the maps against ground truth.

    Examples
    --------
    >>> from mitdeeplearning.xray import build_cam_cnn
    >>> model = build_cam_cnn((64, 64, 1), filters=(8, 16), seed=0)
    >>> images = np.random.default_rng(0).random((5, 64, 64, 1), dtype=np.float32)
    >>> cams, logits = class_activation_maps(model, images, class_index=1, return_logits=True)
    >>> cams.shape, cams.dtype, logits.shape
    ((5, 64, 64), dtype('float32'), (5, 2))
    """
    refuse_during_grading("xray.class_activation_maps")
    _check_batch_size(batch_size)
    features = _find_layer(model, feature_layer, "feature_layer")
    dense = _find_layer(model, logits_layer, "logits_layer")
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(
            f"logits_layer={dense.name!r} is a {type(dense).__name__}; CAM weighs the pooled "
            "features by the kernel of a Dense layer: pass logits_layer= its name."
        )
    image = _image_input(model)
    shape, channels = tuple(features.output.shape), int(dense.kernel.shape[0])
    if len(shape) != 4 or shape[-1] != channels:
        raise ValueError(
            f"feature_layer={features.name!r} outputs shape {shape}; CAM needs (batch, h, w, "
            f"{channels}): the maps that global average pooling averages before "
            f"{dense.name!r}, which takes {channels} features."
        )
    images = _check_images(images, tuple(image.shape[1:]))
    classes = int(dense.kernel.shape[1])  # (K, classes), or (K, 1) for a one-logit head
    chosen = _check_class_index(class_index, len(images), max(2, classes))

    def make():
        extractor = keras.Model(image, features.output)
        return _cam_step(extractor, dense, contrast, images.shape[1:3])

    step = _compiled(model, ("cam", features.name, dense.name, contrast), images.shape[1:], make)
    cams, logits = _in_batches(step, images, chosen, batch_size, classes)
    return (cams, logits) if return_logits else cams


@renamed_keywords(layer="feature_layer")
def grad_cam(
    model: keras.Model,
    images,
    class_index=None,
    *,
    feature_layer: str | keras.layers.Layer = FEATURE_LAYER,
    logits_layer: str | keras.layers.Layer = LOGITS_LAYER,
    batch_size: int = 64,
    contrast: bool = True,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) for a batch of images.

    For each image, with ``A_k`` the maps of `feature_layer` and ``z_c`` the class logit, the
    output of `logits_layer` (by default relative to the other classes' logits, see
    `contrast`): ``alpha_k = mean_xy dz_c / dA_k(x, y)``, and the map is
    ``ReLU(sum_k alpha_k A_k)``, resized bilinearly to the image's size. The ReLU comes after
    the resize, so that on a GAP-CNN the result is exactly
    ``ReLU(class_activation_maps) / (h * w)``. One forward and one backward pass per batch.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential model, as `~mitdeeplearning.xray.build_cam_cnn` builds it
        or any other convolutional one with the layers named below.
    images : float array of shape (n, height, width, channels)
        As the model takes them.
    class_index : None, int or int array of shape (n,)
        The class to explain; None: each image's predicted class.
    feature_layer : str or keras.layers.Layer, default "cam_features"
        The layer (or its name) whose ``(batch, h, w, K)`` maps are weighed, usually the last
        convolution's rectified output. It was called ``layer`` before (that name still works
        and warns once).
    logits_layer : str or keras.layers.Layer, default "cam_logits"
        The layer (or its name) whose output is the logits ``(batch, classes)``, before any
        softmax or sigmoid. A one-logit head maps class 1 with ``z`` and class 0 with ``-z``.
    batch_size : int, default 64
        Images per pass.
    contrast : bool, default True
        Differentiate ``z_c - mean_{c' != c} z_{c'}`` (two classes: the log-odds), which does
        not depend on a common offset of the logits; False: the raw logit ``z_c``, as
        Selvaraju et al. A one-logit head uses ``z`` and ``-z`` either way.

    Returns
    -------
    float32 array of shape (n, height, width)
        Non-negative maps (in units of logit per feature, not comparable across models).

    Raises
    ------
    ValueError
        If the model has no such layers (the message lists the layers it has), the feature
        layer's output is not 4-D, the logits layer's output is not 2-D logits (a softmax or
        sigmoid activation is refused), or the images, class_index or batch_size are
        malformed.

    Examples
    --------
    A model that `build_cam_cnn` did not build, read by the names of its layers:

    >>> inputs = keras.Input((32, 32, 3))
    >>> maps = keras.layers.Conv2D(8, 3, activation="relu", name="last_conv")(inputs)
    >>> pooled = keras.layers.GlobalAveragePooling2D()(maps)
    >>> other = keras.Model(inputs, keras.layers.Dense(10, name="scores")(pooled))
    >>> images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    >>> grad_cam(other, images, feature_layer="last_conv", logits_layer="scores").shape
    (4, 32, 32)
    """
    refuse_during_grading("xray.grad_cam")
    _check_batch_size(batch_size)
    features = _find_layer(model, feature_layer, "feature_layer")
    head = _find_layer(model, logits_layer, "logits_layer")
    activation = getattr(head, "activation", None)
    if activation not in (None, keras.activations.linear):
        raise ValueError(
            f"logits_layer={head.name!r} applies the activation {activation.__name__!r}; "
            "grad_cam differentiates the logits: pass logits_layer= a layer whose output is "
            "the logits (before any softmax or sigmoid)."
        )
    image = _image_input(model)
    shape, logits_shape = tuple(features.output.shape), tuple(head.output.shape)
    if len(shape) != 4 or len(logits_shape) != 2:
        raise ValueError(
            f"grad_cam needs 4-D maps (batch, h, w, channels) from feature_layer="
            f"{features.name!r} and 2-D logits (batch, classes) from logits_layer="
            f"{head.name!r}; got shapes {shape} and {logits_shape}."
        )
    images = _check_images(images, tuple(image.shape[1:]))
    classes = int(logits_shape[1])
    chosen = _check_class_index(class_index, len(images), max(2, classes))

    def make():
        extractor = keras.Model(image, [features.output, head.output])
        return _grad_step(extractor, contrast, images.shape[1:3])

    step = _compiled(model, ("grad", features.name, head.name, contrast), images.shape[1:], make)
    return _in_batches(step, images, chosen, batch_size, classes)[0]
