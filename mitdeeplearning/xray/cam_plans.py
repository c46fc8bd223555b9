"""How to run a model for CAM and Grad-CAM: which layer gives the feature maps, and which
layer turns them into the logits.

A `Plan` says it for one model and one layer; `plan_for` builds it once and keeps it while the
model lives. `~mitdeeplearning.xray.cam` runs the plans.

## Which models

The structure is found by walking the model's layers, for functional models (through the
graph: any branching before the pooling is fine), `keras.Sequential` models, and subclassed
models whose ``call`` applies their layers in the order `model.layers` lists them (the order
they were assigned in ``__init__``), checked once against the model's own output
(`check_chain`). A subclassed model that does anything else must be rebuilt as a functional
model. Images are channels-last.

* CAM needs ``convolution ... → GlobalAveragePooling2D → Dense``, with only layers that
  leave a vector alone (Dropout, Flatten, Reshape) between the pooling and the Dense layer.
* Grad-CAM needs a layer with 4-D output, by default the last convolution followed through
  the pixel-wise layers after it, and finds the logits before a final softmax or sigmoid.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable

import keras
import numpy as np

__all__ = ["Plan", "check_chain", "plan_for"]

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
class Plan:
    """How to run one model for CAM or Grad-CAM; built once per model and layer, then cached.

    Attributes
    ----------
    run : callable
        ``run(x)`` on a ``(B, H, W, C)`` float32 batch gives ``(features, head input)``:
        features ``(B, h, w, K)``; for CAM the head input is None (the logits come from the
        pooled features); for Grad-CAM it is what `logits` maps to the ``(B, classes)``
        logits, and `run` must be called under a `tf.GradientTape`.
    logits : callable or None
        Grad-CAM: the head input to the logits (undoing a final softmax or sigmoid).
    dense : keras.layers.Dense or None
        CAM: the layer whose kernel ``(K, classes)`` weighs the pooled features.
    input_shape : tuple or None
        ``(height, width, channels)`` the model takes, where it says.
    layer_name : str
        The layer whose maps are weighed, for messages.
    chain, checked
        A subclassed model is read as the chain of its layers, which `check_chain` compares
        once with the model's own output (`checked` is then True).
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


def _cam_plan(model, layer) -> Plan:
    """CAM: the maps that the last GlobalAveragePooling2D (or the one `layer` feeds) averages,
    and the Dense layer that weighs them."""
    mode, layers = _model_layers(model)
    g, source = _pooling_layer(model, mode, layers, layer)
    pool = layers[g]
    dense = _dense_after(model, mode, layers, g)
    channels = int(dense.kernel.shape[0])

    if mode == "graph":
        features = pool.input
        if features.shape[-1] is not None and features.shape[-1] != channels:
            raise ValueError(
                f"the pooled features have {features.shape[-1]} channels but "
                f"{dense.name!r} takes {channels}."
            )
        extractor = keras.Model(model.inputs[0], features)
        return Plan(
            run=lambda x: (extractor(x, training=False), None),
            logits=None,
            dense=dense,
            input_shape=_input_shape(model),
            layer_name=layers[g - 1 if source is None else source].name,
        )
    before = layers[:g]

    def run(x):
        for item in before:
            x = item(x, training=False)
        return x, None

    return Plan(
        run=run,
        logits=None,
        dense=dense,
        input_shape=_input_shape(model),
        layer_name=before[-1].name,
        chain=None if isinstance(model, keras.Sequential) else layers,
        checked=isinstance(model, keras.Sequential),
    )


def _pooling_layer(model, mode: str, layers: list, layer) -> tuple[int, int | None]:
    """``(index of the GlobalAveragePooling2D layer, index of `layer` or None)``: the last
    pooling layer, or the last one that `layer` feeds, checked to have a convolution before it."""
    pools = [
        i for i, item in enumerate(layers) if isinstance(item, keras.layers.GlobalAveragePooling2D)
    ]
    source = None
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
    return g, source


def _dense_after(model, mode: str, layers: list, g: int) -> keras.layers.Dense:
    """The Dense layer that reads the pooled features of layer `g`, past layers that leave a
    vector alone (Dropout, Flatten, Reshape)."""
    current = g
    for j in range(g + 1, len(layers)):
        if not _feeds(layers, mode, current, j):
            continue
        if isinstance(layers[j], keras.layers.Dense):
            return layers[j]
        if isinstance(layers[j], _VECTOR_PASS):
            current = j
            continue
        if mode == "chain":
            break
    raise ValueError(
        f"expected a Dense layer reading the pooled features of {layers[g].name!r} (only "
        f"Dropout, Flatten or Reshape between them) in {model.name!r}; found none."
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


def _grad_plan(model, layer) -> Plan:
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

    return Plan(
        run=run,
        logits=to_logits,
        dense=None,
        input_shape=_input_shape(model),
        layer_name=layers[target].name,
        chain=layers if mode == "chain" and not isinstance(model, keras.Sequential) else None,
        checked=not (mode == "chain" and not isinstance(model, keras.Sequential)),
    )


def plan_for(model: keras.Model, kind: str, layer=None) -> Plan:
    """The `Plan` of `model` for ``kind="cam"`` (the maps a GlobalAveragePooling2D averages,
    weighed by the Dense layer after it) or ``kind="grad"`` (a convolution layer's maps and the
    logits, for Grad-CAM); built on first use and kept while the model lives.

    Parameters
    ----------
    model : keras.Model
        Functional, Sequential, or subclassed (read as the chain of its layers).
    kind : {"cam", "grad"}
    layer : str or keras.layers.Layer, optional
        The layer whose maps are weighed; by default the last suitable one.

    Raises
    ------
    ValueError
        The model does not have the structure `kind` needs; the message says what is missing.

    Examples
    --------
    >>> inputs = keras.Input((32, 32, 1))
    >>> features = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    >>> pooled = keras.layers.GlobalAveragePooling2D()(features)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    >>> plan = plan_for(model, "cam")
    >>> plan.layer_name, plan.dense.name, plan.input_shape
    ('conv', 'head', (32, 32, 1))
    >>> plan_for(model, "grad").layer_name
    'conv'
    """
    key = (kind, getattr(layer, "name", layer))
    plans = _PLANS.setdefault(model, {})
    if key not in plans:
        plans[key] = _cam_plan(model, layer) if kind == "cam" else _grad_plan(model, layer)
    return plans[key]


def check_chain(model: keras.Model, plan: Plan, x) -> None:
    """A subclassed model is read as the chain of its layers: check once, on the batch `x`
    ``(B, H, W, C)`` float32, that the chain gives the model's own output (possibly before a
    final softmax or sigmoid), and mark the plan checked.

    Raises
    ------
    ValueError
        The model's ``call`` does something else (branches, reused layers or other
        operations): build it as a functional or Sequential model.
    """
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
