"""Lab 1's checks of the pieces that make the music: the reference solutions (which the notebook
copies) pass, right answers written another way pass, each typical mistake fails with its hint,
and an answer that hands the exercise to Keras or to the package is refused.

The answers are written as notebook cells would write them (this module's globals play the
notebook's) and most are graded through a `fresh()` copy, as locked test cells do.
"""

from __future__ import annotations

import logging
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import grading, guard, music
from mitdeeplearning.grading import GradingError

# ## The reference solutions -----------------------------------------------------------------------


def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
    i, f, g, o = tf.split(z, 4, axis=1)  # Keras' order: input, forget, cell candidate, output
    c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h_new = tf.sigmoid(o) * tf.tanh(c_new)
    return h_new, c_new


def build_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm", stateful=False,
                dropout=0.0):  # fmt: skip
    recurrent = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    layers = [
        keras.Input(batch_shape=(batch_size, None), dtype="int32"),
        keras.layers.Embedding(vocab_size, embedding_dim),
        recurrent(rnn_units, return_sequences=True, stateful=stateful),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(vocab_size))
    return keras.Sequential(layers)


def make_train_step(model, optimizer):
    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return train_step


def sampling_step(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    next_token = tf.random.stateless_categorical(logits / temperature, 1, seed, tf.int32)[:, 0]
    next_token = tf.where(done, newline, next_token)  # an ended tune keeps writing newline
    done = done | ((token == newline) & (next_token == newline))  # a blank line ends it
    return next_token, state, done


def next_char_accuracy(labels, logits):
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(predicted == tf.cast(labels, tf.int32), tf.float32))


# ## Right answers written another way -------------------------------------------------------------


def numpy_lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    units = h.shape[1]
    z = np.asarray(x) @ kernel + np.asarray(h) @ recurrent_kernel + bias

    def sig(v):
        return 1 / (1 + np.exp(-v))

    output = sig(z[:, 3 * units :])
    forget, candidate = sig(z[:, units : 2 * units]), np.tanh(z[:, 2 * units : 3 * units])
    c_new = forget * c + sig(z[:, :units]) * candidate
    return output * np.tanh(c_new), c_new


def functional_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm",
                     stateful=False, dropout=0.0):  # fmt: skip
    recurrent = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
    tokens = keras.Input(batch_shape=(batch_size, None), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embedding_dim)(tokens)
    x = recurrent(rnn_units, return_sequences=True, stateful=stateful, dropout=dropout)(x)
    return keras.Model(tokens, keras.layers.Dense(vocab_size)(x))


def recurrent_dropout_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm",
                            stateful=False, dropout=0.0):  # fmt: skip
    model = keras.Sequential()
    model.add(keras.Input(shape=(None,), batch_size=batch_size, dtype="int32"))
    model.add(keras.layers.Embedding(input_dim=vocab_size, output_dim=embedding_dim))
    layer = keras.layers.LSTM if cell.lower() == "lstm" else keras.layers.GRU
    model.add(layer(rnn_units, return_sequences=True, stateful=stateful, recurrent_dropout=dropout))
    model.add(keras.layers.Dense(vocab_size, activation=None))
    return model


def make_nn_train_step(model, optimizer):
    def train_step(x, y):  # not compiled: it runs inside the check's tf.function all the same
        with tf.GradientTape() as tape:
            per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=model(x, training=True)
            )
            loss = tf.reduce_sum(per_token) / tf.cast(tf.size(per_token), tf.float32)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return train_step


def gumbel_sampling_step(model_step, token, state, done, seed, temperature, newline):
    logits, new_state = model_step(token, state)
    noise = tf.random.stateless_uniform(tf.shape(logits), seed, minval=1e-9, maxval=1.0)
    drawn = tf.argmax(logits / temperature - tf.math.log(-tf.math.log(noise)), axis=-1)
    drawn = tf.cast(drawn, tf.int32)
    blank_line = tf.logical_and(tf.equal(token, newline), tf.equal(drawn, newline))
    ended = tf.logical_or(done, blank_line)
    return tf.where(done, tf.fill(tf.shape(drawn), newline), drawn), new_state, ended


def numpy_accuracy(labels, logits):
    return np.mean(np.argmax(logits, axis=2) == labels)


def counting_accuracy(labels, logits):
    hits = tf.math.count_nonzero(tf.argmax(logits, -1) == labels)
    return tf.cast(hits, tf.float64) / tf.cast(tf.size(labels), tf.float64)


@pytest.fixture
def checks():
    return grading.fresh()


def test_the_reference_solutions_pass_through_a_fresh_copy(checks, capsys):
    checks.check_lstm_step(lstm_step)
    checks.check_build_model(build_model)
    checks.check_train_step(make_train_step)
    checks.check_sampling_step(sampling_step)
    checks.check_accuracy(next_char_accuracy)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 5


@pytest.mark.parametrize(
    ("check", "answer"),
    [
        ("check_lstm_step", numpy_lstm_step),
        ("check_build_model", functional_model),
        ("check_build_model", recurrent_dropout_model),
        ("check_train_step", make_nn_train_step),
        ("check_sampling_step", gumbel_sampling_step),
        ("check_accuracy", numpy_accuracy),
        ("check_accuracy", counting_accuracy),
    ],
)
def test_right_answers_written_another_way_pass(checks, check, answer, capsys):
    getattr(checks, check)(answer)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")


def test_the_checks_log_no_warning(checks, capsys, caplog):
    # Regression: the checks traced wrappers of their own, whose source AutoGraph cannot read in
    # a fresh copy; its warning goes to stderr, which costs a notebook's test cell its points.
    checks.check_train_step(make_train_step)
    checks.check_train_step(make_nn_train_step)
    checks.check_sampling_step(sampling_step)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_uncompiled_train_step_passes_with_a_note(capsys):
    grading.check_train_step(make_nn_train_step)
    assert "decorate it with @tf.function" in capsys.readouterr().out


# ## Typical mistakes ------------------------------------------------------------------------------


def _lstm(order="ifgo", candidate=tf.tanh, squash=True, swap=False):
    def step(x, h, c, kernel, recurrent_kernel, bias):
        z = x @ kernel + h @ recurrent_kernel + bias
        blocks = dict(zip(order, tf.split(z, 4, axis=1), strict=True))
        c_new = tf.sigmoid(blocks["f"]) * c + tf.sigmoid(blocks["i"]) * candidate(blocks["g"])
        h_new = tf.sigmoid(blocks["o"]) * (tf.tanh(c_new) if squash else c_new)
        return (c_new, h_new) if swap else (h_new, c_new)

    return step


def _model(dense_activation=None, cell_for=None, sequences=True, ignore_batch=False,
           ignore_stateful=False, dropout_after=False, rate_for=None):  # fmt: skip
    def build(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm", stateful=False,
              dropout=0.0):  # fmt: skip
        layer = (cell_for or {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU})[cell]
        rate = dropout if rate_for is None else rate_for(dropout)
        layers = [keras.Input(batch_shape=(None if ignore_batch else batch_size, None),
                              dtype="int32"),
                  keras.layers.Embedding(vocab_size, embedding_dim),
                  layer(rnn_units, return_sequences=sequences,
                        stateful=stateful and not ignore_stateful)]  # fmt: skip
        dense = keras.layers.Dense(vocab_size, activation=dense_activation)
        dropped = [keras.layers.Dropout(rate)] if rate else []
        head = [dense, *dropped] if dropout_after else [*dropped, dense]
        return keras.Sequential(layers + head)

    return build


def _train_step(loss_of=None, apply=True, sign=1.0, fit=False, numpy_loss=False, after=False):
    def make(model, optimizer):
        def train_step(x, y):
            if fit:
                return model.fit(x, y)
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_token = keras.losses.sparse_categorical_crossentropy(
                    y, logits, from_logits=loss_of != "probabilities"
                )
                loss = tf.reduce_sum(per_token) if loss_of == "sum" else tf.reduce_mean(per_token)
            grads = tape.gradient(loss, model.trainable_variables)
            if apply:
                grads = [sign * tf.convert_to_tensor(g) for g in grads]
                optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            if numpy_loss:
                return float(loss.numpy())
            if after:
                return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                    y, model(x), from_logits=True))  # fmt: skip
            return loss

        return tf.function(train_step)

    return make


def _sampling(temperature=True, stateful_draw=False, old_state=False, ended="newline",
              single_newline_ends=False, blank_ends=True, numpy=False, seed_part=None):  # fmt: skip
    def step(model_step, token, state, done, seed, temperature_, newline):
        logits, new_state = model_step(token, state)
        scaled = logits / temperature_ if temperature else logits
        if numpy:
            return np.argmax(scaled, axis=-1), new_state, done
        if stateful_draw:
            drawn = tf.random.categorical(scaled, 1, dtype=tf.int32)[:, 0]
        else:
            used = seed if seed_part is None else tf.stack([seed[seed_part], 0])
            drawn = tf.random.stateless_categorical(scaled, 1, used, tf.int32)[:, 0]
        if ended in ("newline", "forgets"):
            drawn = tf.where(done, newline, drawn)
        ends = drawn == newline if single_newline_ends else (token == newline) & (drawn == newline)
        new_done = (done | ends) if blank_ends else done
        if ended == "forgets":
            new_done = ends
        return drawn, (state if old_state else new_state), new_done

    return step


def _accuracy(axis=-1, count=False, per_row=False):
    def accuracy(labels, logits):
        hits = tf.cast(tf.argmax(logits, axis=axis, output_type=tf.int32) == labels, tf.float32)
        if count:
            return tf.reduce_sum(hits)
        return tf.reduce_mean(hits, axis=1) if per_row else tf.reduce_mean(hits)

    return accuracy


MISTAKES = [
    ("check_lstm_step", _lstm(swap=True), "returns the cell state first: return the pair"),
    ("check_lstm_step", _lstm(order="ifog"), "Keras orders the four blocks input, forget, cell"),
    ("check_lstm_step", _lstm(order="fiog"), "Keras orders the four blocks input, forget, cell"),
    ("check_lstm_step", _lstm(squash=False), "tanh of the new cell state: tanh is missing"),
    ("check_lstm_step", _lstm(candidate=tf.sigmoid), "The cell candidate g takes tanh"),
    ("check_build_model", _model(dense_activation="softmax"),
     "The Dense layer must output logits (no softmax)"),
    ("check_build_model", _model(cell_for={"lstm": keras.layers.SimpleRNN,
                                           "gru": keras.layers.GRU}),
     "cell='lstm' should give a keras.layers.LSTM layer; this model has SimpleRNN"),
    ("check_build_model", _model(cell_for={"lstm": keras.layers.LSTM, "gru": keras.layers.LSTM}),
     "cell='gru' should give a keras.layers.GRU layer; this model has LSTM"),
    ("check_build_model", _model(sequences=False), "one output per step (return_sequences=True)"),
    ("check_build_model", _model(ignore_batch=True), "batch_size=4 as its batch dimension"),
    ("check_build_model", lambda v, e, r, b, cell="lstm", stateful=False, dropout=0.0:
     keras.Sequential([keras.layers.Embedding(v, e), keras.layers.LSTM(r, return_sequences=True),
                       keras.layers.Dense(v)]),
     "batch_size=4 as its batch dimension (keras.Input(batch_shape=...)); it has None"),
    ("check_build_model", _model(ignore_stateful=True),
     "stateful=True should give a stateful recurrent layer"),
    ("check_build_model", _model(dropout_after=True), "Put the Dropout layer before the Dense"),
    ("check_build_model", _model(rate_for=lambda rate: 0.0),
     "dropout=0.5 should add a keras.layers.Dropout layer of rate 0.5"),
    ("check_build_model", _model(rate_for=lambda rate: rate and 0.2), "dropout rates: 0.2"),
    ("check_train_step", _train_step(apply=False), "apply the gradients with optimizer.apply"),
    ("check_train_step", _train_step(sign=-1.0), "The weights moved uphill"),
    ("check_train_step", _train_step(loss_of="probabilities"), "compute the loss with from_logits"),
    ("check_train_step", _train_step(loss_of="sum"), "the mean loss over the batch and time"),
    ("check_train_step", _train_step(after=True), "before the step is"),
    ("check_train_step", _train_step(fit=True), "model.fit is not the exercise"),
    ("check_train_step", _train_step(numpy_loss=True),
     "`train_step` must run inside tf.function (music.train compiles it): use TensorFlow/Keras "
     "operations, not NumPy or .numpy() on tensors (AttributeError: 'SymbolicTensor' object has "
     "no attribute 'numpy')."),
    ("check_sampling_step", _sampling(temperature=False), "At temperature 0.5 the tokens after"),
    ("check_sampling_step", _sampling(stateful_draw=True), "The same seed gave other tokens"),
    ("check_sampling_step", _sampling(seed_part=0),
     "The seeds [11, 0] and [11, 1] gave the same tokens"),
    ("check_sampling_step", _sampling(old_state=True), "returned the state it was given"),
    ("check_sampling_step", _sampling(ended="ignored"), "should keep writing newline"),
    ("check_sampling_step", _sampling(ended="forgets"), "`done` never goes back to False"),
    ("check_sampling_step", _sampling(blank_ends=False), "A blank line ends a tune"),
    ("check_sampling_step", _sampling(single_newline_ends=True), "A single newline does not end"),
    ("check_sampling_step", _sampling(numpy=True),
     "`sampling_step` must run inside tf.function (music.generate compiles it): use "
     "TensorFlow/Keras operations, not NumPy or .numpy() on tensors (NotImplementedError: "),
    ("check_accuracy", _accuracy(axis=1), "Take the argmax over the last axis"),
    ("check_accuracy", _accuracy(count=True), "not their count"),
    ("check_accuracy", _accuracy(per_row=True), "average over every position"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "answer", "message"),
    MISTAKES,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(MISTAKES)],  # fmt: skip
)
def test_each_mistake_fails_with_its_hint(checks, check, answer, message):
    with pytest.raises(AssertionError, match=re.escape(message)) as failed:
        getattr(checks, check)(answer)
    assert isinstance(failed.value, checks.GradingError)


def test_hints_do_not_give_the_answer_away():
    # A hint names what to fix; it never prints the reference values of a gate or the code.
    with pytest.raises(GradingError) as failed:
        grading.check_lstm_step(_lstm(order="oigf"))
    assert "tf." not in str(failed.value) and "[" not in str(failed.value)


# ## Delegation ------------------------------------------------------------------------------------


def keras_lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    cell = keras.layers.LSTMCell(h.shape[1])
    cell.build(x.shape)
    cell.set_weights([kernel, recurrent_kernel, bias])
    h_new, (_, c_new) = cell(x, [h, c])
    return h_new, c_new


def package_model(vocab_size, embedding_dim, rnn_units, batch_size, cell="lstm", stateful=False,
                  dropout=0.0):  # fmt: skip
    return music.build_model(vocab_size, embedding_dim, rnn_units, cell=cell, dropout=dropout,
                             batch_size=batch_size, stateful=stateful)  # fmt: skip


def make_package_step(model, optimizer):
    return tf.function(lambda x, y: music.model.train_step(model, optimizer, x, y))


def package_sampling_step(model_step, token, state, done, seed, temperature, newline):
    return music.sampling_step(model_step, token, state, done, seed, temperature, newline)


def hidden_sampling_step(model_step, token, state, done, seed, temperature, newline):
    """Fetched by a name built at run time: only the guard sees it."""
    step = getattr(music, "sampling" + "_step")
    return step(model_step, token, state, done, seed, temperature, newline)


def keras_accuracy(labels, logits):
    return tf.reduce_mean(keras.metrics.sparse_categorical_accuracy(labels, logits))


def keras_metric_accuracy(labels, logits):
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(labels, logits)
    return metric.result()


REFUSED = [
    ("check_lstm_step", keras_lstm_step, "keras.layers.LSTMCell", "is not allowed here"),
    ("check_build_model", package_model, "music.build_model", "is for later cells"),
    ("check_train_step", make_package_step, "music.train_step", "is for later cells"),
    ("check_sampling_step", package_sampling_step, "music.sampling_step", "is for later cells"),
    ("check_sampling_step", hidden_sampling_step, "music.sampling_step", "is for later cells"),
    ("check_accuracy", keras_accuracy, "keras.metrics.sparse_categorical_accuracy",
     "is not allowed here"),
    ("check_accuracy", keras_metric_accuracy, "keras.metrics.SparseCategoricalAccuracy",
     "is not allowed here"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "answer", "name", "why"), REFUSED,
                         ids=[a.__name__ for _, a, _, _ in REFUSED])  # fmt: skip
def test_handing_the_exercise_to_keras_or_the_package_is_refused(checks, check, answer, name, why):
    message = f"this exercise asks you to write it yourself: `{name}` {why}"
    with pytest.raises(AssertionError, match=re.escape(message)) as failed:
        getattr(checks, check)(answer)
    assert isinstance(failed.value, guard.DelegationRefused)


def test_the_refusals_are_declared():
    refusals = grading.REFUSALS
    assert refusals["check_lstm_step"].library == ("keras.layers.LSTMCell", "keras.layers.LSTM")
    assert refusals["check_build_model"].package == ("music.build_model",)
    assert refusals["check_train_step"].package == ("music.train_step",)
    assert refusals["check_sampling_step"].package == ("music.sampling_step", "music.generate")
    assert set(refusals["check_accuracy"].library) == {
        "keras.metrics.sparse_categorical_accuracy",
        "keras.metrics.SparseCategoricalAccuracy",
    }


def test_the_package_functions_work_outside_a_graded_call():
    vocab = music.Vocab.from_texts(["X:1\nK:D\nDEFG|\n"])
    model = build_model(len(vocab), 4, 8, None)
    assert len(music.generate(model, vocab, num_tunes=2, max_length=20, seed=0)) == 2


# ## The student's pieces make the music -----------------------------------------------------------

TUNES = [f"X:{i}\nT:Scale {i}\nM:4/4\nL:1/8\nK:D\n|:DEFG ABcd|edcB AGFE:|\n" for i in range(24)]


@pytest.mark.slow
def test_the_students_pieces_train_the_model_and_write_the_tunes():
    vocab = music.Vocab.from_texts(TUNES)
    ids = vocab.encode(music.join_tunes(TUNES[:20]))
    val = vocab.encode(music.join_tunes(TUNES[20:]))
    keras.utils.set_random_seed(0)
    model = build_model(len(vocab), 16, 32, batch_size=8, cell="gru", stateful=True, dropout=0.1)
    optimizer = keras.optimizers.Adam(1e-2)
    result = music.train(model, ids, val_ids=val, step=make_train_step(model, optimizer),
                         optimizer=optimizer, windows="stream", batch_size=8, seq_length=20,
                         iterations=30, eval_every=15, progress=False, live_plot=False)  # fmt: skip
    assert result.iterations == 30 and result.best_val_bits < np.log2(len(vocab))
    for fit_bars in (False, True):
        tunes = music.generate(model, vocab, num_tunes=4, max_length=120, seed=1,
                               fit_bars=fit_bars, sampling_step=sampling_step)  # fmt: skip
        assert len(tunes) == 4 and all(t.startswith("X:") for t in tunes)
        default = music.generate(model, vocab, num_tunes=4, max_length=120, seed=1,
                                 fit_bars=fit_bars)  # fmt: skip
        assert tunes == default  # the same step as the package's: the same tunes
