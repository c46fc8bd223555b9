"""Answers that try to talk the checks round from inside the kernel gain nothing.

Each answer here is a cheat a notebook cell could hold: reading the check's frame for the value
it expects, replacing what the check computes with (``math``, ``numpy``, a builtin, a helper of
the check's own module), clearing the record of the exercise being graded, leaving a tracer
behind, or replacing a grading file on disk. Each of them passed before the check was made to
resist it.
"""

from __future__ import annotations

import builtins
import inspect
import math
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import mitdeeplearning.music.sampling as music_sampling
from mitdeeplearning import grading, guard, music, xray
from mitdeeplearning.grading import integrity
from mitdeeplearning.grading.compare import to_array

TAMPERED = "has been replaced since the grading checks were loaded"


@pytest.fixture
def checks():
    return grading.fresh()


def _found_in_callers(name: str, depth: int = 8, via_inspect: bool = False):
    """A local variable `name` of one of the calling frames, or None."""
    frame = inspect.currentframe().f_back if via_inspect else sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back
        if frame is None:
            return None
        if name in frame.f_locals:
            return frame.f_locals[name]
    return None


# ## Reading the check's frame --------------------------------------------------------------------


def peeking_class_weights(labels):
    expected = _found_in_callers("expected")
    return expected if expected is not None else np.ones(2)


def peeking_pointing(cams, masks, tolerance):
    expected = _found_in_callers("expected", via_inspect=True)
    return expected if expected is not None else np.zeros(len(cams), bool)


def peeking_roc(labels, scores):
    reference = _found_in_callers("reference")  # the check's own scikit-learn curve
    if reference is not None:
        return reference(labels, scores, drop_intermediate=False)
    return np.zeros(2), np.zeros(2), np.zeros(2)


def peeking_loss(labels, logits):
    expected = _found_in_callers("expected")
    return expected if expected is not None else 0.0


@pytest.mark.parametrize(
    ("check", "answer"),
    [
        ("check_class_weights", peeking_class_weights),
        ("check_pointing_game", peeking_pointing),
        ("check_roc", peeking_roc),
        ("check_loss", peeking_loss),
    ],
)
def test_an_answer_that_reads_its_callers_frames_finds_nothing_expected(checks, check, answer):
    with pytest.raises(AssertionError):
        getattr(checks, check)(answer)


def test_what_the_answer_returns_is_copied():
    returned = np.zeros(3)
    read = to_array(returned, "x")
    returned[:] = 1.0  # an answer changing its output after it was read changes nothing
    assert read.tolist() == [0.0, 0.0, 0.0]
    assert not np.shares_memory(read, returned)


# ## Replacing what the checks compute with ------------------------------------------------------


def nan_weights(labels):
    return np.full(2, np.nan)


def test_patching_math_does_not_let_nan_through(checks, monkeypatch):
    # The checks compare in plain Python: `math.isnan` answering False changes nothing.
    monkeypatch.setattr(math, "isnan", lambda x: False)
    with pytest.raises(AssertionError, match="expected n / \\(2 n_c\\)"):
        checks.check_class_weights(nan_weights)


def test_patching_numpy_before_the_check_fails_and_says_what(monkeypatch):
    checks = grading.fresh()
    monkeypatch.setattr(np, "take_along_axis", lambda *args, **kwargs: np.zeros(1))
    with pytest.raises(AssertionError, match=f"`numpy.take_along_axis` {TAMPERED}.*restart the"):
        checks.check_loss(lambda labels, logits: 0.0)
    with pytest.raises(AssertionError, match=TAMPERED):
        grading.fresh().check_loss(lambda labels, logits: 0.0)  # a new copy too
    monkeypatch.undo()
    grading.fresh().check_class_weights(lambda y: len(y) / (2 * np.bincount(y, minlength=2)))


def test_an_answer_that_patches_numpy_while_it_runs_fails(checks, monkeypatch):
    def zero_loss(labels, logits):
        # The expected loss is -take_along_axis(...).mean(): make it 0, then answer 0.
        monkeypatch.setattr(np, "take_along_axis", lambda *args, **kwargs: np.zeros(1))
        return 0.0

    with pytest.raises(AssertionError, match=f"`numpy.take_along_axis` {TAMPERED}"):
        checks.check_loss(zero_loss)


def test_an_answer_that_patches_a_builtin_fails(checks, monkeypatch):
    def blind_graph_function(a, b):
        # Every difference measured with abs() becomes 0.
        monkeypatch.setattr(builtins, "abs", lambda x: 0)
        return a

    with pytest.raises(AssertionError, match=f"the builtin `abs` {TAMPERED}"):
        checks.check_graph_function(blind_graph_function)


def test_an_answer_that_rewrites_a_helper_of_the_check_fails(checks):
    def silencing_graph_function(a, b):
        frame = sys._getframe(1)
        while frame is not None and "check_graph_function" not in frame.f_globals:
            frame = frame.f_back
        frame.f_globals["expect_close"] = lambda *args, **kwargs: None  # the lab's namespace
        return a

    with pytest.raises(AssertionError, match="`expect_close` in the grading module `basics`"):
        checks.check_graph_function(silencing_graph_function)


def test_an_answer_that_leaves_a_tracer_fails_and_the_tracer_is_removed(checks):
    previous = sys.gettrace()

    def tracing_class_weights(labels):
        sys.settrace(lambda frame, event, arg: None)
        return len(labels) / (2 * np.bincount(labels, minlength=2))

    try:
        with pytest.raises(AssertionError, match="installed a trace or profile function"):
            checks.check_class_weights(tracing_class_weights)
        assert sys.gettrace() is previous
    finally:
        sys.settrace(previous)


# ## Clearing the record of the exercise being graded ---------------------------------------------


def clearing_pointing(cams, masks, tolerance):
    guard._ACTIVE.clear()  # the package's pointing game no longer knows it is being graded
    return getattr(xray, "pointing" + "_game")(cams, masks, tolerance)


def replacing_pointing(cams, masks, tolerance):
    guard._ACTIVE = []
    return getattr(xray, "pointing" + "_game")(cams, masks, tolerance)


@pytest.mark.parametrize("answer", [clearing_pointing, replacing_pointing])
def test_an_answer_that_clears_the_grading_state_fails(checks, answer):
    active = guard._ACTIVE
    with pytest.raises(AssertionError, match="grading state was tampered with"):
        checks.check_pointing_game(answer)
    assert guard._ACTIVE is active and active == []  # put back for the next checks
    with pytest.raises(AssertionError, match="write it yourself"):
        checks.check_pointing_game(lambda c, m, t: xray.pointing_game(c, m, t))


def test_grading_exercises_nest_and_are_cheap_outside():
    import timeit

    with guard.grading_exercise("outer", ["music.get_batch"]):
        with guard.grading_exercise("inner", []):
            assert len(guard._ACTIVE) == 2
        assert len(guard._ACTIVE) == 1
    assert guard._ACTIVE == []
    # Outside grading the guard line costs one list test: well under a microsecond a call.
    seconds = min(timeit.repeat(lambda: guard.refuse_during_grading("x.y"), number=10000, repeat=3))
    assert seconds / 10000 < 2e-6


# ## Replacing a grading file on disk -------------------------------------------------------------


def test_a_grading_file_replaced_on_disk_after_import_changes_no_verdict(tmp_path):
    package = Path(grading.__file__).resolve().parent.parent
    shutil.copytree(package, tmp_path / "mitdeeplearning", ignore=shutil.ignore_patterns("*.pyc"))
    code = (
        "import sys, pathlib\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from mitdeeplearning import grading\n"
        "assert grading.__file__.startswith(sys.path[0])\n"
        "lab1 = pathlib.Path(grading.__file__).parent / 'lab1.py'\n"
        "text = lab1.read_text()\n"
        "old = 'def check_loss(compute_loss: Callable, seed: int = 0) -> None:'\n"
        "new = 'def check_loss(compute_loss, seed=0):\\n    return\\n\\n\\ndef _old' + old[14:]\n"
        "lab1.write_text(text.replace(old, new))\n"
        "assert 'return\\n' in lab1.read_text()\n"
        "try:\n"
        "    grading.fresh().check_loss(lambda labels, logits: 0.0)\n"
        "except AssertionError as error:\n"
        "    print('failed:', error)\n"
        "else:\n"
        "    print('passed')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("failed: The loss is 0.0000"), result.stdout


# ## Switching the guard off ----------------------------------------------------------------------
#
# The package's own sampling step refuses to run inside the answer through its module's copy of
# `guard.refuse_during_grading`. Reached by a name built at run time, it is invisible to the
# check's reading of the answer's code: only the guard stops it, so switching the guard off in
# any way must fail the check, with the sentence that names what was replaced.


def hidden_sampling_step(model_step, token, state, done, seed, temperature, newline):
    step = getattr(music, "sampling" + "_step")
    return step(model_step, token, state, done, seed, temperature, newline)


def honest_sampling_step(model_step, token, state, done, seed, temperature, newline):
    logits, state = model_step(token, state)
    next_token = tf.random.stateless_categorical(logits / temperature, 1, seed, tf.int32)[:, 0]
    next_token = tf.where(done, newline, next_token)
    return next_token, state, done | ((token == newline) & (next_token == newline))


def _tampered(what: str) -> str:
    return re.escape(f"{what} {TAMPERED}") + ".*restart the kernel and run the cells in order"


def test_an_answer_that_switches_off_its_modules_guard_fails(checks, monkeypatch):
    # Regression: the snapshot watched guard's functions, not the module's copy of one, so the
    # package's step ran inside the answer and the check passed.
    monkeypatch.setattr(music_sampling, "refuse_during_grading", lambda name: None)
    what = "`mitdeeplearning.music.sampling.refuse_during_grading`"
    with pytest.raises(AssertionError, match=_tampered(what)):
        checks.check_sampling_step(hidden_sampling_step)


def test_switching_the_guard_off_while_the_answer_runs_fails(checks, monkeypatch):
    def switching_off(model_step, token, state, done, seed, temperature, newline):
        monkeypatch.setattr(music_sampling, "refuse_during_grading", lambda name: None)
        return hidden_sampling_step(model_step, token, state, done, seed, temperature, newline)

    what = "`mitdeeplearning.music.sampling.refuse_during_grading`"
    with pytest.raises(AssertionError, match=_tampered(what)):
        checks.check_sampling_step(switching_off)


def _refuses_nothing(self, exercise, refused):
    self.exercise, self.refused, self.refused_call = exercise, frozenset(), None


@pytest.mark.parametrize(
    ("holder", "name", "value", "what"),
    [
        # The guard's code swapped: the function object stays the same.
        (guard.refuse_during_grading, "__code__", (lambda name: None).__code__,
         "the code of `mitdeeplearning.guard.refuse_during_grading`"),
        # Regression: the record of an exercise refused nothing, unseen.
        (guard._Exercise, "__init__", _refuses_nothing,
         "`mitdeeplearning.guard._Exercise.__init__`"),
        (guard._Exercise.__init__, "__code__", _refuses_nothing.__code__,
         "the code of `mitdeeplearning.guard._Exercise.__init__`"),
        (guard.refusal_message, "__defaults__", ("is fine",),
         "the default values of `mitdeeplearning.guard.refusal_message`"),
        # Regression: a name put in the guard's namespace shadows the builtin it calls.
        (guard, "frozenset", lambda refused: frozenset(), "`mitdeeplearning.guard.frozenset`"),
    ],
    ids=["code", "method", "method-code", "defaults", "shadowed-builtin"],
)  # fmt: skip
def test_an_answer_that_rewrites_the_guard_fails(checks, monkeypatch, holder, name, value, what):
    monkeypatch.setattr(holder, name, value, raising=False)
    with pytest.raises(AssertionError, match=_tampered(what)):
        checks.check_sampling_step(hidden_sampling_step)


def test_a_builtin_the_guard_calls_is_watched(monkeypatch):
    # Regression: only the builtins the checks' code names were watched, and `frozenset` (which
    # builds the set of what an exercise refuses) is named by the guard alone.
    original = builtins.frozenset
    monkeypatch.setattr(builtins, "frozenset", lambda refused=(): original())
    found = integrity.find_tampering()
    monkeypatch.undo()
    assert found == integrity.tampering_message("the builtin `frozenset`")


def test_an_answer_that_empties_what_its_exercise_refuses_fails(checks):
    # Regression: the record of the exercise stayed in place, refusing nothing, and the
    # package's step ran inside the answer.
    def emptying(model_step, token, state, done, seed, temperature, newline):
        guard._ACTIVE[-1].refused = frozenset()
        return hidden_sampling_step(model_step, token, state, done, seed, temperature, newline)

    with pytest.raises(AssertionError, match="grading state was tampered with"):
        checks.check_sampling_step(emptying)
    assert guard._ACTIVE == []


def test_a_module_first_imported_after_the_snapshot_is_watched_too(monkeypatch):
    snapshot = integrity.Snapshot(str(Path(integrity.__file__).parent))
    assert snapshot.replaced() is None
    # A topic module first imported now (in a graded cell), its guard already switched off...
    late = types.ModuleType("mitdeeplearning.xray.late_topic")
    late.refuse_during_grading = lambda name: None
    monkeypatch.setitem(sys.modules, late.__name__, late)
    assert snapshot.replaced() == "`mitdeeplearning.xray.late_topic.refuse_during_grading`"
    # ...or switched off after it was first seen, under another name.
    later = types.ModuleType("mitdeeplearning.music.later_topic")
    later.refuse = guard.refuse_during_grading
    monkeypatch.setitem(sys.modules, later.__name__, later)
    late.refuse_during_grading = guard.refuse_during_grading
    assert snapshot.replaced() is None
    later.refuse = lambda name: None
    assert snapshot.replaced() == "`mitdeeplearning.music.later_topic.refuse`"


def test_the_guard_is_still_there_when_the_answer_is_honest(checks, capsys):
    checks.check_sampling_step(honest_sampling_step)
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")
    with pytest.raises(AssertionError, match="`music.sampling_step` is for later cells"):
        checks.check_sampling_step(hidden_sampling_step)


def test_nothing_is_tampering_in_a_normal_session():
    # As a notebook runs: grading first (the set-up cell), then the topics, TensorFlow, Keras,
    # plotting and every module of the package; then the checks run.
    code = (
        "import importlib, pkgutil, warnings\n"
        "from mitdeeplearning import grading\n"
        "from mitdeeplearning.grading.integrity import find_tampering\n"
        "import numpy as np, tensorflow as tf, keras, matplotlib.pyplot as plt\n"
        "from mitdeeplearning import music, xray, report\n"
        "import mitdeeplearning\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    for info in pkgutil.walk_packages(mitdeeplearning.__path__, 'mitdeeplearning.'):\n"
        "        if not info.name.endswith('__main__'):  # that one runs the command line\n"
        "            importlib.import_module(info.name)\n"
        "assert music.sampling_step and xray.roc\n"
        "print('tampering:', find_tampering())\n"
        "grading.fresh().check_minimum([0.0, 2.0, 3.5, 3.999], target=4.0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tampering: None" in result.stdout
    assert "\N{CHECK MARK} gradient descent converged" in result.stdout
