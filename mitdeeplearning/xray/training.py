"""Training the GAP-CNN: `train_cam_cnn` runs `model.fit` on an augmented `tf.data` stream with
class weights for the imbalance, Adam, the exact held-out AUC after every epoch, and an optional
`tf.distribute` strategy (several GPUs, or a TPU). The time budget, the best weights kept, the
live plot and the result record are the shared training toolkit's (`mitdeeplearning.training`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from ..guard import refuse_during_grading
from ..training import (
    History,
    KeepBest,
    LivePlot,
    TimeBudget,
    TrainResult,
    fit_callback,
    progress_enabled,
)
from .augment import augment_settings, make_training_dataset
from .layers import PositiveClassAUC

__all__ = ["TrainResult", "class_weights", "train_cam_cnn"]


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

    Parameters
    ----------
    labels : int array of shape (n,)
        0 or 1.
    class_weight : "balanced", None or {0: w0, 1: w1}
        A dict is checked (positive, finite) and returned as floats.

    Returns
    -------
    dict
        {0: weight of a negative, 1: weight of a positive}.

    Examples
    --------
    >>> weights = class_weights(np.array([0] * 9 + [1]))
    >>> {c: round(float(w), 2) for c, w in weights.items()}
    {0: 0.56, 1: 5.0}
    """
    refuse_during_grading("xray.class_weights")
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
    live_plot: bool = False,
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
        True: the `~mitdeeplearning.xray.augment.AUGMENT` defaults; False: none; a dict
        overrides some of them, e.g. ``{"flip": False}``.
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
        Training time allowed, held-out scoring included: training stops before an epoch that
        would end past it, expecting each to take as long as the one before (`TimeBudget`).
    seed : int
        Seeds the shuffling and the augmentation (the weights are seeded by `build_cam_cnn`).
    progress : bool, optional
        Keras' progress bar; by default on in a notebook or a terminal, off under ``$CI``.
    live_plot : bool
        Loss curves (training and held out, in nats) redrawn after every epoch in a notebook,
        a line of text per epoch elsewhere.
    callbacks : sequence of keras.callbacks.Callback
        More callbacks for `fit`.

    Returns
    -------
    TrainResult
        ``history`` has one dict per epoch: ``epoch``, ``seconds`` since the start, ``loss``
        (weighted cross-entropy, nats) and ``auc`` on the augmented training batches, and with
        held-out data ``val_loss`` (unweighted) and ``val_auc``; ``history["val_auc"]`` is
        that column. ``result.epochs``, ``result.best_val_auc`` and ``result.best_epoch`` name
        the epochs taken and the best held-out AUC.

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
    images, labels, val = _check_data(model, images, labels, val)
    _check_settings(
        epochs, batch_size, learning_rate, weight_decay, max_seconds, loss, class_weight
    )
    settings = augment_settings(augment)
    weight_of = class_weights(labels, class_weight)
    sample_weights = np.where(labels == 1, weight_of[1], weight_of[0]).astype(np.float32)
    strategy = _strategy_of(model, strategy)
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
    held_out = [] if val is None else [_HeldOut(*val, batch_size)]
    budget = TimeBudget(max_seconds)
    best = KeepBest("val_auc", "max", restore=keep_best and val is not None)
    plot = None
    if live_plot:
        plot = LivePlot("epoch", {"training": "loss", "held out": "val_loss"},
                        "cross-entropy (nats)")  # fmt: skip
    toolkit = fit_callback(budget, best, plot)
    tic = time.perf_counter()
    fitted = model.fit(
        train_data,
        epochs=int(epochs),
        steps_per_epoch=math.ceil(len(images) / batch_size),
        shuffle=False,  # the dataset shuffles itself
        callbacks=[keras.callbacks.TerminateOnNaN(), *held_out, toolkit, *callbacks],
        verbose=1 if progress_enabled(progress) else 0,
    )
    seconds = time.perf_counter() - tic
    record = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    done = len(record.get("loss", []))
    history = History.from_columns(
        record, epoch=list(range(1, done + 1)), seconds=toolkit.seconds[:done]
    )
    return TrainResult(
        history=history,
        steps=done,
        seconds=round(seconds, 3),
        stopped=_why_stopped(record, done, epochs, budget),
        unit="epoch",
        monitor="val_auc",
        best=best.best if best.found else None,
        best_step=best.best_step,
    )


def _check_data(model, images, labels, val) -> tuple:
    """Check the model's output and the data: ``(images float32, labels int32, val)`` with
    `val` None or ``(images float32, labels int32)`` holding both classes."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1 or tuple(outputs[0].shape[1:]) != (2,):
        raise ValueError(
            "train_cam_cnn trains functional models with one output of two logits, shape "
            f"(batch, 2), as build_cam_cnn makes; got outputs {outputs}."
        )
    images = _check_images(images, "images", model)
    labels = _check_labels(labels, "labels", len(images))
    if val is None:
        return images, labels, None
    if not isinstance(val, tuple | list) or len(val) != 2:
        raise ValueError("val must be a pair (images, labels).")
    val_images = _check_images(val[0], "val[0]", model)
    val_labels = _check_labels(val[1], "val[1]", len(val_images))
    if len(np.unique(val_labels)) < 2:
        raise ValueError(
            "val[1] holds only one class: the held-out AUC is undefined without both "
            "positives and negatives."
        )
    return images, labels, (val_images, val_labels)


def _check_settings(
    epochs, batch_size, learning_rate, weight_decay, max_seconds, loss, class_weight
) -> None:
    """Check `train_cam_cnn`'s numbers, and that a custom loss comes without class weights."""
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


def _strategy_of(model: keras.Model, strategy: tf.distribute.Strategy | None):
    """`strategy`, checked to hold the model's variables, or the one the model was built in."""
    if (
        strategy is not None
        and strategy is not tf.distribute.get_strategy()
        and not all(
            strategy.extended.variable_created_in_scope(getattr(v, "value", v))
            for v in model.weights
        )
    ):
        raise ValueError("Build the model inside `with strategy.scope():` to train it there.")
    return strategy or model.distribute_strategy


def _why_stopped(record: dict, done: int, epochs: int, budget: TimeBudget) -> str:
    """Why `fit` ended after `done` of `epochs` epochs, in words (`TrainResult.stopped`)."""
    if record.get("loss") and not math.isfinite(record["loss"][-1]):
        return "the loss became NaN or infinite: lower the learning rate"
    if budget.reached and done < epochs:
        return budget.reason
    if done < epochs:
        return "stopped by a callback"
    return "epochs"
