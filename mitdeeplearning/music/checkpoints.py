"""A training run's checkpoints, so that an interrupted run (a Colab disconnect) resumes where it
stopped: `train` saves one at every evaluation and resumes from the latest it finds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..files import atomic_write
from ..training import History, KeepBest

log = logging.getLogger(__name__)


class Checkpoints:
    """A run's checkpoints in one folder: TensorFlow checkpoints of the weights, the optimizer and
    the iteration (the last two kept), the history and best held-out loss (``history.json``),
    and the best weights (``best.weights.h5``).

    Parameters
    ----------
    folder : path
        Created if missing.
    model : keras.Model
    optimizer : keras optimizer, optional
        Its state (Adam's moments, the learning rate) is saved too; None to leave it out.
    done : tf.Variable
        The count of iterations taken, an int64 the training loop keeps up to date.
    """

    def __init__(self, folder, model, optimizer, done: tf.Variable) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        parts = {"model": model, "iteration": done}
        if optimizer is not None:
            parts["optimizer"] = optimizer
        self.checkpoint = tf.train.Checkpoint(**parts)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.folder, max_to_keep=2)

    def resume(self, model, best: KeepBest) -> History:
        """Restore the latest checkpoint, if any, and its best; return its history."""
        latest = self.manager.latest_checkpoint
        if not latest:
            return History()
        try:
            self.checkpoint.restore(latest).expect_partial()
        except (ValueError, tf.errors.OpError) as exc:
            raise ValueError(
                f"{self.folder} holds a run of a different model or optimizer, so training "
                "cannot resume from it: pass another checkpoint_dir or delete that folder "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ) from None
        state = json.loads((self.folder / "history.json").read_text())
        best_file = self.folder / "best.weights.h5"
        if state.get("best_iteration") is not None and best_file.exists():
            best.resume(state["best_val_bits"], state["best_iteration"],
                        load_weights_copy(model, best_file))  # fmt: skip
        log.info("Resumed from iteration %d (%s)", int(self.checkpoint.iteration), latest)
        return History(state["history"])

    def save_best(self, model) -> None:
        """Save `model`'s weights as the best so far."""
        model.save_weights(self.folder / "best.weights.h5")

    def save(self, iteration: int, history: History, best: KeepBest) -> None:
        """Save a checkpoint after `iteration`, with the history and the best so far."""
        self.manager.save(checkpoint_number=iteration)
        state = {
            "history": history,
            "best_val_bits": best.best if best.found else None,
            "best_iteration": best.best_step,
        }
        with atomic_write(self.folder / "history.json") as handle:
            handle.write(json.dumps(state))


def load_weights_copy(model: keras.Model, path: Path) -> list[np.ndarray]:
    """The weights saved at `path` for `model`, leaving the model's own weights as they are."""
    current = model.get_weights()
    model.load_weights(path)
    best = model.get_weights()
    model.set_weights(current)
    return best
