"""Desktop app: the Count panel (live count, table, threads, stacks, units)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from qtpy.QtCore import Qt

from medseg_app import _dialogs
from medseg_app._layers import camera_of
from medseg_app.count_widget import CountWidget
from _app_support import *  # noqa: F403
from _app_support import wait_count

pytestmark = pytest.mark.gui


def _blobs(n: int = 6, shape=(64, 96)) -> np.ndarray:
    data = np.zeros(shape, dtype=np.uint16)
    for i in range(n):
        y, x = 5 + (i // 4) * 20, 5 + (i % 4) * 22
        data[y : y + 4 + i, x : x + 6] = i + 1
    return data


@pytest.fixture
def counted(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = CountWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Count")
    return viewer, widget


def test_counts_follow_edits_and_layer_choice(counted, qtbot):
    viewer, widget = counted
    assert widget.count is None and widget.count_label.text() == "no labels layer"
    layer = viewer.add_labels(_blobs(), name="a labels")
    wait_count(qtbot, widget, 6)
    assert widget.count_label.text() == "6 objects"
    layer.data[layer.data == 6] = 0  # in-place write without any event: the checksum poll notices
    wait_count(qtbot, widget, 5, timeout=5000)
    other = viewer.add_labels(_blobs(2), name="b labels")
    assert widget.layer is other
    wait_count(qtbot, widget, 2)


def test_row_click_selects_and_centres(counted, qtbot):
    viewer, widget = counted
    layer = viewer.add_labels(_blobs(), name="a labels", scale=(2.0, 2.0))
    wait_count(qtbot, widget, 6)
    widget.table.sortByColumn(widget.model.columns.index("area_px"), Qt.SortOrder.DescendingOrder)
    assert widget.model.label_at(0) == 6  # the largest
    rect = widget.table.visualRect(widget.model.index(0, 0))
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert layer.selected_label == 6
    ys, xs = np.nonzero(layer.data == 6)
    np.testing.assert_allclose(camera_of(viewer).center[-2:], (ys.mean() * 2, xs.mean() * 2), atol=1e-6)


def test_large_images_count_in_a_worker_and_stale_results_are_dropped(counted, qtbot):
    viewer, widget = counted
    widget.recounter.thread_min_pixels = 0  # force the threaded path
    layer = viewer.add_labels(_blobs(), name="a labels")
    wait_count(qtbot, widget, 6)
    results = []
    widget.recounter.counted.connect(results.append)
    stale = widget.recounter.generation
    layer.data_setitem(np.nonzero(layer.data == 1), 0)
    qtbot.waitUntil(lambda: widget.recounter.generation > stale and not widget.recounter.busy, timeout=5000)
    wait_count(qtbot, widget, 5)
    widget.recounter._deliver(stale, layer, None, 0, {"label": np.arange(99)})  # an old result arriving late
    assert widget.count == 5 and all(r.generation > stale for r in results)


def test_stack_counts_the_current_slice(counted, qtbot):
    viewer, widget = counted
    stack = np.stack([_blobs(3), _blobs(5)])
    viewer.add_labels(stack, name="s labels")
    viewer.dims.set_current_step(0, 0)
    wait_count(qtbot, widget, 3)
    assert "slice 0" in widget.count_label.text()
    viewer.dims.set_current_step(0, 1)
    wait_count(qtbot, widget, 5)


def test_semantic_layers_count_regions_per_class(counted, qtbot, tmp_path, monkeypatch):
    viewer, widget = counted
    data = np.zeros((30, 30), np.uint16)
    data[2:8, 2:8] = 1
    data[12:20, 2:8] = 1
    data[2:8, 20:28] = 2
    meta = {"medseg": {"task": "semantic", "classes": ["background", "lung", "heart"]}}
    viewer.add_labels(data, name="x labels", metadata=meta)
    wait_count(qtbot, widget, 3)
    assert widget.count_label.text() == "3 regions"
    assert sorted(widget.model.table()["class"]) == ["heart", "lung", "lung"]
    assert not widget.areas_label.isHidden()
    assert widget.areas_label.text() == "Area: background 85.3% · lung 9.3% · heart 5.3%"


def test_em_layers_count_the_cells_that_membranes_enclose(counted, qtbot):
    viewer, widget = counted
    data = np.zeros((60, 60), np.uint16)
    data[29:31, :] = 1
    data[:, 29:31] = 1  # membranes: a cross, four cells
    meta = {"medseg": {"task": "semantic", "classes": ["background", "membrane"], "encloses": "membrane"}}
    viewer.add_labels(data, name="em labels", metadata=meta)
    wait_count(qtbot, widget, 4)
    assert widget.count_label.text() == "4 cells"
    assert "regions enclosed by membrane" in widget.count_label.toolTip()
    assert set(widget.model.table()["class"]) == {"cell"}
    assert widget.areas_label.text() == "Area: background 93.4% · membrane 6.6%"
    viewer.add_labels(np.zeros((20, 20), np.uint16), name="instances")
    widget.layer_combo.set_layer(viewer.layers["instances"])
    wait_count(qtbot, widget, 0)
    assert widget.count_label.text() == "0 objects" and widget.areas_label.isHidden()


def test_export_with_physical_units(counted, qtbot, tmp_path, monkeypatch):
    viewer, widget = counted
    meta = {"medseg": {"spacing": [0.5, 0.5], "unit": "um", "source": str(tmp_path / "cells.tif")}}
    viewer.add_labels(_blobs(), name="cells labels", scale=(0.5, 0.5), metadata=meta)
    wait_count(qtbot, widget, 6)
    out = tmp_path / "m.csv"
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(out))
    qtbot.mouseClick(widget.export_csv_button, Qt.MouseButton.LeftButton)
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == 6 and rows[0]["image"] == "cells.tif"
    for row in rows:
        assert float(row["area_um2"]) == pytest.approx(int(row["area_px"]) * 0.25)
