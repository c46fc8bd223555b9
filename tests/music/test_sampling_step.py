"""Sampling with any model a student builds, and with a sampling step a student writes.

`generate` steps a model's layers found by kind (an Embedding, LSTM or GRU layers, Dense
layers), so a ``keras.Sequential`` model samples as a `build_model` one does; and
``generate(..., sampling_step=...)`` samples with the student's step, in the compiled loop and in
the loop that counts the beats, giving the package's tunes when it is the same step.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import music
from mitdeeplearning.music import Vocab, build_model, generate
from mitdeeplearning.music.model import twin_model
from mitdeeplearning.music.sampling_loop import ModelStepper, SamplingStepError

ABC_TUNES = [
    f"X:{i}\nT:Tune {i}\nM:{m}\nL:1/8\nK:{k}\n|:DEFG ABcd|edcB A2G2:|\n"
    for i, (m, k) in enumerate([("6/8", "G"), ("C|", "D"), ("3/4", "Ador")] * 4)
]
VOCAB = Vocab.from_texts(ABC_TUNES)


def student_model(vocab_size, cell=keras.layers.LSTM, batch_size=None, stateful=False,
                  dropout=0.0, seed=0):  # fmt: skip
    """What the lab asks a student to build."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(batch_shape=(batch_size, None), dtype="int32"),
        keras.layers.Embedding(vocab_size, 8),
        cell(16, return_sequences=True, stateful=stateful),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    return keras.Sequential([*layers, keras.layers.Dense(vocab_size)])


def student_step(model_step, token, state, done, seed, temperature, newline):
    """The package's sampling step written again, as a student would."""
    logits, new_state = model_step(token, state)
    scaled = logits / temperature
    drawn = tf.random.stateless_categorical(scaled, num_samples=1, seed=seed)
    next_token = tf.cast(tf.squeeze(drawn, axis=1), tf.int32)
    next_token = tf.where(done, tf.fill(tf.shape(next_token), newline), next_token)
    blank_line = tf.logical_and(tf.equal(token, newline), tf.equal(next_token, newline))
    return next_token, new_state, tf.logical_or(done, blank_line)


# ## Any model a student builds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "stateful", "dropout"),
    [(keras.layers.LSTM, False, 0.0), (keras.layers.GRU, True, 0.3)],
)
def test_a_student_model_samples_what_the_whole_model_predicts(cell, stateful, dropout):
    # Greedy decoding step by step must match the model run over the whole text: the layers
    # were found and stepped in order, carrying the state.
    model = student_model(len(VOCAB), cell, 1 if stateful else None, stateful, dropout, seed=4)
    (tune,) = generate(model, VOCAB, max_length=40, temperature=0, stop=None, seed=0)
    ids = VOCAB.encode(tune.rstrip("\n"))  # without a stop, nothing is read before "X:"
    twin = twin_model(model)  # any batch size, stateless
    twin.set_weights(model.get_weights())
    expected = twin(ids[None, :-1]).numpy()[0].argmax(-1)
    n = len("X:")
    np.testing.assert_array_equal(ids[n:], expected[n - 1 :])


def test_a_model_that_cannot_be_stepped_says_which_layer():
    v = len(VOCAB)
    no_embedding = keras.Sequential([keras.Input((None, 3)),
                                     keras.layers.LSTM(4, return_sequences=True),
                                     keras.layers.Dense(v)])  # fmt: skip
    with pytest.raises(ValueError, match=r"cannot step layer 'lstm.*' \(LSTM\) there"):
        generate(no_embedding, VOCAB)
    no_dense = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(v, 4),
                                 keras.layers.GRU(4, return_sequences=True)])  # fmt: skip
    with pytest.raises(ValueError, match="this one has no Dense layer"):
        generate(no_dense, VOCAB)
    no_recurrent = keras.Sequential([keras.Input((None,), dtype="int32"),
                                     keras.layers.Embedding(v, 4),
                                     keras.layers.Dense(v)])  # fmt: skip
    with pytest.raises(ValueError, match="cannot step layer 'dense.*' \\(Dense\\)"):
        generate(no_recurrent, VOCAB)
    softmax = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(v, 4),
                                keras.layers.GRU(4, return_sequences=True),
                                keras.layers.Dense(v, activation="softmax")])  # fmt: skip
    with pytest.raises(ValueError, match="last Dense layer applies activation='softmax'"):
        generate(softmax, VOCAB)
    other = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(v, 4),
                              keras.layers.LayerNormalization(), keras.layers.GRU(4),
                              keras.layers.Dense(v)])  # fmt: skip
    with pytest.raises(ValueError, match=r"\(LayerNormalization\)"):
        generate(other, VOCAB)


def test_state_sizes_follow_the_cells():
    assert ModelStepper(student_model(10)).state_sizes == [16, 16]  # LSTM: h and c
    assert ModelStepper(student_model(10, keras.layers.GRU)).state_sizes == [16]
    assert ModelStepper(build_model(10, 4, 6, num_layers=2, dropout=0.1)).state_sizes == [6] * 4


def test_a_twin_reads_any_batch_without_state():
    model = student_model(len(VOCAB), keras.layers.GRU, batch_size=4, stateful=True, dropout=0.2)
    twin = twin_model(model)
    assert twin.inputs[0].shape[0] is None and not twin.layers[1].stateful
    twin = twin_model(model, batch_size=3, stateful=True)
    assert twin.inputs[0].shape[0] == 3 and twin.layers[1].stateful
    assert [w.shape for w in twin.weights] == [w.shape for w in model.weights]


def test_a_student_model_is_scored_in_every_order():
    # evaluate_bits copies a stateful model into a twin to read held-out text; a student's
    # Sequential model has no build_model config to rebuild it from.
    ids = VOCAB.encode("".join(ABC_TUNES))
    model = student_model(len(VOCAB), keras.layers.GRU, batch_size=2, stateful=True)
    for order in ("windows", "random", "stream"):
        bits = music.evaluate_bits(model, ids, seq_length=20, order=order)
        assert abs(bits - np.log2(len(VOCAB))) < 0.5, order  # untrained: about uniform


# ## A sampling step of your own -------------------------------------------------------------------


@pytest.mark.parametrize("fit_bars", [False, True])
@pytest.mark.parametrize("top_p", [None, 0.9])
def test_the_same_step_written_again_gives_the_same_tunes(fit_bars, top_p):
    model = build_model(len(VOCAB), 8, 16, seed=2)
    kwargs = dict(num_tunes=3, max_length=80, seed=5, fit_bars=fit_bars, top_p=top_p)
    default = generate(model, VOCAB, **kwargs)
    assert generate(model, VOCAB, sampling_step=music.sampling_step, **kwargs) == default
    assert generate(model, VOCAB, sampling_step=student_step, **kwargs) == default


@pytest.mark.parametrize("fit_bars", [False, True])
def test_your_step_is_the_one_that_samples(fit_bars):
    a = int(VOCAB.encode("A")[0])

    def always_a(model_step, token, state, done, seed, temperature, newline):
        logits, state = model_step(token, state)
        return tf.fill(tf.shape(token), a), state, done

    def always_newline(model_step, token, state, done, seed, temperature, newline):
        logits, state = model_step(token, state)
        next_token = tf.fill(tf.shape(token), newline)
        return next_token, state, done | ((token == newline) & (next_token == newline))

    model = student_model(len(VOCAB), keras.layers.GRU)
    kwargs = dict(num_tunes=2, max_length=30, seed=0, fit_bars=fit_bars)
    assert generate(model, VOCAB, sampling_step=always_a, **kwargs) == ["X:" + "A" * 28 + "\n"] * 2
    assert generate(model, VOCAB, sampling_step=always_newline, **kwargs) == ["X:\n"] * 2
    # Headers are still read as given (after a title line, which this step never ends).
    tunes = generate(model, VOCAB, sampling_step=always_a, headers="M:6/8\nK:G", **kwargs)
    assert tunes == ["X:\nM:6/8\nK:G\n" + "A" * 17 + "\n"] * 2


def _numpy_step(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    return np.argmax(logits, axis=-1), state, done


def _eager_step(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    return tf.argmax(logits, axis=-1).numpy(), state, done


def _two_outputs(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    return tf.argmax(logits, axis=-1), state


def _state_dropped(model_step, token, state, done, seed, temperature, newline):
    logits, new_state = model_step(token, state)
    return tf.argmax(logits, axis=-1), new_state[:1], done


@pytest.mark.parametrize("fit_bars", [False, True])
@pytest.mark.parametrize(
    ("step", "message"),
    [
        (_numpy_step, "^your sampling_step must use TensorFlow operations: it runs inside tf"),
        (_eager_step, "^your sampling_step must use TensorFlow operations: it runs inside tf"),
        (
            _two_outputs,
            r"^your sampling_step must return three things, \(next_token, state, "
            r"done\); it returned tuple\.$",
        ),
        (
            _state_dropped,
            "^your sampling_step must return the new state that model_step gave "
            "it, a list of 2 tensors; it returned 1.$",
        ),
    ],
)
def test_a_step_that_breaks_the_contract_fails_clearly(fit_bars, step, message):
    model = student_model(len(VOCAB))  # an LSTM: two state tensors
    with pytest.raises(SamplingStepError, match=message) as failed:
        generate(model, VOCAB, max_length=20, fit_bars=fit_bars, sampling_step=step)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    with pytest.raises(ValueError, match="sampling_step=3 must be a function"):
        generate(model, VOCAB, sampling_step=3)


# ## Where a tune ends ----------------------------------------------------------------------------


def markov_model(vocab: Vocab, follows: dict[str, str]) -> keras.Model:
    """A model that always writes ``follows[c]`` after the character c (a first-order chain):
    a one-hot embedding, a GRU that keeps only its input, and a Dense table of what follows."""
    v = len(vocab)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(v, v),
                              keras.layers.GRU(v, return_sequences=True),
                              keras.layers.Dense(v)])  # fmt: skip
    embedding, gru, dense = model.layers
    embedding.set_weights([np.eye(v, dtype="float32")])
    kernel = np.zeros((v, 3 * v), "float32")
    kernel[:, 2 * v :] = 4 * np.eye(v)  # the candidate: the token, one-hot (tanh 4 ~ 1)
    bias = np.zeros((2, 3 * v), "float32")
    bias[0, :v] = -20  # the update gate shut: the state is the candidate alone
    gru.set_weights([kernel, np.zeros((v, 3 * v), "float32"), bias])
    table = np.zeros((v, v), "float32")
    for now, after in follows.items():
        table[vocab.encode(now)[0], vocab.encode(after)[0]] = 20
    dense.set_weights([table, np.zeros(v, "float32")])
    return model


CHAIN_VOCAB = Vocab.from_texts(["X\nA:|abcd"])


@pytest.mark.parametrize("temperature", [0, 0.5])
def test_a_line_of_one_character_does_not_end_a_tune(temperature):
    # Regression: the compiled loop compared the token written with the one two steps back,
    # so "\nA\n" ended a tune as a blank line would, and the tune was cut there.
    model = markov_model(CHAIN_VOCAB, {"X": "\n", "\n": "A", "A": "\n", ":": "|", "|": "\n"})
    (tune,) = generate(model, CHAIN_VOCAB, start="X", max_length=12, temperature=temperature,
                       fit_bars=False, seed=0)  # fmt: skip
    assert tune == "X\nA\nA\nA\nA\nA\n"
    blank = markov_model(CHAIN_VOCAB, {"X": "\n", "\n": "\n", ":": "|", "|": "\n"})
    (tune,) = generate(blank, CHAIN_VOCAB, start="X", max_length=12, temperature=temperature,
                       fit_bars=False, seed=0)  # fmt: skip
    assert tune == "X\n"


def test_a_stop_of_two_tokens_needs_both_in_a_row():
    # The same comparison ended a tune at "a", anything, "b" for stop="ab".
    model = markov_model(CHAIN_VOCAB, {"X": "a", "a": "c", "c": "b", "b": "X", "d": "a"})
    (text,) = generate(model, CHAIN_VOCAB, start="X", max_length=12, temperature=0, stop="ab",
                       primer="d", fit_bars=False)  # fmt: skip
    assert text == "XacbXacbXacb\n"
    model = markov_model(CHAIN_VOCAB, {"X": "a", "a": "c", "c": "a", "d": "a"})
    (text,) = generate(model, CHAIN_VOCAB, start="X", max_length=12, temperature=0, stop="ca",
                       primer="d", fit_bars=False)  # fmt: skip
    assert text == "Xa\n"
