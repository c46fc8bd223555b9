"""mitdeeplearning.xray.h5: the 2018 course's HDF5 format, written by `save_h5` and read by
`load_h5`, in files made in the test (by `save_h5` and by raw h5py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from mitdeeplearning import _lazy, xray
from mitdeeplearning.xray import h5
from mitdeeplearning.xray.h5 import load_h5, save_h5, to_uint8


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed write could have left behind."""
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


def test_save_then_load_round_trip_stores_the_2018_layout(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((5, 16, 12, 1), dtype=np.float32)
    labels = np.array([0, 1, 1, 0, 1])
    masks = rng.random((5, 16, 12)) > 0.7
    path = save_h5(tmp_path / "x.h5", images, labels, masks, attrs={"source": "test"})

    with h5py.File(path, "r") as f:
        assert f["image"].shape == (5, 16, 12, 1) and f["image"].dtype == np.uint8
        assert f["label"].dtype == np.float32
        np.testing.assert_array_equal(f["label"][:], np.eye(2)[labels])
        assert f["mask"].dtype == np.uint8
        assert f.attrs["source"] == "test"
        assert f["image"].compression == "gzip"

    loaded, loaded_labels, loaded_masks = load_h5(path)
    assert loaded.dtype == np.float32 and loaded.shape == (5, 16, 12, 1)
    assert np.abs(loaded - images).max() <= 1 / 510 + 1e-6  # uint8 quantisation
    assert loaded_labels.dtype == np.int64
    np.testing.assert_array_equal(loaded_labels, labels)
    assert loaded_masks.dtype == bool
    np.testing.assert_array_equal(loaded_masks, masks)
    assert leftovers(tmp_path) == []


def test_save_keeps_float_images_exact_without_quantise_and_accepts_one_hot(tmp_path):
    images = np.linspace(0, 1, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)  # no channel axis
    path = save_h5(tmp_path / "x.h5", images, np.eye(2)[[1, 0]], quantise=False)
    loaded, labels, masks = load_h5(path)
    np.testing.assert_array_equal(loaded[..., 0], images)
    assert labels.tolist() == [1, 0] and masks is None


def test_load_reads_at_most_limit_images_and_boxes(tmp_path):
    images = np.zeros((4, 8, 8, 1), np.uint8)
    boxes = np.array([[1, 2, 3, 4]] + [[np.nan] * 4] * 3, np.float32)
    path = save_h5(tmp_path / "x.h5", images, [1, 0, 0, 1], boxes=boxes)
    loaded, labels, _, loaded_boxes = load_h5(path, limit=2, return_boxes=True)
    assert loaded.shape == (2, 8, 8, 1) and labels.tolist() == [1, 0]
    np.testing.assert_array_equal(loaded_boxes, boxes[:2])
    _, _, _, no_boxes = load_h5(save_h5(tmp_path / "y.h5", images, [0] * 4), return_boxes=True)
    assert np.isnan(no_boxes).all() and no_boxes.shape == (4, 4)


@pytest.mark.parametrize(
    ("dtype", "stored", "expected"),
    [
        (np.uint8, 51, 0.2),
        (np.uint16, 13107, 0.2),
        (np.float32, 0.25, 0.25),
        (np.float64, 1.0, 1.0),
    ],
)
def test_load_reads_2018_files_written_by_h5py(tmp_path, dtype, stored, expected):
    path = tmp_path / "pneumothorax.h5"
    with h5py.File(path, "w") as f:
        f["image"] = np.full((3, 256, 256, 1), stored, dtype=dtype)
        f["label"] = np.array([[1, 0], [0, 1], [0, 1]], np.float64)
    images, labels, masks = load_h5(path)
    assert images.dtype == np.float32 and images.shape == (3, 256, 256, 1)
    np.testing.assert_allclose(images, expected, rtol=1e-6)
    assert labels.tolist() == [0, 1, 1] and labels.dtype == np.int64
    assert masks is None


def broken(tmp_path, **datasets_):
    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as f:
        for name, value in datasets_.items():
            f[name] = value
    return path


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ({"image": np.zeros((2, 4, 4, 1), np.uint8)}, "has no label dataset"),
        ({"images": np.zeros((2, 4, 4, 1)), "labels": np.zeros(2)}, "found: images (2, 4, 4, 1)"),
        ({"image": np.zeros((3, 4, 4, 1), np.uint8), "label": np.eye(2)[[0, 1]]}, "3 images"),
        ({"image": np.zeros((2, 4), np.uint8), "label": np.zeros(2)}, "(N, H, W, 1)"),
        ({"image": np.zeros((2, 4, 4, 3), np.uint8), "label": np.zeros(2)}, "(N, H, W, 1)"),
        ({"image": np.full((2, 4, 4, 1), 2.0), "label": np.zeros(2)}, "[0, 1]"),
        ({"image": np.zeros((2, 4, 4, 1), np.int32), "label": np.zeros(2)}, "int32"),
        ({"image": np.zeros((2, 4, 4, 1), np.uint8), "label": [[0.5, 0.5]] * 2}, "one-hot"),
        ({"image": np.zeros((2, 4, 4, 1), np.uint8), "label": [0, 2]}, "0 (no finding)"),
        (
            {"image": np.zeros((2, 4, 4, 1), np.uint8), "label": [0, 1], "mask": np.zeros((2, 3))},
            "'mask' must have shape",
        ),
    ],
)
def test_load_rejects_files_not_in_the_format(tmp_path, contents, message):
    with pytest.raises(ValueError) as info:
        load_h5(broken(tmp_path, **contents))
    assert message in str(info.value)


def test_load_missing_or_non_hdf5_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No HDF5 file"):
        load_h5(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        load_h5(tmp_path / "text.h5")


@pytest.mark.parametrize(
    ("images", "labels", "masks", "message"),
    [
        (np.zeros((2, 4)), [0, 1], None, "shape (N, H, W, 1)"),
        (np.zeros((2, 4, 4, 1)), [0, 1, 1], None, "2 images but 3 labels"),
        (np.full((2, 4, 4, 1), 1.5), [0, 1], None, "[0, 1]"),
        (np.zeros((2, 4, 4, 1), np.int64), [0, 1], None, "int64"),
        (np.zeros((2, 4, 4, 1)), [0, 3], None, "0 (no finding) or 1"),
        (np.zeros((2, 4, 4, 1)), [0, 1], np.zeros((2, 4, 5)), "masks must have shape"),
    ],
)
def test_save_rejects_bad_input(tmp_path, images, labels, masks, message):
    with pytest.raises(ValueError) as info:
        save_h5(tmp_path / "x.h5", images, labels, masks)
    assert message in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic(tmp_path, monkeypatch):
    path = save_h5(tmp_path / "x.h5", np.zeros((2, 4, 4, 1), np.uint8), [0, 1])
    before = path.read_bytes()

    def fail(labels):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(h5, "one_hot", fail)  # fails half-way through the write
    with pytest.raises(RuntimeError):
        save_h5(path, np.ones((3, 4, 4, 1), np.uint8), [1, 1, 1])
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == [] and [p.name for p in tmp_path.iterdir()] == ["x.h5"]


def test_to_uint8_rounds_to_the_nearest_level_and_clips():
    levels = to_uint8(np.array([-0.1, 0.0, 0.5 / 255, 0.6 / 255, 0.5, 1.0, 1.1]))
    assert levels.dtype == np.uint8 and levels.tolist() == [0, 0, 0, 1, 128, 255, 255]


def test_the_old_keywords_n_and_quantize_still_work_and_warn_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    images = np.linspace(0, 1, 3 * 4 * 4).reshape(3, 4, 4)
    with pytest.warns(FutureWarning, match=r"save_h5\(quantize=\.\.\.\) has been renamed"):
        path = save_h5(tmp_path / "x.h5", images, [0, 1, 0], quantize=False)
    with pytest.warns(FutureWarning, match=r"load_h5\(n=\.\.\.\) has been renamed load_h5\(limit"):
        loaded, labels, _ = load_h5(path, n=2)
    np.testing.assert_array_equal(loaded[..., 0], images[:2].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        assert len(load_h5(path, n=1)[0]) == 1
    with pytest.raises(TypeError, match="both n= and limit="):
        load_h5(path, n=1, limit=1)


def test_the_old_module_path_of_save_h5_still_works_and_warns(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"xray\.datasets\.save_h5 has been renamed"):
        from mitdeeplearning.xray.datasets import save_h5 as old

    assert old is save_h5 is xray.save_h5
