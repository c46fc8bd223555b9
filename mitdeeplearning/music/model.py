"""The sequence model: Embedding → LSTM (or GRU) → Dense logits over the vocabulary.

The same Keras model trains on windows of any length and, through `generate`, samples one
token at a time: its recurrent cells are reused step by step, carrying their state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from ..files import atomic_write
from ..guard import refuse_during_grading
from .vocab import Vocab

_CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def sequence_loss(targets, logits):
    """Per-window loss: mean next-token cross-entropy in nats, shape ``(batch,)``.

    ``targets`` is ``(batch, time) int``, ``logits`` is ``(batch, time, vocab) float``.
    """
    refuse_during_grading("music.sequence_loss")
    per_token = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return keras.ops.mean(per_token, axis=-1)


def train_step(model: keras.Model, optimizer, x, y):
    """One gradient step on a batch; returns this replica's share of the mean loss (nats).

    The single definition of a training step: the custom `GradientTape` loop of `train` runs
    it inside a `tf.function` (under a `tf.distribute` strategy when given), and `model.fit`
    runs it through `LanguageModel.train_step`. Under a strategy each replica sees part of the
    batch and the optimizer sums the replicas' gradients, so each returns mean / replicas.
    """
    import tensorflow as tf

    refuse_during_grading("music.train_step")
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = keras.ops.mean(sequence_loss(y, logits)) / replicas
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss


class LanguageModel(keras.Model):
    """A functional Keras model whose `fit` uses the same `train_step` as the custom loop."""

    def train_step(self, data):
        x, y = data[0], data[1]
        loss = train_step(self, self.optimizer, x, y)
        return {"loss": loss}


def build_model(
    vocab_size: int,
    embedding_dim: int = 256,
    rnn_units: int = 512,
    *,
    cell: str = "lstm",
    num_layers: int = 1,
    dropout: float = 0.0,
    batch_size: int | None = None,
    stateful: bool = False,
    seed: int | None = None,
) -> keras.Model:
    """A character (or token) language model.

    Parameters
    ----------
    vocab_size : int
        Number of tokens; the model outputs one logit per token.
    embedding_dim : int
        Size of each token's learned vector.
    rnn_units : int
        Units of each recurrent layer.
    cell : {"lstm", "gru"}
        The recurrent layer.
    num_layers : int
        Recurrent layers stacked.
    dropout : float
        Dropout between layers, in ``[0, 1)`` (only with ``num_layers > 1`` or before Dense).
    batch_size, stateful : int, bool
        ``stateful=True`` fixes the batch size and carries the state from one batch to the next
        (the reference lab's set-up, kept for comparison). The default is stateless: every batch
        of windows starts from a zero state, which is what random windows need.
    seed : int, optional
        Seeds the initial weights.

    Returns
    -------
    keras.Model
        Maps ``(batch, time) int`` token ids to ``(batch, time, vocab_size) float32`` logits.

    Examples
    --------
    >>> model = build_model(vocab_size=80, embedding_dim=32, rnn_units=64)   # doctest: +SKIP
    >>> model(np.zeros((2, 10), "int32")).shape                                # doctest: +SKIP
    TensorShape([2, 10, 80])
    """
    refuse_during_grading("music.build_model")
    if cell not in _CELLS:
        raise ValueError(f"cell={cell!r}; expected one of {sorted(_CELLS)}.")
    for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                        ("rnn_units", rnn_units), ("num_layers", num_layers)):  # fmt: skip
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout} must be in [0, 1).")
    if stateful and not batch_size:
        raise ValueError("A stateful model needs a fixed batch_size.")
    if seed is not None:
        keras.utils.set_random_seed(seed)

    inputs = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    for i in range(num_layers):
        x = _CELLS[cell](rnn_units, return_sequences=True, stateful=stateful, name=f"{cell}_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    model = LanguageModel(inputs, logits, name=f"{cell}_language_model")
    model.config_for_saving = {  # what load_model needs to rebuild it
        "vocab_size": vocab_size,
        "embedding_dim": embedding_dim,
        "rnn_units": rnn_units,
        "cell": cell,
        "num_layers": num_layers,
        "dropout": dropout,
    }
    return model


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's LSTM/GRU layers, in order."""
    return [layer for layer in model.layers if isinstance(layer, tuple(_CELLS.values()))]


def twin_model(
    model: keras.Model, *, batch_size: int | None = None, stateful: bool = False
) -> keras.Model:
    """A new model of `model`'s architecture that reads batches of `batch_size` (None: any),
    its recurrent layers stateful or not; its weights are new (see `copy_weights`).

    Works for a model made by `build_model` and for any ``keras.Sequential`` or functional model
    that starts with ``keras.Input(batch_shape=...)``, such as the one a student builds from an
    Embedding, an LSTM or GRU layer and a Dense layer.

    Examples
    --------
    >>> model = build_model(80, 8, 16, batch_size=4, stateful=True)   # doctest: +SKIP
    >>> twin = twin_model(model)                                       # doctest: +SKIP
    >>> twin.inputs[0].shape, recurrent_layers(twin)[0].stateful       # doctest: +SKIP
    ((None, None), False)
    """
    saved = getattr(model, "config_for_saving", None)
    if saved is not None:
        return build_model(**saved, batch_size=batch_size, stateful=stateful)
    config = model.get_config()
    config.pop("build_input_shape", None)
    for layer in config.get("layers", []):
        options = layer.get("config", {})
        if layer.get("class_name") == "InputLayer" and options.get("batch_shape"):
            options["batch_shape"] = [batch_size, *options["batch_shape"][1:]]
        if layer.get("class_name") in ("LSTM", "GRU"):
            options["stateful"] = stateful
    return type(model).from_config(config)


def reset_states(model: keras.Model) -> None:
    """Zero the state of every stateful recurrent layer (Keras 3 has no Model.reset_states)."""
    for layer in recurrent_layers(model):
        if layer.stateful:
            layer.reset_states()


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the learned weights between two models of one architecture (state excluded), e.g.
    from a stateful batch-8 training model to a stateless one."""
    pairs = list(zip(source.trainable_variables, target.trainable_variables, strict=True))
    for src, dst in pairs:
        if tuple(src.shape) != tuple(dst.shape):
            raise ValueError(f"Weight {src.path} has shape {src.shape}, {dst.path} {dst.shape}.")
    for src, dst in pairs:
        dst.assign(src)


def save_model(model: keras.Model, vocab: Vocab, folder: str | os.PathLike) -> Path:
    """Save the weights, the architecture and the vocabulary together in `folder`."""
    config = getattr(model, "config_for_saving", None)
    if config is None:
        raise ValueError("save_model saves models made by build_model.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / "model.weights.h5")
    with atomic_write(folder / "model.json") as handle:
        handle.write(json.dumps(config, indent=1))
    vocab.save(folder / "vocab.json")
    return folder


def load_model(folder: str | os.PathLike) -> tuple[keras.Model, Vocab]:
    """The ``(model, vocab)`` pair saved by `save_model`."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "model.json").read_text())
        vocab = Vocab.load(folder / "vocab.json")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder} does not hold a model saved by save_model ({exc}).") from None
    model = build_model(**config)
    model.load_weights(folder / "model.weights.h5")
    return model, vocab
