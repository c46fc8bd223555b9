"""mitdeeplearning.xray.cam_plans: which layers of a model CAM and Grad-CAM read, found once per
model and kept only while the model lives. (test_cam.py runs them on every kind of model.)"""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest

from mitdeeplearning.xray import build_cam_cnn, cam_plans, class_activation_maps, grad_cam
from mitdeeplearning.xray.cam_plans import check_chain, plan_for

IMAGES = np.random.default_rng(0).random((2, 64, 64, 1)).astype(np.float32)


def test_the_gap_cnn_plans_read_its_feature_maps_and_its_dense_layer():
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    cam = plan_for(model, "cam")
    assert cam.layer_name == "cam_features" and cam.dense is model.get_layer("cam_logits")
    assert cam.input_shape == (64, 64, 1) and cam.checked
    features, head = cam.run(IMAGES)
    assert tuple(features.shape) == (2, 32, 32, 8) and head is None
    grad = plan_for(model, "grad")
    assert grad.layer_name == "cam_features"  # the last convolution, through BN and ReLU
    features, head = grad.run(IMAGES)
    np.testing.assert_allclose(grad.logits(head), model(IMAGES), atol=1e-5)
    assert plan_for(model, "cam") is cam  # built once
    with pytest.raises(ValueError, match="is not one of the model's top-level layers"):
        plan_for(model, "cam", layer="nothing")
    with pytest.raises(ValueError, match="does not feed a GlobalAveragePooling2D"):
        plan_for(model, "cam", layer="block1_conv")


def test_a_subclassed_chain_is_checked_once_against_the_model():
    class Chain(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(3, 3)
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    class Shifted(Chain):  # an operation outside its layers
        def call(self, x):
            return self.dense(self.pool(self.conv(x))) + 1.0

    good, bad = Chain(), Shifted()
    for model in (good, bad):
        model(IMAGES)
    plan = plan_for(good, "cam")
    assert not plan.checked
    check_chain(good, plan, IMAGES)
    assert plan.checked
    with pytest.raises(ValueError, match="could not read the subclassed model"):
        check_chain(bad, plan_for(bad, "cam"), IMAGES)


def test_the_cached_extractors_do_not_keep_a_model_alive():
    model = build_cam_cnn((64, 64, 1), filters=(4, 8), seed=0)
    class_activation_maps(model, IMAGES[:2])
    grad_cam(model, IMAGES[:2])
    assert len(cam_plans._PLANS[model]) == 2  # one plan each, built once
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
