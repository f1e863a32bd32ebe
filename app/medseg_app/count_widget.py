"""The Count panel: live object count and measurement table of a labels layer."""

from __future__ import annotations

from typing import Any

import napari
import numpy as np
from qtpy.QtCore import QModelIndex
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from medseg_core.semantic_summary import count_description, count_noun

from . import _export
from ._large import is_large_layer
from ._layer_combo import LabelsLayerCombo
from ._layer_state import checksum, info
from ._layers import camera_of
from ._measure_table import HIDDEN, MeasureTableModel
from ._recount import CountResult, Recounter
from ._tooltips import tip


class CountWidget(QWidget):
    """Count and measure the objects of a labels layer, live.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (napari passes it by annotation).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("medseg_count_widget")
        self.viewer = napari_viewer
        self.result: CountResult | None = None

        self.layer_combo = LabelsLayerCombo(napari_viewer, self, name="count_layer_combo")
        self.layer_combo.setToolTip(tip("labels_combo"))
        self.count_label = QLabel("no labels layer", objectName="count_label")
        font = QFont(self.count_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.count_label.setFont(font)
        self.areas_label = QLabel("", objectName="areas_label", wordWrap=True)
        self.areas_label.setVisible(False)
        self.count_label.setToolTip(tip("count_label"))

        self.model = MeasureTableModel(self)
        self.table = QTableView(objectName="measure_table")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(32)  # size columns from a few rows, not thousands
        self._sized_columns: list[str] = []
        self.table.setToolTip(tip("measure_table"))
        self.table.clicked.connect(self._on_row)

        self.export_csv_button = QPushButton("Export CSV…", objectName="export_csv_button")
        self.save_labels_button = QPushButton("Save labels…", objectName="save_labels_button")
        for button in (self.export_csv_button, self.save_labels_button):
            button.setToolTip(tip(button.objectName()))
        self.export_csv_button.clicked.connect(self.export_csv)
        self.save_labels_button.clicked.connect(self.save_labels)

        form = QFormLayout()
        form.addRow("Labels", self.layer_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_csv_button)
        buttons.addWidget(self.save_labels_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.count_label)
        layout.addWidget(self.areas_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.recounter = Recounter(napari_viewer, self)
        self.recounter.counted.connect(self._on_counted)
        self.layer_combo.layer_changed.connect(self._on_layer)
        self._on_layer(self.layer_combo.layer())

    # ---------------------------------------------------------------- state
    @property
    def layer(self) -> Any:
        """The labels layer being counted."""
        return self.layer_combo.layer()

    @property
    def count(self) -> int | None:
        """Objects in the last count (None before the first)."""
        return None if self.result is None or self.result.layer is None else self.result.count

    def _on_layer(self, layer: Any) -> None:
        enabled = layer is not None
        self.export_csv_button.setEnabled(enabled)
        self.save_labels_button.setEnabled(enabled)
        self.recounter.set_layer(layer)

    def _on_counted(self, result: CountResult) -> None:
        self.result = result
        self.model.set_table(result.table)
        if self.model.columns != self._sized_columns and result.count:
            for column, name in enumerate(self.model.columns):
                self.table.setColumnHidden(column, name in HIDDEN)
            self.table.resizeColumnsToContents()
            self._sized_columns = self.model.columns
        self.areas_label.setVisible(result.areas is not None)
        if result.layer is None:
            self.count_label.setText("no labels layer")
            return
        meta = info(result.layer)
        task, encloses = meta.get("task", "instance"), meta.get("encloses")
        noun = count_noun(task, encloses)
        if result.count == 1:
            noun = noun[:-1]
        where = f"  (slice {result.z})" if result.z is not None else ""
        self.count_label.setText(f"{result.count} {noun}{where}")
        self.count_label.setToolTip(f"{tip('count_label')}\nCounted: {count_description(task, encloses)}")
        if result.areas is not None:
            areas = zip(result.areas["class"], result.areas["fraction"])
            self.areas_label.setText("Area: " + " · ".join(f"{name} {share:.1%}" for name, share in areas))

    def _on_row(self, index: QModelIndex) -> None:
        layer = self.layer
        if layer is None or not index.isValid() or self.result is None:
            return
        if _export.semantic_of(layer) is None:  # a semantic layer's values are classes, not these objects
            layer.selected_label = self.model.label_at(index.row())
        centre = [float(self.model.value(index.row(), "centroid_y")), float(self.model.value(index.row(), "centroid_x"))]
        if self.result.z is not None:
            centre = [float(self.result.z), *centre]
        world = np.asarray(layer.data_to_world(np.asarray(centre)))
        camera_of(self.viewer).center = tuple(world[-2:])

    def select_row_of(self, label: int) -> None:
        """Select the table row of ``label`` (if present)."""
        for row in range(self.model.rowCount()):
            if self.model.label_at(row) == label:
                self.table.selectRow(row)
                self._on_row(self.model.index(row, 0))
                return

    # --------------------------------------------------------------- actions
    def export_csv(self) -> None:
        """Export every object's measurements as CSV (asks for the path)."""
        layer = self.layer
        table = None
        if (
            layer is not None
            and self.result is not None
            and self.result.layer is layer
            and (
                is_large_layer(layer)  # its table is the block run's CSV: never reload the labels
                or (np.ndim(layer.data) == 2 and self.result.checksum == checksum(np.asarray(layer.data)))
            )
        ):
            table = self.result.table  # the table shown is current: reuse it
        _export.export_csv(self, self.viewer, layer, table)

    def save_labels(self) -> None:
        """Save the labels layer as TIFF (asks for the path)."""
        _export.save_labels(self, self.viewer, self.layer)

    def shutdown(self) -> None:
        """Start no more counts (the window is closing)."""
        self.recounter.close()

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
