"""Training a sequence model with a custom `GradientTape` loop that a student can read.

`train` draws random windows of the corpus, takes gradient steps with `model.train_step`,
measures the held-out loss in bits per character every `eval_every` iterations, keeps the
weights with the best held-out loss, and can checkpoint so that an interrupted run (a Colab
disconnect) resumes where it stopped. It runs under any `tf.distribute` strategy: one GPU,
several, or a TPU.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .batches import eval_windows, make_dataset, stream_batches
from .model import (
    build_model,
    copy_weights,
    recurrent_layers,
    reset_states,
    sequence_loss,
    train_step,
)

log = logging.getLogger(__name__)

LN2 = math.log(2.0)

#: The lab's model and training settings, sized for a 2-core CPU (benchmarks/music.py measures
#: them against the reference lab's). Stream windows carry the state along whole tunes, so
#: the model can learn where in a tune it is (how many bars are left). In 5 minutes the model
#: reads the training tunes about 8 times and starts to learn them by heart: dropout 0.3 before
#: the output layer holds that back, and a learning rate that starts high and falls to zero as
#: the time runs out (`anneal`) gains more from the same minutes than a fixed halving did. At
#: 0.3 the samples are conservative but almost always valid music; 0.8-1.0 gives more varied
#: tunes with more slips (benchmarks/RESULTS.md has the shares).
LAB_CONFIG = {
    "cell": "gru",
    "embedding_dim": 64,
    "rnn_units": 512,
    "dropout": 0.3,
    "seq_length": 100,
    "batch_size": 64,
    "windows": "stream",
    "learning_rate": 8e-3,
    "anneal": True,
    "temperature": 0.3,
}


@dataclasses.dataclass
class TrainResult:
    """What `train` did. `history` has one dict per evaluation: iteration, seconds, train_bits,
    val_bits (None without held-out data) and the learning_rate in use."""

    history: list[dict]
    iterations: int
    seconds: float
    best_val_bits: float | None
    best_iteration: int | None
    stopped: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


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
        _STATELESS[model] = build_model(**model.config_for_saving)
    twin = _STATELESS[model]
    copy_weights(model, twin)
    return twin


def _streaming_bits(model, ids, seq_length: int, max_tokens: int | None) -> float:
    if model not in _TWINS:
        _TWINS[model] = build_model(
            **model.config_for_saving, batch_size=model.inputs[0].shape[0], stateful=True
        )
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


class _LivePlot:
    """Loss curves redrawn in place in a notebook (one figure, updated at each evaluation)."""

    def __init__(self) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.plt = plt
        self.fig, self.ax = plt.subplots(figsize=(7, 3.5))
        plt.close(self.fig)  # shown through the display handle only
        self.handle = display(self.fig, display_id=True)

    def update(self, history: list[dict]) -> None:
        self.draw(history)
        if self.handle is not None:  # None outside a notebook: nothing to redraw
            self.handle.update(self.fig)

    def draw(self, history: list[dict]) -> None:
        ax = self.ax
        ax.clear()
        its = [h["iteration"] for h in history]
        ax.plot(its, [h["train_bits"] for h in history], label="training")
        val = [(h["iteration"], h["val_bits"]) for h in history if h.get("val_bits") is not None]
        if val:
            ax.plot(*zip(*val, strict=True), label="held out")
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss (bits per character)")
        ax.grid(alpha=0.3)
        ax.legend()


def train(
    model: keras.Model,
    train_ids: np.ndarray,
    *,
    val_ids: np.ndarray | None = None,
    iterations: int = 2000,
    seq_length: int = 100,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    lr_half_life: int | None = None,
    anneal: bool = False,
    optimizer: keras.optimizers.Optimizer | None = None,
    eval_every: int = 100,
    eval_tokens: int | None = 50_000,
    max_seconds: float | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    strategy: tf.distribute.Strategy | None = None,
    keep_best: bool = True,
    reset_state: bool = True,
    windows: str = "random",
    seed: int = 0,
    progress: bool | None = None,
    live_plot: bool | None = None,
    callback: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train `model` to predict the next token of `train_ids`.

    Long because it is one loop with resume, budget, and keeping the best weights: checking
    the arguments, restoring a checkpoint, choosing random or stream windows, annealing the
    learning rate, evaluating, checkpointing and drawing progress all share the loop's state;
    to be split when training moves to the shared training toolkit.

    Parameters
    ----------
    model : keras.Model
        From `build_model`; under a `strategy`, built inside ``strategy.scope()``.
    train_ids, val_ids : int arrays, shape (n,)
        Encoded training and held-out text (split by tune: see `split_tunes`).
    iterations : int
        Gradient steps to take in total (a resumed run counts the steps already taken).
    seq_length, batch_size : int
        Window length and number of windows per step (the global batch under a strategy).
    learning_rate : float
        For the default optimizer, Adam with gradient clipping at norm 1.
    lr_half_life : int, optional
        Halve the default optimizer's learning rate every this many iterations.
    anneal : bool
        Lower the default optimizer's learning rate linearly to zero as the budget runs out:
        the share of `max_seconds` spent or of `iterations` taken, whichever is larger. Small
        steps at the end settle the weights where large ones keep hopping about, which pays
        most when training is cut short by a time limit (Li et al., "Budgeted Training",
        ICLR 2020). Not with `lr_half_life`.
    optimizer : keras optimizer, optional
        Used instead of the default.
    eval_every : int
        Iterations between held-out evaluations (and checkpoints).
    eval_tokens : int, optional
        Evaluate on at most this many held-out tokens (None: all of them).
    max_seconds : float, optional
        Stop once this much training time (evaluation excluded) has passed.
    checkpoint_dir : path, optional
        Save a checkpoint at every evaluation and resume from the latest one found there.
    strategy : tf.distribute.Strategy, optional
        Spread each batch over the strategy's replicas.
    keep_best : bool
        End with the weights of the best held-out loss, so a longer run never ends worse.
    reset_state : bool
        Zero a stateful model's state before every batch of random windows: they are
        unrelated. (Stream windows carry the state instead.)
    windows : {"random", "stream"}
        ``"random"``: each batch is `batch_size` windows drawn at random (`make_dataset`).
        ``"stream"``: the corpus is read as `batch_size` streams, each batch continuing the one
        before (`stream_batches`), and a stateful model carries its state across them, so it
        learns from whole tunes (truncated backpropagation through time). Needs a model built
        with ``stateful=True, batch_size=batch_size`` and a single replica.
    seed : int
        Seeds the windows drawn.
    progress, live_plot : bool, optional
        A progress bar, and loss curves redrawn in place; by default both in a notebook, the
        bar alone on a terminal, neither under ``$CI``.
    callback : callable, optional
        Called with each history entry.

    Returns
    -------
    TrainResult
    """
    if iterations < 1 or eval_every < 1:
        raise ValueError(f"iterations={iterations} and eval_every={eval_every} must be >= 1.")
    strategy = strategy or tf.distribute.get_strategy()
    if strategy is not tf.distribute.get_strategy() and not all(
        strategy.extended.variable_created_in_scope(getattr(v, "value", v)) for v in model.weights
    ):
        raise ValueError("Build the model inside `with strategy.scope():` to train it there.")
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch_size={batch_size} must divide evenly among "
            f"{strategy.num_replicas_in_sync} replicas."
        )
    stateful = any(layer.stateful for layer in recurrent_layers(model))
    if windows not in ("random", "stream"):
        raise ValueError(f"windows={windows!r}; expected 'random' or 'stream'.")
    if windows == "stream":
        model_batch = model.inputs[0].shape[0]
        if not stateful or model_batch != batch_size:
            raise ValueError(
                "windows='stream' carries the state from one batch to the next: build the model "
                f"with build_model(..., batch_size={batch_size}, stateful=True)."
            )
        if strategy.num_replicas_in_sync > 1:
            raise ValueError("windows='stream' needs a single replica; use windows='random'.")
    in_notebook = "ipykernel" in sys.modules and not os.environ.get("CI")
    if progress is None:
        progress = in_notebook or (sys.stderr.isatty() and not os.environ.get("CI"))
    if live_plot is None:
        live_plot = in_notebook

    if anneal and (optimizer is not None or lr_half_life):
        raise ValueError("anneal=True sets the default optimizer's rate: leave out optimizer "
                         "and lr_half_life.")  # fmt: skip
    with strategy.scope():
        if optimizer is None:
            rate = learning_rate
            if lr_half_life:
                rate = keras.optimizers.schedules.ExponentialDecay(rate, lr_half_life, 0.5)
            optimizer = keras.optimizers.Adam(rate, global_clipnorm=1.0)
        optimizer.build(model.trainable_variables)
    done_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")  # a counter

    history: list[dict] = []
    best_bits, best_iteration, best_weights = math.inf, None, None
    manager = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, iteration=done_steps)
        manager = tf.train.CheckpointManager(ckpt, checkpoint_dir, max_to_keep=2)
        if manager.latest_checkpoint:
            try:
                ckpt.restore(manager.latest_checkpoint).expect_partial()
            except (ValueError, tf.errors.OpError) as exc:
                raise ValueError(
                    f"{checkpoint_dir} holds a run of a different model or optimizer, so training "
                    "cannot resume from it: pass another checkpoint_dir or delete that folder "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                ) from None
            state = json.loads((checkpoint_dir / "history.json").read_text())
            history = state["history"]
            if (
                state.get("best_iteration") is not None
                and (checkpoint_dir / "best.weights.h5").exists()
            ):
                best_bits, best_iteration = state["best_val_bits"], state["best_iteration"]
                best_weights = _load_weights_copy(model, checkpoint_dir / "best.weights.h5")
            log.info("Resumed from iteration %d (%s)", int(done_steps), manager.latest_checkpoint)

    start_iteration = int(done_steps)
    if windows == "stream":
        batches = stream_batches(
            train_ids, seq_length, batch_size, seed=seed, start=start_iteration
        )
        reset_states(model)  # a resumed run starts its stream afresh
    else:
        dataset = make_dataset(
            train_ids, seq_length, batch_size, seed=seed * 1_000_003 + start_iteration
        )
        batches = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def distributed_step(x, y):
        per_replica = strategy.run(train_step, args=(model, optimizer, x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    plot = _LivePlot() if live_plot else None
    from tqdm.auto import tqdm

    bar = tqdm(total=iterations, initial=start_iteration, disable=not progress, unit="it",
               desc="training")  # fmt: skip
    train_seconds = history[-1]["seconds"] if history else 0.0
    window_losses: list[float] = []
    stopped = "iterations"
    iteration = start_iteration
    try:
        while iteration < iterations:
            tic = time.perf_counter()
            if anneal:
                spent = iteration / iterations
                if max_seconds is not None:
                    spent = max(spent, train_seconds / max_seconds)
                optimizer.learning_rate.assign(learning_rate * max(0.0, 1.0 - spent))
            if windows == "stream":
                x, y, new_epoch = next(batches)
                if new_epoch:
                    reset_states(model)
            else:
                if stateful and reset_state:
                    reset_states(model)
                x, y = next(batches)
            loss = float(distributed_step(x, y))
            train_seconds += time.perf_counter() - tic
            if not math.isfinite(loss):
                stopped = "the loss became NaN or infinite: lower the learning rate"
                log.warning("Stopping: %s (iteration %d)", stopped, iteration)
                break
            window_losses.append(loss)
            iteration += 1
            done_steps.assign(iteration)
            bar.update(1)
            out_of_time = max_seconds is not None and train_seconds >= max_seconds
            if iteration % eval_every == 0 or iteration == iterations or out_of_time:
                entry = {
                    "iteration": iteration,
                    "seconds": round(train_seconds, 3),
                    "train_bits": float(np.mean(window_losses)) / LN2,
                    "val_bits": None,
                    "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                }
                window_losses = []
                if val_ids is not None:
                    entry["val_bits"] = evaluate_bits(
                        model, val_ids, seq_length, eval_tokens,
                        order="stream" if windows == "stream" else None,
                    )  # fmt: skip
                    if entry["val_bits"] < best_bits:
                        best_bits, best_iteration = entry["val_bits"], iteration
                        best_weights = (
                            [w.copy() for w in model.get_weights()] if keep_best else None
                        )
                        if manager is not None:
                            model.save_weights(checkpoint_dir / "best.weights.h5")
                history.append(entry)
                bar.set_postfix(
                    train=f"{entry['train_bits']:.3f}",
                    val="-" if entry["val_bits"] is None else f"{entry['val_bits']:.3f}",
                )
                if manager is not None:
                    manager.save(checkpoint_number=iteration)
                    _write_state(checkpoint_dir, history, best_bits, best_iteration)
                if plot is not None:
                    plot.update(history)
                if callback is not None:
                    callback(entry)
            if out_of_time:
                stopped = f"max_seconds={max_seconds} reached"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
        log.warning("Training interrupted at iteration %d", iteration)
    finally:
        bar.close()

    if keep_best and best_weights is not None:
        last = history[-1] if history else None
        if last is None or last.get("val_bits") is None or last["val_bits"] > best_bits:
            model.set_weights(best_weights)
    return TrainResult(
        history=history,
        iterations=iteration,
        seconds=round(train_seconds, 3),
        best_val_bits=None if best_iteration is None else best_bits,
        best_iteration=best_iteration,
        stopped=stopped,
    )


def _write_state(folder: Path, history, best_bits, best_iteration) -> None:
    state = {
        "history": history,
        "best_val_bits": None if best_iteration is None else best_bits,
        "best_iteration": best_iteration,
    }
    tmp = folder / "history.json.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, folder / "history.json")


def _load_weights_copy(model: keras.Model, path: Path) -> list[np.ndarray]:
    current = model.get_weights()
    model.load_weights(path)
    best = model.get_weights()
    model.set_weights(current)
    return best
