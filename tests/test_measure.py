"""Tests of medseg_core.measure: per-object columns and the CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

import medseg_core.atomic
from medseg_core.measure import COLUMNS, measure, measurements_to_csv, write_measurements_csv


@pytest.fixture
def labels() -> np.ndarray:
    """Three rectangles with non-consecutive labels 1, 2 and 4."""
    lab = np.zeros((10, 12), np.uint16)
    lab[1:4, 2:6] = 1  # 3 x 4 = 12 px, centroid (2, 3.5)
    lab[5:9, 0:2] = 2  # 4 x 2 = 8 px, centroid (6.5, 0.5)
    lab[8, 10] = 4  # 1 px at (8, 10)
    return lab


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4000, (10, 12)).astype(np.uint16)


def test_columns_and_geometry(labels):
    table = measure(labels)
    assert tuple(table) == COLUMNS
    assert all(len(col) == 3 for col in table.values())
    np.testing.assert_array_equal(table["label"], [1, 2, 4])
    np.testing.assert_array_equal(table["area_px"], [12, 8, 1])
    np.testing.assert_allclose(table["centroid_y"], [2.0, 6.5, 8.0])
    np.testing.assert_allclose(table["centroid_x"], [3.5, 0.5, 10.0])
    # bbox: min inclusive, max exclusive
    np.testing.assert_array_equal(table["bbox_min_y"], [1, 5, 8])
    np.testing.assert_array_equal(table["bbox_min_x"], [2, 0, 10])
    np.testing.assert_array_equal(table["bbox_max_y"], [4, 9, 9])
    np.testing.assert_array_equal(table["bbox_max_x"], [6, 2, 11])
    np.testing.assert_allclose(table["equivalent_diameter_px"], np.sqrt(4 * np.array([12, 8, 1]) / np.pi))
    # an n-pixel run has coordinate variance (n^2 - 1) / 12:
    # 3 x 4 -> 8/12 and 15/12, 4 x 2 -> 15/12 and 3/12; e = sqrt(1 - small / large)
    np.testing.assert_allclose(table["eccentricity"], [np.sqrt(1 - 8 / 15), np.sqrt(1 - 3 / 15), 0.0])
    np.testing.assert_allclose(table["solidity"], [1.0, 1.0, 1.0])
    # skimage's perimeter of an h x w rectangle is 2 (h - 1 + w - 1)
    np.testing.assert_allclose(table["perimeter_px"], [10.0, 8.0, 0.0])
    assert table["label"].dtype == np.int64 and table["area_px"].dtype == np.int64


def test_intensity_columns_match_numpy(labels, image):
    table = measure(labels, image)
    for i, lab in enumerate(table["label"]):
        values = image[labels == lab].astype(np.float64)
        assert table["mean_intensity"][i] == pytest.approx(values.mean(), rel=1e-6)
        assert table["min_intensity"][i] == values.min()
        assert table["max_intensity"][i] == values.max()
    without = measure(labels)
    assert np.isnan(without["mean_intensity"]).all() and np.isnan(without["max_intensity"]).all()


def test_colour_image_is_averaged(labels, image):
    rgb = np.stack([image, image // 2, np.zeros_like(image)], axis=-1)
    table = measure(labels, rgb)
    grey = rgb.astype(np.float64).mean(axis=-1)
    expected = [grey[labels == lab].mean() for lab in table["label"]]
    np.testing.assert_allclose(table["mean_intensity"], expected, rtol=1e-6)


def test_spacing_columns_scale(labels):
    px = measure(labels)
    table = measure(labels, spacing=(2.0, 3.0), unit="mm")
    assert tuple(table) == (*COLUMNS, "area_mm2", "equivalent_diameter_mm", "perimeter_mm")
    np.testing.assert_allclose(table["area_mm2"], px["area_px"] * 6.0)
    np.testing.assert_allclose(table["equivalent_diameter_mm"], px["equivalent_diameter_px"] * np.sqrt(6.0))
    np.testing.assert_allclose(table["perimeter_mm"], px["perimeter_px"] * 2.5)
    # equivalent diameter in physical units is that of a disc of the physical area
    np.testing.assert_allclose(table["equivalent_diameter_mm"], np.sqrt(4 * table["area_mm2"] / np.pi))
    # a 3-D spacing uses its last two entries; pixel columns are unchanged
    z = measure(labels, spacing=(5.0, 2.0, 3.0), unit="mm")
    np.testing.assert_allclose(z["area_mm2"], table["area_mm2"])
    np.testing.assert_allclose(z["centroid_y"], px["centroid_y"])


def test_empty_label_image():
    table = measure(np.zeros((6, 7), np.int32), np.ones((6, 7)), spacing=(1.0, 1.0))
    assert len(table) == len(COLUMNS) + 3
    assert all(len(col) == 0 for col in table.values())
    text = measurements_to_csv(table)
    assert text.splitlines() == [",".join(table)]


def test_label_dtypes_and_large_labels():
    lab = np.zeros((8, 8), np.int64)
    lab[1, 1] = 1
    lab[3, 2:7] = 5
    lab[5:7, 5:7] = 2**31 + 5  # used to wrap around to a negative int32 and vanish
    lab[0, 7] = -3  # negative = background
    table = measure(lab)
    np.testing.assert_array_equal(table["label"], [1, 5, 2**31 + 5])
    np.testing.assert_array_equal(table["area_px"], [1, 5, 4])
    np.testing.assert_allclose(table["centroid_y"], [1.0, 3.0, 5.5])
    sparse = np.where(lab > 0, lab, 0).astype(np.uint64)
    np.testing.assert_array_equal(measure(sparse)["label"], [1, 5, 2**31 + 5])
    mask = measure(lab > 0)
    np.testing.assert_array_equal(mask["label"], [1])
    assert mask["area_px"][0] == 10


def test_bad_inputs(labels):
    with pytest.raises(ValueError, match="2-D"):
        measure(np.zeros((2, 3, 4), int))
    with pytest.raises(ValueError, match="shape"):
        measure(labels, np.zeros((3, 3)))


def test_csv_has_header_and_one_row_per_object(labels, image):
    table = measure(labels, image, spacing=(0.5, 0.5))
    text = measurements_to_csv(table, extra={"image": "a,b.tif"})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["image", *table]
    assert len(rows) == 1 + 3
    assert [r[0] for r in rows[1:]] == ["a,b.tif"] * 3  # quoted, not split
    assert [r[1] for r in rows[1:]] == ["1", "2", "4"]
    area = rows[0].index("area_px")
    assert [int(r[area]) for r in rows[1:]] == [12, 8, 1]
    mean = rows[0].index("mean_intensity")
    np.testing.assert_allclose([float(r[mean]) for r in rows[1:]], table["mean_intensity"], rtol=1e-5)
    # missing intensities are empty cells
    no_image = list(csv.reader(io.StringIO(measurements_to_csv(measure(labels)))))
    assert no_image[1][no_image[0].index("mean_intensity")] == ""


def test_write_measurements_csv(tmp_path, labels):
    table = measure(labels)
    target = tmp_path / "sub" / "m.csv"
    assert write_measurements_csv(target, table, {"image": "x"}) == target
    assert target.read_text(encoding="utf-8") == measurements_to_csv(table, {"image": "x"})
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.csv"]


def test_write_failure_leaves_old_file_untouched(tmp_path, labels, monkeypatch):
    target = tmp_path / "m.csv"
    target.write_text("old contents\n", encoding="utf-8")
    original_write_text = Path.write_text

    def half_write(self, text, *args, **kwargs):
        original_write_text(self, text[:10], *args, **kwargs)  # partial output, then a full disk
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "write_text", half_write)
    with pytest.raises(OSError, match="No space"):
        write_measurements_csv(target, measure(labels))
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_failed_rename_leaves_old_file_untouched(tmp_path, labels, monkeypatch):
    target = tmp_path / "m.csv"
    target.write_text("old contents\n", encoding="utf-8")

    def refuse(src, dst):
        raise PermissionError("file is open in another program")

    monkeypatch.setattr(medseg_core.atomic.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_measurements_csv(target, measure(labels))
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_eccentricity_matches_regionprops_on_many_shapes():
    from skimage.measure import label, regionprops_table

    rng = np.random.default_rng(3)
    labels = label(rng.random((120, 90)) > 0.55)
    expected = regionprops_table(labels, properties=["label", "eccentricity"])
    table = measure(labels)
    np.testing.assert_array_equal(table["label"], expected["label"])
    np.testing.assert_allclose(table["eccentricity"], expected["eccentricity"], atol=1e-9)
