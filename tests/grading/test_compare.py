"""Running an answer: the checks that trace the student's function write nothing on stderr, however
often they run, and say what to fix when it cannot run inside ``tf.function``.

nbgrader gives no points to a test cell that writes on stderr. TensorFlow logs a warning there
once one function's code has been traced in 5 of its last 10 calls: a student who runs a test
cell again, or several checks traced on the same function, reach that.
"""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from mitdeeplearning import grading

#: More runs than TensorFlow needs to warn that a function retraces (5 of its last 10 calls).
REPEATS = 10


# ## Right answers, written as a notebook's cells write them ---------------------------------------


def graph_func(a, b):
    return tf.multiply(tf.add(a, b), tf.subtract(b, 1))


def compute_loss(labels, logits):
    return tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )


def make_train_step(model, optimizer):
    def train_step(x, y):  # compiled by the check
        with tf.GradientTape() as tape:
            loss = compute_loss(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return train_step


def make_compiled_train_step(model, optimizer):
    return tf.function(make_train_step(model, optimizer))


def sampling_step(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    next_token = tf.random.stateless_categorical(logits / temperature, 1, seed, tf.int32)[:, 0]
    next_token = tf.where(done, newline, next_token)
    return next_token, state, done | ((token == newline) & (next_token == newline))


def weighted_cross_entropy(labels, logits, class_weights):
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(tf.gather(class_weights, labels) * per_example)


def predict_pneumothorax(model, images, threshold=0.5):
    probabilities = tf.nn.softmax(model.predict(images, verbose=0))[:, 1].numpy()
    return probabilities, (probabilities >= threshold).astype(int)


def get_features_and_weights(model, images):
    extractor = keras.Model(model.input, model.get_layer("cam_features").output)
    return extractor.predict(images, verbose=0), model.get_layer("cam_logits").get_weights()[0]


@pytest.fixture(scope="module")
def tensorflow_started():
    """TensorFlow's first operation writes its start-up lines (no CUDA driver, say) on stderr
    once per process: in a notebook, in an earlier cell than any check."""
    tf.zeros(1).numpy()


TRACED = [
    ("check_graph_function", graph_func),
    ("check_loss", compute_loss),
    ("check_train_step", make_train_step),
    ("check_train_step", make_compiled_train_step),
    ("check_sampling_step", sampling_step),
    ("check_weighted_loss", weighted_cross_entropy),
    ("check_predict", predict_pneumothorax),
    ("check_features_and_weights", get_features_and_weights),
]


@pytest.mark.parametrize(("check", "answer"), TRACED, ids=[f"{c}-{a.__name__}" for c, a in TRACED])
def test_checks_run_again_and_again_write_nothing_on_stderr(
    check, answer, tensorflow_started, capfd, caplog
):
    # Regression: TensorFlow warned that compute_loss (and others) "triggered tf.function
    # retracing" once a check had run a few times on the same function; its log goes to stderr.
    for _ in range(REPEATS):
        getattr(grading.fresh(), check)(answer)
    out, err = capfd.readouterr()
    assert out.count("\N{CHECK MARK}") == REPEATS
    assert err == ""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_check_puts_tensorflow_logging_and_the_warning_filters_back():
    logger = logging.getLogger("tensorflow")
    before = logger.level, list(warnings.filters)
    checks = grading.fresh()
    checks.check_loss(compute_loss)
    with pytest.raises(checks.GradingError):
        checks.check_loss(numpy_loss)
    assert (logger.level, warnings.filters) == before


# ## What fails inside tf.function -----------------------------------------------------------------


def numpy_loss(labels, logits):
    logits = np.asarray(logits, dtype=float)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, np.asarray(labels)[..., None], -1).mean()


def looping_loss(labels, logits):  # a Python loop over the batch
    losses = [compute_loss(label, logit) for label, logit in zip(labels, logits, strict=True)]
    return sum(losses) / len(losses)


def unfinished_loss(labels, logits):
    if not tf.executing_eagerly():
        raise NotImplementedError()
    return compute_loss(labels, logits)


def shape_loss(labels, logits):
    if not tf.executing_eagerly():
        raise ValueError("in the graph\nsecond line")
    return compute_loss(labels, logits)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            numpy_loss,
            "`compute_loss` must run inside tf.function (the training step runs it there): use "
            "TensorFlow/Keras operations, not NumPy or .numpy() on tensors (NotImplementedError: "
            "Cannot convert a symbolic tf.Tensor",
        ),
        (
            looping_loss,
            "`compute_loss` must run inside tf.function (the training step runs it there): use "
            "TensorFlow/Keras operations, not NumPy or .numpy() on tensors "
            "(OperatorNotAllowedInGraphError: Iterating over a symbolic `tf.Tensor` is not "
            "allowed.",
        ),
        (unfinished_loss, "`compute_loss` is not implemented yet (it raises NotImplementedError)."),
        (
            shape_loss,
            "`compute_loss` raised ValueError: in the graph inside tf.function (the training step "
            "runs it there).",
        ),
    ],
    ids=["numpy", "python-loop", "stub", "other-error"],
)
def test_an_answer_that_fails_inside_tf_function_is_told_why(answer, message):
    checks = grading.fresh()
    with pytest.raises(AssertionError) as failed:
        checks.check_loss(answer)
    assert isinstance(failed.value, checks.GradingError)
    assert str(failed.value).startswith(message)


# ## What an answer samples, against softmax(logits / temperature) ---------------------------------


def test_frequencies_within_the_tolerance_pass_and_others_are_described():
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    close = [0] * 52 + [1] * 29 + [2] * 19  # total variation distance 0.02
    assert grading.compare.frequency_mismatch(close, logits, 1.0, 0.05) is None
    assert grading.compare.frequency_mismatch([0] * 100, logits, 1.0, 0.05) == (
        "At temperature 1.0 the tokens came out with frequencies [1.00, 0.00, 0.00]; "
        "softmax(logits / temperature) is [0.50, 0.30, 0.20]."
    )
    # The temperature divides the logits; the sentence names the tokens as told.
    assert grading.compare.frequency_mismatch(close, logits, 0.5, 0.05, "the tokens after 3") == (
        "At temperature 0.5 the tokens after 3 came out with frequencies [0.52, 0.29, 0.19]; "
        "softmax(logits / temperature) is [0.66, 0.24, 0.11]."
    )


# The two checks that judge sampling by its frequencies say so in the same words, naming the
# temperature, and for the sampling step the token read before (its logits depend on it).


def argmax_sampler(logits, temperature):
    return tf.argmax(logits, -1)


def untempered_sampler(logits, temperature):
    return tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]


def untempered_sampling_step(model_step, token, state, done, seed, temperature, newline):
    return sampling_step(model_step, token, state, done, seed, 1.0, newline)


DRAWN = r"\[0\.\d\d, 0\.\d\d, 0\.\d\d, 0\.\d\d, 0\.\d\d\]"
FREQUENCY_MESSAGES = [
    ("check_sample", argmax_sampler,
     r"At temperature 1\.0 the tokens came out with frequencies \[1\.00, 0\.00, 0\.00, 0\.00, "
     r"0\.00\]; softmax\(logits / temperature\) is \[0\.56, 0\.21, 0\.08, 0\.03, 0\.13\]\.$"),
    ("check_sample", untempered_sampler,
     rf"At temperature 0\.5 the tokens came out with frequencies {DRAWN}; "
     r"softmax\(logits / temperature\) is \[0\.83, 0\.11, 0\.02, 0\.00, 0\.04\]\.$"),
    ("check_sampling_step", untempered_sampling_step,
     rf"At temperature 0\.5 the tokens after token 0 came out with frequencies {DRAWN}; "
     r"softmax\(logits / temperature\) is \[0\.84, 0\.11, 0\.00, 0\.00, 0\.04\]\.$"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "answer", "message"), FREQUENCY_MESSAGES)
def test_sampling_at_the_wrong_frequencies_is_told_which(check, answer, message):
    with pytest.raises(AssertionError, match=message):
        getattr(grading.fresh(), check)(answer)
