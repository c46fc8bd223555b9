"""The model, its training step (shared by the custom loop and fit), training, checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning.music import Vocab, build_model, train
from mitdeeplearning.music.batches import join_tunes
from mitdeeplearning.music.model import load_model, save_model, sequence_loss, train_step
from mitdeeplearning.music.training import evaluate_bits

# A tiny corpus with a learnable pattern: a model that learns it beats the uniform 3-4 bits.
TUNES = [f"X:{i}\nT:Scale {i}\nM:4/4\nK:D\n|:DEFG ABcd|edcB AGFE:|" for i in range(40)]
VOCAB = Vocab.from_texts(TUNES)
IDS = VOCAB.encode(join_tunes(TUNES[:36]))
VAL = VOCAB.encode(join_tunes(TUNES[36:]))
SMALL = {"embedding_dim": 8, "rnn_units": 32}


def test_model_output_shape_and_parameter_count():
    model = build_model(len(VOCAB), 16, 32, seed=0)
    logits = model(np.zeros((3, 11), np.int32))
    assert tuple(logits.shape) == (3, 11, len(VOCAB))
    v, e, u = len(VOCAB), 16, 32
    assert model.count_params() == v * e + 4 * (u * (e + u) + u) + u * v + v


def test_reference_sized_model_has_the_reference_parameter_count():
    # MIT 6.S191 (2020-2025): Embedding(256) → LSTM(1024) → Dense, 83 characters: 5.35M.
    model = build_model(83, 256, 1024, batch_size=8, stateful=True)
    assert round(model.count_params() / 1e6, 2) == 5.35


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cells_and_layers(cell):
    model = build_model(len(VOCAB), 8, 16, cell=cell, num_layers=2, dropout=0.1)
    assert tuple(model(np.zeros((2, 5), np.int32)).shape) == (2, 5, len(VOCAB))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"cell": "rnn"}, "cell="), ({"rnn_units": 0}, "rnn_units"), ({"stateful": True}, "batch")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(10, **kwargs)


@pytest.mark.slow
def test_fit_and_the_custom_loop_take_the_same_step():
    x = np.random.default_rng(0).integers(0, len(VOCAB), (4, 12)).astype(np.int32)
    y = np.roll(x, -1, axis=1)
    a = build_model(len(VOCAB), **SMALL, seed=1)
    b = build_model(len(VOCAB), **SMALL, seed=2)
    b.set_weights(a.get_weights())

    opt_a = keras.optimizers.SGD(0.5)
    tf.function(lambda x, y: train_step(a, opt_a, x, y))(x, y)  # the custom loop's step

    b.compile(optimizer=keras.optimizers.SGD(0.5))
    b.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # fit's step

    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(w0, w1) for w0, w1 in zip(a.get_weights(), build_model(
        len(VOCAB), **SMALL, seed=1).get_weights(), strict=True))  # fmt: skip  # it moved


@pytest.mark.slow
def test_training_learns_and_keeps_the_best_weights():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    before = evaluate_bits(model, VAL, seq_length=20)
    result = train(model, IDS, val_ids=VAL, iterations=120, seq_length=20, batch_size=16,
                   learning_rate=1e-2, eval_every=40, progress=False)  # fmt: skip
    assert result.iterations == 120 and result.stopped == "iterations"
    assert [h["iteration"] for h in result.history] == [40, 80, 120]
    assert before > 3.5  # about log2(vocab) untrained
    assert result.best_val_bits < 1.5  # it learned the scale
    after = evaluate_bits(model, VAL, seq_length=20)
    assert after == pytest.approx(result.best_val_bits, abs=1e-4)  # best weights kept
    assert result.seconds > 0


@pytest.mark.slow
def test_max_seconds_stops_early():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    result = train(model, IDS, iterations=10**6, seq_length=20, batch_size=8,
                   max_seconds=1.0, eval_every=10**6, progress=False)  # fmt: skip
    assert result.stopped.startswith("max_seconds")
    assert 0 < result.iterations < 10**6
    # It stops before an iteration that would pass the limit (unless the first, which
    # compiles the step, already did, or a step ran longer than the one before).
    assert result.seconds < 1.1 or result.iterations == 1
    assert result.history and result.history[-1]["val_bits"] is None


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    kwargs = dict(val_ids=VAL, seq_length=20, batch_size=16, eval_every=20, progress=False,
                  checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    model = build_model(len(VOCAB), **SMALL, seed=0)
    first = train(model, IDS, iterations=40, **kwargs)
    assert first.iterations == 40 and (tmp_path / "ckpt" / "history.json").exists()

    fresh = build_model(len(VOCAB), **SMALL, seed=5)  # a new session: new weights
    resumed = train(fresh, IDS, iterations=60, **kwargs)
    assert resumed.iterations == 60
    assert [h["iteration"] for h in resumed.history] == [20, 40, 60]
    assert resumed.history[:2] == first.history
    state = json.loads((tmp_path / "ckpt" / "history.json").read_text())
    assert state["best_iteration"] == resumed.best_iteration


@pytest.mark.slow
def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    kwargs = dict(seq_length=20, batch_size=8, eval_every=10, progress=False,
                  checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    train(build_model(len(VOCAB), **SMALL, seed=0), IDS, iterations=10, **kwargs)
    bigger = build_model(len(VOCAB), 8, 48, seed=0)
    with pytest.raises(ValueError, match="holds a run of a different model"):
        train(bigger, IDS, iterations=20, **kwargs)


@pytest.mark.slow
def test_stateful_reference_model_trains_and_evaluates():
    model = build_model(len(VOCAB), **SMALL, batch_size=4, stateful=True, seed=0)
    result = train(model, IDS, val_ids=VAL, iterations=20, seq_length=20, batch_size=4,
                   eval_every=20, reset_state=False, progress=False)  # fmt: skip
    assert np.isfinite(result.best_val_bits)


def test_strategy_needs_the_model_built_in_its_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = build_model(len(VOCAB), **SMALL)
    with pytest.raises(ValueError, match="strategy.scope"):
        train(model, IDS, iterations=1, strategy=strategy, progress=False)


MIRRORED = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mitdeeplearning.music import Vocab, build_model, train
    from mitdeeplearning.music.batches import join_tunes
    tunes = [f"X:{i}\\nK:D\\n|:DEFG ABcd|edcB AGFE:|" for i in range(30)]
    vocab = Vocab.from_texts(tunes)
    ids = vocab.encode(join_tunes(tunes))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build_model(len(vocab), 8, 32, seed=0)
    result = train(model, ids, val_ids=ids[:400], iterations=60, seq_length=20,
                   batch_size=16, learning_rate=1e-2, eval_every=30, strategy=strategy,
                   progress=False)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "bits": [h["val_bits"] for h in result.history]}))
    """
)


@pytest.mark.slow
def test_training_under_mirrored_strategy_on_two_cpu_devices():
    out = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["bits"][-1] < result["bits"][0] < 5  # it learns across both replicas


def test_save_and_load_model_with_its_vocabulary(tmp_path):
    model = build_model(len(VOCAB), **SMALL, seed=0)
    save_model(model, VOCAB, tmp_path / "m")
    loaded, vocab = load_model(tmp_path / "m")
    assert vocab == VOCAB
    x = np.zeros((1, 5), np.int32)
    np.testing.assert_allclose(model(x), loaded(x), atol=1e-6)
    with pytest.raises(ValueError, match="does not hold a model"):
        load_model(tmp_path / "nothing")


@pytest.mark.slow
def test_live_plot_draws_training_and_held_out_curves(capsys):
    import matplotlib

    matplotlib.use("Agg")
    from mitdeeplearning.training import LivePlot

    plot = LivePlot("iteration", {"training": "train_bits", "held out": "val_bits"},
                    "loss (bits per character)", notebook=True)  # fmt: skip
    history = [
        {"iteration": 10, "train_bits": 4.0, "val_bits": 3.9},
        {"iteration": 20, "train_bits": 3.0, "val_bits": 3.1},
    ]
    plot.update(history)
    train_line, val_line = plot.ax.lines
    assert list(train_line.get_ydata()) == [4.0, 3.0]
    assert list(val_line.get_ydata()) == [3.9, 3.1]
    assert plot.ax.get_ylabel() == "loss (bits per character)"

    capsys.readouterr()
    # train() drives one end to end; outside a notebook it prints a line per evaluation.
    model = build_model(len(VOCAB), **SMALL, seed=0)
    result = train(model, IDS, val_ids=VAL, iterations=20, seq_length=20, batch_size=8,
                   eval_every=10, progress=False, live_plot=True)  # fmt: skip
    assert len(result.history) == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("iter")]
    assert [line.split(":")[0] for line in lines] == ["iteration 10", "iteration 20"]
    assert all("training" in line and "held out" in line for line in lines)


@pytest.mark.slow
def test_a_stateful_model_is_scored_from_its_own_carried_state():
    # Regression: the copy used for scoring once took its weights in the wrong order and
    # scored a trained reference model at ~10 bits/char while it trained at ~3.8.
    from mitdeeplearning.music.batches import eval_windows
    from mitdeeplearning.music.model import reset_states

    model = build_model(len(VOCAB), **SMALL, batch_size=4, stateful=True, seed=0)
    train(model, IDS, iterations=60, seq_length=20, batch_size=4, learning_rate=1e-2,
          eval_every=1000, reset_state=False, progress=False)  # fmt: skip
    before = [s.numpy().copy() for s in recurrent_layers_states(model)]
    scored = evaluate_bits(model, IDS, seq_length=20, max_tokens=800)
    after = [s.numpy() for s in recurrent_layers_states(model)]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)  # scoring left the model's own state alone

    x, y = eval_windows(IDS, 20, 800)
    order = np.random.default_rng(0).permutation(len(x)).reshape(-1, 4)
    direct = np.mean([np.mean(sequence_loss(y[b], model(x[b]))) for b in order]) / np.log(2)
    assert scored == pytest.approx(direct, rel=1e-3)
    reset_states(model)


def recurrent_layers_states(model):
    from mitdeeplearning.music.model import recurrent_layers

    return [s for layer in recurrent_layers(model) for s in layer.states]


@pytest.mark.slow
def test_anneal_lowers_the_learning_rate_linearly_to_zero_over_the_budget():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    result = train(model, IDS, val_ids=VAL, iterations=40, seq_length=20, batch_size=4,
                   learning_rate=1e-2, anneal=True, eval_every=10, progress=False)  # fmt: skip
    rates = [h["learning_rate"] for h in result.history]
    # The rate each evaluation reports is the one its last step used: 1e-2 * (1 - 9/40), ...
    assert rates == pytest.approx([1e-2 * (1 - k / 40) for k in (9, 19, 29, 39)], rel=1e-5)
    # A time budget counts too: whichever share of the budget is larger sets the rate.
    model = build_model(len(VOCAB), **SMALL, seed=0)
    timed = train(model, IDS, iterations=10**6, max_seconds=3, seq_length=20, batch_size=4,
                  learning_rate=1e-2, anneal=True, eval_every=10**6, progress=False)  # fmt: skip
    assert timed.stopped.startswith("max_seconds")
    assert timed.history[-1]["learning_rate"] < 1e-2 * 0.2


def test_anneal_refuses_a_schedule_of_its_own():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    with pytest.raises(ValueError, match="anneal=True"):
        train(model, IDS, iterations=2, anneal=True, lr_half_life=10, progress=False)
    with pytest.raises(ValueError, match="anneal=True"):
        train(model, IDS, iterations=2, anneal=True, optimizer=keras.optimizers.SGD(),
              progress=False)  # fmt: skip


def test_stream_scoring_rows_are_checked():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    with pytest.raises(ValueError, match="rows=0"):
        evaluate_bits(model, VAL, seq_length=20, order="stream", rows=0)


# ## Stream windows: the state carried from batch to batch ---------------------------------


def test_stream_training_needs_a_stateful_model_of_that_batch_size():
    stateless = build_model(len(VOCAB), 8, 16, seed=0)
    with pytest.raises(ValueError, match=r"batch_size=8, stateful=True"):
        train(stateless, IDS, iterations=1, batch_size=8, windows="stream", progress=False)
    stateful = build_model(len(VOCAB), 8, 16, batch_size=4, stateful=True, seed=0)
    with pytest.raises(ValueError, match=r"batch_size=8, stateful=True"):
        train(stateful, IDS, iterations=1, batch_size=8, windows="stream", progress=False)
    with pytest.raises(ValueError, match="windows="):
        train(stateful, IDS, iterations=1, batch_size=4, windows="shuffled", progress=False)


@pytest.mark.slow
def test_stream_training_learns_and_is_scored_on_contiguous_rows():
    model = build_model(len(VOCAB), 8, 32, batch_size=8, stateful=True, seed=0)
    result = train(model, IDS, val_ids=VAL, iterations=120, seq_length=20, batch_size=8,
                   learning_rate=2e-2, eval_every=40, windows="stream", progress=False)  # fmt: skip
    bits = [h["val_bits"] for h in result.history]
    assert bits[-1] < 2.0 < np.log2(len(VOCAB))  # learned the scale, far below uniform
    # "stream" scoring: the held-out text as contiguous rows, each read from a zero state.
    scored = evaluate_bits(model, VAL, seq_length=20, max_tokens=None, order="stream")
    rows = min(8, (len(VAL) - 1) // 20)
    length = (len(VAL) - 1) // rows
    x = VAL[: rows * length].reshape(rows, length)
    y = VAL[1 : rows * length + 1].reshape(rows, length)
    twin = build_model(len(VOCAB), 8, 32)
    twin.set_weights(model.get_weights())
    direct = float(np.mean(sequence_loss(y, twin(x)))) / np.log(2)
    assert scored == pytest.approx(direct, rel=1e-4)
    assert result.best_val_bits == pytest.approx(min(bits))


# ## A training step of your own --------------------------------------------------------------


def hand_written_step(model, optimizer):
    """A student's training step: a compiled GradientTape step on the model's own loss."""

    @tf.function
    def my_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            per_token = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            loss = tf.reduce_mean(per_token)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return my_step


@pytest.mark.slow
def test_a_hand_written_step_gets_the_history_and_keeps_the_best_weights():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    optimizer = keras.optimizers.Adam(1e-2)
    compiled = hand_written_step(model, optimizer)
    calls = []

    def my_step(x, y):  # the compiled step, and after 80 steps the weights are wrecked
        calls.append(1)
        loss = compiled(x, y)
        if len(calls) > 80:
            for weight in model.trainable_variables:
                weight.assign(tf.random.normal(weight.shape, stddev=3.0, seed=len(calls)))
        return loss

    result = train(model, IDS, val_ids=VAL, iterations=120, seq_length=20, batch_size=16,
                   eval_every=40, step=my_step, optimizer=optimizer, progress=False)  # fmt: skip
    assert len(calls) == 120 and result.iterations == 120 and result.stopped == "iterations"
    assert [h["iteration"] for h in result.history] == [40, 80, 120]
    assert [h["learning_rate"] for h in result.history] == pytest.approx([1e-2] * 3)
    bits = [h["val_bits"] for h in result.history]
    assert bits[1] < 1.5 < bits[2]  # it learned the scale, then was wrecked
    assert result.best_iteration == 80 and result.best_val_bits == pytest.approx(bits[1])
    after = evaluate_bits(model, VAL, seq_length=20)
    assert after == pytest.approx(bits[1], abs=1e-4)  # the best weights came back


@pytest.mark.slow
def test_a_hand_written_step_keeps_to_the_time_budget_and_anneals(tmp_path):
    model = build_model(len(VOCAB), **SMALL, seed=0)
    optimizer = keras.optimizers.Adam(1e-2)
    my_step = hand_written_step(model, optimizer)
    window = IDS[:160].reshape(8, 20).astype(np.int32)
    my_step(window, window)  # compiled before the clock starts, so the budget sees many steps
    kwargs = dict(step=my_step, optimizer=optimizer, seq_length=20, batch_size=8,
                  progress=False, checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    result = train(model, IDS, val_ids=VAL, iterations=10**6, max_seconds=2.0, anneal=True,
                   eval_every=10, **kwargs)  # fmt: skip
    assert result.stopped == "max_seconds=2.0 reached" and result.iterations > 10
    assert result.seconds < 2.1  # before the limit, unless a step ran longer than the last
    rates = [h["learning_rate"] for h in result.history]
    assert rates == sorted(rates, reverse=True) and rates[-1] < 1e-2 * 0.5
    # Resumed with more iterations and no time limit: it continues from its checkpoint.
    resumed = train(model, IDS, val_ids=VAL, iterations=result.iterations + 5, eval_every=10,
                    **kwargs)  # fmt: skip
    assert resumed.iterations == result.iterations + 5
    assert resumed.history[: len(result.history)] == result.history


def test_a_step_of_your_own_is_checked():
    model = build_model(len(VOCAB), **SMALL, seed=0)
    optimizer = keras.optimizers.Adam(1e-2)
    my_step = hand_written_step(model, optimizer)
    with pytest.raises(ValueError, match="step="):
        train(model, IDS, iterations=1, step="train_step", progress=False)
    with pytest.raises(ValueError, match="pass it as optimizer="):
        train(model, IDS, iterations=1, step=my_step, anneal=True, progress=False)
    with pytest.raises(ValueError, match="lr_half_life"):
        train(model, IDS, iterations=1, step=my_step, lr_half_life=10, progress=False)
    scheduled = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5))
    with pytest.raises(ValueError, match="schedule of its own"):
        train(model, IDS, iterations=1, step=my_step, optimizer=scheduled, anneal=True,
              progress=False)  # fmt: skip
