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

## Which models

The structure is found by walking the model's layers, for functional models (through the
graph: any branching before the pooling is fine), `keras.Sequential` models, and subclassed
models whose ``call`` applies their layers in the order `model.layers` lists them (the order
they were assigned in ``__init__``), checked once against the model's own output. A subclassed
model that does anything else must be rebuilt as a functional model. Images are channels-last.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

_CONV = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)
# Identity at inference, or a reshape of a (batch, k) vector: allowed between GAP and Dense.
_VECTOR_PASS = (
    keras.layers.Dropout,
    keras.layers.AlphaDropout,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
    keras.layers.Flatten,
    keras.layers.Reshape,
)
# Pixel-wise layers that follow a convolution; Grad-CAM's default layer is the last of them.
_PIXELWISE = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.Identity,
)


@dataclasses.dataclass
class _Plan:
    """How to run one model for CAM or Grad-CAM; built once per model and layer, then cached.

    `run(x)` gives ``(features (B, h, w, K), head input)``: for CAM the head input is None (the
    logits come from the pooled features); for Grad-CAM it is what `logits` maps to the
    logits, and `run` must be called under a `tf.GradientTape`.
    """

    run: Callable
    logits: Callable | None
    dense: keras.layers.Dense | None
    input_shape: tuple | None
    layer_name: str
    chain: list | None = None  # a subclassed model read as a chain, until it is checked
    checked: bool = True


# Per-model plans, kept outside the models: an attribute set on a Keras model would be tracked
# as part of it (the feature extractor's layers would be saved twice).
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_layers(model) -> tuple[str, list]:
    """``("graph", layers)`` for a functional model, ``("chain", layers)`` otherwise."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        if not model.built:
            raise ValueError(
                f"Sequential model {model.name!r} has no weights yet: give it a keras.Input "
                "or call it on a batch first."
            )
        return "chain", list(model.layers)
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:  # a subclassed model
        inputs = outputs = None
    if inputs:
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
                "expected one image input and one output."
            )
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        return "graph", layers
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet: call it on a batch first.")
    return "chain", list(model.layers)


def _has_conv(layer) -> bool:
    """Whether `layer` is, or (as a nested model or layer) contains, a 2-D convolution."""
    if isinstance(layer, _CONV):
        return True
    inner = layer._flatten_layers(include_self=False) if hasattr(layer, "_flatten_layers") else ()
    return any(isinstance(sub, _CONV) for sub in inner)


def _find_layer(layers: list, layer) -> int:
    names = [item.name for item in layers]
    if isinstance(layer, str):
        if layer in names:
            return names.index(layer)
    else:
        for i, item in enumerate(layers):
            if item is layer:
                return i
    shown = ", ".join(repr(n) for n in names[-12:])
    raise ValueError(
        f"layer={getattr(layer, 'name', layer)!r} is not one of the model's top-level layers "
        f"(the last ones are {shown})."
    )


def _feeds(layers: list, mode: str, source: int, target: int) -> bool:
    """Whether layer `target` reads the output of layer `source`."""
    if mode == "chain":
        return target == source + 1
    return layers[target].input is layers[source].output


def _input_shape(model) -> tuple | None:
    try:
        return tuple(model.inputs[0].shape[1:])
    except (AttributeError, TypeError, IndexError):
        return None


def _cam_plan(model, layer) -> _Plan:
    mode, layers = _model_layers(model)
    pools = [
        i for i, item in enumerate(layers) if isinstance(item, keras.layers.GlobalAveragePooling2D)
    ]
    if layer is not None:
        source = _find_layer(layers, layer)
        pools = [i for i in pools if i > source and _feeds(layers, mode, source, i)]
        if not pools:
            raise ValueError(
                f"layer {layers[source].name!r} does not feed a GlobalAveragePooling2D layer: "
                "CAM weighs the maps that global average pooling averages (grad_cam takes any "
                "convolution layer)."
            )
    if not pools:
        raise ValueError(
            f"class_activation_maps needs a model that ends convolution → "
            f"GlobalAveragePooling2D → Dense; {model.name!r} has no GlobalAveragePooling2D "
            "layer (use grad_cam for other models)."
        )
    g = pools[-1]
    pool = layers[g]
    if getattr(pool, "data_format", "channels_last") != "channels_last":
        raise ValueError(
            f"GlobalAveragePooling2D {pool.name!r} is channels_first; expected channels_last."
        )
    if not any(_has_conv(item) for item in layers[:g]):
        raise ValueError(
            f"expected a convolution layer (Conv2D, SeparableConv2D, ...) before the "
            f"GlobalAveragePooling2D layer {pool.name!r} of {model.name!r}; found none, so "
            "there are no feature maps to weigh."
        )

    dense, current = None, g
    for j in range(g + 1, len(layers)):
        if not _feeds(layers, mode, current, j):
            continue
        if isinstance(layers[j], keras.layers.Dense):
            dense = layers[j]
            break
        if isinstance(layers[j], _VECTOR_PASS):
            current = j
            continue
        if mode == "chain":
            break
    if dense is None:
        raise ValueError(
            f"expected a Dense layer reading the pooled features of {pool.name!r} (only "
            f"Dropout, Flatten or Reshape between them) in {model.name!r}; found none."
        )
    channels = int(dense.kernel.shape[0])

    if mode == "graph":
        features = pool.input
        if features.shape[-1] is not None and features.shape[-1] != channels:
            raise ValueError(
                f"the pooled features have {features.shape[-1]} channels but "
                f"{dense.name!r} takes {channels}."
            )
        extractor = keras.Model(model.inputs[0], features)
        return _Plan(
            run=lambda x: (extractor(x, training=False), None),
            logits=None,
            dense=dense,
            input_shape=_input_shape(model),
            layer_name=layers[g - 1].name if layer is None else layers[source].name,
        )
    before = layers[:g]

    def run(x):
        for item in before:
            x = item(x, training=False)
        return x, None

    return _Plan(
        run=run,
        logits=None,
        dense=dense,
        input_shape=_input_shape(model),
        layer_name=before[-1].name,
        chain=None if isinstance(model, keras.Sequential) else layers,
        checked=isinstance(model, keras.Sequential),
    )


def _linear(activation) -> bool:
    return activation is None or activation is keras.activations.linear


def _logits_of(layers: list, mode: str, model) -> tuple[int | None, Callable]:
    """Where the logits come from: ``(index of the layer whose input to read, how to map it)``,
    or ``(None, identity)`` when the model's output already is the logits.

    A final Dense with an activation is undone by reading its input and applying its kernel
    and bias; a final Softmax layer, or Activation("softmax" or "sigmoid"), by reading its
    input.
    """
    last = len(layers) - 1
    if mode == "graph" and layers[last].output is not model.outputs[0]:
        return None, lambda h: h
    final = layers[last]
    if isinstance(final, keras.layers.Dense) and not _linear(final.activation):

        def affine(h):
            h = keras.ops.matmul(h, final.kernel)
            return h + final.bias if final.use_bias else h

        return last, affine
    squash = (keras.activations.softmax, keras.activations.sigmoid)
    if isinstance(final, keras.layers.Softmax) or (
        isinstance(final, keras.layers.Activation) and final.activation in squash
    ):
        return last, lambda h: h
    return None, lambda h: h


def _grad_plan(model, layer) -> _Plan:
    mode, layers = _model_layers(model)
    if layer is not None:
        target = _find_layer(layers, layer)
    else:
        convs = [i for i, item in enumerate(layers) if _has_conv(item)]
        if not convs:
            raise ValueError(
                f"grad_cam needs a convolution layer (Conv2D, SeparableConv2D, ...); "
                f"{model.name!r} has none at its top level. Pass layer= a layer with 4-D output."
            )
        target = convs[-1]
        for j in range(target + 1, len(layers)):
            if isinstance(layers[j], _PIXELWISE) and _feeds(layers, mode, target, j):
                target = j
            elif mode == "chain" or _feeds(layers, mode, target, j):
                break
    head, to_logits = _logits_of(layers, mode, model)
    if head is not None and head <= target:
        head, to_logits = None, (lambda h: h)

    if mode == "graph":
        features = layers[target].output
        if len(features.shape) != 4:
            raise ValueError(
                f"grad_cam needs feature maps of shape (batch, height, width, channels); layer "
                f"{layers[target].name!r} outputs shape {tuple(features.shape)}."
            )
        source = model.outputs[0] if head is None else layers[head].input
        extractor = keras.Model(model.inputs[0], [features, source])

        def run(x):
            return tuple(extractor(x, training=False))

    else:
        stop = len(layers) if head is None else head

        def run(x):
            maps = None
            for i, item in enumerate(layers[:stop]):
                x = item(x, training=False)
                if i == target:
                    maps = x
            return maps, x

    return _Plan(
        run=run,
        logits=to_logits,
        dense=None,
        input_shape=_input_shape(model),
        layer_name=layers[target].name,
        chain=layers if mode == "chain" and not isinstance(model, keras.Sequential) else None,
        checked=not (mode == "chain" and not isinstance(model, keras.Sequential)),
    )


def _plan(model, kind: str, layer) -> _Plan:
    key = (kind, getattr(layer, "name", layer))
    plans = _PLANS.setdefault(model, {})
    if key not in plans:
        plans[key] = _cam_plan(model, layer) if kind == "cam" else _grad_plan(model, layer)
    return plans[key]


def _check_chain(model, plan: _Plan, x) -> None:
    """A subclassed model is read as the chain of its layers: check once that the chain gives
    the model's own output (possibly before a final softmax or sigmoid)."""
    expected = model(x, training=False)
    if isinstance(expected, list | tuple | dict):
        raise ValueError(f"model {model.name!r} returns several outputs; expected one.")
    expected = np.asarray(expected)
    y = x
    for item in plan.chain:
        y = item(y, training=False)
    y = np.asarray(y, dtype=np.float64)
    squashed = np.asarray(keras.ops.softmax(y)) if y.shape[-1] > 1 else 1 / (1 + np.exp(-y))
    for candidate in (y, squashed):
        if candidate.shape == expected.shape and np.allclose(candidate, expected, 1e-4, 1e-5):
            plan.checked = True
            return
    names = [item.name for item in plan.chain]
    raise ValueError(
        f"could not read the subclassed model {model.name!r} as the chain of its layers "
        f"{names}: its call does something else (branches, reused layers or other operations). "
        "Build it as a functional or Sequential model."
    )


def _check_images(images, plan: _Plan) -> np.ndarray:
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
    expected = plan.input_shape
    if expected is not None and any(
        e is not None and e != a for e, a in zip(expected, images.shape[1:], strict=True)
    ):
        raise ValueError(f"images have shape {images.shape[1:]} each; the model takes {expected}.")
    return images.astype(np.float32, copy=False)


def _check_class_index(class_index, n: int, classes: int) -> np.ndarray | None:
    if class_index is None:
        return None
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


def _predicted(logits):
    if logits.shape[1] == 1:
        return tf.cast(logits[:, 0] > 0, tf.int32)
    return tf.argmax(logits, axis=1, output_type=tf.int32)


def _upsample(maps, size):
    """``(B, h, w)`` maps resized bilinearly (half-pixel centres) to ``(B, H, W)``."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]


# Per-model compiled CAM steps (one per contrast setting and image size), kept outside the model.
_CAM_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cam_step(model, plan: _Plan, contrast: bool, shape: tuple):
    """One compiled step: features and logits in one forward pass, the class weights, the
    contraction over channels and the upsampling, so a CAM costs little more than a forward
    pass. ``which`` holds a class per image, or -1 for the predicted class. Traced once per
    image shape ``(height, width, channels)``, for any batch size."""
    steps = _CAM_STEPS.setdefault(model, {})
    key = (id(plan), contrast, shape)
    size = shape[:2]
    if key not in steps:
        signature = [
            tf.TensorSpec((None, *shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]

        @tf.function(input_signature=signature)
        def step(x, which):
            kernel = tf.cast(plan.dense.kernel, tf.float32)  # read now: weights may change
            bias = tf.cast(plan.dense.bias, tf.float32) if plan.dense.use_bias else 0.0
            features, _ = plan.run(x)
            features = tf.cast(features, tf.float32)  # (B, h, w, K)
            logits = tf.reduce_mean(features, axis=(1, 2)) @ kernel + bias
            which = tf.where(which < 0, _predicted(logits), which)
            weights = _class_weights(_contrast(kernel) if contrast else kernel, which)  # (B, K)
            maps = tf.einsum("bhwk,bk->bhw", features, weights)
            return _upsample(maps, size), logits

        steps[key] = step
    return steps[key]


def class_activation_maps(
    model: keras.Model,
    images,
    class_index=None,
    *,
    layer=None,
    batch_size: int = 64,
    contrast: bool = True,
    return_logits: bool = False,
):
    """Class Activation Maps (Zhou et al., 2016) of a GAP-CNN for a batch of images.

    ``CAM_c(x, y) = sum_k w_k^c f_k(x, y)``, where ``f_k`` are the maps that the
    GlobalAveragePooling2D layer averages and ``w^c`` the Dense layer's weights of class ``c``
    (by default relative to the other classes': see `contrast`). The bias is not added: it
    would shift every pixel of a map by the same amount, moving nothing. Without it, the mean
    of a map at the feature resolution plus ``b_c`` is the logit ``z_c`` (with `contrast`: plus
    ``b_c - mean_{c' != c} b_{c'}`` is ``z_c - mean_{c' != c} z_{c'}``, for two classes the
    log-odds). One forward pass per batch gives the maps and the logits (recomputed from the
    pooled features, before the Dense layer's activation); one contraction over the channels
    gives the maps, resized bilinearly to the images' size.

    Parameters
    ----------
    model : keras.Model
        Functional, Sequential or (in the order of its layers) subclassed, ending
        ``convolution ... → GlobalAveragePooling2D → (Dropout) → Dense``: with two or more
        logits (softmax) or one (sigmoid). Found automatically (see the module's notes).
    images : float array of shape (n, height, width, channels)
        As the model takes them. A rank-3 array is refused rather than guessed at (one image
        ``(H, W, C)`` or a batch ``(N, H, W)``): pass ``image[None]`` or ``images[..., None]``.
    class_index : None, int or int array of shape (n,)
        The class to map: None maps each image's predicted class (argmax of the logits; for a
        one-logit head, 1 when the logit is > 0).
    layer : str or keras.layers.Layer, optional
        The layer whose maps the GAP averages, to choose among several GAP layers; by default
        the last GAP layer is used.
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
        If the model has no GlobalAveragePooling2D with a convolution before it and a Dense
        layer after it, or the images, class_index or batch_size are malformed.

    See Also
    --------
    grad_cam : for models without the GAP structure.
    mitdeeplearning.xray.localisation : scores of the maps against ground truth.

    Examples
    --------
    >>> model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)   # doctest: +SKIP
    >>> class_activation_maps(model, np.random.rand(5, 64, 64, 1)).shape  # doctest: +SKIP
    (5, 64, 64)
    """
    _check_batch_size(batch_size)
    plan = _plan(model, "cam", layer)
    images = _check_images(images, plan)
    classes = max(2, int(plan.dense.kernel.shape[1]))  # kernel (K, classes) or (K, 1)
    chosen = _check_class_index(class_index, len(images), classes)

    size = images.shape[1:3]
    step = _cam_step(model, plan, contrast, tuple(images.shape[1:]))
    cams, all_logits = [], []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start : start + batch_size])
        if not plan.checked:
            _check_chain(model, plan, x)
        which = (
            np.full(len(x), -1, np.int32) if chosen is None else chosen[start : start + batch_size]
        )
        maps, logits = step(x, tf.constant(which, tf.int32))
        cams.append(maps.numpy())
        all_logits.append(logits.numpy())
    cams = np.concatenate(cams) if cams else np.zeros((0, *size), np.float32)
    if not return_logits:
        return cams
    logits = np.concatenate(all_logits) if all_logits else np.zeros((0, plan.dense.kernel.shape[1]))
    return cams, logits.astype(np.float32)


def grad_cam(
    model: keras.Model,
    images,
    class_index=None,
    *,
    layer=None,
    batch_size: int = 64,
    contrast: bool = True,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) for a batch of images, for any convolutional model.

    For each image, with ``A_k`` the maps of a convolution layer and ``z_c`` the class
    logit (before any softmax or sigmoid; by default relative to the other classes' logits,
    see `contrast`): ``alpha_k = mean_xy dz_c / dA_k(x, y)``, and the map
    is ``ReLU(sum_k alpha_k A_k)``, resized bilinearly to the image's size. The ReLU comes
    after the resize, so that on a GAP-CNN the result is exactly
    ``ReLU(class_activation_maps) / (h * w)``. One forward and one backward pass per batch.

    Parameters
    ----------
    model : keras.Model
        Functional, Sequential or (in the order of its layers) subclassed; one output of
        logits ``(batch, classes)``, or of probabilities from a final Dense with a softmax or
        sigmoid activation or a final Softmax/Activation layer (then its input gives the
        logits). A one-logit head maps class 1 with ``z`` and class 0 with ``-z``.
    images : float array of shape (n, height, width, channels)
        As the model takes them.
    class_index : None, int or int array of shape (n,)
        The class to explain; None: each image's predicted class.
    layer : str or keras.layers.Layer, optional
        The layer whose (batch, h, w, channels) output is weighed. Default: the last
        convolution, followed through the pixel-wise layers after it (BatchNormalization,
        activation), i.e. its rectified maps, as in the Grad-CAM paper.
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
        If no convolution layer is found (and no `layer` given), the layer's output is not
        4-D, or the images, class_index or batch_size are malformed.
    """
    _check_batch_size(batch_size)
    plan = _plan(model, "grad", layer)
    images = _check_images(images, plan)
    size = images.shape[1:3]
    maps_out = []
    chosen = None
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start : start + batch_size])
        if not plan.checked:
            _check_chain(model, plan, x)
        with tf.GradientTape() as tape:
            tape.watch(x)  # records the pass even through frozen (non-trainable) layers
            features, head = plan.run(x)
            logits = tf.cast(plan.logits(head), tf.float32)
            if len(features.shape) != 4 or len(logits.shape) != 2:
                raise ValueError(
                    f"grad_cam needs 4-D maps from layer {plan.layer_name!r} and 2-D logits "
                    f"(batch, classes); got shapes {tuple(features.shape)} and "
                    f"{tuple(logits.shape)}."
                )
            if chosen is None:
                classes = max(2, int(logits.shape[1]))
                chosen = _check_class_index(class_index, len(images), classes)
            which = _predicted(logits) if chosen is None else chosen[start : start + batch_size]
            which = tf.constant(which)
            if logits.shape[1] == 1:
                target = tf.where(which == 1, 1.0, -1.0) * logits[:, 0]
            else:
                scores = _contrast(logits) if contrast else logits
                target = tf.gather(scores, which, batch_dims=1)
            total = tf.reduce_sum(target)  # each image's logit depends on that image only
        grads = tape.gradient(total, features)
        if grads is None:
            raise ValueError(f"the logits do not depend on layer {plan.layer_name!r}.")
        features = tf.cast(features, tf.float32)
        alpha = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2))  # (B, K)
        maps = tf.einsum("bhwk,bk->bhw", features, alpha)
        maps_out.append(tf.nn.relu(_upsample(maps, size)).numpy())
    if not maps_out:
        return np.zeros((0, *size), np.float32)
    return np.concatenate(maps_out)
