"""The Correct panel: brush, modes, undo/redo and object-level edits of a labels layer.

Object edits are the pure functions of :mod:`medseg_core.edit`; their result
is written back through napari's history (:func:`._history.apply_labels`),
so every edit is undoable with Ctrl+Z.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import napari
import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_info
from qtpy.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from medseg_core import edit
from medseg_core.errors import MedsegError

from ._history import apply_labels
from ._layer_combo import LabelsLayerCombo
from ._layers import current_plane, current_z
from ._split import SPLIT_LAYER, line_in_labels, split_label_for
from ._tooltips import shortcuts_html, tip

MODES = (("paint", "Paint"), ("erase", "Erase"), ("fill", "Fill"), ("pick", "Pick"), ("pan_zoom", "Pan/zoom"))


def show_shortcuts(parent: QWidget | None = None) -> QDialog:
    """Open the keyboard-shortcut help dialog (non-modal) and return it."""
    dialog = QDialog(parent, objectName="shortcuts_dialog", windowTitle="MedSeg keyboard shortcuts")
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel(shortcuts_html()))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(buttons)
    dialog.show()
    return dialog


class CorrectWidget(QWidget):
    """Correct a labels layer by hand.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (napari passes it by annotation).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("medseg_correct_widget")
        self.viewer = napari_viewer
        self._bound: Labels | None = None

        self.layer_combo = LabelsLayerCombo(napari_viewer, self)
        self.layer_combo.setToolTip(tip("labels_combo"))
        self.brush_size_spin = self._spin("brush_size_spin", 1, 200, 10, " px")
        self.selected_label_spin = self._spin("selected_label_spin", 0, 2**31 - 1, 1)
        self.new_label_button = self._button("new_label_button", "New")

        self.mode_group = QButtonGroup(self, exclusive=True)
        modes = QHBoxLayout()
        modes.setSpacing(2)
        for mode, text in MODES:
            button = self._button(f"{mode}_mode_button", text)
            button.setCheckable(True)
            self.mode_group.addButton(button)
            modes.addWidget(button)
            button.clicked.connect(lambda _c=False, m=mode: self._set_mode(m))
        self.undo_button = self._button("undo_button", "Undo")
        self.redo_button = self._button("redo_button", "Redo")

        self.delete_object_button = self._button("delete_object_button", "Delete object")
        self.merge_source_spin = self._spin("merge_source_spin", 0, 2**31 - 1, 0)
        self.merge_target_spin = self._spin("merge_target_spin", 0, 2**31 - 1, 0)
        self.merge_button = self._button("merge_button", "Merge")
        self.split_button = self._button("split_button", "Split along line")
        self.remove_small_spin = self._spin("remove_small_spin", 1, 1_000_000, 30, " px")
        self.remove_small_button = self._button("remove_small_button", "Remove small")
        self.fill_holes_button = self._button("fill_holes_button", "Fill holes")
        self.relabel_button = self._button("relabel_button", "Relabel 1..N")
        self.shortcuts_button = self._button("shortcuts_button", "Keyboard shortcuts…")
        self.status_label = QLabel(objectName="correct_status_label", wordWrap=True)

        self._build_layout(modes)
        self._connect()
        self._on_layer(self.layer_combo.layer())

    # ---------------------------------------------------------------- layout
    def _spin(self, name: str, low: int, high: int, value: int, suffix: str = "") -> QSpinBox:
        spin = QSpinBox(objectName=name, minimum=low, maximum=high, suffix=suffix)
        spin.setValue(value)
        spin.setToolTip(tip(name))
        return spin

    def _button(self, name: str, text: str) -> QPushButton:
        button = QPushButton(text, objectName=name)
        button.setToolTip(tip(name))
        return button

    def _build_layout(self, modes: QHBoxLayout) -> None:
        form = QFormLayout()
        form.addRow("Labels", self.layer_combo)
        label_row = QHBoxLayout()
        label_row.addWidget(self.selected_label_spin, 1)
        label_row.addWidget(self.new_label_button)
        form.addRow("Label", label_row)
        form.addRow("Brush", self.brush_size_spin)
        history = QHBoxLayout()
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)

        objects = QGroupBox("Objects")
        grid = QGridLayout(objects)
        grid.addWidget(self.delete_object_button, 0, 0)
        grid.addWidget(self.split_button, 0, 1, 1, 2)
        grid.addWidget(QLabel("Merge"), 1, 0)
        merge_row = QHBoxLayout()
        merge_row.addWidget(self.merge_source_spin)
        merge_row.addWidget(QLabel("into"))
        merge_row.addWidget(self.merge_target_spin)
        grid.addLayout(merge_row, 1, 1)
        grid.addWidget(self.merge_button, 1, 2)
        grid.addWidget(QLabel("Smaller than"), 2, 0)
        grid.addWidget(self.remove_small_spin, 2, 1)
        grid.addWidget(self.remove_small_button, 2, 2)
        grid.addWidget(self.fill_holes_button, 3, 0, 1, 2)
        grid.addWidget(self.relabel_button, 3, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(modes)
        layout.addLayout(history)
        layout.addWidget(objects)
        layout.addWidget(self.status_label)
        layout.addWidget(self.shortcuts_button)

    def _connect(self) -> None:
        self.layer_combo.layer_changed.connect(self._on_layer)
        self.brush_size_spin.valueChanged.connect(lambda v: self._set("brush_size", v))
        self.selected_label_spin.valueChanged.connect(lambda v: self._set("selected_label", v))
        self.new_label_button.clicked.connect(self.new_label)
        self.undo_button.clicked.connect(lambda: self.layer and self.layer.undo())
        self.redo_button.clicked.connect(lambda: self.layer and self.layer.redo())
        self.delete_object_button.clicked.connect(lambda: self.delete_object())
        self.merge_button.clicked.connect(self.merge)
        self.split_button.clicked.connect(self.split)
        self.remove_small_button.clicked.connect(self.remove_small)
        self.fill_holes_button.clicked.connect(self.fill_holes)
        self.relabel_button.clicked.connect(self.relabel)
        self.shortcuts_button.clicked.connect(lambda: show_shortcuts(self))

    # -------------------------------------------------------- layer binding
    @property
    def layer(self) -> Labels | None:
        """The labels layer being corrected."""
        return self.layer_combo.layer()

    def _on_layer(self, layer: Labels | None) -> None:
        old = self._bound
        if old is not None:
            for name, slot in self._layer_slots().items():
                getattr(old.events, name).disconnect(slot)
        self._bound = layer
        enabled = layer is not None
        for child in self.findChildren(QPushButton) + self.findChildren(QSpinBox):
            if child is not self.shortcuts_button:
                child.setEnabled(enabled)
        if layer is None:
            return
        for name, slot in self._layer_slots().items():
            getattr(layer.events, name).connect(slot)
        layer.bind_key("Shift-D", self._delete_under_cursor, overwrite=True)
        self._sync()

    def _layer_slots(self) -> dict[str, Callable]:
        return {"brush_size": self._sync, "selected_label": self._sync, "mode": self._sync}

    def _sync(self, *_args: Any) -> None:
        layer = self.layer
        if layer is None:
            return
        for spin, value in ((self.brush_size_spin, layer.brush_size), (self.selected_label_spin, layer.selected_label)):
            spin.blockSignals(True)
            spin.setValue(int(value))
            spin.blockSignals(False)
        if not self.merge_source_spin.hasFocus():
            self.merge_source_spin.setValue(int(layer.selected_label))
        for button in self.mode_group.buttons():
            button.setChecked(button.objectName() == f"{layer.mode}_mode_button")

    def _set(self, attribute: str, value: int) -> None:
        if self.layer is not None:
            setattr(self.layer, attribute, value)

    def _set_mode(self, mode: str) -> None:
        if self.layer is not None:
            self.layer.mode = mode
            self.viewer.layers.selection.active = self.layer

    def new_label(self) -> None:
        """Select an unused label for painting a new object."""
        if self.layer is not None:
            self.layer.selected_label = edit.next_label(np.asarray(self.layer.data))

    # ------------------------------------------------------------ object edits
    def _edit(self, what: str, function: Callable[[np.ndarray], np.ndarray], plane: bool = False) -> int:
        """Apply ``function`` to the layer (or the displayed plane) as one undoable step."""
        layer = self.layer
        if layer is None:
            show_info("Choose a labels layer first")
            return 0
        try:
            if plane and layer.ndim == 3:
                z = current_z(self.viewer, layer)
                changed = apply_labels(layer, function(np.asarray(layer.data[z])), z=z)
            else:
                changed = apply_labels(layer, function(np.asarray(layer.data)))
        except MedsegError as exc:
            self.status_label.setText(str(exc))
            show_info(str(exc))
            return 0
        self.status_label.setText(f"{what}: {changed} pixels changed" if changed else f"{what}: nothing to change")
        return changed

    def delete_object(self, label: int | None = None) -> int:
        """Delete ``label`` (default: the selected label)."""
        label = int(self.layer.selected_label if label is None and self.layer is not None else label or 0)
        if label == 0:
            show_info("Select an object first (pick mode, L)")
            return 0
        return self._edit(f"Deleted object {label}", lambda a: edit.delete_object(a, label))

    def _delete_under_cursor(self, layer: Labels) -> None:
        value = layer.get_value(self.viewer.cursor.position, world=True)
        if isinstance(value, (int, np.integer)) and value > 0:
            self.delete_object(int(value))

    def merge(self) -> int:
        """Merge the object in the first spin box into the one in the second."""
        source, target = self.merge_source_spin.value(), self.merge_target_spin.value()
        return self._edit(f"Merged {source} into {target}", lambda a: edit.merge_objects(a, source, target))

    def remove_small(self) -> int:
        """Delete every object smaller than the size limit."""
        size = self.remove_small_spin.value()
        return self._edit(f"Removed objects < {size} px", lambda a: edit.remove_small_objects(a, size))

    def fill_holes(self) -> int:
        """Fill holes inside objects."""
        return self._edit("Filled holes", edit.fill_holes)

    def relabel(self) -> int:
        """Renumber objects 1..N."""
        return self._edit("Relabelled", edit.relabel_sequential)

    def split(self) -> int:
        """First call: add a 'split line' layer to draw on. Next call: cut along the line."""
        layer = self.layer
        if layer is None:
            show_info("Choose a labels layer first")
            return 0
        shapes = next((s for s in self.viewer.layers if s.name == SPLIT_LAYER), None)
        if shapes is None or len(shapes.data) == 0:
            if shapes is None:
                shapes = self.viewer.add_shapes(
                    name=SPLIT_LAYER, ndim=layer.ndim, scale=layer.scale, translate=layer.translate,
                    units=layer.units, edge_color="yellow", edge_width=1.5, face_color="transparent",
                )
            self.viewer.layers.selection.active = shapes
            shapes.mode = "add_path"
            self.status_label.setText("Draw a line across the object (double-click ends it), then press Split again.")
            return 0
        plane, _ = current_plane(self.viewer, layer)
        points = line_in_labels(shapes, layer)
        label = split_label_for(plane, points, int(layer.selected_label))
        first = edit.next_label(np.asarray(layer.data))
        changed = self._edit(
            f"Split object {label}", lambda a: edit.split_object(a, label, points, new_label=first), plane=True
        )
        if changed:
            self.viewer.layers.remove(shapes)
            self.viewer.layers.selection.active = layer
        return changed
