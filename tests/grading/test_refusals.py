"""An answer that only hands its exercise to the package's or a library's implementation fails.

Each answer here is written as a notebook cell would write it (this module's globals play the
notebook's), and graded through a `fresh()` copy, as a locked test cell does. Right answers that
use what their exercise is meant to use (a Keras loss, Keras' LSTM, NumPy) still pass.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import keras
import numpy as np
import pytest
import sklearn.metrics
import sklearn.metrics as skm
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve
from sklearn.utils.class_weight import compute_class_weight

from mitdeeplearning import grading, guard, music, xray
from mitdeeplearning.grading import REFUSALS, Refusal
from mitdeeplearning.music import Vocab
from mitdeeplearning.music.batches import get_batch as package_get_batch
from mitdeeplearning.music.model import sequence_loss
from mitdeeplearning.xray.localisation import pointing_game as pg
from mitdeeplearning.xray.training import class_weights

REFUSED = "this exercise asks you to write it yourself: `{}` is for later cells"
NOT_ALLOWED = "this exercise asks you to write it yourself: `{}` is not allowed here"


def refused(name: str, library: bool = False) -> str:
    """The failure's message, escaped for `pytest.raises(match=...)`."""
    import re

    return re.escape((NOT_ALLOWED if library else REFUSED).format(name))


@pytest.fixture
def checks():
    return grading.fresh()


# ## The registry ----------------------------------------------------------------------------------


def test_every_check_declares_what_it_refuses():
    names = {name for name in grading.__all__ if name.startswith("check_")}
    assert names == set(REFUSALS)
    assert all(isinstance(r, Refusal) for r in REFUSALS.values())
    assert REFUSALS["check_roc"].library[:2] == (
        "sklearn.metrics.roc_curve",
        "sklearn.metrics.roc_auc_score",
    )
    assert REFUSALS["check_pointing_game"].package == ("xray.pointing_game",)
    assert REFUSALS["check_loss"].library == ()  # the exercise asks for Keras' loss
    with pytest.raises(AttributeError):
        REFUSALS["check_roc"].package = ()  # frozen


def test_the_registry_imports_without_tensorflow():
    code = (
        "import sys\n"
        "from mitdeeplearning.grading import REFUSALS\n"
        "assert 'sklearn.metrics.roc_curve' in REFUSALS['check_roc'].library\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_each_refused_package_name_is_a_guarded_function():
    import importlib
    import inspect

    spelled = {
        "music.Vocab.encode": "mitdeeplearning.music.vocab",
        "music.get_batch": "mitdeeplearning.music.batches",
        "music.build_model": "mitdeeplearning.music.model",
        "music.sequence_loss": "mitdeeplearning.music.model",
        "music.train_step": "mitdeeplearning.music.model",
        "music.sampling_step": "mitdeeplearning.music.sampling",
        "music.generate": "mitdeeplearning.music.sampling",
        "xray.class_weights": "mitdeeplearning.xray.training",
        "xray.roc": "mitdeeplearning.xray.evaluation",
        "xray.class_activation_maps": "mitdeeplearning.xray.cam",
        "xray.grad_cam": "mitdeeplearning.xray.cam",
        "xray.pointing_game": "mitdeeplearning.xray.localisation",
        "xray.deletion_curve": "mitdeeplearning.xray.faithfulness",
        "xray.insertion_curve": "mitdeeplearning.xray.faithfulness",
    }
    names = {name for r in REFUSALS.values() for name in r.package}
    assert names == set(spelled)
    for name, module in spelled.items():
        obj = importlib.import_module(module)
        for part in name.split(".")[1:]:
            obj = getattr(obj, part)
        assert f'refuse_during_grading("{name}")' in inspect.getsource(obj), name


# ## The package's own implementations -------------------------------------------------------------

VOCAB = Vocab.from_texts(["abc |:\n"])
CHAR2IDX = {c: int(VOCAB.encode(c)[0]) for c in "abc |:\n"}
encode = VOCAB.encode
batches = music.get_batch


def one_call_get_batch(ids, seq_length, batch_size, rng):
    return music.get_batch(ids, seq_length, batch_size, rng)


def aliased_get_batch(ids, seq_length, batch_size, rng):
    return batches(ids, seq_length, batch_size, rng)


def one_call_vectorise(string):
    return Vocab.from_texts(["abc |:\n"]).encode(string)


def one_call_pointing(cams, masks, tolerance):
    return pg(cams, masks, tolerance)


def one_call_roc(labels, scores):
    fpr, tpr, thresholds, _ = xray.roc(labels, scores)
    return fpr, tpr, thresholds


def one_call_class_weights(labels):
    weights = class_weights(labels)
    return np.array([weights[0], weights[1]])


def one_call_loss(labels, logits):
    return tf.reduce_mean(sequence_loss(labels, logits))


def one_call_model(vocab_size, embedding_dim, rnn_units, batch_size):
    return music.build_model(vocab_size, embedding_dim, rnn_units)


def hidden_pointing(cams, masks, tolerance):
    """The package's function fetched by a name built at run time: only the guard sees it."""
    return getattr(xray, "pointing" + "_game")(cams, masks, tolerance)


def swallowing_pointing(cams, masks, tolerance):
    """Catches the refusal and answers anyway: the exercise still fails."""
    try:
        return getattr(xray, "pointing" + "_game")(cams, masks, tolerance)
    except AssertionError:
        return np.zeros(len(cams), bool)


PACKAGE_CASES = [
    ("check_vectorise", (CHAR2IDX, "ab|c:"), encode, "music.Vocab.encode"),
    ("check_vectorise", (CHAR2IDX, "ab|c:"), one_call_vectorise, "music.Vocab.encode"),
    ("check_get_batch", (), package_get_batch, "music.get_batch"),
    ("check_get_batch", (), batches, "music.get_batch"),
    ("check_get_batch", (), one_call_get_batch, "music.get_batch"),
    ("check_get_batch", (), aliased_get_batch, "music.get_batch"),
    ("check_pointing_game", (), pg, "xray.pointing_game"),
    ("check_pointing_game", (), one_call_pointing, "xray.pointing_game"),
    ("check_pointing_game", (), hidden_pointing, "xray.pointing_game"),
    ("check_pointing_game", (), swallowing_pointing, "xray.pointing_game"),
    ("check_roc", (), one_call_roc, "xray.roc"),
    ("check_class_weights", (), one_call_class_weights, "xray.class_weights"),
    ("check_loss", (), one_call_loss, "music.sequence_loss"),
    ("check_model_output", (), one_call_model, "music.build_model"),
]


@pytest.mark.parametrize(
    ("check", "args", "answer", "name"),
    PACKAGE_CASES,
    ids=[f"{c[0]}-{getattr(c[2], '__name__', 'answer')}" for c in PACKAGE_CASES],
)
def test_an_answer_that_calls_the_package_fails(checks, check, args, answer, name):
    with pytest.raises(AssertionError, match=refused(name)) as failed:
        getattr(checks, check)(answer, *args)
    assert isinstance(failed.value, guard.DelegationRefused)


def test_the_guard_refuses_at_run_time_what_the_reading_cannot_see(checks):
    # `hidden_pointing` names no refused object: the package function refuses when called.
    assert grading.delegation.find_refused(hidden_pointing, ["xray.pointing_game"], []) is None
    with pytest.raises(AssertionError, match=refused("xray.pointing_game")):
        checks.check_pointing_game(hidden_pointing)


def test_outside_a_graded_call_the_package_functions_work():
    cams, masks = np.zeros((1, 8, 8)), np.zeros((1, 8, 8), bool)
    cams[0, 2, 2], masks[0, 2, 2] = 1.0, True
    assert pg(cams, masks, 0.0).tolist() == [True]
    assert encode("ab").tolist() == [CHAR2IDX["a"], CHAR2IDX["b"]]
    # The check's own reference computation is the package's pointing game, outside the answer.
    grading.fresh().check_pointing_game(right_pointing)


def right_pointing(cams, masks, tolerance):
    hits = np.zeros(len(cams), bool)
    for i, (cam, mask) in enumerate(zip(cams, masks, strict=True)):
        if cam.max() == cam.min():
            continue
        row, col = np.unravel_index(np.argmax(cam), cam.shape)
        rows, cols = np.nonzero(mask)
        hits[i] = np.min((rows - row) ** 2 + (cols - col) ** 2) <= tolerance**2
    return hits


# ## Libraries' implementations --------------------------------------------------------------------

alias = skm.roc_curve


def direct_roc(labels, scores):
    return sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)


def module_alias_roc(labels, scores):
    return skm.roc_curve(labels, scores, drop_intermediate=False)


def from_import_as_roc(labels, scores):
    return sk_roc_curve(labels, scores, drop_intermediate=False)


def assigned_alias_roc(labels, scores):
    return alias(labels, scores, drop_intermediate=False)


def import_inside_roc(labels, scores):
    from sklearn.metrics import roc_curve

    return roc_curve(labels, scores, drop_intermediate=False)


def module_import_inside_roc(labels, scores):
    import sklearn.metrics as metrics

    return metrics.roc_curve(labels, scores, drop_intermediate=False)


def private_import_inside_roc(labels, scores):
    from sklearn.metrics._ranking import roc_curve

    return roc_curve(labels, scores, drop_intermediate=False)


def helper_roc(labels, scores):
    return _curve(labels, scores)


def _curve(labels, scores):
    return skm.roc_curve(labels, scores, drop_intermediate=False)


def default_roc(labels, scores, curve=skm.roc_curve):
    return curve(labels, scores, drop_intermediate=False)


def auc_roc(labels, scores):
    """A hand-made curve that checks itself against scikit-learn's area: still refused."""
    assert roc_auc_score(labels, scores) >= 0
    return right_roc(labels, scores)


def right_roc(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    tpr = np.array([(scores[labels == 1] >= t).mean() for t in thresholds])
    fpr = np.array([(scores[labels == 0] >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds


ROC_CASES = [
    (direct_roc, "sklearn.metrics.roc_curve"),
    (module_alias_roc, "sklearn.metrics.roc_curve"),
    (from_import_as_roc, "sklearn.metrics.roc_curve"),
    (assigned_alias_roc, "sklearn.metrics.roc_curve"),
    (import_inside_roc, "sklearn.metrics.roc_curve"),
    (module_import_inside_roc, "sklearn.metrics.roc_curve"),
    (private_import_inside_roc, "sklearn.metrics.roc_curve"),
    (helper_roc, "sklearn.metrics.roc_curve"),
    (default_roc, "sklearn.metrics.roc_curve"),
    (lambda y, s: skm.roc_curve(y, s, drop_intermediate=False), "sklearn.metrics.roc_curve"),
    (functools.partial(skm.roc_curve, drop_intermediate=False), "sklearn.metrics.roc_curve"),
    (sk_roc_curve, "sklearn.metrics.roc_curve"),
    (auc_roc, "sklearn.metrics.roc_auc_score"),
]


@pytest.mark.parametrize(
    ("answer", "name"),
    ROC_CASES,
    ids=[getattr(a, "__name__", type(a).__name__) for a, _ in ROC_CASES],
)
def test_an_roc_curve_from_scikit_learn_fails(checks, answer, name):
    with pytest.raises(AssertionError, match=refused(name, library=True)):
        checks.check_roc(answer)


def test_a_hand_made_roc_curve_passes(checks, capsys):
    checks.check_roc(right_roc)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")


def sklearn_class_weights(labels):
    return compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)


class KerasDense(keras.layers.Dense):
    def __init__(self, n_output_nodes):
        super().__init__(n_output_nodes, activation="sigmoid")


class WrapsDense(keras.layers.Layer):
    def __init__(self, n_output_nodes):
        super().__init__()
        self.inner = keras.layers.Dense(n_output_nodes, activation="sigmoid")

    def call(self, x):
        return self.inner(x)


@pytest.mark.parametrize(
    ("check", "answer", "name"),
    [
        ("check_class_weights", sklearn_class_weights, "sklearn.utils.class_weight"),
        ("check_dense_layer", KerasDense, "keras.layers.Dense"),
        ("check_dense_layer", WrapsDense, "keras.layers.Dense"),
    ],
)
def test_other_library_delegations_fail(checks, check, answer, name):
    with pytest.raises(AssertionError, match=f"write it yourself: `{name}"):
        getattr(checks, check)(answer)


# ## What an exercise is meant to use stays allowed ------------------------------------------------


def keras_loss(labels, logits):
    per_character = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return tf.reduce_mean(per_character)


def keras_model(vocab_size, embedding_dim, rnn_units, batch_size):
    return keras.Sequential(
        [
            keras.Input(batch_shape=(batch_size, None), dtype="int32"),
            keras.layers.Embedding(vocab_size, embedding_dim),
            keras.layers.LSTM(rnn_units, return_sequences=True),
            keras.layers.Dense(vocab_size),
        ]
    )


def numpy_class_weights(labels):
    return len(labels) / (2 * np.bincount(labels, minlength=2))


class IdentityModel(keras.Model):
    def __init__(self, n_output_nodes):
        super().__init__()
        self.dense = keras.layers.Dense(n_output_nodes, activation="sigmoid")

    def call(self, inputs, isidentity=False):
        return inputs if isidentity else self.dense(inputs)


@pytest.mark.parametrize(
    ("check", "answer"),
    [
        ("check_loss", keras_loss),
        ("check_model_output", keras_model),
        ("check_class_weights", numpy_class_weights),
        ("check_identity_model", IdentityModel),  # Keras' Dense is given by the exercise
    ],
)
def test_answers_that_use_what_the_exercise_suggests_pass(checks, check, answer, capsys):
    getattr(checks, check)(answer)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")
