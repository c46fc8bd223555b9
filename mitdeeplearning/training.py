"""One training toolkit for every model in the labs: a time budget, the best weights kept, a
live plot, the progress default, and one record of what a training run did.

Each piece is a small plain object that a training loop calls, so a loop written by hand (Lab 1's
`music.train`, which may run a student's own training step) and Keras' ``fit`` (Lab 2's
`xray.train_cam_cnn`, through `fit_callback`) share them:

* `TimeBudget` stops before the step (or epoch) that would run past ``max_seconds``, and carries
  the time already spent across a resumed run;
* `KeepBest` remembers the weights of the best held-out figure (lower or higher is better) and
  puts them back at the end;
* `LivePlot` redraws the training and held-out curves in place in a notebook, and prints a line
  per evaluation elsewhere;
* `progress_enabled` says whether to show a progress bar (`in_notebook` whether to plot);
* `TrainResult` is what a run did: its `History` (one dict per evaluation), the best held-out
  figure and where, the seconds it took and why it stopped.

Nothing here imports TensorFlow or Keras until `fit_callback` is called, so the record can be
read and written anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .data import progress_enabled

__all__ = [
    "History",
    "KeepBest",
    "LivePlot",
    "TimeBudget",
    "TrainResult",
    "fit_callback",
    "in_notebook",
    "progress_enabled",
]


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (Colab included), and not under ``$CI``: the
    default for drawing a live plot (`progress_enabled` decides the progress bar)."""
    return "ipykernel" in sys.modules and not os.environ.get("CI")


# ## The record of a run ----------------------------------------------------------------------


class History(list):
    """A run's evaluations: a list with one dict per evaluation, in order.

    Indexed by a name, it gives that figure's column (`None` where an evaluation lacks it), as
    Keras' ``History.history`` does; ``name in history`` asks whether any evaluation has it.

    Examples
    --------
    >>> history = History([{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}])
    >>> history[-1]["loss"], history["loss"], "loss" in history, "val_loss" in history
    (0.5, [0.9, 0.5], True, False)
    >>> History.from_columns({"loss": [0.9, 0.5]}, epoch=[1, 2]) == history
    True
    """

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self:
                raise KeyError(f"{key!r}: no evaluation has it (it has {self.columns}).")
            return [row.get(key) for row in self]
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        if isinstance(key, str):
            return any(key in row for row in self)
        return super().__contains__(key)

    @property
    def columns(self) -> list[str]:
        """The names the evaluations hold, in the order they first appear."""
        return list(dict.fromkeys(name for row in self for name in row))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence], **first: Sequence) -> History:
        """Rows from equally long columns (Keras' ``History.history``); `first`'s columns
        (e.g. ``epoch=``) come first in each row."""
        named = {**first, **columns}
        lengths = {len(values) for values in named.values()}
        if len(lengths) > 1:
            raise ValueError(f"The columns have different lengths: {sorted(lengths)}.")
        count = lengths.pop() if lengths else 0
        return cls({name: values[i] for name, values in named.items()} for i in range(count))


@dataclasses.dataclass
class TrainResult:
    """What a training run did.

    Each lab names its steps and its held-out figure, and the record answers to those names too:
    a music run (``unit="iteration"``, ``monitor="val_bits"``) has ``result.iterations``,
    ``result.best_val_bits`` and ``result.best_iteration``; an X-ray run (``unit="epoch"``,
    ``monitor="val_auc"``) has ``result.epochs``, ``result.best_val_auc`` and
    ``result.best_epoch``.

    Attributes
    ----------
    history : History
        One dict per evaluation: the step (``"iteration"`` or ``"epoch"``), ``"seconds"`` of
        training so far, and the figures measured (training and held-out losses...).
    steps : int
        Steps taken (iterations or epochs; a resumed run counts the earlier ones).
    seconds : float
        Training time.
    stopped : str
        Why it stopped, in words: ``"iterations"`` or ``"epochs"`` when all were taken,
        ``"max_seconds=... reached"``, a NaN loss, an interruption...
    unit : str
        What a step is: ``"iteration"`` (one batch) or ``"epoch"`` (one pass over the data).
    monitor : str, optional
        The held-out figure the best weights were chosen by.
    best, best_step : float and int, optional
        Its best value and the step it was measured after (None without held-out data).

    Examples
    --------
    >>> result = TrainResult(History([{"epoch": 1, "val_auc": 0.8}]), steps=1, seconds=2.0,
    ...                      stopped="epochs", unit="epoch", monitor="val_auc", best=0.8,
    ...                      best_step=1)
    >>> result.epochs, result.best_val_auc, result.best_epoch, result.history["val_auc"]
    (1, 0.8, 1, [0.8])
    >>> json.loads(result.to_json())["best"]
    0.8
    """

    history: History
    steps: int
    seconds: float
    stopped: str
    unit: str = "iteration"
    monitor: str | None = None
    best: float | None = None
    best_step: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.history, History):
            self.history = History(self.history)

    def _aliases(self) -> dict[str, str]:
        names = vars(self)  # read directly: __getattr__ must not call itself
        unit, monitor = names.get("unit"), names.get("monitor")
        aliases = {f"{unit}s": "steps", f"best_{unit}": "best_step"} if unit else {}
        if monitor:
            aliases[f"best_{monitor}"] = "best"
        return aliases

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in self._aliases():
            return getattr(self, self._aliases()[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._aliases()))

    def to_json(self) -> str:
        """The record as one JSON object (its fields; the history as a list of dicts)."""
        return json.dumps(dataclasses.asdict(self))


# ## The time budget ---------------------------------------------------------------------------


class TimeBudget:
    """Training time spent against a limit, and whether the next step still fits in it.

    The next step is expected to take as long as the last one, so training stops before a step
    that would run past `max_seconds`, not after it. The first `warmup` steps of a run compile
    the training function and say little about the next step: until more have run, training
    goes on while time is left.

    Parameters
    ----------
    max_seconds : float, optional
        The limit (None: no limit).
    spent : float
        Seconds already spent, e.g. by the run a checkpoint resumes.
    warmup : int
        Steps at the start of this run whose duration does not predict the next one.

    Examples
    --------
    >>> budget = TimeBudget(10.0, spent=6.0)
    >>> budget.add(3.0)  # a step of 3 s: 9 s spent, and the next would end at 12 s
    >>> budget.spent, budget.exhausted(), budget.reason
    (9.0, True, 'max_seconds=10.0 reached')
    >>> TimeBudget(None).exhausted(), TimeBudget(10.0, warmup=1).share_spent()
    (False, 0.0)
    """

    def __init__(self, max_seconds: float | None, *, spent: float = 0.0, warmup: int = 0) -> None:
        if max_seconds is not None and not (
            isinstance(max_seconds, int | float) and max_seconds > 0
        ):
            raise ValueError(f"max_seconds={max_seconds!r} must be a positive number of seconds.")
        self.max_seconds = max_seconds
        self.spent = float(spent)
        self.warmup = warmup
        self.steps = 0  # in this run
        self.last = 0.0
        self.reached = False

    def add(self, seconds: float) -> None:
        """Count a step (or epoch) that took `seconds`."""
        self.spent += seconds
        self.last = seconds
        self.steps += 1

    def exhausted(self) -> bool:
        """True once the time is spent, or when the next step (as long as the last) would run
        past the limit; it then stays True (`reached`)."""
        if self.max_seconds is not None and not self.reached:
            expected = self.last if self.steps > self.warmup else 0.0
            self.reached = self.spent + expected >= self.max_seconds
        return self.reached

    def share_spent(self) -> float:
        """The share of the limit spent, in [0, 1] (0 without a limit)."""
        if self.max_seconds is None:
            return 0.0
        return min(1.0, self.spent / self.max_seconds)

    @property
    def reason(self) -> str:
        """Why training stopped, in words, when the budget stopped it."""
        return f"max_seconds={self.max_seconds} reached"


# ## Keeping the best weights ------------------------------------------------------------------


class KeepBest:
    """The best value of a held-out figure, the step it came at, and the model's weights then.

    Call `update` after each evaluation and `restore` at the end: a run that got worse after its
    best evaluation (over-fitting, a learning rate too high at the end) ends with the best
    weights. (Keras' ``EarlyStopping(restore_best_weights=True)`` does this inside ``fit`` only;
    this also serves a loop of our own and a run resumed from a checkpoint.)

    Parameters
    ----------
    monitor : str
        The figure's name, e.g. ``"val_bits"`` or ``"val_auc"``.
    mode : {"min", "max"}
        Whether lower or higher is better.
    restore : bool
        Keep a copy of the best weights and put it back in `restore`; False only tracks the
        best value and step.

    Examples
    --------
    >>> best = KeepBest("val_auc", mode="max", restore=False)
    >>> [best.update(None, auc, epoch) for epoch, auc in enumerate([0.7, 0.9, 0.8], 1)]
    [True, True, False]
    >>> best.best, best.best_step, best.found
    (0.9, 2, True)
    """

    def __init__(self, monitor: str, mode: str = "min", *, restore: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}; expected 'min' (lower is better) or 'max'.")
        self.monitor, self.mode, self.restore_weights = monitor, mode, restore
        self.best = math.inf if mode == "min" else -math.inf
        self.best_step: int | None = None
        self.weights: list | None = None

    @property
    def found(self) -> bool:
        """Whether any evaluation gave a (finite) value."""
        return self.best_step is not None

    def improves(self, value: float | None) -> bool:
        """Whether `value` beats the best so far (None and NaN never do)."""
        if value is None or not math.isfinite(value):
            return False
        return value < self.best if self.mode == "min" else value > self.best

    def update(self, model, value: float | None, step: int) -> bool:
        """Record `value`, measured after `step`; True (and the weights copied) if it is the
        best so far."""
        if not self.improves(value):
            return False
        self.best, self.best_step = float(value), step
        if self.restore_weights:
            self.weights = [w.copy() for w in model.get_weights()]
        return True

    def resume(self, value: float, step: int, weights: list | None) -> None:
        """Start from a best found earlier (a checkpoint's), with its weights if it kept them."""
        self.best, self.best_step = float(value), step
        self.weights = weights if self.restore_weights else None

    def restore(self, model, step: int | None) -> bool:
        """Put the best weights back unless the model still holds them: `step` is the step the
        model's weights are from (None: unknown, e.g. after a NaN step). True if restored."""
        if self.weights is None or step == self.best_step:
            return False
        model.set_weights(self.weights)
        return True


# ## The live plot -----------------------------------------------------------------------------


class LivePlot:
    """Training and held-out curves, redrawn in place in a notebook at each evaluation; a line of
    text per evaluation elsewhere (a terminal, a log).

    Parameters
    ----------
    x : str
        The history's step name (``"iteration"``, ``"epoch"``), on the horizontal axis.
    curves : mapping, optional
        Label → the history's name of the figure drawn; by default ``{"training": "loss",
        "held out": "val_loss"}``. Evaluations without a figure are left out of its curve.
    ylabel : str
        What the figures are, with their unit.
    notebook : bool, optional
        Draw a figure (True) or print text (False); by default a figure in a notebook.

    Examples
    --------
    >>> plot = LivePlot("epoch", {"training": "loss", "held out": "val_loss"}, notebook=False)
    >>> plot.update([{"epoch": 1, "loss": 0.61, "val_loss": 0.65}])
    epoch 1: training 0.6100, held out 0.6500
    """

    def __init__(
        self,
        x: str = "iteration",
        curves: Mapping[str, str] | None = None,
        ylabel: str = "loss",
        *,
        notebook: bool | None = None,
    ) -> None:
        self.x, self.ylabel = x, ylabel
        self.curves = dict(curves or {"training": "loss", "held out": "val_loss"})
        self.ax = self.fig = self.handle = None
        if notebook if notebook is not None else in_notebook():
            import matplotlib.pyplot as plt
            from IPython.display import display

            self.fig, self.ax = plt.subplots(figsize=(7, 3.5))
            plt.close(self.fig)  # shown through the display handle only
            self.handle = display(self.fig, display_id=True)

    def update(self, history: Sequence[Mapping]) -> None:
        """Show `history` (a list of evaluations, the last one new)."""
        if self.ax is None:
            self.print_last(history)
            return
        self.draw(history)
        if self.handle is not None:  # None outside a notebook: nothing to redraw
            self.handle.update(self.fig)

    def print_last(self, history: Sequence[Mapping]) -> None:
        """The text fallback: the last evaluation's figures on one line."""
        if not history:
            return
        last = history[-1]
        figures = ", ".join(
            f"{label} {last[name]:.4f}"
            for label, name in self.curves.items()
            if last.get(name) is not None
        )
        print(f"{self.x} {last.get(self.x)}: {figures}", flush=True)

    def draw(self, history: Sequence[Mapping]) -> None:
        """Draw every curve of `history` on the figure's axes."""
        ax = self.ax
        ax.clear()
        for label, name in self.curves.items():
            points = [(h[self.x], h[name]) for h in history if h.get(name) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), label=label)
        ax.set_xlabel(self.x)
        ax.set_ylabel(self.ylabel)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()


# ## The same pieces inside Keras' fit ---------------------------------------------------------


def fit_callback(
    budget: TimeBudget | None = None,
    keep_best: KeepBest | None = None,
    plot: LivePlot | None = None,
):
    """A Keras callback that runs the toolkit inside ``model.fit``, one epoch as one step.

    After each epoch it counts the epoch's wall time (held-out scoring included) against
    `budget` and stops training when the next epoch would not fit, updates `keep_best` from the
    epoch's logs, and shows the epochs so far on `plot`; at the end of training it restores the
    best weights. It records each epoch's ``{"epoch", "seconds", **logs}`` in its ``history``
    (a `History`) and the seconds at each epoch's end in ``seconds``. Place it after the
    callbacks that add the monitored figure to the logs.

    Returns
    -------
    keras.callbacks.Callback
    """
    import time

    import keras

    class FitCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.history, self.seconds = History(), []
            self.started = self.last_end = 0.0

        def on_train_begin(self, logs=None) -> None:
            self.started = self.last_end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            now = time.perf_counter()
            self.seconds.append(round(now - self.started, 3))
            self.history.append({"epoch": epoch + 1, "seconds": self.seconds[-1], **(logs or {})})
            if keep_best is not None:
                keep_best.update(self.model, (logs or {}).get(keep_best.monitor), epoch + 1)
            if plot is not None:
                plot.update(self.history)
            if budget is not None:
                budget.add(now - self.last_end)  # the epoch, and what ran between epochs
                if budget.exhausted():
                    self.model.stop_training = True
            self.last_end = now

        def on_train_end(self, logs=None) -> None:
            if keep_best is not None:
                keep_best.restore(self.model, len(self.history) or None)

    return FitCallback()
