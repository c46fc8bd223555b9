"""Scoring a sequence model: its mean next-token loss on held-out text, in bits per token.

`evaluate_bits` reads the text the way the model was trained to read it (fresh windows, a
stateful model's carried state, or whole streams), through a copy of the model where reading
would disturb the model's own state.
"""

from __future__ import annotations

import math
import weakref

import keras
import numpy as np
import tensorflow as tf

from .batches import eval_windows
from .model import copy_weights, recurrent_layers, sequence_loss, twin_model

#: Nats per bit: a loss in nats divided by LN2 is in bits.
LN2 = math.log(2.0)


def evaluate_bits(
    model: keras.Model,
    ids: np.ndarray,
    seq_length: int = 100,
    max_tokens: int | None = 50_000,
    batch_size: int = 64,
    order: str | None = None,
    rows: int = 8,
) -> float:
    """Mean next-token cross-entropy of `model` on `ids`, in bits per token.

    Each model is scored the way it reads text (`order`):

    * ``"windows"`` (the default for a stateless model): consecutive windows of `seq_length`,
      each from a zero state, as random-window training sees them;
    * ``"random"`` (the default for a stateful model, the reference lab's): held-out windows in a
      seeded random order, the state carried from batch to batch as in its training (never
      reset), through a copy so the model's own state is left alone;
    * ``"stream"`` (for models trained with ``windows="stream"``): the held-out text cut into
      `rows` contiguous rows, each read from a zero state to its end, state carried. Few, long
      rows, because such a model reads every character with the text before it as context (in
      training it starts from a zero state once per stream, thousands of characters long): the
      first characters of a row, read with no context, are scored too, and with 64 rows of 470
      characters they add about 0.05 bits per character to a trained model's score.
    """
    stateful = any(layer.stateful for layer in recurrent_layers(model))
    order = order or ("random" if stateful else "windows")
    if order == "random":
        if not stateful:
            raise ValueError("order='random' carries a stateful model's state; this one has none.")
        return _streaming_bits(model, ids, seq_length, max_tokens)
    if order == "stream":
        ids = np.asarray(ids, dtype=np.int32)[: None if max_tokens is None else max_tokens + 1]
        if not isinstance(rows, int) or rows < 1:
            raise ValueError(f"rows={rows!r} must be a positive integer.")
        rows = max(1, min(rows, (len(ids) - 1) // seq_length))
        x, y = eval_windows(ids, (len(ids) - 1) // rows)
        forward = _forward_fn(_stateless_twin(model) if stateful else model)
        return float(np.mean(sequence_loss(y, forward(x)))) / LN2
    if order != "windows":
        raise ValueError(f"order={order!r}; expected 'windows', 'random' or 'stream'.")
    forward = _forward_fn(_stateless_twin(model) if stateful else model)
    x, y = eval_windows(ids, seq_length, max_tokens)
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        losses = sequence_loss(y[i : i + batch_size], forward(x[i : i + batch_size]))
        total += float(np.sum(losses))
        count += len(losses)
    return total / count / LN2


def _stateless_twin(model):
    """A stateless copy of a stateful model's current weights (any batch size)."""
    if model not in _STATELESS:
        _STATELESS[model] = twin_model(model)
    twin = _STATELESS[model]
    copy_weights(model, twin)
    return twin


def _streaming_bits(model, ids, seq_length: int, max_tokens: int | None) -> float:
    if model not in _TWINS:
        _TWINS[model] = twin_model(model, batch_size=model.inputs[0].shape[0], stateful=True)
    twin = _TWINS[model]
    copy_weights(model, twin)
    for source, target in zip(recurrent_layers(model), recurrent_layers(twin), strict=True):
        for state, copy in zip(source.states, target.states, strict=True):
            copy.assign(state)  # start from the model's current state, as its next batch would
    rows = model.inputs[0].shape[0]
    x, y = eval_windows(ids, seq_length, max_tokens)
    order = np.random.default_rng(0).permutation(len(x))
    order = order[: len(order) // rows * rows].reshape(-1, rows)
    if not len(order):
        raise ValueError(f"Validation data is too short for a batch of {rows} windows.")
    forward = _forward_fn(twin)
    total = sum(float(np.sum(sequence_loss(y[batch], forward(x[batch])))) for batch in order)
    return total / order.size / LN2


# Per-model caches, kept outside the models: an attribute set on a Keras model would be
# tracked as part of it (a twin model's weights would become the model's own).
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STATELESS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward_fn(model):
    if model not in _FORWARD:
        _FORWARD[model] = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )
    return _FORWARD[model]
