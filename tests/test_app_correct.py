"""Desktop app: the Correct panel, one test per object-edit button, all undoable."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDialog, QPushButton, QSpinBox

from medseg_app.correct_widget import CorrectWidget
from _app_support import *  # noqa: F403

pytestmark = pytest.mark.gui


def _labels() -> np.ndarray:
    data = np.zeros((40, 60), dtype=np.uint16)
    data[2:12, 2:14] = 1  # 120 px
    data[2:12, 20:40] = 2  # 200 px, split target
    data[20:22, 5:7] = 3  # 4 px, small
    data[18:36, 30:50] = 5  # 360 px with a hole
    data[25:28, 38:41] = 0
    return data


@pytest.fixture
def panel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(_labels(), name="cells labels")
    widget = CorrectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Correct")
    assert widget.layer is layer
    return viewer, layer, widget


def _click(qtbot, widget, name):
    button = widget.findChild(QPushButton, name)
    assert button is not None and button.isEnabled(), name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _undo_restores(qtbot, widget, layer):
    _click(qtbot, widget, "undo_button")
    np.testing.assert_array_equal(layer.data, _labels())


def test_delete_object_button(panel, qtbot):
    _viewer, layer, widget = panel
    layer.selected_label = 2
    _click(qtbot, widget, "delete_object_button")
    assert not (layer.data == 2).any() and (layer.data == 1).sum() == 120
    _undo_restores(qtbot, widget, layer)
    _click(qtbot, widget, "redo_button")
    assert not (layer.data == 2).any()


def test_merge_button(panel, qtbot):
    _viewer, layer, widget = panel
    widget.findChild(QSpinBox, "merge_source_spin").setValue(3)
    widget.findChild(QSpinBox, "merge_target_spin").setValue(1)
    _click(qtbot, widget, "merge_button")
    assert not (layer.data == 3).any() and (layer.data == 1).sum() == 124
    _undo_restores(qtbot, widget, layer)


def test_merge_missing_label_changes_nothing(panel, qtbot):
    _viewer, layer, widget = panel
    widget.findChild(QSpinBox, "merge_source_spin").setValue(99)
    widget.findChild(QSpinBox, "merge_target_spin").setValue(1)
    _click(qtbot, widget, "merge_button")
    np.testing.assert_array_equal(layer.data, _labels())
    assert "99" in widget.status_label.text()


def test_split_button_draw_then_cut(panel, qtbot):
    viewer, layer, widget = panel
    _click(qtbot, widget, "split_button")  # first press: a layer to draw the line in
    shapes = viewer.layers["split line"]
    assert shapes.mode == "add_path"
    shapes.add_paths([np.array([[0.0, 30.0], [14.0, 30.0]])])
    _click(qtbot, widget, "split_button")
    pieces = np.unique(layer.data[_labels() == 2])
    assert len(pieces) == 2 and 2 in pieces
    assert np.isin(layer.data, pieces).sum() == 200  # no pixel lost to the cut
    assert "split line" not in viewer.layers
    _undo_restores(qtbot, widget, layer)


def test_remove_small_button(panel, qtbot):
    _viewer, layer, widget = panel
    widget.findChild(QSpinBox, "remove_small_spin").setValue(10)
    _click(qtbot, widget, "remove_small_button")
    assert set(np.unique(layer.data)) == {0, 1, 2, 5}
    _undo_restores(qtbot, widget, layer)


def test_fill_holes_button(panel, qtbot):
    _viewer, layer, widget = panel
    _click(qtbot, widget, "fill_holes_button")
    assert (layer.data[25:28, 38:41] == 5).all()
    _undo_restores(qtbot, widget, layer)


def test_relabel_button(panel, qtbot):
    _viewer, layer, widget = panel
    _click(qtbot, widget, "relabel_button")
    assert set(np.unique(layer.data)) == {0, 1, 2, 3, 4}
    _undo_restores(qtbot, widget, layer)


def test_brush_modes_and_label_follow_the_layer(panel, qtbot):
    _viewer, layer, widget = panel
    widget.findChild(QSpinBox, "brush_size_spin").setValue(7)
    assert layer.brush_size == 7
    layer.brush_size = 13
    assert widget.brush_size_spin.value() == 13
    for mode in ("paint", "erase", "fill", "pick", "pan_zoom"):
        _click(qtbot, widget, f"{mode}_mode_button")
        assert layer.mode == mode
    layer.mode = "erase"
    assert widget.findChild(QPushButton, "erase_mode_button").isChecked()
    _click(qtbot, widget, "new_label_button")
    assert layer.selected_label == 6 == widget.selected_label_spin.value()


def test_delete_under_cursor_shortcut(panel, qtbot):
    viewer, layer, widget = panel
    viewer.cursor.position = (5.0, 5.0)
    widget._delete_under_cursor(layer)  # what Shift+D calls
    assert not (layer.data == 1).any()


def test_shortcuts_dialog(panel, qtbot):
    _viewer, _layer, widget = panel
    _click(qtbot, widget, "shortcuts_button")
    dialog = widget.findChild(QDialog, "shortcuts_dialog")
    assert dialog is not None and "Shift+D" in dialog.findChildren(type(widget.status_label))[0].text()
    dialog.close()
