"""mitdeeplearning.xray.image_files: image files found under a folder, radiographs read from
PNG and DICOM files as float32 in [0, 1], and images and masks resized for the converters."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from mitdeeplearning.xray.convert import Item
from mitdeeplearning.xray.image_files import (
    Unreadable,
    find_image_files,
    read_dicom,
    read_image,
    read_png,
    resize_image,
    resize_mask,
)


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.full((4, 5), 51, np.uint8), 0.2),
        (np.full((4, 5), 13107, np.uint16), 0.2),
        (np.dstack([np.full((4, 5), 51, np.uint8)] * 3 + [np.full((4, 5), 255, np.uint8)]), 0.2),
    ],
    ids=["grey8", "grey16", "rgba"],
)
def test_read_png_gives_grey_floats_in_the_unit_range(tmp_path, pixels, expected):
    path = tmp_path / "x.png"
    assert cv2.imwrite(str(path), pixels)
    image = read_image(path)
    assert image.shape == (4, 5) and image.dtype == np.float32
    np.testing.assert_allclose(image, expected, atol=1e-6)


def test_files_that_are_not_images_are_unreadable(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(Unreadable, match="not an image"):
        read_png(tmp_path / "x.png")
    with pytest.raises(Unreadable):
        read_png(tmp_path / "missing.png")


def test_read_dicom_scales_by_bits_stored_and_inverts_monochrome1(tmp_path, monkeypatch):
    def dcmread(path):
        return types.SimpleNamespace(
            pixel_array=np.full((3, 3), 1023, np.uint16), BitsStored=10,
            PhotometricInterpretation="MONOCHROME1" if "inverted" in str(path) else "MONOCHROME2",
        )  # fmt: skip

    monkeypatch.setitem(sys.modules, "pydicom", types.SimpleNamespace(dcmread=dcmread))
    np.testing.assert_allclose(read_image(tmp_path / "plain.dcm"), 1.0)
    np.testing.assert_allclose(read_dicom(tmp_path / "inverted.dcm"), 0.0)


def test_resize_averages_images_and_keeps_masks_that_cover_half_a_pixel():
    image = np.zeros((4, 4), np.float32)
    image[:2, :2] = 1
    np.testing.assert_allclose(resize_image(image, 2), [[1, 0], [0, 0]])
    mask = np.zeros((4, 4), bool)
    mask[0, :2] = True  # half of the first output pixel
    assert resize_mask(mask, 2).tolist() == [[True, False], [False, False]]
    tiny = np.zeros((8, 8), bool)
    tiny[7, 7] = True  # a sixteenth of a pixel: kept, so the image stays positive
    assert resize_mask(tiny, 2).tolist() == [[False, False], [False, True]]
    assert resize_mask(np.zeros((8, 8), bool), 2).sum() == 0


def test_find_image_files_searches_recursively_and_warns_about_missing(tmp_path, caplog):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.dcm").write_bytes(b"")
    (tmp_path / "y.png").write_bytes(b"")
    (tmp_path / "z.txt").write_bytes(b"")
    items = [Item(name, Path(name), group=name) for name in ("x", "y", "z")]
    with caplog.at_level(logging.WARNING):
        found = find_image_files(
            items, tmp_path, lambda item: [f"{item.image_id}.png", f"{item.image_id}.dcm"],
            suffixes=(".png", ".dcm"), source="test",
        )  # fmt: skip
    assert [(item.image_id, item.path.name) for item in found] == [("x", "x.dcm"), ("y", "y.png")]
    assert "1 of the 3 selected images were not found" in caplog.text and "z" in caplog.text
