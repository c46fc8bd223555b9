"""Lazy public names, and old names that keep working with one warning each."""

from __future__ import annotations

import subprocess
import sys
import types
import warnings

import pytest

from mitdeeplearning import _lazy


@pytest.fixture(autouse=True)
def _forget_warnings(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())


def _package(renamed=None):
    package = types.ModuleType("mitdeeplearning.fakepkg")
    exports = {"sqrt": "x"}
    # The "submodule" is the math module, reached through a fake package name.
    sys.modules["mitdeeplearning.fakepkg.x"] = __import__("math")
    getattr_, dir_ = _lazy.lazy_exports(package.__name__, exports, vars(package), renamed)
    package.__getattr__, package.__dir__ = getattr_, dir_
    return package, getattr_, dir_


def test_an_old_name_resolves_to_the_new_object_and_warns_once():
    _, getattr_, dir_ = _package({"square_root": "sqrt"})
    with pytest.warns(FutureWarning, match=r"fakepkg\.square_root has been renamed fakepkg\.sqrt"):
        assert getattr_("square_root")(9) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr_("square_root") is getattr_("sqrt")
    assert "square_root" not in dir_() and "sqrt" in dir_()


def test_a_renamed_target_must_be_exported():
    with pytest.raises(ValueError, match="not exported"):
        _package({"old": "missing"})


def test_unknown_names_are_attribute_errors():
    _, getattr_, _ = _package()
    with pytest.raises(AttributeError, match="nothing"):
        getattr_("nothing")


def test_renamed_keywords_map_old_to_new_and_refuse_both():
    @_lazy.renamed_keywords(n="limit")
    def head(items, *, limit=None):
        return items[:limit]

    renamed = r"head\(n=\.\.\.\) has been renamed head\(limit=\.\.\.\)"
    with pytest.warns(FutureWarning, match=renamed):
        assert head([1, 2, 3], n=1) == [1]
    assert head([1, 2, 3], limit=2) == [1, 2]
    with pytest.raises(TypeError, match="both n= and limit="):
        head([1], n=1, limit=1)
    assert head.__name__ == "head"


def test_the_warning_points_at_the_callers_line():
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from mitdeeplearning import _lazy\n"
        "@_lazy.renamed_keywords(n='limit')\n"
        "def f(*, limit=None): return limit\n"
        "f(n=1)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "<string>:5: FutureWarning" in result.stderr
