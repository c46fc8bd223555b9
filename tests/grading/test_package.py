"""The grading package: its public names, `fresh()` copies that no patch in the notebook reaches,
and the old name `check_vectorize`, which still works (and warns once, outside graded cells)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

from mitdeeplearning import _lazy, grading
from mitdeeplearning.grading import GradingError

MODULES = [
    "mitdeeplearning.grading",
    "mitdeeplearning.grading.compare",
    "mitdeeplearning.grading.basics",
    "mitdeeplearning.grading.lab1",
    "mitdeeplearning.grading.lab2",
]

# ## Answers ---------------------------------------------------------------------------------------


def right_loss(labels, logits):
    import tensorflow as tf  # the loss runs inside tf.function in training: TensorFlow operations

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def wrong_loss(labels, logits):
    return 0.0


def right_class_weights(labels):
    return len(labels) / (2 * np.bincount(labels, minlength=2))


def wrong_class_weights(labels):
    return np.ones(2)


def _modules(package: types.ModuleType) -> list[types.ModuleType]:
    return [package, package.compare, package.lab1, package.lab2]


# ## Public names ----------------------------------------------------------------------------------


def test_every_public_name_resolves_from_the_package():
    for name in grading.__all__:
        assert getattr(grading, name) is not None, name
    assert grading.GradingError is GradingError is grading.compare.GradingError
    assert issubclass(GradingError, AssertionError)
    assert grading.check_roc is grading.lab2.check_roc
    assert grading.check_loss is grading.lab1.check_loss
    assert "check_vectorise" in grading.__all__ and "check_vectorize" not in grading.__all__


def test_importing_the_package_loads_nothing_heavy():
    code = (
        "import sys, mitdeeplearning.grading\n"
        "heavy = ('tensorflow', 'keras', 'music21', 'cv2', 'h5py', 'pretty_midi', 'matplotlib',\n"
        "         'sklearn')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_check"):
        grading.no_such_check  # noqa: B018


# ## fresh(): a copy no patch reaches --------------------------------------------------------------


def _disarm(module: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every function and class of `module` (except `fresh`) by one that does nothing,
    and the module itself in `sys.modules` by an empty one: what a cheating notebook could do."""

    class NotAnError(Exception):
        pass

    for name, value in list(vars(module).items()):
        if name.startswith("__") or name == "fresh" or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type) and issubclass(value, BaseException):
            monkeypatch.setattr(module, name, NotAnError)
        elif callable(value):
            monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    monkeypatch.setitem(sys.modules, module.__name__, types.ModuleType(module.__name__))


@pytest.mark.parametrize("module_name", MODULES)
def test_patching_a_module_of_the_package_changes_no_verdict_of_a_fresh_copy(
    module_name, monkeypatch, capsys
):
    module = importlib.import_module(module_name)
    _disarm(module, monkeypatch)
    checks = grading.fresh()
    with pytest.raises(AssertionError, match="expected") as failed:
        checks.check_loss(wrong_loss)
    assert isinstance(failed.value, checks.GradingError)
    with pytest.raises(AssertionError, match="expected n / \\(2 n_c\\)"):
        checks.check_class_weights(wrong_class_weights)
    checks.check_loss(right_loss)  # and right answers still pass
    checks.check_class_weights(right_class_weights)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2


def test_patching_every_module_at_once_changes_no_verdict_of_a_fresh_copy(monkeypatch):
    modules = [importlib.import_module(name) for name in MODULES]
    for module in modules:
        _disarm(module, monkeypatch)
    modules[0].check_loss(wrong_loss)  # the patched package lets a wrong answer through...
    with pytest.raises(AssertionError, match="expected"):
        grading.fresh().check_loss(wrong_loss)  # ...its fresh copy does not


def test_fresh_copies_share_no_module_with_each_other_or_the_package():
    first, second = grading.fresh(), grading.fresh()
    packages = [grading, first, second]
    owner = {id(vars(m)): p for p in packages for m in _modules(p)}
    assert len(owner) == 4 * len(packages)  # twelve distinct modules
    for package in packages:
        for module in _modules(package):
            for name, value in vars(module).items():
                if isinstance(value, types.FunctionType) and id(value.__globals__) in owner:
                    # Every check and helper runs in its own copy's modules.
                    assert owner[id(value.__globals__)] is package, (module.__name__, name)
        assert package.GradingError is package.compare.GradingError
    assert first.GradingError is not grading.GradingError is not second.GradingError


def test_a_fresh_copy_is_not_left_in_sys_modules():
    checks = grading.fresh()
    assert not [name for name in sys.modules if name.startswith(checks.__name__)]
    assert not any(module in sys.modules.values() for module in _modules(checks))


def test_a_failure_names_the_public_error_whichever_copy_raised_it():
    checks = grading.fresh()
    with pytest.raises(AssertionError) as failed:
        checks.check_loss(wrong_loss)
    assert failed.type.__module__ == "mitdeeplearning.grading"
    assert failed.type.__name__ == "GradingError"


# ## The old name check_vectorize -----------------------------------------------------------------


@pytest.fixture
def forget_warnings(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())


def test_check_vectorize_still_works_and_warns_once(forget_warnings, capsys):
    renamed = r"grading\.check_vectorize has been renamed .*grading\.check_vectorise"
    with pytest.warns(FutureWarning, match=renamed):
        old = grading.check_vectorize
    assert old is grading.check_vectorise
    char2idx = {c: i for i, c in enumerate("abc |")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, from the package or from a copy
        grading.check_vectorize(lambda s: [char2idx[c] for c in s], char2idx, "ab| cab")
        checks = grading.fresh()
        assert checks.check_vectorize is checks.check_vectorise
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")
    assert "check_vectorize" not in dir(grading)


def test_a_fresh_copy_resolves_check_vectorize_without_a_warning(forget_warnings, capsys):
    # Graded cells call copies, and nbgrader gives no points to a cell that writes to stderr:
    # a warning there would cost a right answer its points.
    checks = grading.fresh()
    char2idx = {c: i for i, c in enumerate("abc |")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checks.check_vectorize is checks.check_vectorise
        checks.check_vectorize(lambda s: [char2idx[c] for c in s], char2idx, "ab| cab")
    assert capsys.readouterr().out.startswith("\N{CHECK MARK}")
    with pytest.warns(FutureWarning, match="check_vectorise"):  # the package itself still warns
        grading.check_vectorize  # noqa: B018
