"""Desktop app: segment → count → edit → export → save, threading and cancel."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QPushButton

import medseg_core
from medseg_core.io import read_image, read_labels
from medseg_core.measure import COLUMNS
from medseg_core.registry import user_models_dir
from medseg_app import _dialogs, segment_widget
from _app_support import *  # noqa: F403
from _app_support import SAMPLE, free_spot, make_demo_model, wait_count

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton


def _click(qtbot, widget, name: str) -> None:
    button = widget.findChild(QPushButton, name)
    assert button is not None, name
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, LEFT)


def _segment(qtbot, seg, timeout=120_000) -> None:
    _click(qtbot, seg, "segment_button")
    assert seg.running
    qtbot.waitUntil(lambda: not seg.running, timeout=timeout)


def test_full_path(app, qtbot, seg_model_path, tmp_path, monkeypatch):
    viewer, window = app
    seg, count = window.widgets["Segment"], window.widgets["Count"]
    viewer.open_sample("medseg", "nuclei_fluorescence")
    assert seg.models.select(str(seg_model_path))

    _segment(qtbot, seg)
    layer = viewer.layers["nuclei_fluorescence labels"]
    expected = medseg_core.segment(read_image(SAMPLE).array, medseg_core.load_model(seg_model_path))
    assert expected.count > 5
    np.testing.assert_array_equal(layer.data, expected.labels)
    assert tuple(layer.scale) == tuple(viewer.layers["nuclei_fluorescence"].scale)
    wait_count(qtbot, count, expected.count)
    assert count.model.rowCount() == expected.count
    assert str(expected.count) in count.findChild(type(count.count_label), "count_label").text()

    # paint a new object: count and table follow
    new = int(layer.data.max()) + 1
    layer.selected_label = new
    layer.brush_size = 8
    layer.paint(free_spot(layer.data), new)
    wait_count(qtbot, count, expected.count + 1)
    assert new in set(count.model.table()["label"])
    # erase one object through the history-recording API
    gone = int(layer.data[layer.data > 0][0])
    layer.data_setitem(np.nonzero(layer.data == gone), 0)
    wait_count(qtbot, count, expected.count)
    assert gone not in set(count.model.table()["label"])
    # undo only refreshes the layer: the checksum/set_data path must notice
    layer.undo()
    wait_count(qtbot, count, expected.count + 1)

    # export CSV: one row per object, expected columns
    csv_path = tmp_path / "measurements.csv"
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(csv_path))
    _click(qtbot, count, "export_csv_button")
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == expected.count + 1
    assert list(rows[0])[: len(COLUMNS) + 1] == ["image", *COLUMNS]
    assert {r["image"] for r in rows} == {SAMPLE.name}
    assert sorted(int(r["label"]) for r in rows) == sorted(int(v) for v in np.unique(layer.data) if v)

    # save labels: read back identical
    tif_path = tmp_path / "labels.tif"
    monkeypatch.setattr(_dialogs, "choose_save_path", lambda *a, **k: str(tif_path))
    _click(qtbot, count, "save_labels_button")
    np.testing.assert_array_equal(read_labels(tif_path), layer.data)
    assert window.unsaved_layers() == []


def test_ui_stays_responsive_while_segmenting(app, qtbot):
    viewer, window = app
    seg = window.widgets["Segment"]
    image = np.tile(read_image(SAMPLE).array, (8, 8))  # 2048 x 2048: long enough for the 200 ms progress throttle
    viewer.add_image(image, name="big")
    seg.tile_spin.setValue(256)
    ticks, progress = [], []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(seg.running))
    seg.progress_bar.valueChanged.connect(progress.append)
    timer.start()
    _segment(qtbot, seg)
    timer.stop()
    assert sum(ticks) >= 10, f"the event loop ran only {sum(ticks)} timer ticks during segmentation"
    assert any(0 < value < 1000 for value in progress)  # the bar moved (updates are throttled)
    assert "big labels" in viewer.layers


def test_cancel_leaves_no_layer(app, qtbot):
    viewer, window = app
    seg = window.widgets["Segment"]
    viewer.add_image(np.tile(read_image(SAMPLE).array, (8, 8)), name="huge")  # 2048 x 2048
    seg.tile_spin.setValue(128)
    _click(qtbot, seg, "segment_button")
    qtbot.waitUntil(lambda: seg.progress_bar.value() > 0, timeout=60_000)
    _click(qtbot, seg, "cancel_button")
    qtbot.waitUntil(lambda: not seg.running, timeout=60_000)
    qtbot.wait(100)
    assert [layer.name for layer in viewer.layers] == ["huge"]
    assert seg.findChild(QPushButton, "segment_button").isEnabled()
    assert not seg.findChild(QPushButton, "cancel_button").isEnabled()
    assert seg.status_label.text() == "cancelled"


def test_rerun_asks_before_replacing_edits(app, qtbot, monkeypatch):
    viewer, window = app
    seg = window.widgets["Segment"]
    viewer.open_sample("medseg", "nuclei_fluorescence")
    _segment(qtbot, seg)
    layer = viewer.layers["nuclei_fluorescence labels"]
    original = layer.data.copy()
    asked = []
    # unedited: no question
    monkeypatch.setattr(_dialogs, "ask_overwrite", lambda parent, names: asked.append(names) or False)
    _segment(qtbot, seg)
    assert asked == []
    layer.paint(free_spot(layer.data), 999)
    edited = layer.data.copy()
    viewer.layers.selection.active = viewer.layers["nuclei_fluorescence"]
    _click(qtbot, seg, "segment_button")  # answer "keep my edits"
    assert asked == [["nuclei_fluorescence labels"]] and not seg.running
    np.testing.assert_array_equal(layer.data, edited)
    monkeypatch.setattr(_dialogs, "ask_overwrite", lambda parent, names: True)
    _segment(qtbot, seg)
    np.testing.assert_array_equal(layer.data, original)
    layer.undo()  # the replacement is one undoable step
    np.testing.assert_array_equal(layer.data, edited)


def test_model_saved_in_user_folder_appears(app, qtbot):
    _viewer, window = app
    picker = window.widgets["Segment"].models
    combo = window.widgets["Segment"].findChild(type(picker.combo), "model_combo")
    names = lambda: [combo.itemText(i) for i in range(combo.count())]  # noqa: E731
    assert any("demo" in n for n in names())
    make_demo_model("fresh").save(user_models_dir() / "fresh.safetensors")
    qtbot.waitUntil(lambda: any("fresh" in n for n in names()), timeout=10_000)
    assert "fresh" in combo.itemData(names().index(next(n for n in names() if "fresh" in n)), Qt.ItemDataRole.ToolTipRole)


def test_engine_error_is_a_notification(app, qtbot, monkeypatch, demo_model_path):
    viewer, window = app
    seg = window.widgets["Segment"]
    viewer.open_sample("medseg", "nuclei_fluorescence")
    errors = []
    monkeypatch.setattr(segment_widget, "show_error", errors.append)
    demo_model_path.write_bytes(b"not a model")  # broken after it was listed
    _segment(qtbot, seg)
    assert len(errors) == 1 and "\n" not in errors[0]
    assert "nuclei_fluorescence labels" not in viewer.layers
    assert seg.findChild(QPushButton, "segment_button").isEnabled()


def test_first_click_finds_the_model_loaded_in_a_worker(make_napari_viewer, qtbot, demo_model_path, monkeypatch):
    import threading

    from medseg_app import _segment_job
    from medseg_app.main import create_viewer, medseg_window

    loads = []
    original = _segment_job.load_model_file

    def spy(path, **kwargs):
        loads.append((str(path), threading.current_thread() is threading.main_thread()))
        return original(path, **kwargs)

    monkeypatch.setattr(_segment_job, "load_model_file", spy)
    viewer = create_viewer(viewer=make_napari_viewer())
    seg = medseg_window(viewer).widgets["Segment"]
    assert seg.models.select(str(demo_model_path))
    # before any click: the chosen model is loaded (and run once) in a worker thread
    qtbot.waitUntil(lambda: (str(demo_model_path), False) in loads, timeout=60_000)
    qtbot.waitUntil(lambda: seg.warmed == str(demo_model_path), timeout=60_000)
    assert not any(on_ui for _, on_ui in loads)

    viewer.open_sample("medseg", "nuclei_fluorescence")
    done = len(loads)
    _segment(qtbot, seg)  # the first click
    assert len(loads) == done  # nothing left to load
    assert "nuclei_fluorescence labels" in viewer.layers


def test_he_image_gets_a_hint_to_use_nuclei_he_and_restricted_models_are_marked(app, qtbot):
    from medseg_app._model_picker import entry_text
    from medseg_core.registry import list_models
    from test_stain import he_tile

    viewer, window = app
    seg = window.widgets["Segment"]
    he = make_demo_model(name="nuclei-he")
    he.info.training["data_licence"] = "MoNuSeg: CC BY-NC-SA 4.0, non-commercial and research use only"
    he.save(user_models_dir() / "nuclei-he.safetensors")
    seg.models.refresh()
    assert "nuclei-he" in seg.models.names()
    viewer.add_image(he_tile(), name="tissue", rgb=True)
    viewer.layers.selection.active = viewer.layers["tissue"]
    assert "looks like H&E-stained tissue: the 'nuclei-he' model" in seg.target_label.text()
    viewer.add_image(np.zeros((64, 64), np.uint8), name="grey")
    viewer.layers.selection.active = viewer.layers["grey"]
    assert "H&E" not in seg.target_label.text()
    # the hint is a suggestion: choosing the model makes it go, nothing switches by itself
    viewer.layers.selection.active = viewer.layers["tissue"]
    assert seg.models.select("nuclei-he")
    assert "H&E" not in seg.target_label.text()
    marked = {entry.name: entry_text(entry) for entry in list_models()}
    assert "⚠ non-commercial, research use only" in marked["nuclei-he"]
