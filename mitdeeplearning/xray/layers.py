"""The GAP-CNN's own Keras layers and metric: per-image standardisation, mirror padding, and
an AUC that reads two-class logits.

All three are registered with Keras (``"mitdeeplearning>Name"``), so a model that uses them
saves and loads with `keras.models.load_model` once this module is imported (importing
`~mitdeeplearning.xray.model` does it).
"""

from __future__ import annotations

import keras

from .._lazy import warn_renamed

__all__ = [
    "PerImageStandardisation",
    "PerImageStandardization",
    "PositiveClassAUC",
    "ReflectPadding2D",
]


@keras.saving.register_keras_serializable(package="mitdeeplearning")
class PerImageStandardisation(keras.layers.Layer):
    """Maps each image to zero mean and unit standard deviation over its pixels and channels.

    ``(x - mean) / sqrt(var + epsilon)``, per image. An X-ray's brightness and contrast depend
    on the machine and the exposure, not on the disease: inside the model, this makes the
    prediction the same for ``a * x + b`` as for ``x`` (any ``a > 0``), in training and in use.

    Input: ``(batch, height, width, channels)`` of any float dtype (or ints, cast to the
    layer's compute dtype); output: the same shape in the compute dtype (float32).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[0.0], [1.0]], [[2.0], [3.0]]]], "float32")   # (1, 2, 2, 1)
    >>> [round(float(v), 3) for v in np.ravel(PerImageStandardisation()(x))]
    [-1.342, -0.447, 0.447, 1.342]
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

    Input ``(batch, height, width, channels)``; output ``(batch, height + 2 size, width +
    2 size, channels)``, same dtype.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0, 1, 2], [3, 4, 5]], "float32").reshape(1, 2, 3, 1)
    >>> np.asarray(ReflectPadding2D(1)(x))[0, :, :, 0].astype(int).tolist()
    [[4, 3, 4, 5, 4], [1, 0, 1, 2, 1], [4, 3, 4, 5, 4], [1, 0, 1, 2, 1]]
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

    `update_state` takes ``(batch,)`` int labels 0/1 (or ``(batch, 1)``) and ``(batch, 2)``
    float logits.

    Examples
    --------
    >>> import numpy as np
    >>> auc = PositiveClassAUC()
    >>> _ = auc.update_state(np.array([0, 1, 1]), np.array([[3.0, -3.0], [0.0, 0.5], [-90, 90]]))
    >>> round(float(auc.result()), 3)
    1.0
    """

    def __init__(self, name: str = "auc", num_thresholds: int = 1000, **kwargs) -> None:
        super().__init__(name=name, num_thresholds=num_thresholds, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # The class weights would not change the area (they scale each class's counts), so
        # they are left out.
        y_pred = keras.ops.cast(y_pred, "float32")
        score = keras.ops.sigmoid((y_pred[:, 1] - y_pred[:, 0]) / 8.0)
        return super().update_state(keras.ops.reshape(y_true, (-1,)), score)


@keras.saving.register_keras_serializable(package="mitdeeplearning", name="PerImageStandardization")
class PerImageStandardization(PerImageStandardisation):
    """The old spelling of `PerImageStandardisation`: it still works and warns once.

    Models saved before the rename refer to this name; they load as `PerImageStandardisation`
    layers, without a warning (`from_config`).
    """

    def __init__(self, *args, **kwargs) -> None:
        warn_renamed("PerImageStandardization", "PerImageStandardisation")
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config(cls, config: dict) -> PerImageStandardisation:
        return PerImageStandardisation.from_config(config)
