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

Functional, Sequential, and subclassed models that apply their layers in order, channels-last:
`~mitdeeplearning.xray.cam_plans` finds in each the maps to weigh and the weights.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from .cam_plans import Plan, check_chain, plan_for


def _check_images(images, plan: Plan) -> np.ndarray:
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


def _cam_step(model, plan: Plan, contrast: bool, shape: tuple):
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
    plan = plan_for(model, "cam", layer)
    images = _check_images(images, plan)
    classes = max(2, int(plan.dense.kernel.shape[1]))  # kernel (K, classes) or (K, 1)
    chosen = _check_class_index(class_index, len(images), classes)

    size = images.shape[1:3]
    step = _cam_step(model, plan, contrast, tuple(images.shape[1:]))
    cams, all_logits = [], []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start : start + batch_size])
        if not plan.checked:
            check_chain(model, plan, x)
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
    plan = plan_for(model, "grad", layer)
    images = _check_images(images, plan)
    size = images.shape[1:3]
    maps_out = []
    chosen = None
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start : start + batch_size])
        if not plan.checked:
            check_chain(model, plan, x)
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
