"""The GAP-CNN: a small convolutional network whose decision can be mapped back onto the image.

Its last convolution block gives ``K`` feature maps; global average pooling (GAP) turns each
into one number, and a single Dense layer weighs those ``K`` numbers into two logits (no
pneumothorax, pneumothorax), as in the original lab. Because nothing but an average sits
between the feature maps and the Dense layer, the same weights applied to the maps pixel by
pixel give a Class Activation Map (Zhou et al., 2016): see `~mitdeeplearning.xray.cam`.

`build_cam_cnn` makes it, from the layers of `~mitdeeplearning.xray.layers`;
`~mitdeeplearning.xray.train_cam_cnn` (`~mitdeeplearning.xray.training`) trains it.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from .._lazy import moved_names
from .layers import PerImageStandardisation, ReflectPadding2D

__all__ = ["FEATURE_LAYER", "LOGITS_LAYER", "build_cam_cnn"]

#: The names `build_cam_cnn` gives the layers that Class Activation Maps read: the last feature
#: maps (the input of global average pooling) and the Dense layer that gives the logits.
FEATURE_LAYER = "cam_features"
LOGITS_LAYER = "cam_logits"

#: Names that lived in this module before the layers, the augmentation and the training moved
#: out: they still work and warn once.
__getattr__ = moved_names(
    __name__,
    {
        "PerImageStandardization": "mitdeeplearning.xray.layers:PerImageStandardisation",
        "PositiveClassAUC": "mitdeeplearning.xray.layers:PositiveClassAUC",
        "AUGMENT": "mitdeeplearning.xray.augment:AUGMENT",
        "augment_batch": "mitdeeplearning.xray.augment:augment_batch",
        "make_training_dataset": "mitdeeplearning.xray.augment:make_training_dataset",
        "TrainResult": "mitdeeplearning.xray.training:TrainResult",
        "class_weights": "mitdeeplearning.xray.training:class_weights",
        "train_cam_cnn": "mitdeeplearning.xray.training:train_cam_cnn",
    },
    globals(),
)


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
    >>> model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)
    >>> model(np.zeros((3, 64, 64, 1), "float32")).shape
    TensorShape([3, 2])
    >>> model.get_layer("cam_features").output.shape
    (None, 16, 16, 32)
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
    x = PerImageStandardisation(name="standardise")(inputs)
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
            x = keras.layers.ReLU(name=FEATURE_LAYER if last else tag.format("relu"))(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(2, name=LOGITS_LAYER)(x)
    return keras.Model(inputs, logits, name=name)
