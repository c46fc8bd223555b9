"""Training a sequence model with a custom `GradientTape` loop that a student can read.

`train` reads the corpus as random windows or as streams, takes gradient steps (with
`model.train_step`, or a training step of your own), measures the held-out loss in bits per
character every `eval_every` iterations, and can checkpoint so that an interrupted run (a Colab
disconnect) resumes where it stopped. The time budget, the best weights kept, the live plot and
the result record are the shared training toolkit's (`mitdeeplearning.training`). It runs under
any `tf.distribute` strategy: one GPU, several, or a TPU.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..training import (
    History,
    KeepBest,
    LivePlot,
    TimeBudget,
    TrainResult,
    in_notebook,
    progress_enabled,
)
from .batches import make_dataset, stream_batches
from .checkpoints import Checkpoints
from .evaluation import LN2, evaluate_bits
from .model import recurrent_layers, reset_states, train_step
from .sampling import TEMPERATURE, TOP_P

log = logging.getLogger(__name__)

#: The lab's model, training and sampling settings, sized for a 2-core CPU (benchmarks/music.py
#: measures them against the reference lab's). Stream windows carry the state along whole tunes,
#: so the model can learn where in a tune it is (how many bars are left). In 5 minutes the model
#: reads the training tunes about 8 times and starts to learn them by heart: dropout 0.3 before
#: the output layer holds that back, and a learning rate that starts high and falls to zero as
#: the time runs out (`anneal`) gains more from the same minutes than a fixed halving did.
#: Sampling: each tune is given the meter and key of a training tune drawn at random, with its
#: meter's usual unit length (``headers="usual"``: `draw_headers`), so keys and meters come in
#: the training tunes' mix (left to itself at a low temperature the model writes reels in G);
#: a moderate temperature (0.5) and nucleus sampling (``top_p=0.9``) keep most tunes valid
#: without collapsing them onto one safe tune (benchmarks/RESULTS.md has the settings tried);
#: and the sampler counts the beats (``fit_bars``): a bar that cannot fit the meter is drawn
#: again, which lifts the valid share from about 86 % (the model alone) to about 97 %.
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
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "headers": "usual",
    "fit_bars": True,
}


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
    step: Callable | None = None,
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
        Lower the learning rate linearly to zero as the budget runs out: the share of
        `max_seconds` spent or of `iterations` taken, whichever is larger. Small steps at the
        end settle the weights where large ones keep hopping about, which pays most when
        training is cut short by a time limit (Li et al., "Budgeted Training", ICLR 2020).
        It sets the default optimizer's rate, from `learning_rate` (so not with `optimizer` or
        `lr_half_life`); with your own `step`, that of the `optimizer` it uses, from its rate
        at the start.
    optimizer : keras optimizer, optional
        Used instead of the default. With your own `step`: the optimizer that step uses, so
        that checkpoints keep its state, the history shows its learning rate and `anneal` can
        lower it.
    step : callable, optional
        Your own training step instead of `train_step`: ``step(x, y)`` takes one gradient step
        on a batch of ``(batch_size, seq_length) int32`` windows `x` and their next tokens `y`
        (usually a `tf.function` with a `tf.GradientTape`) and returns the batch's mean loss
        in nats (a scalar, or one loss per window). Everything else (windows, evaluation, the
        time budget, the best weights, checkpoints) stays the same. One replica only.
    eval_every : int
        Iterations between held-out evaluations (and checkpoints).
    eval_tokens : int, optional
        Evaluate on at most this many held-out tokens (None: all of them).
    max_seconds : float, optional
        Training time (evaluation excluded) allowed: training stops before an iteration that
        would run past it, expecting each to take as long as the one before (`TimeBudget`).
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
        A progress bar, and loss curves redrawn in place (text lines outside a notebook); by
        default both in a notebook, the bar alone on a terminal, neither under ``$CI``.
    callback : callable, optional
        Called with each history entry.

    Returns
    -------
    TrainResult
        ``history`` has one dict per evaluation: ``iteration``, ``seconds``, ``train_bits``,
        ``val_bits`` (None without held-out data) and the ``learning_rate`` in use;
        ``result.iterations``, ``result.best_val_bits`` and ``result.best_iteration`` name the
        steps taken and the best held-out loss.

    Examples
    --------
    A training step of your own (the rest of the loop stays the same):

    >>> optimizer = keras.optimizers.Adam(1e-3)                             # doctest: +SKIP
    >>> @tf.function
    ... def my_step(x, y):
    ...     with tf.GradientTape() as tape:
    ...         loss = tf.reduce_mean(sequence_loss(y, model(x, training=True)))
    ...     grads = tape.gradient(loss, model.trainable_variables)
    ...     optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    ...     return loss                                                      # doctest: +SKIP
    >>> result = train(model, ids, val_ids=val, step=my_step, optimizer=optimizer,
    ...                max_seconds=60)                                       # doctest: +SKIP
    """
    if iterations < 1 or eval_every < 1:
        raise ValueError(f"iterations={iterations} and eval_every={eval_every} must be >= 1.")
    strategy = _checked_strategy(model, strategy, batch_size, step)
    stateful = _check_windows(model, windows, batch_size, strategy)
    _check_rate_settings(anneal, optimizer, lr_half_life, step)
    optimizer = _optimizer_for(model, strategy, optimizer, learning_rate, lr_half_life, step)
    anneal_from = None
    if anneal:  # read before a checkpoint restores an annealed rate
        anneal_from = learning_rate if step is None else _rate_of(optimizer)
    done = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")  # a counter
    saver = None if checkpoint_dir is None else Checkpoints(checkpoint_dir, model, optimizer, done)
    best = KeepBest("val_bits", "min", restore=keep_best)
    history = History() if saver is None else saver.resume(model, best)
    start = int(done)
    from tqdm.auto import tqdm

    def score() -> float:  # the held-out loss, read as the model reads in training
        order = "stream" if windows == "stream" else None
        return evaluate_bits(model, val_ids, seq_length, eval_tokens, order=order)

    run = _Run(
        model=model,
        take_step=step or _distributed_step(model, optimizer, strategy),
        next_batch=_batch_source(model, train_ids, windows, seq_length, batch_size, seed,
                                 start, strategy, reset_each=stateful and reset_state),
        iterations=iterations,
        eval_every=eval_every,
        budget=TimeBudget(max_seconds, spent=history[-1]["seconds"] if history else 0.0,
                          warmup=1),
        best=best,
        history=history,
        score=None if val_ids is None else score,
        optimizer=optimizer,
        anneal_from=anneal_from,
        saver=saver,
        done=done,
        bar=tqdm(total=iterations, initial=start, disable=not progress_enabled(progress),
                 unit="it", desc="training"),
        plot=_live_plot() if (in_notebook() if live_plot is None else live_plot) else None,
        callback=callback,
    )  # fmt: skip
    try:
        iteration, stopped, weights_step = _train_loop(run, start)
    finally:
        run.bar.close()
    best.restore(model, weights_step)
    return TrainResult(
        history=history,
        steps=iteration,
        seconds=round(run.budget.spent, 3),
        stopped=stopped,
        unit="iteration",
        monitor="val_bits",
        best=best.best if best.found else None,
        best_step=best.best_step,
    )


# ## Checking the arguments ----------------------------------------------------------------------


def _checked_strategy(model, strategy, batch_size: int, step) -> tf.distribute.Strategy:
    """`strategy` (or the current one), checked to hold the model and to split the batch."""
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
    if step is not None:
        if not callable(step):
            raise ValueError(
                f"step={step!r} must be a function step(x, y) that takes one gradient step on a "
                "batch and returns its loss."
            )
        if strategy.num_replicas_in_sync > 1:
            raise ValueError(
                "A step of your own runs on one replica: leave out the strategy, or leave out "
                "step= to train with train_step on every replica."
            )
    return strategy


def _check_windows(model, windows: str, batch_size: int, strategy) -> bool:
    """Check that the model can read `windows`; return whether it is stateful."""
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
    return stateful


def _check_rate_settings(anneal: bool, optimizer, lr_half_life, step) -> None:
    """`anneal` sets one optimizer's rate: the default one's, or that of your own step."""
    if step is not None and lr_half_life:
        raise ValueError(
            "lr_half_life schedules the default optimizer; with step=..., give your own "
            "optimizer a schedule instead."
        )
    if not anneal:
        return
    if lr_half_life or (optimizer is not None and step is None):
        raise ValueError("anneal=True sets the default optimizer's rate: leave out optimizer "
                         "and lr_half_life.")  # fmt: skip
    if step is not None:
        if optimizer is None:
            raise ValueError(
                "anneal=True with step=... lowers the learning rate of the optimizer your step "
                "uses: pass it as optimizer=..."
            )
        if not hasattr(optimizer.learning_rate, "assign"):
            raise ValueError(
                "anneal=True sets the optimizer's learning rate, but this one follows a "
                "schedule of its own: give it a fixed rate, or leave out anneal."
            )


# ## The pieces of the loop ----------------------------------------------------------------------


def _optimizer_for(model, strategy, optimizer, learning_rate, lr_half_life, step):
    """The optimizer to train (and checkpoint) with, built for the model's weights: the one
    given, else (without a step of your own) Adam clipped at norm 1; None for a step of your
    own that keeps its optimizer to itself."""
    with strategy.scope():
        if optimizer is None and step is None:
            rate = learning_rate
            if lr_half_life:
                rate = keras.optimizers.schedules.ExponentialDecay(rate, lr_half_life, 0.5)
            optimizer = keras.optimizers.Adam(rate, global_clipnorm=1.0)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
    return optimizer


def _rate_of(optimizer) -> float | None:
    """The optimizer's current learning rate (None without an optimizer)."""
    if optimizer is None:
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _distributed_step(model, optimizer, strategy) -> Callable:
    """`train_step` on every replica of `strategy`, compiled; returns the batch's mean loss."""

    @tf.function
    def distributed_step(x, y):
        per_replica = strategy.run(train_step, args=(model, optimizer, x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return distributed_step


def _batch_source(
    model, ids, windows: str, seq_length: int, batch_size: int, seed: int, start: int,
    strategy, *, reset_each: bool,
) -> Callable[[], tuple]:  # fmt: skip
    """A function that returns the next ``(x, y)`` batch, `start` batches into the run, and
    zeroes a stateful model's state where the windows it reads next are unrelated to the last."""
    if windows == "stream":
        batches = stream_batches(ids, seq_length, batch_size, seed=seed, start=start)
        reset_states(model)  # a resumed run starts its stream afresh

        def next_stream_batch():
            x, y, new_epoch = next(batches)
            if new_epoch:
                reset_states(model)
            return x, y

        return next_stream_batch
    dataset = make_dataset(ids, seq_length, batch_size, seed=seed * 1_000_003 + start)
    distributed = iter(strategy.experimental_distribute_dataset(dataset))

    def next_random_batch():
        if reset_each:
            reset_states(model)
        return next(distributed)

    return next_random_batch


def _live_plot() -> LivePlot:
    return LivePlot(
        "iteration",
        {"training": "train_bits", "held out": "val_bits"},
        "loss (bits per character)",
    )


@dataclasses.dataclass
class _Run:
    """What the training loop works with, for one call of `train`."""

    model: keras.Model
    take_step: Callable  # (x, y) -> the batch's mean loss, nats
    next_batch: Callable[[], tuple]
    iterations: int
    eval_every: int
    budget: TimeBudget
    best: KeepBest
    history: History
    score: Callable[[], float] | None  # the held-out loss, bits per token
    optimizer: Any
    anneal_from: float | None  # the learning rate that anneal lowers to zero
    saver: Checkpoints | None
    done: tf.Variable  # iterations taken, checkpointed
    bar: Any
    plot: LivePlot | None
    callback: Callable[[dict], None] | None


def _train_loop(run: _Run, iteration: int) -> tuple[int, str, int | None]:
    """Take steps from `iteration` on until the iterations or the time run out; evaluate every
    `eval_every`. Returns the iterations taken, why it stopped, and the iteration the model's
    weights are from (None when a step left them past the last count: a NaN, an interruption)."""
    losses: list[float] = []
    try:
        while iteration < run.iterations:
            tic = time.perf_counter()
            if run.anneal_from is not None:
                spent = max(iteration / run.iterations, run.budget.share_spent())
                run.optimizer.learning_rate.assign(run.anneal_from * max(0.0, 1.0 - spent))
            x, y = run.next_batch()
            loss = float(np.mean(run.take_step(x, y)))
            run.budget.add(time.perf_counter() - tic)
            if not math.isfinite(loss):
                stopped = "the loss became NaN or infinite: lower the learning rate"
                log.warning("Stopping: %s (iteration %d)", stopped, iteration)
                return iteration, stopped, None
            losses.append(loss)
            iteration += 1
            run.done.assign(iteration)
            run.bar.update(1)
            out_of_time = run.budget.exhausted()
            if iteration % run.eval_every == 0 or iteration == run.iterations or out_of_time:
                _evaluate(run, iteration, losses)
                losses = []
            if out_of_time:
                return iteration, run.budget.reason, iteration
    except KeyboardInterrupt:
        log.warning("Training interrupted at iteration %d", iteration)
        return iteration, "interrupted", None
    return iteration, "iterations", iteration


def _evaluate(run: _Run, iteration: int, losses: list[float]) -> None:
    """Record the evaluation after `iteration` (mean training loss of `losses`, held-out loss),
    keep the best weights, checkpoint, and show it."""
    entry = {
        "iteration": iteration,
        "seconds": round(run.budget.spent, 3),
        "train_bits": float(np.mean(losses)) / LN2,
        "val_bits": None,
        "learning_rate": _rate_of(run.optimizer),
    }
    if run.score is not None:
        entry["val_bits"] = run.score()
        if run.best.update(run.model, entry["val_bits"], iteration) and run.saver is not None:
            run.saver.save_best(run.model)
    run.history.append(entry)
    run.bar.set_postfix(
        train=f"{entry['train_bits']:.3f}",
        val="-" if entry["val_bits"] is None else f"{entry['val_bits']:.3f}",
    )
    if run.saver is not None:
        run.saver.save(iteration, run.history, run.best)
    if run.plot is not None:
        run.plot.update(run.history)
    if run.callback is not None:
        run.callback(entry)
