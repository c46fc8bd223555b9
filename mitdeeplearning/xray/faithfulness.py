"""Is the map faithful to the model? Deletion and insertion curves, and the randomisation check.

A map can point at the pneumothorax and still say little about what the *model* used: the
localisation scores (`~mitdeeplearning.xray.localisation`) compare a map with the ground truth,
not with the network. Two checks compare it with the network itself.

## Deletion and insertion (Petsiuk, Das and Saenko, "RISE", BMVC 2018)

Rank the pixels by the map, hottest first. *Deletion* replaces them, a growing fraction at a
time, by a blurred copy of the image and records the model's probability of the class: if the
map found what the model uses, the probability falls fast and the area under the curve is small.
*Insertion* starts from the blurred image and reveals the hottest pixels first: the probability
should rise fast, a large area. The same curves for a random pixel order are the yardstick: a
faithful map deletes faster and inserts faster than chance. Blurring rather than blacking out
keeps the perturbed images closer to the images the model was trained on (no sharp black holes),
so the curve measures the removal of the evidence, not the shock of a new artefact.

## Model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018)

A map that an edge detector could draw does not explain a model. Re-initialise the weights,
first of the Dense layer, then, cumulatively, of the convolution blocks from the top down, and
compare each new map with the trained model's: a faithful method's maps change (their rank
correlation falls towards 0) as the learned weights are destroyed. The check runs on a clone:
the caller's model is never touched.
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage, special, stats

from ..guard import refuse_during_grading
from .cam import class_activation_maps
from .model import FEATURE_LAYER, LOGITS_LAYER

__all__ = ["FaithfulnessCurves", "RandomisationStage", "deletion_curve", "insertion_curve",
           "randomization_check"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class FaithfulnessCurves:
    """The curves of `deletion_curve` or `insertion_curve`, and the random order's.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
    fractions : float64 array of shape (steps,)
        The fractions of the pixels deleted (or inserted) at each step, from 0 to 1.
    curves, areas : float64 arrays of shape (n, steps) and (n,)
        The model's probability of the class at each step for the map's order, and the area
        under each curve (trapezoid rule over `fractions`), in [0, 1].
    random_curves, random_areas : arrays of shape (n, steps) and (n,), or None
        The same for a random pixel order (None when `random_order` was False).
    """

    kind: str
    fractions: np.ndarray
    curves: np.ndarray
    areas: np.ndarray
    random_curves: np.ndarray | None = None
    random_areas: np.ndarray | None = None

    @property
    def beats_random(self) -> np.ndarray:
        """``(n,) bool``: the map's area is below the random order's (deletion) or above it
        (insertion), image by image."""
        if self.random_areas is None:
            raise ValueError("these curves were computed with random_order=False.")
        if self.kind == "deletion":
            return self.areas < self.random_areas
        return self.areas > self.random_areas


@dataclasses.dataclass(frozen=True)
class RandomisationStage:
    """One stage of `randomization_check`.

    Attributes
    ----------
    name : str
        The group of layers re-initialised at this stage (e.g. ``"cam_logits"``, ``"block4"``).
    layers : tuple of str
        Every layer re-initialised so far (the stages are cumulative).
    median, quartiles : float and (float, float)
        Median and 25th / 75th percentiles over the images of the Spearman rank correlation of
        the randomised model's map with the trained model's (1: the same ranking; 0: none).
    correlations : float64 array of shape (n,)
        One correlation per image (NaN where either map is flat).
    """

    name: str
    layers: tuple[str, ...]
    median: float
    quartiles: tuple[float, float]
    correlations: np.ndarray


# Per-model compiled forward passes, kept outside the model (see cam.py for why).
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probability_function(model, shape: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """``f(x (B, H, W, C) float32) -> (B, classes) float64`` probabilities of `model`'s logits
    (softmax; for one logit, ``[1 - sigmoid, sigmoid]``); a Keras model runs compiled."""
    if isinstance(model, keras.Model):
        compiled = _FORWARD.setdefault(model, {})
        if shape not in compiled:
            signature, held = [tf.TensorSpec((None, *shape), tf.float32)], weakref.ref(model)
            compiled[shape] = tf.function(lambda x: held()(x, training=False), signature)
        call = compiled[shape]
    elif callable(model):
        call = model
    else:
        raise ValueError(
            f"model must be a keras.Model or a function of a (batch, height, width, channels) "
            f"float32 array returning (batch, classes) logits, got {type(model).__name__}."
        )

    def probabilities(x: np.ndarray) -> np.ndarray:
        logits = np.asarray(call(x), dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != len(x):
            raise ValueError(
                f"model returned shape {logits.shape} for {len(x)} images; expected logits of "
                "shape (batch, classes)."
            )
        if logits.shape[1] == 1:  # sigmoid(z) = softmax([0, z])[1]
            logits = np.concatenate([np.zeros_like(logits), logits], axis=1)
        return special.softmax(logits, axis=1)

    return probabilities


def _check_inputs(images, maps, steps, blur_sigma, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, H, W, C) float32, maps (n, H, W) float64)``, the maps resized bilinearly
    to the images' size when coarser; ValueError naming the argument otherwise."""
    images = np.asarray(images)
    if images.ndim != 4 or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images must be a float array of shape (n, height, width, channels), got "
            f"{images.dtype} of shape {images.shape} (for one image pass image[None])."
        )
    maps = np.asarray(maps)
    n, height, width = images.shape[:3]
    if maps.ndim != 3 or len(maps) != n or not np.issubdtype(maps.dtype, np.number):
        raise ValueError(
            f"maps has shape {maps.shape}; expected one map per image, (n, h, w) = ({n}, h, w) "
            f"numbers, at the images' size ({height}, {width}) or coarser."
        )
    h, w = maps.shape[1:]
    if h > height or w > width or h * width != w * height:
        raise ValueError(
            f"maps has shape {maps.shape}; expected maps of the images' size ({height}, "
            f"{width}) or coarser with the same aspect ratio, to be upsampled."
        )
    if not np.isfinite(maps).all():
        raise ValueError("maps holds NaN or infinite values.")
    if not (isinstance(steps, int | np.integer) and steps >= 2):
        raise ValueError(f"steps={steps!r}; expected an int >= 2 (the fractions 0 and 1 at least).")
    if blur_sigma is not None and not (isinstance(blur_sigma, int | float) and blur_sigma > 0):
        raise ValueError(f"blur_sigma={blur_sigma!r}; expected a positive number of pixels.")
    if not (isinstance(batch_size, int | np.integer) and batch_size >= 1):
        raise ValueError(f"batch_size={batch_size!r}; expected a positive int.")
    if (h, w) != (height, width):
        maps = tf.image.resize(maps[..., None].astype(np.float32), (height, width)).numpy()[..., 0]
    return images.astype(np.float32, copy=False), maps.astype(np.float64)


def _ranks(order_keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, P) int32``: each pixel's position when the pixels are sorted hottest first by
    `order_keys` ``(n, P)``; ties in random order (a flat map is a random order)."""
    n, pixels = order_keys.shape
    tiebreak = rng.random((n, pixels))
    order = np.lexsort((tiebreak, -order_keys), axis=-1)
    ranks = np.empty((n, pixels), np.int32)
    np.put_along_axis(ranks, order, np.arange(pixels, dtype=np.int32)[None, :], axis=1)
    return ranks


def _curves(probability, images, blurred, ranks, counts, chosen, insert, batch_size):
    """``(n, steps)`` probabilities of the chosen classes, the ``counts[k]`` pixels of lowest
    rank taken from `blurred` (deletion) or from the image onto `blurred` (insertion)."""
    n, height, width, channels = images.shape
    steps = len(counts)
    source, base = images.reshape(n, -1, channels), blurred.reshape(n, -1, channels)
    if not insert:
        source, base = base, source
    out = np.empty(n * steps)
    for start in range(0, n * steps, batch_size):
        pairs = np.arange(start, min(start + batch_size, n * steps))
        i, k = pairs // steps, pairs % steps
        changed = (ranks[i] < counts[k][:, None])[..., None]  # (B, P, 1)
        x = np.where(changed, source[i], base[i])
        p = probability(x.reshape(len(pairs), height, width, channels))
        if chosen.max() >= p.shape[1]:
            raise ValueError(
                f"class_index holds {chosen.max()}; the model has {p.shape[1]} classes."
            )
        out[pairs] = p[np.arange(len(pairs)), chosen[i]]
    return out.reshape(n, steps)


def _perturbation_curves(
    kind, model, images, maps, steps, class_index, blur_sigma, batch_size, random_order, seed
) -> FaithfulnessCurves:
    images, maps = _check_inputs(images, maps, steps, blur_sigma, batch_size)
    n, height, width, channels = images.shape
    probability = _probability_function(model, images.shape[1:])
    chosen = np.broadcast_to(np.asarray(class_index), (n,))
    if not np.issubdtype(chosen.dtype, np.integer) or (chosen < 0).any():
        raise ValueError(f"class_index={class_index!r}; expected a class id >= 0, or n of them.")
    sigma = 5.0 * width / 224.0 if blur_sigma is None else float(blur_sigma)
    blurred = ndimage.gaussian_filter(images, (0, sigma, sigma, 0), mode="reflect")
    fractions = np.linspace(0.0, 1.0, int(steps))
    counts = np.round(fractions * height * width).astype(np.int64)
    rng = np.random.default_rng(seed)
    orders = [maps.reshape(n, -1)] + [np.zeros((n, height * width))] * bool(random_order)
    curves = [
        _curves(probability, images, blurred, _ranks(keys, rng), counts, chosen,
                kind == "insertion", batch_size)
        for keys in orders
    ]  # fmt: skip
    areas = [np.trapezoid(c, fractions, axis=1) for c in curves]
    shuffled = (curves[1], areas[1]) if random_order else (None, None)
    return FaithfulnessCurves(kind, fractions, curves[0], areas[0], *shuffled)


def deletion_curve(
    model,
    images,
    maps,
    *,
    steps: int = 21,
    class_index=1,
    blur_sigma: float | None = None,
    batch_size: int = 128,
    random_order: bool = True,
    seed: int = 0,
) -> FaithfulnessCurves:
    """The model's probability of the class as the hottest pixels are blurred away.

    At each fraction ``f`` of `steps` from 0 to 1, the ``f * height * width`` pixels that the
    map ranks highest are replaced by a blurred copy of the image (Petsiuk et al., 2018). A
    faithful map makes the probability fall fast: a smaller area than a random order's.

    Parameters
    ----------
    model : keras.Model or callable
        Maps ``(batch, height, width, channels) float32`` images to ``(batch, classes)`` logits
        (softmax; one logit: sigmoid), as `~mitdeeplearning.xray.build_cam_cnn`'s model. A
        plain function of a NumPy array works too.
    images : float array of shape (n, height, width, channels)
        The images, as the model takes them.
    maps : array of shape (n, h, w)
        One saliency map per image, higher = more evidence; at the images' size or coarser
        (resized bilinearly). Only the order of the pixels counts; ties go in random order.
    steps : int, default 21
        Points on the curve: the fractions ``linspace(0, 1, steps)`` of the pixels; >= 2.
    class_index : int or int array of shape (n,), default 1
        The class whose probability is recorded (1: pneumothorax).
    blur_sigma : float, optional
        The Gaussian blur of the replacement image, in pixels. Default ``5 * width / 224``
        (RISE's sigma of 5 px at 224 px, scaled).
    batch_size : int, default 128
        Perturbed images per forward pass (the work is ``n * steps`` passes, twice with
        `random_order`).
    random_order : bool, default True
        Also compute the curves of a random pixel order, the yardstick.
    seed : int, default 0
        Seeds the random order and the breaking of ties.

    Returns
    -------
    FaithfulnessCurves
        ``fractions (steps,)``, ``curves (n, steps)``, ``areas (n,)``, and the random order's
        ``random_curves`` and ``random_areas``; ``beats_random`` compares them image by image.

    Raises
    ------
    ValueError
        If `maps` does not give one map per image at the images' size or coarser, `steps` < 2,
        or another argument is malformed.

    See Also
    --------
    insertion_curve : the reverse, pixels revealed on the blurred image.

    Examples
    --------
    A "model" that reads only the top-left quarter's texture, and a map that points there:

    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((4, 16, 16, 1)).astype("float32")
    >>> def model(x):
    ...     texture = np.abs(x - 0.5)[:, :8, :8, 0].mean(axis=(1, 2))
    ...     return np.stack([np.zeros(len(x)), 40 * texture - 5], axis=1)
    >>> maps = np.zeros((4, 16, 16)); maps[:, :8, :8] = 1
    >>> result = deletion_curve(model, images, maps, steps=5, blur_sigma=2)
    >>> result.curves.shape, bool(result.beats_random.all())
    ((4, 5), True)
    """
    refuse_during_grading("xray.deletion_curve")
    return _perturbation_curves(
        "deletion", model, images, maps, steps, class_index, blur_sigma, batch_size,
        random_order, seed,
    )  # fmt: skip


def insertion_curve(
    model,
    images,
    maps,
    *,
    steps: int = 21,
    class_index=1,
    blur_sigma: float | None = None,
    batch_size: int = 128,
    random_order: bool = True,
    seed: int = 0,
) -> FaithfulnessCurves:
    """The model's probability of the class as the hottest pixels are revealed on a blurred
    copy of the image.

    At each fraction ``f`` of `steps` from 0 to 1, the ``f * height * width`` pixels that the
    map ranks highest are taken from the image, the rest from its blurred copy (Petsiuk et
    al., 2018). A faithful map makes the probability rise fast: a larger area than a random
    order's.

    Parameters
    ----------
    model, images, maps, steps, class_index, blur_sigma, batch_size, random_order, seed
        As for `deletion_curve`.

    Returns
    -------
    FaithfulnessCurves
        As for `deletion_curve`, with ``kind="insertion"``.

    See Also
    --------
    deletion_curve : the reverse, pixels blurred away from the image.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((4, 16, 16, 1)).astype("float32")
    >>> def model(x):
    ...     texture = np.abs(x - 0.5)[:, :8, :8, 0].mean(axis=(1, 2))
    ...     return np.stack([np.zeros(len(x)), 40 * texture - 5], axis=1)
    >>> maps = np.zeros((4, 16, 16)); maps[:, :8, :8] = 1
    >>> result = insertion_curve(model, images, maps, steps=5, blur_sigma=2)
    >>> bool((result.areas > result.random_areas).all())
    True
    """
    refuse_during_grading("xray.insertion_curve")
    return _perturbation_curves(
        "insertion", model, images, maps, steps, class_index, blur_sigma, batch_size,
        random_order, seed,
    )  # fmt: skip


def _gap_dense_head(model, feature_layer: str, logits_layer: str) -> None:
    """A ValueError unless `model` ends ``feature_layer → GAP → (Dropout) → Dense``."""
    expected = (
        f"expected a model ending {feature_layer!r} → GlobalAveragePooling2D → (Dropout) → Dense "
        f"{logits_layer!r}, as build_cam_cnn builds it (or pass feature_layer=, logits_layer=)"
    )
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(f"model is a {type(model).__name__}; {expected}.")
    names = {layer.name for layer in model.layers}
    missing = [name for name in (feature_layer, logits_layer) if name not in names]
    if missing:
        raise ValueError(f"model {model.name!r} has no layer {missing[0]!r}; {expected}.")
    dense = model.get_layer(logits_layer)
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(f"logits_layer={logits_layer!r} is a {type(dense).__name__}; {expected}.")
    # Walk down from the Dense layer: which layer's output is each layer's input?
    made_by = {id(layer.output): layer for layer in model.layers}
    layer = made_by.get(id(dense.input))
    while isinstance(layer, keras.layers.Dropout):
        layer = made_by.get(id(layer.input))
    if not isinstance(layer, keras.layers.GlobalAveragePooling2D) or (
        getattr(made_by.get(id(layer.input)), "name", None) != feature_layer
    ):
        raise ValueError(f"model {model.name!r} has no GAP → Dense head; {expected}.")


def _default_stages(model, logits_layer: str) -> list[tuple[str, tuple[str, ...]]]:
    """The Dense layer, then the weighted layers from the top down, grouped by block (names
    ``blockN_...`` share a stage; any other layer is a stage of its own)."""
    stages: list[tuple[str, tuple[str, ...]]] = [(logits_layer, (logits_layer,))]
    for layer in reversed(model.layers):
        if not layer.weights or layer.name == logits_layer:
            continue
        match = re.match(r"(block\d+)_", layer.name)
        group = match.group(1) if match else layer.name
        previous = stages.pop() if stages[-1][0] == group else (group, ())
        stages.append((group, (*previous[1], layer.name)))
    return stages


def _check_stages(model, layers) -> list[tuple[str, tuple[str, ...]]]:
    stages = []
    names = {layer.name for layer in model.layers}
    for stage in layers:
        group = (stage,) if isinstance(stage, str) else tuple(stage)
        unknown = [g for g in group if g not in names]
        if not group or unknown:
            raise ValueError(
                f"layers={layers!r}: {unknown or 'an empty stage'} names no layer of model "
                f"{model.name!r}; expected stages of layer names, among {sorted(names)}."
            )
        stages.append(("+".join(group), group))
    return stages


def _reinitialise(layer, rng: np.random.Generator) -> None:
    """Draw `layer`'s weights afresh from its own initialisers (kernel_initializer and so
    on), seeded from `rng`."""
    for variable in layer.weights:
        initializer = getattr(layer, f"{variable.name}_initializer", None)
        if initializer is None:
            raise ValueError(
                f"layer {layer.name!r} has a weight {variable.name!r} without a "
                f"{variable.name}_initializer to re-initialise it from."
            )
        config = initializer.get_config()
        if "seed" in config:
            config["seed"] = int(rng.integers(2**31 - 1))
        fresh = type(initializer).from_config(config)
        variable.assign(fresh(tuple(variable.shape), dtype=variable.dtype))


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n,)`` Spearman correlation of each row of `a` ``(n, P)`` with the same row of `b`
    (average ranks for ties; NaN where a row is constant)."""
    ra, rb = (stats.rankdata(m, axis=1) for m in (a, b))
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.divide((ra * rb).sum(axis=1), norm, out=np.full(len(a), np.nan), where=norm > 0)


def randomization_check(
    model: keras.Model,
    images,
    *,
    layers: Sequence[str | Sequence[str]] | None = None,
    seed: int = 0,
    class_index=1,
    feature_layer: str = FEATURE_LAYER,
    logits_layer: str = LOGITS_LAYER,
    batch_size: int = 64,
) -> list[RandomisationStage]:
    """Do the CAMs change when the learned weights are destroyed? (Adebayo et al., 2018.)

    On a clone of `model` (the caller's model is never touched), re-initialise the Dense
    layer, then cumulatively the convolution blocks from the top down, each from its own
    initialisers (BatchNormalization back to the identity), and after each stage compare the
    clone's Class Activation Maps with the trained model's by the Spearman rank correlation of
    each image's map. A map that explains the model should lose its correlation; one that
    stays the same shows the image, not the model.

    Parameters
    ----------
    model : keras.Model
        A GAP-CNN ending ``feature_layer → GlobalAveragePooling2D → (Dropout) → Dense
        logits_layer``, as `~mitdeeplearning.xray.build_cam_cnn` builds it.
    images : float array of shape (n, height, width, channels)
        The images to map, as the model takes them.
    layers : sequence of (str or sequence of str), optional
        The stages, in order; each a layer name or several. Default: the logits layer, then
        each block of layers with weights from the top (``block4_conv`` and ``block4_bn`` are
        one stage ``"block4"``), down to the first.
    seed : int, default 0
        Seeds the new weights.
    class_index : int or int array of shape (n,), default 1
        The class whose maps are compared.
    feature_layer, logits_layer : str
        The names of the layers CAM reads (`~mitdeeplearning.xray.class_activation_maps`).
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    list of RandomisationStage
        One per stage, in order: its ``name``, the ``layers`` randomised so far, the
        ``median`` and ``quartiles`` of the per-image correlations and the ``correlations``.

    Raises
    ------
    ValueError
        If the model has no GAP → Dense head, or a stage names no layer of the model.

    Examples
    --------
    >>> from mitdeeplearning.xray import build_cam_cnn
    >>> model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    >>> images = np.random.default_rng(0).random((3, 64, 64, 1), dtype=np.float32)
    >>> [stage.name for stage in randomization_check(model, images)]
    ['cam_logits', 'block2', 'block1']
    """
    _gap_dense_head(model, feature_layer, logits_layer)
    stages = (_default_stages(model, logits_layer) if layers is None
              else _check_stages(model, layers))  # fmt: skip
    # Not clone_model: it recompiles from the config, which fails on a loss the notebook wrote.
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    options = dict(class_index=class_index, feature_layer=feature_layer,
                   logits_layer=logits_layer, batch_size=batch_size)  # fmt: skip
    trained = class_activation_maps(clone, images, **options).reshape(len(images), -1)
    rng, done, out = np.random.default_rng(seed), [], []
    for name, group in stages:
        for layer_name in group:
            _reinitialise(clone.get_layer(layer_name), rng)
        done.extend(group)
        maps = class_activation_maps(clone, images, **options).reshape(len(trained), -1)
        rho = _spearman_rows(trained, maps)
        q1, median, q3 = np.nanpercentile(rho, [25, 50, 75])  # NaN (and a warning) if all are
        out.append(RandomisationStage(name, tuple(done), median, (q1, q3), rho))
    return out
