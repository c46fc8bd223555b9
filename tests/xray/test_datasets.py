"""mitdeeplearning.xray.datasets: `load_pneumothorax`, one loader for every source (the
phantom, a converted dataset by name, an HDF5 file by path). The converted datasets' own tests
are in test_convert.py."""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest

from mitdeeplearning import _lazy, data
from mitdeeplearning.xray.datasets import load_pneumothorax
from mitdeeplearning.xray.h5 import save_h5


def test_load_pneumothorax_not_built_says_which_command_to_run(cache):
    commands = (("nih", "mitdl convert nih --images DIR"), ("siim", "mitdl convert siim"))
    for source, command in commands:
        with pytest.raises(data.ManualDownloadRequired) as info:
            load_pneumothorax(source, "val")
        message = str(info.value)
        assert command in message
        folder = "nih-chestxray14" if source == "nih" else "siim-acr-pneumothorax"
        assert str(cache / folder / f"{source}_pneumothorax_val.h5") in message


def test_load_pneumothorax_from_a_path(tmp_path):
    masks = np.zeros((3, 20, 20), bool)
    masks[1, 5:15, 5:15] = True
    path = save_h5(tmp_path / "x.h5", np.zeros((3, 20, 20, 1), np.uint8), [0, 1, 0], masks)
    images, labels, loaded_masks = load_pneumothorax(path, size=10, limit=2)
    assert images.shape == (2, 10, 10, 1) and labels.tolist() == [0, 1]
    assert loaded_masks.shape == (2, 10, 10) and loaded_masks[1].sum() == 25
    assert load_pneumothorax(str(path))[0].shape == (3, 20, 20, 1)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("mnist",), {}, "Unknown source 'mnist': use one of 'synthetic', 'nih', 'siim'"),
        (("nih", "training"), {}, "Unknown split 'training': use one of 'train', 'val', 'test'"),
        (("nih",), {"shortcut": "marker"}, "shortcut only applies to source='synthetic'"),
        (("siim",), {"positive_fraction": 0.5}, "positive_fraction only applies"),
        (("x.h5", "test"), {}, "an HDF5 file is one split"),
        (("nih",), {"size": 0}, "size=0"),
        (("nih",), {"limit": -1}, "limit=-1"),
    ],
)
def test_load_pneumothorax_rejects_bad_arguments(cache, args, kwargs, message):
    with pytest.raises(ValueError) as info:
        load_pneumothorax(*args, **kwargs)
    assert message in str(info.value)


def test_load_pneumothorax_synthetic_seeds_and_defaults(monkeypatch):
    """What load_pneumothorax asks of the phantom (a stand-in here, the real one below)."""
    calls = []

    def make_synthetic_cxr(n, **options):
        calls.append((n, options))
        return np.zeros((n, 8, 8, 1), np.float32), np.zeros(n, np.int64), np.zeros((n, 8, 8), bool)

    fake = types.ModuleType("mitdeeplearning.xray.phantom")
    fake.make_synthetic_cxr = make_synthetic_cxr
    monkeypatch.setitem(sys.modules, "mitdeeplearning.xray.phantom", fake)
    for split in ("train", "val", "test"):
        load_pneumothorax("synthetic", split)
    load_pneumothorax(seed=1, size=64, limit=5, positive_fraction=0.5, shortcut="marker")
    assert [n for n, _ in calls] == [1000, 200, 400, 5]
    assert [o["seed"] for _, o in calls] == [0, 1, 2, 3]  # no (seed, split) shares a seed
    assert [o["positive_fraction"] for _, o in calls] == [0.2, 0.2, 0.2, 0.5]
    assert "size" not in calls[0][1] and calls[3][1]["size"] == 64
    assert calls[3][1]["shortcut"] == "marker"


def test_load_pneumothorax_synthetic_splits_differ():
    pytest.importorskip("mitdeeplearning.xray.phantom")
    train = load_pneumothorax("synthetic", "train", limit=20, size=64)
    val = load_pneumothorax("synthetic", "val", limit=20, size=64)
    again = load_pneumothorax("synthetic", "train", limit=20, size=64)
    for images, labels, masks in (train, val):
        assert images.shape == (20, 64, 64, 1) and images.dtype == np.float32
        assert images.min() >= 0 and images.max() <= 1
        assert labels.shape == (20,) and masks.shape == (20, 64, 64)
    np.testing.assert_array_equal(train[0], again[0])  # seeded
    assert not any((v == t).all() for v in val[0] for t in train[0])  # no image in both splits


def test_the_old_keyword_n_still_works_and_warns_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    path = save_h5(tmp_path / "x.h5", np.zeros((3, 8, 8, 1), np.uint8), [0, 1, 0])
    renamed = r"load_pneumothorax\(n=\.\.\.\) has been renamed load_pneumothorax\(limit=\.\.\.\)"
    with pytest.warns(FutureWarning, match=renamed):
        assert len(load_pneumothorax(path, n=2)[0]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_pneumothorax(path, n=1)[1]) == 1
