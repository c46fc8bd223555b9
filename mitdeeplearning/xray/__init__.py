"""Lab 2's X-rays: pneumothorax data (an offline phantom with masks, real NIH / SIIM / HDF5
data), a GAP-CNN, ROC evaluation, and Class Activation Maps scored against ground truth.

Public names are imported lazily, so ``import mitdeeplearning.xray`` stays cheap and only the
parts you use load TensorFlow, OpenCV or h5py.

One module per idea, in the order the lab uses them:

* data: `phantom` (synthetic radiographs with masks), `datasets` (`load_pneumothorax`, one
  loader for every source), `h5` (the 2018 course's HDF5 format), `rle` (SIIM-ACR's mask
  codec), and the converters of the real datasets to that format: `convert` (the shared
  steps), `image_files` (reading PNG and DICOM), `nih` and `siim`;
* the model: `layers` (its Keras layers and metric), `model` (`build_cam_cnn`), `augment` and
  `training` (`train_cam_cnn`), `evaluation` (ROC);
* the explanation: `cam` (CAM and Grad-CAM, read from the layers named ``cam_features`` and
  ``cam_logits``), `localisation` (their scores against masks and boxes), `faithfulness`
  (deletion and insertion curves, the model-randomisation check) and `plots`.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    # data
    "make_synthetic_cxr": "phantom",
    "load_h5": "h5",
    "save_h5": "h5",
    "rle_encode": "rle",
    "rle_decode": "rle",
    "convert_nih": "nih",
    "convert_siim": "siim",
    "load_pneumothorax": "datasets",
    # model and evaluation
    "build_cam_cnn": "model",
    "train_cam_cnn": "training",
    "roc": "evaluation",
    "plot_roc": "evaluation",
    "confusion_at": "evaluation",
    "wilson_interval": "evaluation",
    # explanation and its scores
    "class_activation_maps": "cam",
    "grad_cam": "cam",
    "pointing_game": "localisation",
    "energy_in_mask": "localisation",
    "cam_iou": "localisation",
    "iobb_hits": "localisation",
    "location_prior": "localisation",
    "mask_sides": "localisation",
    "deletion_curve": "faithfulness",
    "insertion_curve": "faithfulness",
    "randomization_check": "faithfulness",
    "overlay": "plots",
    "plot_cams": "plots",
    "worst_cases": "plots",
    "plot_failures": "plots",
}

__all__ = sorted(_EXPORTS)


#: Old public names → new ones; the old ones still work and warn once.
_RENAMED = {"build_nih": "convert_nih", "build_siim": "convert_siim"}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), renamed=_RENAMED)
