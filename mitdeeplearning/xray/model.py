"""The GAP-CNN: a small convolutional network whose decision can be mapped back onto the image.

Its last convolution block gives ``K`` feature maps; global average pooling (GAP) turns each
into one number, and a single Dense layer weighs those ``K`` numbers into two logits (no
pneumothorax, pneumothorax), as in the original lab. Because nothing but an average sits
between the feature maps and the Dense layer, the same weights applied to the maps pixel by
pixel give a Class Activation Map (Zhou et al., 2016): see `~mitdeeplearning.xray.cam`.

`train_cam_cnn` trains it with `model.fit` on a `tf.data` pipeline: augmentation, class weights
for the imbalance, Adam, the held-out AUC after every epoch, and an optional `tf.distribute`
strategy (several GPUs, or a TPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

#: Default augmentation (``augment=True``); pass a dict to `train_cam_cnn` to change a part.
AUGMENT = {
    "rotation": 7.0,  # degrees, either way
    "shift": 0.06,  # fraction of the image size, in x and y
    "zoom": 0.05,  # scale factor within [1/1.05, 1.05]
    "gamma": 0.25,  # intensity curve x**g, g within [1/1.25, 1.25]
    "flip": True,  # mirror left-right with probability 1/2
}


@keras.saving.register_keras_serializable(package="mitdeeplearning")
class PerImageStandardization(keras.layers.Layer):
    """Maps each image to zero mean and unit standard deviation over its pixels and channels.

    ``(x - mean) / sqrt(var + epsilon)``, per image. An X-ray's brightness and contrast depend
    on the machine and the exposure, not on the disease: inside the model, this makes the
    prediction the same for ``a * x + b`` as for ``x`` (any ``a > 0``), in training and in use.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, images):
        x = keras.ops.cast(images, self.compute_dtype)
        mean = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)
        variance = keras.ops.var(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) / keras.ops.sqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="mitdeeplearning")
class ReflectPadding2D(keras.layers.Layer):
    """Pads height and width by `size` pixels on each side with the mirror image of the edge.

    Zero padding makes every image's border look alike, a feature that is the same in every
    image: the network can use it as a second bias, and the class activation maps then light up
    along the border. Mirroring the edge leaves no such border.
    """

    def __init__(self, size: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, x):
        p = self.size
        return keras.ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = 2 * self.size
        return (
            batch,
            None if height is None else height + grow,
            None if width is None else width + grow,
            channels,
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="mitdeeplearning")
class PositiveClassAUC(keras.metrics.AUC):
    """Approximate ROC AUC of class 1 from two-class logits, summed over the batches of an epoch.

    `keras.metrics.AUC` counts scores in `num_thresholds` bins on [0, 1]. The softmax
    probability of class 1 is a poor score for it: a confident network puts most probabilities
    within 1e-6 of 0 or 1, in the first or last bin, and the area collapses towards 0.5. This
    metric scores ``sigmoid((z1 - z0) / 8)`` instead, the same ranking as the probability
    (``softmax(z)[1] = sigmoid(z1 - z0)``), spread out so logits up to about +/-60 still fall
    in different bins. It runs inside `fit` and under a `tf.distribute` strategy; for the
    exact area use `~mitdeeplearning.xray.roc`, as `train_cam_cnn` does for ``val_auc``.
    """

    def __init__(self, name: str = "auc", num_thresholds: int = 1000, **kwargs) -> None:
        super().__init__(name=name, num_thresholds=num_thresholds, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # The class weights would not change the area (they scale each class's counts), so
        # they are left out.
        y_pred = keras.ops.cast(y_pred, "float32")
        score = keras.ops.sigmoid((y_pred[:, 1] - y_pred[:, 0]) / 8.0)
        return super().update_state(keras.ops.reshape(y_true, (-1,)), score)


def build_cam_cnn(
    input_shape: tuple[int, int, int] = (256, 256, 1),
    *,
    filters: Sequence[int] = (16, 32, 64, 128),
    kernel_size: int = 3,
    convs_per_block: int = 1,
    padding: str = "reflect",
    dropout: float = 0.0,
    seed: int | None = None,
    name: str = "cam_cnn",
) -> keras.Model:
    """A GAP-CNN for two classes: standardise, convolution blocks, GAP, one Dense layer.

    ``image → standardise → [Conv-BN-ReLU] x convs_per_block, per block, 2x2 max-pooling between
    blocks → GlobalAveragePooling2D → (Dropout) → Dense(2)``. The last block's ReLU is the layer
    ``"cam_features"`` (the maps that CAM weighs) and the Dense layer is ``"cam_logits"``.
    BatchNormalization uses momentum 0.9 (Keras' default is 0.99), so the running statistics
    used at inference keep up in runs of a few hundred steps.
    With the defaults at 256 px: feature maps of 32 x 32 x 128, about 98,000 parameters; the
    last block sees 31 x 31 px of the image (the original lab's 5.1M-parameter network, which
    trained too slowly on a CPU, saw more at a 16 x 16 resolution).

    Parameters
    ----------
    input_shape : (int, int, int)
        ``(height, width, channels)`` of the images: square, at least 64 px.
    filters : sequence of int
        Filters of each block's convolutions; one block per entry.
    kernel_size : int
        Size of the (square) convolution kernels, odd.
    convs_per_block : int
        Conv-BN-ReLU layers in each block (2 doubles the receptive field and ~3.5x the cost).
    padding : {"reflect", "zeros"}
        How each convolution sees past the edge. ``"reflect"`` (`ReflectPadding2D`) mirrors
        the image; ``"zeros"`` is Keras' ``padding="same"``, whose border is the same in every
        image: the network can use it as a second bias, and the maps then glow along the
        border (on a toy set, class-1 maps of negatives averaged about 4 at the edges against
        1 inside with zeros, and had no border with reflection).
    dropout : float
        Dropout on the pooled features before the Dense layer, in ``[0, 1)``. It is inactive
        at inference, so CAM is unaffected.
    seed : int, optional
        Seeds the initial weights (through `keras.utils.set_random_seed`).
    name : str
        The model's name.

    Returns
    -------
    keras.Model
        A functional model mapping ``(batch, height, width, channels) float32`` images (any
        scale; ``[0, 1]`` in this lab) to ``(batch, 2) float32`` logits: class 0 is no
        pneumothorax, class 1 pneumothorax; ``softmax(logits)[:, 1]`` is the probability.

    Examples
    --------
    >>> model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)   # doctest: +SKIP
    >>> model(np.zeros((3, 64, 64, 1), "float32")).shape                  # doctest: +SKIP
    TensorShape([3, 2])
    """
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int | np.integer) and d > 0 for d in shape)
    ):
        raise ValueError(
            f"input_shape={input_shape!r}; expected (height, width, channels) positive ints."
        )
    height, width, _ = shape
    if height != width or height < 64:
        raise ValueError(
            f"input_shape={input_shape!r}; expected a square image of at least 64 x 64 px."
        )
    filters = tuple(filters)
    if not filters or not all(isinstance(f, int | np.integer) and f > 0 for f in filters):
        raise ValueError(f"filters={filters!r}; expected a non-empty sequence of positive ints.")
    if not (isinstance(kernel_size, int) and kernel_size >= 1 and kernel_size % 2 == 1):
        raise ValueError(f"kernel_size={kernel_size!r}; expected a positive odd int.")
    if not (isinstance(convs_per_block, int) and convs_per_block >= 1):
        raise ValueError(f"convs_per_block={convs_per_block!r}; expected a positive int.")
    if padding not in ("reflect", "zeros"):
        raise ValueError(f"padding={padding!r}; expected 'reflect' or 'zeros'.")
    if not (isinstance(dropout, int | float) and 0 <= dropout < 1):
        raise ValueError(f"dropout={dropout!r}; expected a number in [0, 1).")
    final = height // 2 ** (len(filters) - 1)
    if final < 4:
        raise ValueError(
            f"filters={filters!r} gives {len(filters)} blocks, which would pool a {height} px "
            f"image down to {final} px; expected at least 4 px of feature map: use fewer "
            "blocks or larger images."
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)

    inputs = keras.Input(shape=shape, name="image")
    x = PerImageStandardization(name="standardise")(inputs)
    for block, count in enumerate(filters, start=1):
        if block > 1:
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        for i in range(1, convs_per_block + 1):
            tag = f"block{block}_{{}}" + ("" if convs_per_block == 1 else str(i))
            if padding == "reflect":
                x = ReflectPadding2D(kernel_size // 2, name=tag.format("pad"))(x)
            x = keras.layers.Conv2D(
                int(count),
                kernel_size,
                padding="valid" if padding == "reflect" else "same",
                use_bias=False,  # the BatchNormalization after it has the offset
                kernel_initializer="he_normal",
                name=tag.format("conv"),
            )(x)
            x = keras.layers.BatchNormalization(momentum=0.9, name=tag.format("bn"))(x)
            last = block == len(filters) and i == convs_per_block
            x = keras.layers.ReLU(name="cam_features" if last else tag.format("relu"))(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(2, name="cam_logits")(x)
    return keras.Model(inputs, logits, name=name)


@dataclasses.dataclass
class TrainResult:
    """What `train_cam_cnn` did.

    `history` holds one value per epoch for each of ``loss`` (weighted cross-entropy, nats)
    and ``auc`` on the augmented training batches, and with held-out data ``val_loss``
    (unweighted) and ``val_auc``.
    """

    history: dict[str, list[float]]
    epochs: int
    seconds: float
    stopped: str
    best_val_auc: float | None = None
    best_epoch: int | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


class _TimeLimit(keras.callbacks.Callback):
    """Stops training after the first epoch that ends past `max_seconds`."""

    def __init__(self, max_seconds: float | None) -> None:
        super().__init__()
        self.max_seconds = max_seconds
        self.start = 0.0
        self.reached = False

    def on_train_begin(self, logs=None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.max_seconds is not None and time.perf_counter() - self.start >= self.max_seconds:
            self.reached = True
            self.model.stop_training = True


class _HeldOut(keras.callbacks.Callback):
    """Scores the held-out data after each epoch in one pass: ``val_loss`` (unweighted
    cross-entropy, nats) and the exact ``val_auc`` (scikit-learn, on ``z1 - z0``, which ranks
    like the probability of class 1 without rounding confident ones to 1.0)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int) -> None:
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, batch_size

    def on_epoch_end(self, epoch, logs=None) -> None:
        from sklearn.metrics import roc_auc_score

        logits = self.model.predict(self.images, batch_size=self.batch_size, verbose=0)
        logits = np.asarray(logits, dtype=np.float64)
        log_norm = np.logaddexp(logits[:, 0], logits[:, 1])
        loss = float(np.mean(log_norm - logits[np.arange(len(logits)), self.labels]))
        auc = float(roc_auc_score(self.labels, logits[:, 1] - logits[:, 0]))
        if logs is not None:
            logs.update(val_loss=loss, val_auc=auc)


class _KeepBest(keras.callbacks.Callback):
    """Remembers the weights of the best held-out AUC and puts them back at the end."""

    def __init__(self, restore: bool) -> None:
        super().__init__()
        self.restore = restore
        self.best, self.best_epoch, self.last_epoch, self.weights = -math.inf, None, None, None

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.last_epoch = epoch + 1
        auc = (logs or {}).get("val_auc")
        if auc is not None and math.isfinite(auc) and auc > self.best:
            self.best, self.best_epoch = float(auc), epoch + 1
            if self.restore:
                self.weights = [w.copy() for w in self.model.get_weights()]

    def on_train_end(self, logs=None) -> None:
        if self.weights is not None and self.best_epoch != self.last_epoch:
            self.model.set_weights(self.weights)


class _CustomLoss(keras.losses.Loss):
    """A user's ``loss(labels, logits)`` as a Keras loss. Keras hands a loss its labels cast to
    float32; this passes them on as the ``(batch,) int32`` class ids they are."""

    def __init__(self, function: Callable) -> None:
        super().__init__(name=getattr(function, "__name__", "custom_loss"))
        self.function = function

    def call(self, y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        return self.function(labels, y_pred)


def _check_images(images, name: str, model: keras.Model) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{name} must be a float array of shape (n, height, width, channels), got "
            f"{images.dtype} of shape {images.shape} (e.g. images[..., None] / 255 for uint8 "
            "images without a channel axis)."
        )
    expected = tuple(model.inputs[0].shape[1:])
    if any(e is not None and e != a for e, a in zip(expected, images.shape[1:], strict=True)):
        raise ValueError(
            f"{name} has images of shape {images.shape[1:]}; the model takes {expected}."
        )
    return images.astype(np.float32, copy=False)


def _check_labels(labels, name: str, count: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"{name} must be {count} class ids 0/1 of shape ({count},), got shape "
            f"{labels.shape} (for one-hot labels pass labels.argmax(1))."
        )
    return labels.astype(np.int32)


def class_weights(labels, class_weight="balanced") -> dict[int, float]:
    """The loss weight of each class: ``"balanced"`` gives ``n / (2 * n_c)``, as scikit-learn.

    With 10% positives that is 5.0 for a positive and 0.56 for a negative, so both classes
    carry half of the loss; ``None`` weighs every example 1.
    """
    labels = np.asarray(labels)
    if class_weight is None:
        return {0: 1.0, 1: 1.0}
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight={class_weight!r}; expected 'balanced', None or {{0: w0, 1: w1}}."
            )
        counts = np.bincount(labels, minlength=2)
        if counts.min() == 0:
            raise ValueError(
                f"labels hold only class {int(np.argmax(counts))}: a classifier needs "
                "examples of both classes to learn."
            )
        return {c: len(labels) / (2.0 * counts[c]) for c in (0, 1)}
    if not isinstance(class_weight, Mapping) or set(class_weight) != {0, 1}:
        raise ValueError(
            f"class_weight={class_weight!r}; expected 'balanced', None or {{0: w0, 1: w1}}."
        )
    weights = {int(c): float(w) for c, w in class_weight.items()}
    if not all(w > 0 and math.isfinite(w) for w in weights.values()):
        raise ValueError(f"class_weight={class_weight!r}; weights must be positive numbers.")
    return weights


def _augment_settings(augment) -> dict[str, float]:
    if augment is True:
        return dict(AUGMENT)
    if augment is False or augment is None:
        return {"rotation": 0.0, "shift": 0.0, "zoom": 0.0, "gamma": 0.0, "flip": False}
    if isinstance(augment, Mapping):
        unknown = set(augment) - set(AUGMENT)
        if unknown:
            raise ValueError(
                f"augment has unknown keys {sorted(unknown)}; expected some of {sorted(AUGMENT)}."
            )
        settings = {**AUGMENT, **augment}
        for key in ("rotation", "shift", "zoom", "gamma"):
            if not (isinstance(settings[key], int | float) and settings[key] >= 0):
                raise ValueError(f"augment[{key!r}]={settings[key]!r} must be a number >= 0.")
        return settings
    raise ValueError(f"augment={augment!r}; expected True, False or a dict like {AUGMENT}.")


def augment_batch(images, seed, settings: Mapping[str, float] = AUGMENT):
    """Randomly transform a batch of images, each differently, reproducibly for one `seed`.

    One affine resampling (rotation, shift and zoom about the centre, bilinear, edges
    repeated), a gamma curve, and a left-right mirror.

    * Brightness and contrast changes (``a * x + b``) would do nothing: the model standardises
      each image. A gamma curve ``x ** g`` changes the contrast of dark against bright parts in a
      way the standardisation does not undo (applied to the image scaled to [0, 1] by its own
      minimum and maximum, then scaled back).
    * Mirroring is on by default: a pneumothorax occurs on either side, so the mirror image of
      a case is as plausible a case, with the same label (CheXNet trained with flips too). The
      heart ends up on the wrong side, but it says nothing about the label. Turn it off with
      ``augment={"flip": False}`` where laterality matters (markers, text).

    Parameters
    ----------
    images : float tensor of shape (batch, height, width, channels)
    seed : int tensor of shape (2,)
        For the stateless random draws (`tf.random.stateless_uniform`).
    settings : dict
        As `AUGMENT`.

    Returns
    -------
    float32 tensor of the same shape.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    u = tf.random.stateless_uniform((batch, 6), seed=seed, minval=-1.0, maxval=1.0)

    if settings["gamma"]:
        gamma = tf.exp(u[:, 4] * math.log1p(settings["gamma"]))[:, None, None, None]
        low = tf.reduce_min(images, axis=(1, 2, 3), keepdims=True)
        span = tf.maximum(tf.reduce_max(images, axis=(1, 2, 3), keepdims=True) - low, 1e-6)
        images = low + span * tf.pow((images - low) / span, gamma)

    if settings["rotation"] or settings["shift"] or settings["zoom"]:
        angle = u[:, 0] * settings["rotation"] * math.pi / 180.0
        tx, ty = u[:, 1] * settings["shift"] * width, u[:, 2] * settings["shift"] * height
        zoom = tf.exp(u[:, 3] * math.log1p(settings["zoom"]))
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
        # Each output pixel (x, y) reads the input at R(angle) (p - c) / zoom + c - t.
        transforms = tf.stack(
            [
                cos,
                -sin,
                cx - tx - (cos * cx - sin * cy),
                sin,
                cos,
                cy - ty - (sin * cx + cos * cy),
                tf.zeros_like(cos),
                tf.zeros_like(cos),
            ],
            axis=1,
        )
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="NEAREST",
        )

    if settings["flip"]:
        mirror = (u[:, 5] < 0)[:, None, None, None]
        images = tf.where(mirror, tf.reverse(images, axis=[2]), images)
    return images


def make_training_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    batch_size: int,
    augment: Mapping[str, float] | None,
    seed: int = 0,
) -> tf.data.Dataset:
    """An endless `tf.data` stream of ``(images, labels, sample_weights)`` batches.

    The examples are reshuffled every epoch (ceil(n / batch_size) batches); batch ``k`` is
    augmented with the seed ``(seed, k)``, so every epoch sees new variants and a run is
    reproducible. The images stay in one tensor and batches are gathered by index, so the
    shuffle does not hold a second copy of the data.
    """
    x = tf.convert_to_tensor(images, tf.float32)
    y = tf.convert_to_tensor(labels, tf.int32)
    w = tf.convert_to_tensor(weights, tf.float32)
    order = (
        tf.data.Dataset.range(len(images))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
    )
    active = augment is not None and any(augment.values())

    def gather(index, step):
        batch = tf.gather(x, index)
        if active:
            batch = augment_batch(batch, tf.stack([tf.cast(seed, tf.int64), step]), augment)
        return batch, tf.gather(y, index), tf.gather(w, index)

    dataset = tf.data.Dataset.zip(order, tf.data.Dataset.counter())
    return dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def train_cam_cnn(
    model: keras.Model,
    images,
    labels,
    *,
    val: tuple | None = None,
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    augment: bool | Mapping[str, float] = True,
    class_weight: str | Mapping[int, float] | None = "balanced",
    loss: Callable | None = None,
    keep_best: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train a two-logit classifier (from `build_cam_cnn`) with `model.fit`.

    The recipe, stable for a BatchNorm network trained from scratch:

    * a `tf.data` pipeline that reshuffles every epoch and augments every batch (`augment_batch`:
      small rotations, shifts, zooms, gamma, left-right mirror);
    * sparse categorical cross-entropy on the logits, each example weighted by its class
      (``"balanced"``: both classes carry half of the loss, so a rare positive class is not
      ignored);
    * Adam at 1e-3 (decoupled weight decay when `weight_decay` > 0), a constant rate;
    * BatchNormalization with momentum 0.9 (`build_cam_cnn`), so its running statistics,
      used at inference, keep up within a short run;
    * the exact held-out AUC after every epoch, and the weights of the best one kept at the
      end (`keep_best`): a noisy last epoch doesn't cost the best model.

    Parameters
    ----------
    model : keras.Model
        Maps ``(batch, height, width, channels)`` images to ``(batch, 2)`` logits; under a
        `strategy`, built inside ``strategy.scope()``. It is (re)compiled here: calling again
        continues from the current weights with a fresh optimizer.
    images : float array of shape (n, height, width, channels)
        Training images, in ``[0, 1]`` in this lab (the model standardises them).
    labels : int array of shape (n,)
        0 (no pneumothorax) or 1 (pneumothorax).
    val : (images, labels), optional
        Held-out data, scored after every epoch (``val_loss``, ``val_auc``).
    epochs : int
        Passes over the training data.
    batch_size : int
        Images per step (the global batch under a strategy, split among its replicas).
    learning_rate, weight_decay : float
        For Adam.
    augment : bool or dict
        True: the `AUGMENT` defaults; False: none; a dict overrides some of them, e.g.
        ``{"flip": False}``.
    class_weight : "balanced", None or {0: w0, 1: w1}
        The loss weight of each class (`class_weights`).
    loss : callable, optional
        Your own loss instead of the weighted cross-entropy: ``loss(labels, logits)`` with a
        batch's ``(batch,) int32`` labels and ``(batch, 2) float32`` logits, returning the mean
        loss (or one loss per example), written with TensorFlow operations (it runs inside the
        compiled training step). It weighs the classes itself, so `class_weight` must then be
        None. ``history["loss"]`` then records it.
    keep_best : bool
        With `val`, end with the weights of the epoch of best ``val_auc``.
    strategy : tf.distribute.Strategy, optional
        Train under it (e.g. `tf.distribute.MirroredStrategy` for several GPUs). A model built
        under a strategy trains under it anyway.
    max_seconds : float, optional
        Stop after the first epoch that ends this many seconds after the start.
    seed : int
        Seeds the shuffling and the augmentation (the weights are seeded by `build_cam_cnn`).
    progress : bool, optional
        Keras' progress bar; by default on in a notebook or a terminal, off under ``$CI``.
    callbacks : sequence of keras.callbacks.Callback
        More callbacks for `fit`.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If an argument is malformed (shapes, labels not 0/1, only one class), the model does
        not output two logits, or it was not built in `strategy`'s scope.

    Examples
    --------
    >>> model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)  # doctest: +SKIP
    >>> result = train_cam_cnn(model, x, y, val=(x_val, y_val), epochs=5)  # doctest: +SKIP
    >>> result.history["val_auc"][-1]                                       # doctest: +SKIP
    """
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1 or tuple(outputs[0].shape[1:]) != (2,):
        raise ValueError(
            "train_cam_cnn trains functional models with one output of two logits, shape "
            f"(batch, 2), as build_cam_cnn makes; got outputs {outputs}."
        )
    images = _check_images(images, "images", model)
    labels = _check_labels(labels, "labels", len(images))
    if val is not None:
        if not isinstance(val, tuple | list) or len(val) != 2:
            raise ValueError("val must be a pair (images, labels).")
        val_images = _check_images(val[0], "val[0]", model)
        val_labels = _check_labels(val[1], "val[1]", len(val_images))
        if len(np.unique(val_labels)) < 2:
            raise ValueError(
                "val[1] holds only one class: the held-out AUC is undefined without both "
                "positives and negatives."
            )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate={learning_rate!r} must be a positive number.")
    if not (isinstance(weight_decay, int | float) and weight_decay >= 0):
        raise ValueError(f"weight_decay={weight_decay!r} must be a number >= 0.")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds={max_seconds!r} must be a positive number of seconds.")
    if loss is not None:
        if not callable(loss):
            raise ValueError(
                f"loss={loss!r} must be a function loss(labels, logits) returning the mean loss."
            )
        if class_weight is not None:
            raise ValueError(
                f"train_cam_cnn(loss=...) trains with your loss as it is: weigh the classes "
                f"inside it and pass class_weight=None (got class_weight={class_weight!r})."
            )
    settings = _augment_settings(augment)
    weight_of = class_weights(labels, class_weight)
    sample_weights = np.where(labels == 1, weight_of[1], weight_of[0]).astype(np.float32)

    if (
        strategy is not None
        and strategy is not tf.distribute.get_strategy()
        and not all(
            strategy.extended.variable_created_in_scope(getattr(v, "value", v))
            for v in model.weights
        )
    ):
        raise ValueError("Build the model inside `with strategy.scope():` to train it there.")
    strategy = strategy or model.distribute_strategy
    in_notebook = "ipykernel" in sys.modules and not os.environ.get("CI")
    if progress is None:
        progress = in_notebook or (sys.stderr.isatty() and not os.environ.get("CI"))

    with strategy.scope():
        optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay or None)
        model.compile(
            optimizer=optimizer,
            loss=(
                keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                if loss is None
                else _CustomLoss(loss)
            ),
            metrics=[PositiveClassAUC(name="auc")],
        )
    train_data = make_training_dataset(
        images, labels, sample_weights, batch_size=batch_size, augment=settings, seed=seed
    )
    held_out = [] if val is None else [_HeldOut(val_images, val_labels, batch_size)]
    timer = _TimeLimit(max_seconds)
    best = _KeepBest(restore=keep_best and val is not None)
    tic = time.perf_counter()
    history = model.fit(
        train_data,
        epochs=int(epochs),
        steps_per_epoch=math.ceil(len(images) / batch_size),
        shuffle=False,  # the dataset shuffles itself
        callbacks=[keras.callbacks.TerminateOnNaN(), *held_out, timer, best, *callbacks],
        verbose=1 if progress else 0,
    )
    seconds = time.perf_counter() - tic
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    done = len(record.get("loss", []))
    if record.get("loss") and not math.isfinite(record["loss"][-1]):
        stopped = "the loss became NaN or infinite: lower the learning rate"
    elif timer.reached and done < epochs:
        stopped = f"max_seconds={max_seconds} reached"
    elif done < epochs:
        stopped = "stopped by a callback"
    else:
        stopped = "epochs"
    return TrainResult(
        history=record,
        epochs=done,
        seconds=round(seconds, 3),
        stopped=stopped,
        best_val_auc=None if best.best_epoch is None else best.best,
        best_epoch=best.best_epoch,
    )
