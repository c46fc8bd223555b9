"""mitdeeplearning.xray.datasets: HDF5 format, SIIM's RLE, NIH and SIIM builders, the loader.

Every file is made in the test: small fake NIH and SIIM folders (PNGs written with OpenCV, CSVs
with the real files' headers), HDF5 files written by `save_h5` and by raw h5py.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from mitdeeplearning import cli, data
from mitdeeplearning.xray import datasets
from mitdeeplearning.xray.datasets import (
    build_nih,
    build_siim,
    load_h5,
    load_pneumothorax,
    rle_decode,
    rle_encode,
    save_h5,
)


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed write could have left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


# ## The HDF5 format ---------------------------------------------------------------------------


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


def test_save_keeps_float_images_exact_without_quantize_and_accepts_one_hot(tmp_path):
    images = np.linspace(0, 1, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)  # no channel axis
    path = save_h5(tmp_path / "x.h5", images, np.eye(2)[[1, 0]], quantize=False)
    loaded, labels, masks = load_h5(path)
    np.testing.assert_array_equal(loaded[..., 0], images)
    assert labels.tolist() == [1, 0] and masks is None


def test_load_reads_first_n_and_boxes(tmp_path):
    images = np.zeros((4, 8, 8, 1), np.uint8)
    boxes = np.array([[1, 2, 3, 4]] + [[np.nan] * 4] * 3, np.float32)
    path = save_h5(tmp_path / "x.h5", images, [1, 0, 0, 1], boxes=boxes)
    loaded, labels, _, loaded_boxes = load_h5(path, n=2, return_boxes=True)
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

    monkeypatch.setattr(datasets, "_one_hot", fail)  # fails half-way through the write
    with pytest.raises(RuntimeError):
        save_h5(path, np.ones((3, 4, 4, 1), np.uint8), [1, 1, 1])
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == [] and [p.name for p in tmp_path.iterdir()] == ["x.h5"]


# ## SIIM-ACR's run-length encoding ------------------------------------------------------------


def reference_decode(rle: str, height: int, width: int) -> np.ndarray:
    """SIIM's convention, pixel by pixel: runs over the transposed image, relative starts."""
    flat = np.zeros(width * height, bool)
    if rle.strip() != "-1":
        values = [int(v) for v in rle.split()]
        position = 0
        for gap, length in zip(values[0::2], values[1::2], strict=True):
            position += gap
            flat[position : position + length] = True
            position += length
    return flat.reshape(width, height).T


def reference_encode(mask: np.ndarray) -> str:
    out, previous_end, run_start = [], 0, None
    flat = list(mask.T.ravel()) + [False]
    for i, inside in enumerate(flat):
        if inside and run_start is None:
            run_start = i
        elif not inside and run_start is not None:
            out += [run_start - previous_end, i - run_start]
            previous_end, run_start = i, None
    return " ".join(map(str, out)) if out else "-1"


def test_rle_known_example_is_column_major_and_relative():
    mask = np.zeros((4, 3), bool)
    mask[2:, 0] = True  # column-major pixels 2, 3
    mask[1, 1] = True  # pixel 5
    mask[0, 2] = mask[3, 2] = True  # pixels 8 and 11
    assert rle_encode(mask) == "2 2 1 1 2 1 2 1"
    np.testing.assert_array_equal(rle_decode("2 2 1 1 2 1 2 1", (4, 3)), mask)
    # SIIM's masks are 0/255 images, and train-rle.csv values start with a space
    np.testing.assert_array_equal(rle_decode(" 2 2 1 1 2 1 2 1", (4, 3)), mask)
    assert rle_encode(mask.astype(np.uint8) * 255) == "2 2 1 1 2 1 2 1"


@pytest.mark.parametrize("shape", [(5, 7), (16, 16), (1, 9), (9, 1)])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_rle_round_trip_random_masks_matches_reference(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    for _ in range(5):
        mask = rng.random(shape) < density
        rle = rle_encode(mask)
        assert rle == reference_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle, shape), mask)
        np.testing.assert_array_equal(reference_decode(rle, *shape), mask)


def test_rle_empty_full_and_corners():
    h, w = 6, 4
    assert rle_encode(np.zeros((h, w))) == "-1"
    for text in ("-1", " -1", "-1\n"):
        assert not rle_decode(text, (h, w)).any()
    assert rle_encode(np.ones((h, w))) == f"0 {h * w}"
    assert rle_decode(f"0 {h * w}", (h, w)).all()
    corners = {(0, 0): "0 1", (h - 1, 0): f"{h - 1} 1", (0, w - 1): f"{h * (w - 1)} 1"}
    corners[(h - 1, w - 1)] = f"{h * w - 1} 1"
    for (row, col), rle in corners.items():
        mask = np.zeros((h, w), bool)
        mask[row, col] = True
        assert rle_encode(mask) == rle
        np.testing.assert_array_equal(rle_decode(rle, (h, w)), mask)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("1 2 3", "3 values; expected pairs"),
        ("1 -2", "negative"),
        ("0 13", "beyond the 3 x 4 image"),
        ("5 5 0 3", "beyond"),
        ("a b", "not space-separated integers"),
        ("1.5 2", "not space-separated integers"),
        ("", "empty"),
        ("  ", "empty"),
    ],
)
def test_rle_decode_rejects_bad_strings(rle, message):
    with pytest.raises(ValueError) as info:
        rle_decode(rle, (3, 4))
    assert message in str(info.value)


def test_rle_rejects_bad_shapes():
    with pytest.raises(ValueError, match="2-D"):
        rle_encode(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="shape must be"):
        rle_decode("-1", (3,))
    with pytest.raises(ValueError, match="shape must be"):
        rle_decode("-1", (0, 3))


# ## NIH ChestX-ray14 --------------------------------------------------------------------------

NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
)
# (image, findings, patient, how the PNG is written); "missing" has no file
NIH_ROWS = [
    ("00000001_000.png", "Pneumothorax", 1, "gray8"),
    ("00000001_001.png", "No Finding", 1, "gray16"),
    ("00000002_000.png", "Pneumothorax|Effusion", 2, "rgba"),
    ("00000003_000.png", "No Finding", 3, "gray8"),
    ("00000003_001.png", "Effusion", 3, "gray8"),
    ("00000004_000.png", "No Finding", 4, "gray16"),
    ("00000005_000.png", "Effusion|Pneumothorax", 5, "gray8"),
    ("00000006_000.png", "No Finding", 6, "wide"),
    ("00000006_001.png", "No Finding", 6, "gray8"),
    ("00000007_000.png", "Pneumothorax", 7, "gray8"),
    ("00000008_000.png", "No Finding", 8, "missing"),
    ("00000009_000.png", "Atelectasis", 9, "gray8"),
    ("00000010_000.png", "No Finding", 10, "rgba"),
]
NIH_EXPECTED = {  # image -> (label, patient) of the images that must be in the built files
    name: (int("Pneumothorax" in findings), str(patient))
    for name, findings, patient, kind in NIH_ROWS
    if kind != "missing" and ("Pneumothorax" in findings or findings == "No Finding")
}
BBOX_CSV = (
    "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
    "00000001_000.png,Pneumothorax,512.0,256.0,128.0,64.0,,,\n"
    "00000003_000.png,Effusion,100,100,50,50,,,\n"
    "00000007_000.png,Pneumothorax,0,0,1024,1024,,,\n"
)


def grey_level(index: int) -> int:
    return 10 + 17 * index


@pytest.fixture(scope="module")
def nih(tmp_path_factory):
    """A fake NIH download: PNGs (8-bit, 16-bit, RGBA, 300 px) in a nested folder, and CSVs."""
    root = tmp_path_factory.mktemp("nih")
    images = root / "images_001" / "images"
    images.mkdir(parents=True)
    lines = [NIH_HEADER]
    for i, (name, findings, patient, kind) in enumerate(NIH_ROWS):
        lines.append(f"{name},{findings},0,{patient},58,M,PA,2682,2749,0.143,0.143")
        level = grey_level(i)
        if kind == "gray8" or kind == "wide":
            pixels = np.full((300, 400 if kind == "wide" else 300), level, np.uint8)
        elif kind == "gray16":
            pixels = np.full((300, 300), level * 257, np.uint16)
        elif kind == "rgba":
            pixels = np.full((300, 300, 4), level, np.uint8)
            pixels[..., 3] = 255
        else:
            continue
        assert cv2.imwrite(str(images / name), pixels)
    (root / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n")
    (root / "BBox_List_2017.csv").write_text(BBOX_CSV)
    return root


def read_built(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in f} | {"attrs": dict(f.attrs)}


def test_build_nih_splits_by_patient_maps_labels_and_scales_boxes(nih, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        paths = build_nih(
            nih / "images_001", nih / "Data_Entry_2017.csv", bbox_csv=nih / "BBox_List_2017.csv",
            size=64, out=out, progress=False,
        )  # fmt: skip
    assert set(paths) == {"train", "val", "test"}
    assert paths["train"] == out / "nih_pneumothorax_train.h5"
    assert "1 of the 11 selected images were not found" in caplog.text
    assert "00000008_000.png" in caplog.text
    assert leftovers(out) == []

    seen, patients = {}, {}
    for split, path in paths.items():
        built = read_built(path)
        ids = [s.decode() for s in built["image_id"]]
        groups = {g.decode() for g in built["group"]}
        patients[split] = groups
        assert built["image"].shape == (len(ids), 64, 64, 1) and built["image"].dtype == np.uint8
        assert built["label"].shape == (len(ids), 2) and built["box"].shape == (len(ids), 4)
        assert built["attrs"]["split"] == split and built["attrs"]["size"] == 64
        images, labels, masks, boxes = load_h5(path, return_boxes=True)
        assert masks is None and images.min() >= 0 and images.max() <= 1
        for i, name in enumerate(ids):
            seen[name] = (int(labels[i]), built["group"][i].decode())
            level = grey_level([row[0] for row in NIH_ROWS].index(name))
            np.testing.assert_allclose(images[i], level / 255, atol=1.5 / 255)  # 8/16-bit, RGBA
            box = {"00000001_000.png": [32, 16, 8, 4], "00000007_000.png": [0, 0, 64, 64]}
            if name in box:
                np.testing.assert_allclose(boxes[i], box[name])
            else:
                assert np.isnan(boxes[i]).all()
    assert seen == NIH_EXPECTED  # Effusion and Atelectasis left out, missing file skipped
    assert not (patients["train"] & patients["val"])
    assert not (patients["train"] & patients["test"])
    assert not (patients["val"] & patients["test"])
    # 8 patients: test round(1.6) = 2, val max(1, round(0.8)) = 1, the rest train
    assert [len(patients[s]) for s in ("train", "val", "test")] == [5, 1, 2]


def test_build_nih_is_seeded(nih, tmp_path):
    def groups(seed, name):
        paths = build_nih(
            nih, nih / "Data_Entry_2017.csv", size=16, seed=seed, out=tmp_path / name,
            progress=False,
        )  # fmt: skip
        return {s: sorted(read_built(p)["group"].tolist()) for s, p in paths.items()}

    assert groups(0, "a") == groups(0, "b")
    assert any(groups(0, "a")[s] != groups(3, "c")[s] for s in ("train", "test"))


def test_build_nih_limit_and_no_box_dataset_without_bbox(nih, tmp_path):
    paths = build_nih(
        nih, nih / "Data_Entry_2017.csv", size=16, limit=6, out=tmp_path, progress=False
    )
    built = [read_built(p) for p in paths.values()]
    assert sum(len(b["label"]) for b in built) <= 6
    assert all("box" not in b for b in built)


@pytest.mark.parametrize(
    ("header", "argument"),
    [("Image,Labels,Patient\n", "csv"), ("Image Index,Finding Label,x,y,w,h\n", "bbox")],
)
def test_build_nih_wrong_header_lists_expected_and_found_columns(nih, tmp_path, header, argument):
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "a.png,No Finding,1\n")
    files = {"csv": nih / "Data_Entry_2017.csv", "bbox": nih / "BBox_List_2017.csv"}
    files[argument] = bad
    with pytest.raises(ValueError) as info:
        build_nih(nih, files["csv"], bbox_csv=files["bbox"], out=tmp_path, progress=False)
    message = str(info.value)
    expected = datasets.NIH_COLUMNS if argument == "csv" else datasets.NIH_BOX_COLUMNS
    assert all(repr(column) in message for column in expected)
    assert "found 'Image'" in message or "found 'Image Index', 'Finding Label', 'x'" in message


def test_build_nih_without_usable_images_is_an_error(nih, tmp_path):
    with pytest.raises(data.DataError, match="No usable NIH images"):
        build_nih(tmp_path, nih / "Data_Entry_2017.csv", out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError, match="images_dir="):
        build_nih(tmp_path / "nope", nih / "Data_Entry_2017.csv", progress=False)
    with pytest.raises(FileNotFoundError, match="csv_path="):
        build_nih(nih, tmp_path / "nope.csv", progress=False)


def test_build_nih_unreadable_images_are_skipped(nih, tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    for name, *_ in NIH_ROWS:
        (images / name).write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING), pytest.raises(data.DataError, match="unreadable"):
        build_nih(images, nih / "Data_Entry_2017.csv", out=tmp_path / "out", progress=False)
    assert "could not be read" in caplog.text
    assert list((tmp_path / "out").iterdir()) == []


def test_build_nih_failure_leaves_previous_files_untouched(nih, tmp_path, monkeypatch):
    out = tmp_path / "out"
    paths = build_nih(nih, nih / "Data_Entry_2017.csv", size=16, out=out, progress=False)
    before = {p: p.read_bytes() for p in paths.values()}
    real_read, calls = datasets._read_png, []

    def failing_read(path):
        calls.append(path)
        if len(calls) == 5:
            raise MemoryError("injected failure")
        return real_read(path)

    monkeypatch.setattr(datasets, "_read_png", failing_read)
    with pytest.raises(MemoryError):
        build_nih(nih, nih / "Data_Entry_2017.csv", size=32, out=out, progress=False, workers=1)
    assert {p: p.read_bytes() for p in paths.values()} == before
    assert leftovers(out) == [] and sorted(out.iterdir()) == sorted(paths.values())


# ## SIIM-ACR ----------------------------------------------------------------------------------


def rect(shape, top, left, height, width):
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


SIIM_SHAPE = (64, 64)
SIIM_MASKS = {  # ImageId -> the masks of its rows in train-rle.csv (None: a "-1" row)
    "1.2.276.0.1": [None],
    "1.2.276.0.2": [rect(SIIM_SHAPE, 10, 20, 5, 8)],
    "1.2.276.0.3": [rect(SIIM_SHAPE, 0, 0, 3, 3), rect(SIIM_SHAPE, 60, 50, 4, 14)],  # 2 rows
    "1.2.276.0.4": [None],
    "1.2.276.0.5": [rect(SIIM_SHAPE, 30, 30, 1, 1)],  # one pixel: survives resizing
    "1.2.276.0.6": [None],
    "1.2.276.0.7": [rect(SIIM_SHAPE, 5, 40, 20, 2), rect(SIIM_SHAPE, 5, 41, 20, 2)],  # overlap
    "1.2.276.0.8": [None],
    "1.2.276.0.9": [None],  # no image file
}


def siim_union(image_id):
    masks = [m for m in SIIM_MASKS[image_id] if m is not None]
    return np.logical_or.reduce(masks) if masks else np.zeros(SIIM_SHAPE, bool)


@pytest.fixture(scope="module")
def siim(tmp_path_factory):
    root = tmp_path_factory.mktemp("siim")
    rng = np.random.default_rng(0)
    lines = ["ImageId, EncodedPixels"]  # the Kaggle header, with its space
    for i, (image_id, masks) in enumerate(SIIM_MASKS.items()):
        folder = root / "dicom-images-train" / f"study{i}" / "series"
        folder.mkdir(parents=True)
        if image_id != "1.2.276.0.9":
            pixels = rng.integers(0, 256, SIIM_SHAPE, dtype=np.uint8)
            assert cv2.imwrite(str(folder / f"{image_id}.png"), pixels)
        for mask in masks:
            lines.append(f"{image_id}, {'-1' if mask is None else rle_encode(mask)}")
    (root / "train-rle.csv").write_text("\n".join(lines) + "\n")
    return root


def test_build_siim_masks_match_the_rle_union(siim, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        paths = build_siim(
            siim / "dicom-images-train", siim / "train-rle.csv", size=64, out=tmp_path,
            val_fraction=0.25, test_fraction=0.25, progress=False,
        )  # fmt: skip
    assert "1.2.276.0.9" in caplog.text  # the missing image
    seen = set()
    for path in paths.values():
        ids = [s.decode() for s in read_built(path)["image_id"]]
        images, labels, masks = load_h5(path)
        assert images.shape == (len(ids), 64, 64, 1) and masks.shape == (len(ids), 64, 64)
        for i, image_id in enumerate(ids):
            expected = siim_union(image_id)
            np.testing.assert_array_equal(masks[i], expected)
            assert labels[i] == int(expected.any())
            png = next((siim / "dicom-images-train").rglob(f"{image_id}.png"))
            np.testing.assert_allclose(images[i, ..., 0], cv2.imread(str(png), 0) / 255, atol=1e-6)
        seen |= set(ids)
    assert seen == set(SIIM_MASKS) - {"1.2.276.0.9"}  # split by image: each one exactly once


def test_build_siim_resizes_masks_and_keeps_labels(siim, tmp_path):
    paths = build_siim(
        siim, siim / "train-rle.csv", size=16, out=tmp_path, val_fraction=0, test_fraction=0.2,
        progress=False,
    )  # fmt: skip
    assert set(paths) == {"train", "test"}  # no val split asked for
    for path in paths.values():
        ids = [s.decode() for s in read_built(path)["image_id"]]
        images, labels, masks = load_h5(path)
        assert images.shape[1:] == (16, 16, 1) and masks.shape[1:] == (16, 16)
        for i, image_id in enumerate(ids):
            assert labels[i] == int(siim_union(image_id).any()) == int(masks[i].any())
            if image_id == "1.2.276.0.2":
                # rows 10-14, columns 20-27 at 1/4 scale: rows 2.5 to 3.75 (row 2 half covered,
                # which is enough), columns 5 to 7
                np.testing.assert_array_equal(masks[i], rect((16, 16), 2, 5, 2, 2))


def test_build_removes_a_split_left_from_an_earlier_build(siim, tmp_path):
    build_siim(siim, siim / "train-rle.csv", size=16, out=tmp_path, progress=False)
    assert (tmp_path / "siim_pneumothorax_val.h5").exists()
    paths = build_siim(
        siim, siim / "train-rle.csv", size=16, out=tmp_path, val_fraction=0, progress=False
    )
    assert sorted(tmp_path.iterdir()) == sorted(paths.values())  # the old val split is gone


def test_build_with_too_few_groups_to_split(siim, tmp_path):
    csv_path = tmp_path / "train-rle.csv"
    csv_path.write_text("ImageId,EncodedPixels\n1.2.276.0.1,-1\n1.2.276.0.2,-1\n")
    with pytest.raises(ValueError, match="Only 2 ImageId.*too few to split"):
        build_siim(siim, csv_path, out=tmp_path / "out", progress=False)
    paths = build_siim(siim, csv_path, val_fraction=0, out=tmp_path / "out", progress=False)
    assert set(paths) == {"train", "test"}


def test_build_siim_rle_that_does_not_fit_its_image(siim, tmp_path):
    csv_path = tmp_path / "train-rle.csv"
    rows = ["1.2.276.0.1,-1", "1.2.276.0.2,4000 200", "1.2.276.0.3,-1", "1.2.276.0.4,-1"]
    csv_path.write_text("ImageId,EncodedPixels\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"ImageId 1.2.276.0.2 \(a 64 x 64 image\).*beyond"):
        build_siim(siim, csv_path, out=tmp_path / "out", progress=False)
    assert leftovers(tmp_path) == []


def test_build_siim_dicom_needs_pydicom(tmp_path, monkeypatch):
    (tmp_path / "a.dcm").write_bytes(b"DICM")
    csv_path = tmp_path / "train-rle.csv"
    csv_path.write_text("ImageId,EncodedPixels\na,-1\n")
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom -> ImportError
    with pytest.raises(ImportError, match="pip install pydicom"):
        build_siim(tmp_path, csv_path, progress=False)


def test_build_siim_reads_dicom_with_pydicom(tmp_path, monkeypatch):
    pixels = {"a": np.full((32, 32), 200, np.uint8), "b": np.full((32, 32), 50, np.uint8)}

    def dcmread(path):
        return types.SimpleNamespace(
            pixel_array=pixels[Path(path).stem], BitsStored=8,
            PhotometricInterpretation="MONOCHROME1" if Path(path).stem == "b" else "MONOCHROME2",
        )  # fmt: skip

    monkeypatch.setitem(sys.modules, "pydicom", types.SimpleNamespace(dcmread=dcmread))
    for name in pixels:
        (tmp_path / f"{name}.dcm").write_bytes(b"DICM")
    csv_path = tmp_path / "train-rle.csv"
    corner = rle_encode(rect((32, 32), 0, 0, 2, 2))
    csv_path.write_text(f"ImageId,EncodedPixels\na,-1\nb,{corner}\n")
    paths = build_siim(
        tmp_path, csv_path, size=32, val_fraction=0, test_fraction=0.5, out=tmp_path / "out",
        progress=False,
    )  # fmt: skip
    values = {}
    for path in paths.values():
        ids = [s.decode() for s in read_built(path)["image_id"]]
        images, labels, _ = load_h5(path)
        values |= {i: (float(images[k].mean()), int(labels[k])) for k, i in enumerate(ids)}
    assert values["a"][1] == 0 and values["a"][0] == pytest.approx(200 / 255)
    assert values["b"][1] == 1 and values["b"][0] == pytest.approx(1 - 50 / 255)  # MONOCHROME1


def test_build_siim_accepts_header_without_space_and_checks_it(siim, tmp_path):
    csv_path = tmp_path / "rle.csv"
    csv_path.write_text("ImageId,Pixels\nx,-1\n")
    with pytest.raises(ValueError, match="expected the columns 'ImageId', 'EncodedPixels'"):
        build_siim(siim, csv_path, progress=False)


# ## load_pneumothorax -------------------------------------------------------------------------


def test_load_pneumothorax_not_built_says_which_command_to_run(cache):
    for source, command in (("nih", "mitdl build nih --images DIR"), ("siim", "mitdl build siim")):
        with pytest.raises(data.ManualDownloadRequired) as info:
            load_pneumothorax(source, "val")
        message = str(info.value)
        assert command in message
        folder = "nih-chestxray14" if source == "nih" else "siim-acr-pneumothorax"
        assert str(cache / folder / f"{source}_pneumothorax_val.h5") in message


def test_load_pneumothorax_from_the_built_cache(nih, siim, cache):
    build_nih(nih, nih / "Data_Entry_2017.csv", size=32, progress=False)
    build_siim(siim, siim / "train-rle.csv", size=32, progress=False)
    assert (cache / "nih-chestxray14" / "nih_pneumothorax_train.h5").is_file()

    images, labels, masks = load_pneumothorax("nih")  # train by default
    assert images.shape[1:] == (32, 32, 1) and images.dtype == np.float32
    assert labels.dtype == np.int64 and len(labels) == len(images) and masks is None

    images, labels, masks = load_pneumothorax("siim", "test", size=16, n=1)
    assert images.shape == (1, 16, 16, 1) and masks.shape == (1, 16, 16) and masks.dtype == bool
    assert images.min() >= 0 and images.max() <= 1


def test_load_pneumothorax_from_a_path(tmp_path):
    masks = np.zeros((3, 20, 20), bool)
    masks[1, 5:15, 5:15] = True
    path = save_h5(tmp_path / "x.h5", np.zeros((3, 20, 20, 1), np.uint8), [0, 1, 0], masks)
    images, labels, loaded_masks = load_pneumothorax(path, size=10, n=2)
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
        (("nih",), {"n": -1}, "n=-1"),
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
    load_pneumothorax(seed=1, size=64, n=5, positive_fraction=0.5, shortcut="marker")
    assert [n for n, _ in calls] == [1000, 200, 400, 5]
    assert [o["seed"] for _, o in calls] == [0, 1, 2, 3]  # no (seed, split) shares a seed
    assert [o["positive_fraction"] for _, o in calls] == [0.2, 0.2, 0.2, 0.5]
    assert "size" not in calls[0][1] and calls[3][1]["size"] == 64
    assert calls[3][1]["shortcut"] == "marker"


def test_load_pneumothorax_synthetic_splits_differ():
    pytest.importorskip("mitdeeplearning.xray.phantom")
    train = load_pneumothorax("synthetic", "train", n=20, size=64)
    val = load_pneumothorax("synthetic", "val", n=20, size=64)
    again = load_pneumothorax("synthetic", "train", n=20, size=64)
    for images, labels, masks in (train, val):
        assert images.shape == (20, 64, 64, 1) and images.dtype == np.float32
        assert images.min() >= 0 and images.max() <= 1
        assert labels.shape == (20,) and masks.shape == (20, 64, 64)
    np.testing.assert_array_equal(train[0], again[0])  # seeded
    assert not any((v == t).all() for v in val[0] for t in train[0])  # no image in both splits


# ## mitdl build -------------------------------------------------------------------------------


def test_cli_build_nih_prints_the_files(nih, cache, capsys):
    argv = ["build", "nih", "--images", str(nih), "--csv", str(nih / "Data_Entry_2017.csv")]
    assert cli.main([*argv, "--bbox", str(nih / "BBox_List_2017.csv"), "--size", "32", "-q"]) == 0
    printed = capsys.readouterr().out.split()
    folder = cache / "nih-chestxray14"
    assert printed == [str(folder / f"nih_pneumothorax_{s}.h5") for s in ("train", "val", "test")]
    assert load_h5(printed[0], return_boxes=True)[0].shape[1:] == (32, 32, 1)


def test_cli_build_siim_with_out(siim, tmp_path, cache, capsys):
    argv = ["build", "siim", "--images", str(siim), "--rle", str(siim / "train-rle.csv")]
    assert cli.main([*argv, "--size", "16", "--out", str(tmp_path / "o"), "-q"]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 3 and all(Path(p).parent == tmp_path / "o" for p in printed)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--images", "{tmp}/nope", "--csv", "{nih}/Data_Entry_2017.csv"], "is not a folder"),
        (["--images", "{nih}", "--csv", "{nih}/BBox_List_2017.csv"], "expected the columns"),
        (["--images", "{nih}", "--csv", "{nih}/Data_Entry_2017.csv", "--size", "4"], "size=4"),
    ],
)
def test_cli_build_errors_are_one_line(nih, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, nih=nih) for a in argv]
    assert cli.main(["build", "nih", *argv, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mitdl: error: ") and message in err and len(err.splitlines()) == 1


def test_cli_build_siim_dicom_without_pydicom(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.dcm").write_bytes(b"DICM")
    (tmp_path / "rle.csv").write_text("ImageId,EncodedPixels\na,-1\n")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    argv = ["build", "siim", "--images", str(tmp_path), "--rle", str(tmp_path / "rle.csv")]
    assert cli.main(argv) == 1
    assert "pip install pydicom" in capsys.readouterr().err
