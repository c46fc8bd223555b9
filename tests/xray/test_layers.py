"""mitdeeplearning.xray.layers: per-image standardisation, mirror padding and the logit AUC,
their old names, and saving and loading a model that uses them."""

from __future__ import annotations

import json
import warnings
import zipfile

import keras
import numpy as np
import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.xray.layers import (
    PerImageStandardisation,
    PerImageStandardization,
    PositiveClassAUC,
    ReflectPadding2D,
)
from mitdeeplearning.xray.model import build_cam_cnn

IMAGES = np.random.default_rng(0).random((2, 64, 64, 1)).astype(np.float32)


def test_standardisation_makes_predictions_invariant_to_brightness_and_contrast():
    layer = PerImageStandardisation()
    x = np.random.default_rng(1).random((4, 64, 64, 1)).astype(np.float32)
    z = np.asarray(layer(x))
    np.testing.assert_allclose(z.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(1, 2, 3)), 1, atol=1e-3)
    model = build_cam_cnn((64, 64, 1), filters=(8, 16), seed=0)
    np.testing.assert_allclose(model(x), model(0.5 * x + 0.1), atol=1e-4)
    assert not np.allclose(model(x), model(x**2), atol=1e-3)  # a gamma curve does change it


def test_reflect_padding_mirrors_the_edge_and_grows_the_shape():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)
    padded = np.asarray(ReflectPadding2D(2)(x))
    assert padded.shape == (1, 7, 8, 1)
    np.testing.assert_array_equal(padded[0, 2:5, 2:6, 0], x[0, ..., 0])
    np.testing.assert_array_equal(padded[0, 2:5, 1, 0], x[0, :, 1, 0])  # the mirror of column 1
    assert ReflectPadding2D(2).compute_output_shape((None, None, 4, 1)) == (None, None, 8, 1)


def test_positive_class_auc_ranks_confident_logits_apart():
    auc = PositiveClassAUC()
    labels = np.array([0, 0, 1, 1])
    # z1 - z0 = -80, 30 | 20, 100: one of the four pairs is in the wrong order, though the
    # softmax probabilities of 30 and 20 both round to 1.0 in float32
    logits = np.array([[40.0, -40.0], [0.0, 30.0], [0.0, 20.0], [-50.0, 50.0]])
    auc.update_state(labels, logits)
    assert float(auc.result()) == pytest.approx(0.75, abs=0.01)


def test_the_old_spelling_of_the_standardisation_layer_still_works_and_warns_once(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match="PerImageStandardization has been renamed"):
        old = PerImageStandardization(epsilon=1e-3)
    assert isinstance(old, PerImageStandardisation) and old.epsilon == 1e-3
    np.testing.assert_allclose(old(IMAGES), PerImageStandardisation(epsilon=1e-3)(IMAGES))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PerImageStandardization()


def test_a_saved_model_loads_with_the_same_layers_and_outputs(tmp_path):
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.get_layer("standardise")) is PerImageStandardisation
    assert type(loaded.get_layer("block1_pad")) is ReflectPadding2D
    np.testing.assert_allclose(loaded(IMAGES), model(IMAGES), atol=1e-6)


def test_a_model_saved_under_the_old_layer_name_still_loads_without_a_warning(tmp_path):
    """A .keras file saved before the rename names the layer PerImageStandardization, in the
    module mitdeeplearning.xray.model: rewrite a new file's config that way and load it."""
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new:
        members = {name: new.read(name) for name in new.namelist()}
    config = json.loads(members["config.json"])
    layer = next(x for x in config["config"]["layers"] if x["config"]["name"] == "standardise")
    assert layer["registered_name"] == "mitdeeplearning>PerImageStandardisation"
    layer.update(
        module="mitdeeplearning.xray.model",
        class_name="PerImageStandardization",
        registered_name="mitdeeplearning>PerImageStandardization",
    )
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for name, content in members.items():
            old.writestr(name, content)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = keras.models.load_model(tmp_path / "old.keras")
    assert type(loaded.get_layer("standardise")) is PerImageStandardisation
    np.testing.assert_allclose(loaded(IMAGES), model(IMAGES), atol=1e-6)
