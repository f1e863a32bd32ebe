"""Semantic models report class areas and count what they enclose, not one 'object' per class."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile

from medseg_core.cli import main
from medseg_core.errors import ModelFileError
from medseg_core.measure import measure_semantic
from medseg_core.model import ModelInfo
from medseg_core.semantic_summary import (
    MIN_ENCLOSED_PIXELS,
    class_areas,
    count_description,
    enclosed_regions,
    semantic_objects,
)
from medseg_core.unet import UNetConfig


def membrane_grid(size: int = 90, step: int = 30, width: int = 2) -> np.ndarray:
    """Class indices: 1 on grid lines every ``step`` pixels (a membrane), 0 inside."""
    labels = np.zeros((size, size), np.uint16)
    for k in range(step, size, step):
        labels[k - width // 2 : k - width // 2 + width, :] = 1
        labels[:, k - width // 2 : k - width // 2 + width] = 1
    return labels


def test_class_areas_cover_the_image_and_list_absent_classes():
    labels = membrane_grid()
    table = class_areas(labels, ["background", "membrane", "mitochondrion"], spacing=(0.5, 0.25), unit="um")
    assert list(table["class"]) == ["background", "membrane", "mitochondrion"]
    assert table["pixels"].sum() == labels.size and table["pixels"][2] == 0
    assert table["fraction"].sum() == pytest.approx(1.0)
    assert table["pixels"][1] == (labels == 1).sum()
    assert table["area_um2"][1] == pytest.approx((labels == 1).sum() * 0.125)


def test_enclosed_regions_are_the_cells_between_membranes():
    labels = membrane_grid()  # lines at 30 and 60: a 3 x 3 grid of cells
    cells = enclosed_regions(labels, boundary=1)
    assert cells.max() == 9 and cells.dtype == np.int32
    assert (cells[labels == 1] == 0).all()
    first_pixels = [np.flatnonzero(cells.ravel() == k)[0] for k in range(1, 10)]
    assert first_pixels == sorted(first_pixels)  # numbered in raster order


def test_a_diagonal_one_pixel_membrane_separates_two_cells():
    labels = np.zeros((40, 40), np.uint16)
    labels[np.arange(40), np.arange(40)] = 1  # 8-connected diagonal line
    assert enclosed_regions(labels, boundary=1).max() == 2


def test_gaps_smaller_than_the_minimum_are_not_cells():
    labels = membrane_grid()
    labels[5:8, 5:8] = 1
    labels[6, 6] = 0  # a 1-pixel hole inside a membrane blob
    cells = enclosed_regions(labels, boundary=1)
    assert cells.max() == 9 and cells[6, 6] == 0
    assert enclosed_regions(labels, boundary=1, min_size=1).max() == 10
    assert MIN_ENCLOSED_PIXELS > 1


def test_models_without_a_boundary_class_count_class_regions():
    labels = np.zeros((50, 50), np.uint16)
    labels[5:40, 5:20] = 1
    labels[5:40, 30:45] = 2
    labels[45:48, 45:48] = 2
    objects = semantic_objects(labels, ["background", "left lung", "right lung"])
    assert objects.count == 3 and objects.noun == "regions"
    assert list(objects.classes) == ["left lung", "right lung", "right lung"]
    table = measure_semantic(labels, ["background", "left lung", "right lung"])
    assert list(table["class"]) == ["left lung", "right lung", "right lung"]
    assert list(table["area_px"]) == [35 * 15, 35 * 15, 9]


def test_measure_semantic_gives_one_row_per_cell():
    labels = membrane_grid()
    table = measure_semantic(labels, ["background", "membrane"], encloses="membrane")
    assert len(table["label"]) == 9 and set(table["class"]) == {"cell"}
    assert table["area_px"].sum() == (labels == 0).sum()
    assert count_description("semantic", "membrane") == "cells (regions enclosed by membrane)"


def _semantic_info(**extra) -> dict:
    config = UNetConfig(in_channels=1, out_channels=2, depth=2, width=4)
    return dict(name="em", task="semantic", classes=["background", "membrane"], architecture=config.to_dict(), **extra)


def test_encloses_round_trips_and_bad_values_are_refused():
    info = ModelInfo(**_semantic_info(encloses="membrane"))
    assert ModelInfo.from_json(info.to_json()).encloses == "membrane"
    for bad in ("background", "nucleus", 3):
        data = json.loads(info.to_json())
        data["encloses"] = bad
        with pytest.raises(ModelFileError, match="encloses"):
            ModelInfo.from_json(json.dumps(data))
    with pytest.raises(ModelFileError, match="encloses"):
        ModelInfo(**_semantic_info(encloses="nucleus"))


def test_cli_counts_em_cells_with_the_shipped_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    image = np.full((256, 256), 180.0)
    for k in (64, 128, 192):  # dark membranes: a 4 x 4 grid of cells
        image[k - 2 : k + 2, :] = 40
        image[:, k - 2 : k + 2] = 40
    image += rng.normal(0, 15, image.shape)
    tifffile.imwrite(tmp_path / "em.tif", image.astype(np.float32))
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "em.tif"), "--model", "em-membranes", "--out", str(out)]) == 0
    assert "em.tif: 16 cells (regions enclosed by membrane)" in capsys.readouterr().out
    (row,) = csv.DictReader(open(out / "counts.csv", newline="", encoding="utf-8"))
    assert row["count"] == "16" and row["counted"] == "cells (regions enclosed by membrane)"
    objects = list(csv.DictReader(open(out / row["objects"], newline="", encoding="utf-8")))
    assert len(objects) == 16 and {o["class"] for o in objects} == {"cell"}
    classes = list(csv.DictReader(open(out / row["classes"], newline="", encoding="utf-8")))
    assert [c["class"] for c in classes] == ["background", "membrane"]
    assert sum(float(c["fraction"]) for c in classes) == pytest.approx(1.0, abs=1e-5)
    assert 0.05 < float(classes[1]["fraction"]) < 0.2  # the lines cover 9 % of the image


def test_segment_keeps_the_counted_objects_so_measuring_them_finds_the_same_cells():
    from medseg_core.segment import load_model, segment

    rng = np.random.default_rng(3)
    image = np.full((192, 192), 180.0)
    for k in (64, 128):
        image[k - 2 : k + 2, :] = 40
        image[:, k - 2 : k + 2] = 40
    image += rng.normal(0, 15, image.shape)
    result = segment(image.astype(np.float32), load_model("em-membranes", "cpu"))
    (objects,) = result.objects
    again = semantic_objects(result.labels, result.classes, result.encloses)
    np.testing.assert_array_equal(objects.labels, again.labels)
    assert objects.count == result.count == 9
    given = measure_semantic(result.labels, result.classes, result.encloses, objects=objects)
    found = measure_semantic(result.labels, result.classes, result.encloses)
    assert given.keys() == found.keys()
    for key in given:
        np.testing.assert_array_equal(given[key], found[key])
