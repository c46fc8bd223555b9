"""mitdeeplearning.training, the toolkit both labs train with: the result record and its history,
the time budget, keeping the best weights, the live plot, the progress default, and all of them
inside Keras' fit."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mitdeeplearning import data
from mitdeeplearning.training import (
    History,
    KeepBest,
    LivePlot,
    TimeBudget,
    TrainResult,
    fit_callback,
    in_notebook,
    progress_enabled,
)

# ## The record -------------------------------------------------------------------------------


def test_history_is_a_list_of_dicts_with_columns():
    history = History([{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}])
    assert history[0] == {"epoch": 1, "loss": 0.9} and len(history) == 2
    assert history["loss"] == [0.9, 0.5]
    assert history["val_loss"] == [None, 0.7]  # an evaluation without it
    assert "val_loss" in history and "val_auc" not in history
    assert history.columns == ["epoch", "loss", "val_loss"]
    with pytest.raises(KeyError, match="val_auc"):
        history["val_auc"]
    assert json.loads(json.dumps(history)) == list(history)


def test_history_from_keras_columns():
    history = History.from_columns({"loss": [0.9, 0.5], "auc": [0.6, 0.8]}, epoch=[1, 2])
    assert history == [{"epoch": 1, "loss": 0.9, "auc": 0.6}, {"epoch": 2, "loss": 0.5, "auc": 0.8}]
    assert History.from_columns({}) == []
    with pytest.raises(ValueError, match="different lengths"):
        History.from_columns({"loss": [1.0]}, epoch=[1, 2])


def test_one_result_record_answers_to_each_labs_names():
    music = TrainResult([{"iteration": 50, "val_bits": 2.1}], steps=60, seconds=3.0,
                        stopped="iterations", unit="iteration", monitor="val_bits", best=2.1,
                        best_step=50)  # fmt: skip
    assert isinstance(music.history, History)
    assert (music.iterations, music.best_val_bits, music.best_iteration) == (60, 2.1, 50)
    xray = TrainResult(History([{"epoch": 1, "val_auc": 0.9}]), steps=1, seconds=2.0,
                       stopped="epochs", unit="epoch", monitor="val_auc")  # fmt: skip
    assert (xray.epochs, xray.best_val_auc, xray.best_epoch) == (1, None, None)
    assert xray.history["val_auc"] == [0.9]
    with pytest.raises(AttributeError, match="best_val_bits"):
        getattr(xray, "best_val_bits")  # another lab's name  # noqa: B009
    with pytest.raises(AttributeError):
        getattr(music, "epochs")  # noqa: B009
    assert {"epochs", "best_val_auc", "best_epoch"} <= set(dir(xray))


def test_the_record_is_saved_as_json_and_copies():
    result = TrainResult([{"epoch": 1, "val_auc": 0.9}], 1, 2.0, "epochs", "epoch", "val_auc",
                         0.9, 1)  # fmt: skip
    saved = json.loads(result.to_json())
    assert saved == {"history": [{"epoch": 1, "val_auc": 0.9}], "steps": 1, "seconds": 2.0,
                     "stopped": "epochs", "unit": "epoch", "monitor": "val_auc", "best": 0.9,
                     "best_step": 1}  # fmt: skip
    for twin in (copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert twin == result and twin.best_val_auc == 0.9


# ## The time budget --------------------------------------------------------------------------


def test_the_budget_stops_before_a_step_that_would_pass_the_limit():
    budget = TimeBudget(10.0)
    for _ in range(3):
        budget.add(2.0)  # 6 s spent, the next step would end at 8 s: it fits
    assert not budget.exhausted() and budget.share_spent() == pytest.approx(0.6)
    budget.add(2.0)  # 8 s: the next would end at exactly 10 s, which is the limit
    assert budget.exhausted() and budget.reached
    assert budget.reason == "max_seconds=10.0 reached"
    assert budget.exhausted()  # and it stays exhausted


def test_the_budget_skips_the_warmup_steps_in_its_estimate():
    budget = TimeBudget(5.0, warmup=1)
    budget.add(3.0)  # compiling: the next step will not take 3 s
    assert not budget.exhausted()
    budget.add(0.5)
    assert not budget.exhausted()  # 3.5 + 0.5 < 5
    budget.add(0.5)
    budget.add(0.5)
    assert budget.exhausted()  # 4.5 + 0.5
    # Within the warmup, only the time spent counts.
    assert TimeBudget(1.0, warmup=1, spent=0.0).exhausted() is False
    late = TimeBudget(1.0, warmup=1)
    late.add(1.5)
    assert late.exhausted()


def test_the_time_spent_survives_a_resume():
    resumed = TimeBudget(300.0, spent=299.0)
    resumed.add(0.5)
    assert resumed.spent == 299.5 and resumed.exhausted()
    assert TimeBudget(300.0, spent=600.0).share_spent() == 1.0


def test_no_limit_never_stops_and_a_bad_limit_is_refused():
    budget = TimeBudget(None)
    budget.add(1e9)
    assert not budget.exhausted() and budget.share_spent() == 0.0
    for bad in (0, -1, "60"):
        with pytest.raises(ValueError, match="max_seconds="):
            TimeBudget(bad)


# ## Keeping the best weights -----------------------------------------------------------------


class FakeModel:
    """Just the two calls KeepBest makes of a Keras model."""

    def __init__(self, value: float) -> None:
        self.weights = [np.full(3, value)]

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


@pytest.mark.parametrize(("mode", "values", "best"), [("min", [3, 1, 2], 1), ("max", [1, 3, 2], 3)])
def test_keep_best_restores_the_best_weights_at_the_end(mode, values, best):
    model = FakeModel(0)
    keep = KeepBest("figure", mode)
    for step, value in enumerate(values, start=1):
        model.set_weights([np.full(3, float(value))])  # the weights after this step
        keep.update(model, value, step)
    assert (keep.best, keep.best_step, keep.found) == (best, 2, True)
    assert keep.restore(model, step=3)
    assert model.weights[0].tolist() == [best] * 3
    assert not keep.restore(model, step=2)  # the model holds the best weights already


def test_keep_best_ignores_missing_and_nan_figures_and_copies_the_weights():
    model = FakeModel(1.0)
    keep = KeepBest("val_loss")
    assert not keep.update(model, None, 1) and not keep.update(model, float("nan"), 2)
    assert not keep.found and not keep.restore(model, None)
    keep.update(model, 0.5, 3)
    model.weights[0][:] = 9.0  # training goes on in place
    keep.restore(model, None)  # None: the weights are from an unknown step
    assert model.weights[0].tolist() == [1.0, 1.0, 1.0]


def test_keep_best_without_restoring_and_resumed():
    keep = KeepBest("val_bits", restore=False)
    keep.update(FakeModel(1.0), 2.0, 10)
    assert keep.weights is None and keep.best == 2.0
    resumed = KeepBest("val_bits")
    resumed.resume(1.5, 40, [np.zeros(3)])
    assert not resumed.update(FakeModel(1.0), 1.6, 60)  # the earlier run's best still counts
    model = FakeModel(7.0)
    assert resumed.restore(model, 60) and model.weights[0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="mode="):
        KeepBest("val_bits", "lowest")


# ## The live plot and the progress default ---------------------------------------------------


def test_live_plot_prints_a_line_outside_a_notebook(capsys):
    plot = LivePlot("iteration", {"training": "train_bits", "held out": "val_bits"},
                    notebook=False)  # fmt: skip
    plot.update([{"iteration": 10, "train_bits": 4.0, "val_bits": None}])
    plot.update([{"iteration": 20, "train_bits": 3.0, "val_bits": 3.25}])
    assert capsys.readouterr().out.splitlines() == [
        "iteration 10: training 4.0000",
        "iteration 20: training 3.0000, held out 3.2500",
    ]


def test_live_plot_draws_both_curves_in_a_notebook(capsys):
    import matplotlib

    matplotlib.use("Agg")
    plot = LivePlot("epoch", ylabel="cross-entropy (nats)", notebook=True)
    plot.update([{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": 0.5, "val_loss": 0.6}])
    training, held_out = plot.ax.lines
    assert list(training.get_ydata()) == [0.7, 0.5]
    assert list(held_out.get_xdata()) == [2] and list(held_out.get_ydata()) == [0.6]
    assert plot.ax.get_ylabel() == "cross-entropy (nats)" and plot.ax.get_xlabel() == "epoch"


def test_progress_and_plot_defaults(monkeypatch):
    assert progress_enabled is data.progress_enabled  # one rule for every progress bar
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as if in a notebook
    monkeypatch.delenv("CI", raising=False)
    assert in_notebook() and progress_enabled(None)
    monkeypatch.setenv("CI", "1")
    assert not in_notebook() and not progress_enabled(None)
    assert progress_enabled(True)


def test_the_toolkit_imports_nothing_heavy():
    code = (
        "import sys, mitdeeplearning.training\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ## Inside Keras' fit ------------------------------------------------------------------------


def _tiny_fit(callbacks, epochs):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    fitted = model.fit(x, x[:, :1], epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
    return model, fitted


def test_fit_callback_keeps_the_best_epochs_weights_and_records_the_epochs():
    import keras

    scores = [0.2, 0.9, 0.5, 0.4]
    kept = {}

    class Score(keras.callbacks.Callback):  # a held-out figure, made up per epoch
        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = scores[epoch]
            kept[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    best = KeepBest("val_score", "max")
    toolkit = fit_callback(keep_best=best)
    model, fitted = _tiny_fit([Score(), toolkit], epochs=4)
    assert (best.best, best.best_step) == (0.9, 2)
    for now, then in zip(model.get_weights(), kept[2], strict=True):
        np.testing.assert_array_equal(now, then)  # the second epoch's weights came back
    assert toolkit.history["epoch"] == [1, 2, 3, 4]
    assert toolkit.history["val_score"] == scores
    assert toolkit.history["loss"] == pytest.approx(fitted.history["loss"])
    assert toolkit.seconds == sorted(toolkit.seconds) and len(toolkit.seconds) == 4


def test_fit_callback_stops_before_an_epoch_that_would_pass_the_budget():
    import time

    import keras

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.2)

    budget = TimeBudget(1.0)
    toolkit = fit_callback(budget=budget)
    _, fitted = _tiny_fit([Slow(), toolkit], epochs=100)
    epochs = len(fitted.history["loss"])
    assert budget.reached and 1 <= epochs < 100
    assert budget.spent < 1.1 or epochs == 1  # it stopped before the limit (give or take jitter)
    assert budget.spent == pytest.approx(toolkit.seconds[-1], abs=0.01)


def test_both_labs_return_this_record_under_their_old_names(monkeypatch):
    import warnings

    from mitdeeplearning import _lazy, music
    from mitdeeplearning.music import training as music_training
    from mitdeeplearning.xray import model as xray_model
    from mitdeeplearning.xray import training as xray_training

    monkeypatch.setattr(_lazy, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # xray.model's moved name warns
        old_xray = xray_model.TrainResult
    assert music.TrainResult is music_training.TrainResult is TrainResult
    assert xray_training.TrainResult is old_xray is TrainResult
