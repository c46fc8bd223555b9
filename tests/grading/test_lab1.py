"""Lab 1's graded checks: right answers pass, typical mistakes fail with a useful message, and the
common cheats (objects equal to everything, a patched grading module) gain nothing."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import grading
from mitdeeplearning.grading import GradingError

# ## Right answers ---------------------------------------------------------------------------


class OurDenseLayer(keras.layers.Layer):
    def __init__(self, n_output_nodes):
        super().__init__()
        self.n_output_nodes = n_output_nodes

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.W = self.add_weight(shape=(d, self.n_output_nodes), name="W")
        self.b = self.add_weight(shape=(1, self.n_output_nodes), name="b")

    def call(self, x):
        return tf.sigmoid(tf.matmul(x, self.W) + self.b)


class IdentityModel(keras.Model):
    def __init__(self, n_output_nodes):
        super().__init__()
        self.dense = keras.layers.Dense(n_output_nodes, activation="sigmoid")

    def call(self, inputs, isidentity=False):
        return inputs if isidentity else self.dense(inputs)


def get_batch(ids, seq_length, batch_size, rng):
    starts = rng.integers(0, len(ids) - seq_length, size=batch_size)
    x = np.stack([ids[s : s + seq_length] for s in starts])
    y = np.stack([ids[s + 1 : s + seq_length + 1] for s in starts])
    return x, y


def build_model(vocab_size, embedding_dim, rnn_units, batch_size):
    return keras.Sequential([
        keras.Input(batch_shape=(batch_size, None), dtype="int32"),
        keras.layers.Embedding(vocab_size, embedding_dim),
        keras.layers.LSTM(rnn_units, return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])  # fmt: skip


def compute_loss(labels, logits):
    return tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )


def sample_next(logits, temperature):
    return tf.random.categorical(logits / temperature, num_samples=1)[:, 0]


def test_right_answers_pass(capsys):
    grading.check_tensor(tf.zeros((10, 256, 256, 3)), "images", rank=4, shape=(10, 256, 256, 3))
    grading.check_tensor(tf.constant("Tennis"), "sport", rank=0, dtype="string")
    grading.check_graph_function(lambda a, b: (tf.add(a, b)) * (tf.subtract(b, 1)))
    grading.check_dense_layer(OurDenseLayer)
    grading.check_dense_layer(OurDenseLayer, n_inputs=5, n_outputs=2)
    grading.check_identity_model(IdentityModel)
    grading.check_minimum([0.0, 2.0, 3.5, 3.999], target=4.0)
    grading.check_gradient_descent(gradient_descent)
    char2idx = {c: i for i, c in enumerate("abc |")}
    grading.check_vectorise(lambda s: np.array([char2idx[c] for c in s]), char2idx, "ab| cab")
    grading.check_get_batch(get_batch)
    grading.check_model_output(build_model)
    grading.check_loss(compute_loss)
    grading.check_sample(sample_next)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 13


# ## Typical mistakes ------------------------------------------------------------------------


class NoBiasLayer(OurDenseLayer):
    def call(self, x):
        return tf.sigmoid(tf.matmul(x, self.W))


class WrongFlagModel(IdentityModel):
    def call(self, inputs, isidentity=False):
        return self.dense(inputs)


def off_by_one_targets(ids, seq_length, batch_size, rng):
    x, _ = get_batch(ids, seq_length, batch_size, rng)
    return x, x


def fixed_start(ids, seq_length, batch_size, rng):
    return get_batch(ids, seq_length, batch_size, np.random.default_rng(0))


def start_from_beginning(ids, seq_length, batch_size, rng):
    x = np.stack([ids[:seq_length]] * batch_size)
    return x, np.stack([ids[1 : seq_length + 1]] * batch_size)


@pytest.mark.parametrize(
    ("check", "answer", "message"),
    [
        (lambda a: grading.check_tensor(a, "m", rank=2), np.zeros((2, 2)), "TensorFlow tensor"),
        (lambda a: grading.check_tensor(a, "m", rank=2), tf.zeros((2, 2, 1)), "rank 3"),
        (lambda a: grading.check_tensor(a, "m", rank=1, dtype="int"), tf.zeros(3), "float32"),
        (grading.check_graph_function, lambda a, b: (a + b) * (b + 1), "off by"),
        (grading.check_dense_layer, NoBiasLayer, "off by"),
        (grading.check_identity_model, WrongFlagModel, "isidentity=True"),
        (lambda h: grading.check_minimum(h, 4.0), [0.0, 1.0, 2.0], "ended at 2.0000"),
        (lambda h: grading.check_minimum(h, 4.0), [0.0, float("nan")], "NaN"),
        (grading.check_get_batch, off_by_one_targets, "shifted by one"),
        (grading.check_get_batch, fixed_start, "rng"),
        (grading.check_get_batch, start_from_beginning, "random"),
        (grading.check_model_output, lambda v, e, r, b: build_model(v + 1, e, r, b), "(4, 7, 20)"),
        (
            grading.check_loss,
            lambda y, z: tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, z)),
            "expected",
        ),
        (grading.check_sample, lambda z, t: tf.argmax(z, -1), "frequencies"),
        (grading.check_sample, lambda z, t: sample_next(z, 1.0), "At temperature 0.5"),
        (
            grading.check_get_batch,
            lambda *a: (_ for _ in ()).throw(NotImplementedError()),
            "not implemented yet",
        ),  # fmt: skip
    ],
)
def test_mistakes_fail_with_a_message(check, answer, message):
    with pytest.raises(GradingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(answer)


def test_unanswered_cells_fail_clearly():
    with pytest.raises(GradingError, match="is None"):
        grading.check_minimum(None, 4.0)
    with pytest.raises(GradingError, match="should be a function"):
        grading.check_loss(None)


# ## Cheats ----------------------------------------------------------------------------------


class EqualsEverything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __len__(self):
        return 3


def test_an_object_equal_to_everything_is_not_an_answer():
    with pytest.raises(GradingError, match="should be numbers"):
        grading.check_minimum(EqualsEverything(), 4.0)
    with pytest.raises(GradingError):
        grading.check_get_batch(lambda *a: (EqualsEverything(), EqualsEverything()))
    with pytest.raises(GradingError):
        grading.check_loss(lambda y, z: EqualsEverything())


def test_patching_the_module_or_numpy_testing_changes_no_verdict(monkeypatch):
    monkeypatch.setattr(grading, "check_loss", lambda *a, **k: None)
    monkeypatch.setattr(grading.compare, "fail", lambda message: None)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    checks = grading.fresh()
    with pytest.raises(AssertionError, match="expected"):
        checks.check_loss(lambda y, z: tf.constant(0.0))
    checks.check_loss(compute_loss)  # and a right answer still passes


# ## Right answers written another way pass; wrong ones fail with their hint ----------------------


def _message(check, *args, **kwargs) -> str:
    """The sentence `check` fails with (a fresh copy's checks raise the copy's GradingError)."""
    with pytest.raises(AssertionError) as failed:
        check(*args, **kwargs)
    return str(failed.value)


# The dense layer: weights created in any order, a bias of shape (n,), a kernel kept transposed.


class BiasFirstLayer(OurDenseLayer):
    def build(self, input_shape):
        d = int(input_shape[-1])
        self.b = self.add_weight(shape=(1, self.n_output_nodes), name="b")
        self.W = self.add_weight(shape=(d, self.n_output_nodes), name="W")


class FlatBiasLayer(OurDenseLayer):
    def build(self, input_shape):
        self.W = self.add_weight(shape=(int(input_shape[-1]), self.n_output_nodes))
        self.b = self.add_weight(shape=(self.n_output_nodes,), initializer="zeros")


class TransposedKernelLayer(OurDenseLayer):
    def build(self, input_shape):
        self.W = self.add_weight(shape=(self.n_output_nodes, int(input_shape[-1])))
        self.b = self.add_weight(shape=(1, self.n_output_nodes))

    def call(self, x):
        return tf.sigmoid(tf.matmul(x, self.W, transpose_b=True) + self.b)


@pytest.mark.parametrize(
    "layer", [OurDenseLayer, BiasFirstLayer, FlatBiasLayer, TransposedKernelLayer]
)
@pytest.mark.parametrize(("n_inputs", "n_outputs"), [(2, 3), (5, 2), (1, 4), (3, 3)])
def test_a_dense_layer_passes_whatever_order_and_layout_of_its_weights(
    layer, n_inputs, n_outputs, capsys
):
    grading.fresh().check_dense_layer(layer, n_inputs=n_inputs, n_outputs=n_outputs)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} OurDenseLayer")


def test_a_dense_layer_with_a_weight_of_the_wrong_shape_fails():
    class TallBias(OurDenseLayer):
        def build(self, input_shape):
            self.W = self.add_weight(shape=(int(input_shape[-1]), self.n_output_nodes))
            self.b = self.add_weight(shape=(2, self.n_output_nodes))

    message = _message(grading.check_dense_layer, TallBias)
    assert message == (
        "`OurDenseLayer` should create weights of shapes [(2, 3), (1, 3)]; it has [(2, 3), (2, 3)]."
    )
    assert "off by" in _message(grading.check_dense_layer, NoBiasLayer, n_inputs=1, n_outputs=4)


# The graph function: any array-like back, but it must trace (the next cell traces it).


def numpy_out_graph_function(a, b):
    e = (a + b) * (b - 1)
    return e if isinstance(e, tf.Tensor) else np.asarray(e)  # NumPy back when given NumPy


def numpy_graph_function(a, b):
    return np.multiply(np.add(a, b), np.subtract(b, 1))


def test_a_graph_function_may_return_numpy_but_must_trace(capsys):
    grading.check_graph_function(numpy_out_graph_function)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")
    assert _message(grading.check_graph_function, numpy_graph_function).startswith(
        "`func` must run inside tf.function (the next cell traces it into a graph): use "
        "TensorFlow/Keras operations, not NumPy or .numpy() on tensors (NotImplementedError: "
        "Cannot convert a symbolic tf.Tensor"
    )


# Gradient descent: the check runs the student's function on losses of its own.


def gradient_descent(loss_fn, x_start, learning_rate, steps):
    x = tf.Variable(x_start, dtype=tf.float32)
    history = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        x.assign_sub(learning_rate * tape.gradient(loss, x))
        history.append(x.numpy())
    return history


def gradient_descent_sgd(loss_fn, x_start, learning_rate, steps):
    x = tf.Variable(float(x_start))
    optimizer = keras.optimizers.SGD(learning_rate)
    values = [float(x.numpy())]  # the start first: allowed
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        optimizer.apply_gradients([(tape.gradient(loss, x), x)])
        values.append(float(x.numpy()))
    return np.array(values)


def gradient_descent_watched_float64(loss_fn, x_start, learning_rate, steps):
    x = tf.constant(np.float64(x_start))  # a watched tensor instead of a variable
    history = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        x = x - learning_rate * tape.gradient(loss, x)
        history.append(x)  # immutable tensors: no aliasing
    return tf.stack(history)


@pytest.mark.parametrize(
    "answer", [gradient_descent, gradient_descent_sgd, gradient_descent_watched_float64]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_descent_written_any_way_passes(answer, seed, capsys):
    grading.fresh().check_gradient_descent(answer, seed=seed)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} gradient_descent")


def aliased_history(loss_fn, x_start, learning_rate, steps):
    x = tf.Variable(x_start)
    history = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        x.assign_sub(learning_rate * tape.gradient(loss, x))
        history.append(x)  # the Variable itself: every entry reads its final value
    return history


def made_up_history(loss_fn, x_start, learning_rate, steps):
    return list(np.linspace(x_start, 4.0, steps))


def hand_coded_gradient(loss_fn, x_start, learning_rate, steps):  # no tape: L = (x - 4)^2 only
    x, history = x_start, []
    for _ in range(steps):
        x = x - learning_rate * 2 * (x - 4.0)
        history.append(x)
    return history


def ascent(loss_fn, x_start, learning_rate, steps):
    x, history = tf.Variable(x_start), []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        x.assign_add(learning_rate * tape.gradient(loss, x))  # up the slope
        history.append(x.numpy())
    return history


def no_learning_rate(loss_fn, x_start, learning_rate, steps):
    return gradient_descent(loss_fn, x_start, 1.0, steps)


def untracked_constant(loss_fn, x_start, learning_rate, steps):
    x, history = tf.constant(x_start), []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        x = x - learning_rate * tape.gradient(loss, x)
        history.append(float(x))
    return history


def one_step_short(loss_fn, x_start, learning_rate, steps):
    return gradient_descent(loss_fn, x_start, learning_rate, steps - 1)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            aliased_history,
            (
                "`history` holds the Variable itself, so every entry reads its final value: append "
                "`x.numpy()` (a copy of the value), not the Variable itself."
            ),
        ),
        (
            made_up_history,
            (
                "For L(x) = log(cosh(x - 1.5)) from x = -1.863 with learning rate 0.4033, step 1 "
                "goes from x = -1.863000 to -1.863000, which does not follow x - learning_rate * "
                "dL/dx. Differentiate the `loss_fn` passed in with a GradientTape."
            ),
        ),
        (
            hand_coded_gradient,
            (
                "step 1 goes from x = -1.863000 to 2.866096, which does not follow x - "
                "learning_rate * dL/dx. Differentiate the `loss_fn` passed in with a GradientTape."
            ),
        ),
        (ascent, "It moved up the slope: step against the gradient."),
        (
            no_learning_rate,
            (
                "which does not follow x - learning_rate * dL/dx. Scale the gradient by the "
                "learning rate."
            ),
        ),
        (
            untracked_constant,
            (
                "gradient_descent raised TypeError: unsupported operand type(s) for *: 'float' and "
                "'NoneType': the tape gave no gradient. Make x a tf.Variable and compute "
                "loss_fn(x) inside the `with tf.GradientTape()` block."
            ),
        ),
        (
            one_step_short,
            (
                "gradient_descent(loss_fn, -1.863, 0.4033, steps=12) should return 12 values of x, "
                "one after each step; it returned 11."
            ),
        ),
    ],
)
def test_gradient_descent_that_is_not_fails_with_its_hint(answer, message):
    assert message in _message(grading.fresh().check_gradient_descent, answer)


def test_a_history_of_the_variable_itself_fails_the_end_point_check_too():
    x = tf.Variable(4.0)
    assert "append `x.numpy()`" in _message(grading.check_minimum, [x, x, x], 4.0)


# The loss: Keras' loss without from_logits, per-position losses, a sum, arguments swapped, NumPy.


def keras_loss_object(labels, logits):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)


def softmax_then_probabilities(labels, logits):
    probabilities = tf.nn.softmax(logits)
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))


def tf_nn_loss(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


@pytest.mark.parametrize(
    "answer", [compute_loss, keras_loss_object, softmax_then_probabilities, tf_nn_loss]
)
@pytest.mark.parametrize("seed", [0, 7])
def test_a_loss_written_any_way_passes(answer, seed, capsys):
    grading.fresh().check_loss(answer, seed=seed)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} compute_loss")


def numpy_loss(labels, logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, np.asarray(labels)[..., None], -1).mean()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda y, z: tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, z)),
            (
                "The loss is 11.1679; expected 3.1989. The model outputs logits, not "
                "probabilities: tell the loss so."
            ),
        ),
        (
            lambda y, z: keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True),
            (
                "compute_loss returned 6 numbers, one per position (shape (2, 3)): return their "
                "mean, one number."
            ),
        ),
        (
            lambda y, z: tf.reduce_sum(
                keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
            ),
            (
                "The loss is 19.1934; expected 3.1989. Return the mean over all positions, not the "
                "sum."
            ),
        ),
        (
            lambda y, z: tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(z, y, from_logits=True)
            ),
            "Keras' losses take the labels first, then the predictions.",
        ),
        (
            numpy_loss,
            (
                "`compute_loss` must run inside tf.function (the training step runs it "
                "there): use TensorFlow/Keras operations, not NumPy or .numpy() on tensors ("
            ),
        ),
    ],
)
def test_a_wrong_loss_fails_with_its_hint(answer, message):
    assert message in _message(grading.fresh().check_loss, answer)


# get_batch: off by one at either end, told so in words rather than by NumPy's error.


def starts_one_short(ids, seq_length, batch_size, rng):
    starts = rng.integers(0, len(ids) - seq_length - 1, size=batch_size)
    return np.stack([ids[s : s + seq_length] for s in starts]), np.stack(
        [ids[s + 1 : s + seq_length + 1] for s in starts]
    )


def starts_one_past(ids, seq_length, batch_size, rng):
    starts = rng.integers(0, len(ids) - seq_length + 1, size=batch_size)
    return np.stack([ids[s : s + seq_length] for s in starts]), np.stack(
        [ids[s + 1 : s + seq_length + 1] for s in starts]
    )


def starts_one_past_padded(ids, seq_length, batch_size, rng):
    padded = np.concatenate([ids, ids[:1]])  # reads past the end without an error
    starts = rng.integers(0, len(ids) - seq_length + 1, size=batch_size)
    return padded[starts[:, None] + np.arange(seq_length)], padded[
        starts[:, None] + np.arange(1, seq_length + 1)
    ]


def get_batch_endpoint(ids, seq_length, batch_size, rng):
    starts = rng.integers(len(ids) - seq_length - 1, endpoint=True, size=batch_size)
    window = starts[:, None] + np.arange(seq_length + 1)
    chunks = tf.gather(tf.constant(ids), window)  # tensors back: fine
    return chunks[:, :-1], chunks[:, 1:]


def test_get_batch_written_another_way_passes(capsys):
    grading.fresh().check_get_batch(get_batch_endpoint)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} get_batch")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            starts_one_short,
            (
                "With 11 ids and seq_length 10 exactly one window fits, starting at 0, but "
                "get_batch raised ValueError: high <= 0: rng.integers(low, high) returns low up to "
                "high - 1, never high."
            ),
        ),
        (
            starts_one_past,
            (
                "With 11 ids and seq_length 10 exactly one window fits, starting at 0, but "
                "get_batch raised ValueError: all input arrays must have the same shape: "
                "rng.integers(low, high) returns low up to high - 1, never high."
            ),
        ),
        (
            starts_one_past_padded,
            (
                "With 11 ids and seq_length 10 exactly one window fits, starting at 0; get_batch "
                "drew windows starting at [0, 1]: rng.integers(low, high) returns low up to high - "
                "1, never high."
            ),
        ),
    ],
)
def test_get_batch_off_by_one_fails_with_words_not_numpys_error(answer, message):
    assert _message(grading.fresh().check_get_batch, answer) == message


# sample_next: NumPy back is fine.


def numpy_sampler(logits, temperature):
    rng = np.random.default_rng(0)
    scaled = np.asarray(logits, dtype=float) / temperature
    p = np.exp(scaled - scaled.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.array([rng.choice(p.shape[-1], p=row) for row in p])


def test_a_numpy_sampler_passes(capsys):
    grading.fresh().check_sample(numpy_sampler)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} sample_next")


# No warning: nbgrader scores a test cell that writes on stderr zero.


def graph_func(a, b):
    return tf.multiply(tf.add(a, b), tf.subtract(b, 1))


def test_checks_that_trace_the_answer_log_no_warning(capsys, caplog):
    # TensorFlow's warnings go to stderr in a notebook: AutoGraph warned on a wrapper of ours,
    # whose source (a fresh copy's) it cannot read.
    checks = grading.fresh()
    checks.check_graph_function(graph_func)
    checks.check_loss(compute_loss)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
