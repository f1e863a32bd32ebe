"""The "Data" tab of the Fine-tune panel: training pairs and validation images.

Training pairs come from image layers ticked in a table (each with its
labels layer, matched by the name ``"<image> labels"`` or picked by the
user) and/or from a folder with ``images/`` and ``masks/``. Validation is a
held-back fraction of the pairs or a separate folder. A summary line says
what training will use before it starts. A chosen folder is read (every
mask, to count its objects) in a worker thread; until it is, training
cannot start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import napari
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medseg_core.errors import MedsegError
from medseg_core.finetune_data import (
    DEFAULT_VAL_FRACTION,
    PairSource,
    ValidationPlan,
    match_labels_name,
    plan_validation,
    sources_from_arrays,
    sources_from_folder,
)

from ._report import report_bug

NO_LABELS = "(none)"


def choose_folder(parent: QWidget | None, title: str) -> str | None:
    """Ask for a folder; None when cancelled."""
    return QFileDialog.getExistingDirectory(parent, title) or None


def read_folder(role: str, folder: str) -> tuple[str, str, list[PairSource] | MedsegError]:
    """The training pairs of a folder, for a worker thread (it reads every mask).

    Returns
    -------
    tuple
        ``(role, folder, sources)``, or ``(role, folder, error)`` when the
        folder is not usable (no ``images/`` and ``masks/``, a bad mask).
    """
    try:
        return role, folder, sources_from_folder(folder)
    except MedsegError as exc:
        return role, folder, exc


class TrainingDataWidget(QWidget):
    """Training layers, training folder, validation choice and a summary.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Whose image and labels layers are offered.

    Signals
    -------
    changed
        The data selection changed (the summary is refreshed after it).
    """

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("finetune_layer_table")
        self.table.setHorizontalHeaderLabels(["Image layer", "Labels layer"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(90)
        self.table.setToolTip(
            "Tick the images to train on. Their labels layer is found by name ('<image> labels') "
            "or picked in the second column."
        )
        self.table.itemChanged.connect(self._schedule_summary)
        self.folder_edit = _folder_edit(
            "finetune_folder_edit", "Folder with images/ and masks/ (same file names)."
        )
        self.val_fraction_radio = QRadioButton("Hold back")
        self.val_fraction_radio.setObjectName("finetune_val_fraction_radio")
        self.val_fraction_radio.setChecked(True)
        self.val_fraction_radio.setToolTip(
            "Keep a share of the pairs out of training to measure progress. With a single image "
            "nothing can be held back: validation then scores the training image (optimistic)."
        )
        self.val_fraction_spin = QDoubleSpinBox()
        self.val_fraction_spin.setObjectName("finetune_val_fraction_spin")
        self.val_fraction_spin.setRange(0.05, 0.5)
        self.val_fraction_spin.setSingleStep(0.05)
        self.val_fraction_spin.setValue(DEFAULT_VAL_FRACTION)
        self.val_fraction_spin.setToolTip(
            "Fraction of the images used only for validation (at least two from five images on)."
        )
        self.val_folder_radio = QRadioButton("Validation folder")
        self.val_folder_radio.setObjectName("finetune_val_folder_radio")
        self.val_folder_radio.setToolTip(
            "Validate on a separate folder with images/ and masks/; all pairs then train."
        )
        self.val_folder_edit = _folder_edit(
            "finetune_val_folder_edit", "Folder of validation images/ and masks/."
        )
        self.summary_label = QLabel()
        self.summary_label.setObjectName("finetune_data_summary")
        self.summary_label.setWordWrap(True)
        self._folder_sources: list[PairSource] = []
        self._val_folder_sources: list[PairSource] = []
        self._reading: dict[str, str] = {}  # "train"/"val" -> the folder a worker is reading
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(100)
        self._summary_timer.timeout.connect(self.update_summary)
        self._layout()
        # napari disconnects a deleted widget's slot itself (see EventEmitter._invoke_callback)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self.refresh_layers()

    def shutdown(self) -> None:
        """Stop following the viewer and reading folders (the window is closing)."""
        for event in ("inserted", "removed", "reordered"):
            getattr(self.viewer.layers.events, event).disconnect(self._on_layers_changed)
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self._on_layers_changed)
        self._reading.clear()  # results still to come are dropped

    def _layout(self) -> None:
        grid = QGridLayout()
        grid.addWidget(QLabel("Training folder:"), 0, 0)
        grid.addLayout(self._folder_row(self.folder_edit, self._choose_train_folder), 0, 1, 1, 2)
        grid.addWidget(self.val_fraction_radio, 1, 0)
        grid.addWidget(self.val_fraction_spin, 1, 1)
        grid.addWidget(QLabel("of the pairs"), 1, 2)
        grid.addWidget(self.val_folder_radio, 2, 0)
        grid.addLayout(self._folder_row(self.val_folder_edit, self._choose_val_folder), 2, 1, 1, 2)
        for widget in (self.val_fraction_radio, self.val_folder_radio):
            widget.toggled.connect(self._schedule_summary)
        self.val_fraction_spin.valueChanged.connect(self._schedule_summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addLayout(grid)
        layout.addWidget(self.summary_label)

    def _folder_row(self, edit: QLineEdit, choose) -> QHBoxLayout:
        row = QHBoxLayout()
        browse = QPushButton("…")
        browse.setToolTip("Choose the folder.")
        browse.setFixedWidth(28)
        browse.clicked.connect(choose)
        clear = QPushButton("×")
        clear.setToolTip("Use no folder.")
        clear.setFixedWidth(24)
        clear.clicked.connect(lambda: self._set_folder(edit, None))
        row.addWidget(edit)
        row.addWidget(browse)
        row.addWidget(clear)
        return row

    # ---- layers -------------------------------------------------------------
    def refresh_layers(self) -> None:
        """Rebuild the layer table, keeping ticks and label choices by name."""
        previous = {row[0]: row for row in self._rows()}
        for layer in self.viewer.layers:
            layer.events.name.connect(self._on_layers_changed)  # connecting twice is a no-op
        images = [layer for layer in self.viewer.layers if isinstance(layer, Image)]
        labels = [layer.name for layer in self.viewer.layers if isinstance(layer, Labels)]
        self.table.blockSignals(True)
        self.table.setRowCount(len(images))
        for row, layer in enumerate(images):
            old = previous.get(layer.name)
            match = old[2] if old and old[2] in labels else match_labels_name(layer.name, labels)
            item = QTableWidgetItem(layer.name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            checked = old[1] if old and old[2] is not None else match is not None
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, item)
            combo = QComboBox()
            combo.addItems([NO_LABELS, *labels])
            combo.setCurrentText(match or NO_LABELS)
            combo.setToolTip(f"Labels layer holding the objects of '{layer.name}'.")
            combo.currentTextChanged.connect(self._schedule_summary)
            self.table.setCellWidget(row, 1, combo)
        self.table.blockSignals(False)
        self._schedule_summary()

    def set_checked(self, image_name: str, checked: bool = True, labels_name: str | None = None) -> None:
        """Tick or untick an image layer (and optionally choose its labels layer)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == image_name:
                self.table.item(row, 0).setCheckState(
                    Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
                )
                if labels_name is not None:
                    self.table.cellWidget(row, 1).setCurrentText(labels_name)
        self._schedule_summary()

    def _rows(self) -> list[tuple[str, bool, str | None]]:
        rows = []
        for row in range(self.table.rowCount()):
            item, combo = self.table.item(row, 0), self.table.cellWidget(row, 1)
            if item is None or combo is None:
                continue
            labels = combo.currentText()
            rows.append(
                (
                    item.text(),
                    item.checkState() == Qt.CheckState.Checked,
                    None if labels == NO_LABELS else labels,
                )
            )
        return rows

    def _on_layers_changed(self, event: Any = None) -> None:
        self.refresh_layers()

    # ---- folders ------------------------------------------------------------
    def _choose_train_folder(self) -> None:
        folder = choose_folder(self, "Folder with images/ and masks/ for training")
        if folder:
            self._set_folder(self.folder_edit, folder)

    def _choose_val_folder(self) -> None:
        folder = choose_folder(self, "Folder with images/ and masks/ for validation")
        if folder:
            self._set_folder(self.val_folder_edit, folder)
            self.val_folder_radio.setChecked(True)

    def set_training_folder(self, folder: str | Path | None) -> None:
        """Use (or with None, stop using) a training folder."""
        self._set_folder(self.folder_edit, folder)

    def set_validation_folder(self, folder: str | Path | None) -> None:
        """Validate on a folder (None: back to a held-back fraction)."""
        self._set_folder(self.val_folder_edit, folder)
        (self.val_folder_radio if folder else self.val_fraction_radio).setChecked(True)

    def _set_folder(self, edit: QLineEdit, folder: str | Path | None) -> None:
        """Use ``folder`` for ``edit``'s data; a worker reads it (see :func:`read_folder`)."""
        role = "train" if edit is self.folder_edit else "val"
        edit.setText(str(folder) if folder else "")
        edit.setStyleSheet("")
        self._set_sources(role, [])
        self._reading.pop(role, None)  # a result still to come for another folder is dropped
        if folder:
            self._reading[role] = str(folder)
            worker = create_worker(read_folder, role, str(folder), _start_thread=False)
            # bound slots: Qt never calls them once this widget is deleted
            worker.returned.connect(self._on_folder_read)
            worker.errored.connect(self._on_folder_failed)
            self._show(f"Reading {folder}…", ok=True)
            worker.start()
        self._schedule_summary()

    @property
    def reading(self) -> bool:
        """Whether a chosen folder is still being read."""
        return bool(self._reading)

    def _set_sources(self, role: str, sources: list[PairSource]) -> None:
        if role == "train":
            self._folder_sources = sources
        else:
            self._val_folder_sources = sources

    def _on_folder_read(self, result: tuple[str, str, list[PairSource] | MedsegError]) -> None:
        role, folder, sources = result
        if self._reading.get(role) != folder:
            return  # stale: the folder was changed or cleared meanwhile
        del self._reading[role]
        if isinstance(sources, MedsegError):
            (self.folder_edit if role == "train" else self.val_folder_edit).setStyleSheet("color: orange;")
            self._show(f"Folder not usable: {sources}", ok=False)
            return
        self._set_sources(role, sources)
        self._schedule_summary()

    def _on_folder_failed(self, exc: Exception) -> None:
        """A bug while reading a folder: report it and stop waiting for any folder."""
        self._reading.clear()
        report_bug("Reading the training folder failed", exc)
        self._show("Reading the folder failed (details in the log).", ok=False)

    # ---- collecting -----------------------------------------------------------
    def collect(self, copy: bool = True) -> tuple[list[PairSource], dict]:
        """Training sources and a description of them (for the model's metadata).

        Raises
        ------
        MedsegError
            A ticked image has no labels layer, or its shape differs.
        """
        if self.reading:
            raise MedsegError("the chosen folder is still being read: wait a moment")
        sources: list[PairSource] = []
        used_layers = []
        for image_name, checked, labels_name in self._rows():
            if not checked:
                continue
            if labels_name is None or labels_name not in self.viewer.layers:
                raise MedsegError(f"'{image_name}' has no labels layer: pick one in the table or untick it")
            image, labels = self.viewer.layers[image_name], self.viewer.layers[labels_name]
            if image.multiscale or labels.multiscale:
                raise MedsegError(f"'{image_name}': multiscale (pyramid) layers cannot be used for training")
            sources += sources_from_arrays(
                image_name, image.data, labels.data, rgb=image.rgb, labels_name=labels_name, copy=copy
            )
            used_layers.append({"image": image_name, "labels": labels_name})
        data: dict = {"layers": used_layers} if used_layers else {}
        if self.folder_edit.text():
            sources += self._folder_sources
            data["folder"] = self.folder_edit.text()
        return sources, data

    def plan(self, copy: bool = True) -> tuple[ValidationPlan, dict]:
        """The validation plan of the current choice, with the data description."""
        sources, data = self.collect(copy=copy)
        if self.val_folder_radio.isChecked():
            if not self._val_folder_sources:
                raise MedsegError(
                    "choose a validation folder with images/ and masks/, or hold back a fraction"
                )
            data["validation_folder"] = self.val_folder_edit.text()
            return plan_validation(sources, val_sources=self._val_folder_sources), data
        return plan_validation(sources, self.val_fraction_spin.value()), data

    def update_summary(self) -> None:
        """Say what training would use now, or why it cannot start."""
        if self.reading:
            return  # the "Reading …" line stays until the folder is read
        try:
            plan, _ = self.plan(copy=False)
        except MedsegError as exc:
            self._show(str(exc)[:1].upper() + str(exc)[1:], ok=False)
        else:
            self._show(f"{plan.summary()}\n{plan.note[:1].upper()}{plan.note[1:]}", ok=True)
        self.changed.emit()

    def _schedule_summary(self, *_: object) -> None:
        self._summary_timer.start()

    def _show(self, text: str, ok: bool) -> None:
        self.summary_label.setText(text)
        self.summary_label.setStyleSheet("" if ok else "color: orange;")


def _folder_edit(name: str, tip: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setReadOnly(True)
    edit.setPlaceholderText("none")
    edit.setToolTip(tip)
    return edit
