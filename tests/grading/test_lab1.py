"""Lab 1's graded checks: right answers pass, typical mistakes fail with a useful message, and the
common cheats (objects equal to everything, a patched grading module) gain nothing."""

from __future__ import annotations

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
    char2idx = {c: i for i, c in enumerate("abc |")}
    grading.check_vectorise(lambda s: np.array([char2idx[c] for c in s]), char2idx, "ab| cab")
    grading.check_get_batch(get_batch)
    grading.check_model_output(build_model)
    grading.check_loss(compute_loss)
    grading.check_sample(sample_next)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 12


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
