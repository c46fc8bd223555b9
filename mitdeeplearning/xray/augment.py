"""Augmentation for the GAP-CNN's training: random small rotations, shifts, zooms, a gamma
curve and left-right mirroring of each batch (`augment_batch`), and the endless, reshuffled,
augmented stream of training batches that `~mitdeeplearning.xray.train_cam_cnn` fits on
(`make_training_dataset`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

__all__ = ["AUGMENT", "augment_batch", "augment_settings", "make_training_dataset"]

#: Default augmentation (``augment=True``); pass a dict to `train_cam_cnn` to change a part.
AUGMENT = {
    "rotation": 7.0,  # degrees, either way
    "shift": 0.06,  # fraction of the image size, in x and y
    "zoom": 0.05,  # scale factor within [1/1.05, 1.05]
    "gamma": 0.25,  # intensity curve x**g, g within [1/1.25, 1.25]
    "flip": True,  # mirror left-right with probability 1/2
}


def augment_settings(augment: bool | Mapping[str, float] | None) -> dict[str, float]:
    """The full settings of an ``augment=`` argument: True gives `AUGMENT`, False or None
    turns every transform off, a dict overrides some of `AUGMENT`'s entries.

    Raises
    ------
    ValueError
        Unknown keys, or a negative or non-numeric strength.

    Examples
    --------
    >>> augment_settings({"flip": False}) == {**AUGMENT, "flip": False}
    True
    >>> augment_settings(False)
    {'rotation': 0.0, 'shift': 0.0, 'zoom': 0.0, 'gamma': 0.0, 'flip': False}
    """
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

    Examples
    --------
    >>> images = np.random.default_rng(0).random((4, 64, 64, 1), dtype=np.float32)
    >>> out = augment_batch(images, tf.constant([0, 1]))
    >>> out.shape, out.dtype.name
    (TensorShape([4, 64, 64, 1]), 'float32')
    >>> bool(np.all(augment_batch(images, tf.constant([0, 1])) == out))   # reproducible
    True
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

    Parameters
    ----------
    images : float array of shape (n, height, width, channels)
    labels : int array of shape (n,)
    weights : float array of shape (n,)
        Each example's weight in the loss.
    batch_size : int
    augment : dict or None
        Settings as `AUGMENT` (see `augment_settings`); None, or all zero, augments nothing.
    seed : int
        Seeds the shuffle and the augmentation.

    Returns
    -------
    tf.data.Dataset
        Of ``(images (batch, height, width, channels) float32, labels (batch,) int32,
        weights (batch,) float32)``; the last batch of an epoch may be smaller.

    Examples
    --------
    >>> x, y = np.zeros((5, 64, 64, 1), np.float32), np.array([0, 1, 0, 1, 0])
    >>> stream = make_training_dataset(x, y, np.ones(5), batch_size=2, augment=None)
    >>> [len(labels) for _, labels, _ in stream.take(4)]
    [2, 2, 1, 2]
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
