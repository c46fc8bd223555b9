"""mitdeeplearning.xray.model: the GAP-CNN's shapes, layer names, size and argument checks, and
the old module paths of what moved out of it."""

from __future__ import annotations

import numpy as np
import pytest

from mitdeeplearning import _lazy, xray
from mitdeeplearning.xray import augment, layers, training
from mitdeeplearning.xray.model import build_cam_cnn


def test_output_shape_names_and_parameter_count():
    model = build_cam_cnn((64, 64, 1), filters=(8, 16, 32), seed=0)
    logits = model(np.zeros((3, 64, 64, 1), np.float32))
    assert tuple(logits.shape) == (3, 2)
    assert model.get_layer("cam_features").output.shape[1:] == (16, 16, 32)
    assert model.get_layer("cam_logits").units == 2
    convs = 9 * (1 * 8 + 8 * 16 + 16 * 32)  # 3x3 kernels, no biases (BatchNorm has them)
    batch_norm = 4 * (8 + 16 + 32)  # gamma, beta, moving mean and variance
    assert model.count_params() == convs + batch_norm + 32 * 2 + 2


def test_default_model_is_small_and_maps_at_32_px():
    model = build_cam_cnn()
    assert model.input_shape == (None, 256, 256, 1)
    assert model.get_layer("cam_features").output.shape[1:] == (32, 32, 128)
    assert 90_000 < model.count_params() < 110_000
    two = build_cam_cnn((64, 64, 3), filters=(4, 8), convs_per_block=2, dropout=0.2)
    assert [layer.name for layer in two.layers if "conv" in layer.name] == [
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
    ]
    assert tuple(two(np.zeros((1, 64, 64, 3), np.float32)).shape) == (1, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (64, 32, 1)}, "square"),
        ({"input_shape": (32, 32, 1)}, "at least 64"),
        ({"input_shape": (64, 64)}, "height, width, channels"),
        ({"filters": ()}, "filters"),
        ({"filters": (8, 0)}, "filters"),
        ({"filters": (4,) * 6}, "pool a 64 px"),
        ({"dropout": 1.0}, "dropout"),
        ({"kernel_size": 4}, "kernel_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs.setdefault("input_shape", (64, 64, 1))
    with pytest.raises(ValueError, match=message):
        build_cam_cnn(**kwargs)


@pytest.mark.parametrize(
    ("old", "module"),
    [
        ("train_cam_cnn", training),
        ("TrainResult", training),
        ("class_weights", training),
        ("AUGMENT", augment),
        ("augment_batch", augment),
        ("make_training_dataset", augment),
        ("PositiveClassAUC", layers),
    ],
)
def test_names_that_moved_out_still_work_from_here_and_warn(monkeypatch, old, module):
    monkeypatch.setattr(_lazy, "_warned", set())
    from mitdeeplearning.xray import model

    with pytest.warns(FutureWarning, match=rf"xray\.model\.{old} has been renamed"):
        assert getattr(model, old) is getattr(module, old)


def test_the_old_path_of_the_standardisation_layer_gives_the_new_class(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"layers\.PerImageStandardisation"):
        from mitdeeplearning.xray.model import PerImageStandardization
    assert PerImageStandardization is layers.PerImageStandardisation
    assert xray.train_cam_cnn is training.train_cam_cnn
    from mitdeeplearning.xray import model

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        model.nothing  # noqa: B018
