"""The converters of NIH ChestX-ray14 and SIIM-ACR to the lab's HDF5 files (xray.convert,
xray.nih, xray.siim) and ``mitdl convert``.

Every file is made in the test: small fake NIH and SIIM folders (PNGs written with OpenCV, CSVs
with the real files' headers).
"""

from __future__ import annotations

import logging
import sys
import types
import warnings
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from mitdeeplearning import _lazy, cli, data, xray
from mitdeeplearning.xray import datasets
from mitdeeplearning.xray import nih as nih_module
from mitdeeplearning.xray.convert import Item, converted_path, split_groups, subsample
from mitdeeplearning.xray.datasets import load_pneumothorax
from mitdeeplearning.xray.h5 import load_h5
from mitdeeplearning.xray.nih import NIH_BOX_COLUMNS, NIH_COLUMNS, convert_nih
from mitdeeplearning.xray.rle import rle_encode
from mitdeeplearning.xray.siim import convert_siim


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed write could have left behind."""
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


# ## The shared steps ------------------------------------------------------------------------


def test_converted_path_is_in_the_cache_or_the_given_folder(cache, tmp_path):
    assert converted_path("nih", "val") == cache / "nih-chestxray14" / "nih_pneumothorax_val.h5"
    assert converted_path("siim", "test", tmp_path) == tmp_path / "siim_pneumothorax_test.h5"


def test_split_groups_keeps_each_group_whole_and_gives_each_split_one():
    groups = [f"patient{i}" for i in range(10)]
    split = split_groups(groups * 3, val_fraction=0.05, test_fraction=0.2, seed=1, what="patient")
    assert sorted(split) == sorted(groups)
    assert sorted(split.values()).count("val") == 1 and list(split.values()).count("test") == 2
    again = split_groups(groups, val_fraction=0.05, test_fraction=0.2, seed=1, what="patient")
    assert again == split


def test_subsample_is_seeded_and_keeps_the_order():
    items = [Item(str(i), Path(f"{i}.png"), group=str(i)) for i in range(20)]
    chosen = [int(item.image_id) for item in subsample(items, 5, seed=3)]
    assert len(chosen) == 5 and chosen == sorted(chosen)
    assert chosen == [int(item.image_id) for item in subsample(items, 5, seed=3)]
    assert subsample(items, None, seed=0) is items and subsample(items, 50, seed=0) is items
    with pytest.raises(ValueError, match="limit=0"):
        subsample(items, 0, seed=0)


def test_the_old_converter_names_still_work_and_warn_once(monkeypatch):
    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"xray\.build_nih has been renamed xray\.convert_nih"):
        assert xray.build_nih is convert_nih
    with pytest.warns(FutureWarning, match="convert_siim"):
        assert xray.build_siim is convert_siim
    with pytest.warns(FutureWarning, match=r"datasets\.build_nih has been renamed"):
        assert datasets.build_nih is convert_nih
    with pytest.warns(FutureWarning, match=r"datasets\.build_siim has been renamed"):
        from mitdeeplearning.xray.datasets import build_siim
    assert build_siim is convert_siim
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: no second warning
        assert xray.build_nih is datasets.build_nih is convert_nih
    assert "build_nih" not in dir(xray) and "convert_nih" in dir(xray)


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


def test_convert_nih_splits_by_patient_maps_labels_and_scales_boxes(nih, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        paths = convert_nih(
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


def test_convert_nih_is_seeded(nih, tmp_path):
    def groups(seed, name):
        paths = convert_nih(
            nih, nih / "Data_Entry_2017.csv", size=16, seed=seed, out=tmp_path / name,
            progress=False,
        )  # fmt: skip
        return {s: sorted(read_built(p)["group"].tolist()) for s, p in paths.items()}

    assert groups(0, "a") == groups(0, "b")
    assert any(groups(0, "a")[s] != groups(3, "c")[s] for s in ("train", "test"))


def test_convert_nih_limit_and_no_box_dataset_without_bbox(nih, tmp_path):
    paths = convert_nih(
        nih, nih / "Data_Entry_2017.csv", size=16, limit=6, out=tmp_path, progress=False
    )
    built = [read_built(p) for p in paths.values()]
    assert sum(len(b["label"]) for b in built) <= 6
    assert all("box" not in b for b in built)


@pytest.mark.parametrize(
    ("header", "argument"),
    [("Image,Labels,Patient\n", "csv"), ("Image Index,Finding Label,x,y,w,h\n", "bbox")],
)
def test_convert_nih_wrong_header_lists_expected_and_found_columns(nih, tmp_path, header, argument):
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "a.png,No Finding,1\n")
    files = {"csv": nih / "Data_Entry_2017.csv", "bbox": nih / "BBox_List_2017.csv"}
    files[argument] = bad
    with pytest.raises(ValueError) as info:
        convert_nih(nih, files["csv"], bbox_csv=files["bbox"], out=tmp_path, progress=False)
    message = str(info.value)
    expected = NIH_COLUMNS if argument == "csv" else NIH_BOX_COLUMNS
    assert all(repr(column) in message for column in expected)
    assert "found 'Image'" in message or "found 'Image Index', 'Finding Label', 'x'" in message


def test_convert_nih_without_usable_images_is_an_error(nih, tmp_path):
    with pytest.raises(data.DataError, match="No usable NIH images"):
        convert_nih(tmp_path, nih / "Data_Entry_2017.csv", out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError, match="images_dir="):
        convert_nih(tmp_path / "nope", nih / "Data_Entry_2017.csv", progress=False)
    with pytest.raises(FileNotFoundError, match="csv_path="):
        convert_nih(nih, tmp_path / "nope.csv", progress=False)


def test_convert_nih_unreadable_images_are_skipped(nih, tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    for name, *_ in NIH_ROWS:
        (images / name).write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING), pytest.raises(data.DataError, match="unreadable"):
        convert_nih(images, nih / "Data_Entry_2017.csv", out=tmp_path / "out", progress=False)
    assert "could not be read" in caplog.text
    assert list((tmp_path / "out").iterdir()) == []


def test_convert_nih_failure_leaves_previous_files_untouched(nih, tmp_path, monkeypatch):
    out = tmp_path / "out"
    paths = convert_nih(nih, nih / "Data_Entry_2017.csv", size=16, out=out, progress=False)
    before = {p: p.read_bytes() for p in paths.values()}
    real_read, calls = nih_module.read_png, []

    def failing_read(path):
        calls.append(path)
        if len(calls) == 5:
            raise MemoryError("injected failure")
        return real_read(path)

    monkeypatch.setattr(nih_module, "read_png", failing_read)
    with pytest.raises(MemoryError):
        convert_nih(nih, nih / "Data_Entry_2017.csv", size=32, out=out, progress=False, workers=1)
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


def test_convert_siim_masks_match_the_rle_union(siim, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        paths = convert_siim(
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


def test_convert_siim_resizes_masks_and_keeps_labels(siim, tmp_path):
    paths = convert_siim(
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


def test_convert_removes_a_split_left_from_an_earlier_build(siim, tmp_path):
    convert_siim(siim, siim / "train-rle.csv", size=16, out=tmp_path, progress=False)
    assert (tmp_path / "siim_pneumothorax_val.h5").exists()
    paths = convert_siim(
        siim, siim / "train-rle.csv", size=16, out=tmp_path, val_fraction=0, progress=False
    )
    assert sorted(tmp_path.iterdir()) == sorted(paths.values())  # the old val split is gone


def test_convert_with_too_few_groups_to_split(siim, tmp_path):
    csv_path = tmp_path / "train-rle.csv"
    csv_path.write_text("ImageId,EncodedPixels\n1.2.276.0.1,-1\n1.2.276.0.2,-1\n")
    with pytest.raises(ValueError, match="Only 2 ImageId.*too few to split"):
        convert_siim(siim, csv_path, out=tmp_path / "out", progress=False)
    paths = convert_siim(siim, csv_path, val_fraction=0, out=tmp_path / "out", progress=False)
    assert set(paths) == {"train", "test"}


def test_convert_siim_rle_that_does_not_fit_its_image(siim, tmp_path):
    csv_path = tmp_path / "train-rle.csv"
    rows = ["1.2.276.0.1,-1", "1.2.276.0.2,4000 200", "1.2.276.0.3,-1", "1.2.276.0.4,-1"]
    csv_path.write_text("ImageId,EncodedPixels\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"ImageId 1.2.276.0.2 \(a 64 x 64 image\).*beyond"):
        convert_siim(siim, csv_path, out=tmp_path / "out", progress=False)
    assert leftovers(tmp_path) == []


def test_convert_siim_dicom_needs_pydicom(tmp_path, monkeypatch):
    (tmp_path / "a.dcm").write_bytes(b"DICM")
    csv_path = tmp_path / "train-rle.csv"
    csv_path.write_text("ImageId,EncodedPixels\na,-1\n")
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom -> ImportError
    with pytest.raises(ImportError, match="pip install pydicom"):
        convert_siim(tmp_path, csv_path, progress=False)


def test_convert_siim_reads_dicom_with_pydicom(tmp_path, monkeypatch):
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
    paths = convert_siim(
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


def test_convert_siim_accepts_header_without_space_and_checks_it(siim, tmp_path):
    csv_path = tmp_path / "rle.csv"
    csv_path.write_text("ImageId,Pixels\nx,-1\n")
    with pytest.raises(ValueError, match="expected the columns 'ImageId', 'EncodedPixels'"):
        convert_siim(siim, csv_path, progress=False)


# ## The converted files, loaded by name -------------------------------------------------------


def test_load_pneumothorax_from_the_built_cache(nih, siim, cache):
    convert_nih(nih, nih / "Data_Entry_2017.csv", size=32, progress=False)
    convert_siim(siim, siim / "train-rle.csv", size=32, progress=False)
    assert (cache / "nih-chestxray14" / "nih_pneumothorax_train.h5").is_file()

    images, labels, masks = load_pneumothorax("nih")  # train by default
    assert images.shape[1:] == (32, 32, 1) and images.dtype == np.float32
    assert labels.dtype == np.int64 and len(labels) == len(images) and masks is None

    images, labels, masks = load_pneumothorax("siim", "test", size=16, limit=1)
    assert images.shape == (1, 16, 16, 1) and masks.shape == (1, 16, 16) and masks.dtype == bool
    assert images.min() >= 0 and images.max() <= 1


# ## mitdl convert -------------------------------------------------------------------------------


def test_cli_convert_nih_prints_the_files(nih, cache, capsys):
    argv = ["convert", "nih", "--images", str(nih), "--csv", str(nih / "Data_Entry_2017.csv")]
    assert cli.main([*argv, "--bbox", str(nih / "BBox_List_2017.csv"), "--size", "32", "-q"]) == 0
    printed = capsys.readouterr().out.split()
    folder = cache / "nih-chestxray14"
    assert printed == [str(folder / f"nih_pneumothorax_{s}.h5") for s in ("train", "val", "test")]
    assert load_h5(printed[0], return_boxes=True)[0].shape[1:] == (32, 32, 1)


def test_cli_convert_siim_with_out(siim, tmp_path, cache, capsys):
    argv = ["convert", "siim", "--images", str(siim), "--rle", str(siim / "train-rle.csv")]
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
def test_cli_convert_errors_are_one_line(nih, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, nih=nih) for a in argv]
    assert cli.main(["convert", "nih", *argv, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mitdl: error: ") and message in err and len(err.splitlines()) == 1


def test_cli_convert_siim_dicom_without_pydicom(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.dcm").write_bytes(b"DICM")
    (tmp_path / "rle.csv").write_text("ImageId,EncodedPixels\na,-1\n")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    argv = ["convert", "siim", "--images", str(tmp_path), "--rle", str(tmp_path / "rle.csv")]
    assert cli.main(argv) == 1
    assert "pip install pydicom" in capsys.readouterr().err


def test_the_old_build_command_still_converts_and_warns(siim, tmp_path, capsys):
    from mitdeeplearning import _lazy

    _lazy._warned.discard("mitdl build")
    argv = ["build", "siim", "--images", str(siim), "--rle", str(siim / "train-rle.csv")]
    with pytest.warns(FutureWarning, match="mitdl build has been renamed mitdl convert"):
        assert cli.main([*argv, "--size", "16", "--out", str(tmp_path / "o"), "-q"]) == 0
    assert len(capsys.readouterr().out.split()) == 3
