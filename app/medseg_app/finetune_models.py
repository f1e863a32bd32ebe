"""Manager of the user's models: list, rename, export (a copy, or a bioimage.io package), delete.

Shipped models are listed (they can be exported) but cannot be renamed or
deleted. Dialogs go through the module-level functions
:func:`ask_new_name`, :func:`choose_export_path` and :func:`ask_confirmation`
so tests can replace them.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from medseg_core.errors import MedsegError
from medseg_core.model import load_model_file
from medseg_core.registry import MODEL_SUFFIX, ModelEntry, list_models, user_model_path

from ._bioimageio_export import PackageExporter


def ask_new_name(parent: QWidget | None, current: str) -> str | None:
    """Ask for a new model name; None when cancelled."""
    text, ok = QInputDialog.getText(parent, "Rename model", "New name:", text=current)
    return text.strip() if ok else None


def choose_export_path(parent: QWidget | None, suggested: str) -> str | None:
    """Ask where to export a model file; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export model", suggested, f"MedSeg model (*{MODEL_SUFFIX})"
    )
    return path or None


def ask_confirmation(parent: QWidget | None, title: str, text: str) -> bool:
    """Ask a yes/no question (default: no)."""
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def rename_model(entry: ModelEntry, new_name: str) -> Path:
    """Rename a user model: file and recorded name; returns the new path.

    Raises
    ------
    MedsegError
        The model is shipped, the name is unusable or already taken.
    """
    if entry.shipped:
        raise MedsegError(f"'{entry.name}' is a shipped model and cannot be renamed")
    target = user_model_path(new_name)
    if target.exists():
        raise MedsegError(f"a model named '{new_name}' already exists")
    model = load_model_file(entry.path)
    model.info = replace(model.info, name=new_name)
    model.save(target)
    entry.path.unlink()
    return target


def export_model(entry: ModelEntry, destination: str | Path) -> Path:
    """Copy a model file to ``destination`` (``.safetensors`` appended if missing)."""
    destination = Path(destination)
    if destination.suffix != MODEL_SUFFIX:
        destination = destination.with_name(destination.name + MODEL_SUFFIX)
    if destination.resolve() == entry.path.resolve():
        return destination
    try:
        shutil.copyfile(entry.path, destination)
    except OSError as exc:
        raise MedsegError(f"could not export to {destination}: {exc.strerror or exc}") from None
    return destination


class ModelManagerWidget(QWidget):
    """List of models with Rename / Export / Delete buttons.

    Signals
    -------
    models_changed
        A model was renamed or deleted.
    message(str)
        A one-line result or error for the status label.
    """

    models_changed = Signal()
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("model_list")
        self.list.setToolTip(
            "Shipped models (grey) and your fine-tuned models. Hover a model for its details."
        )
        self.rename_button = _button(
            "Rename…", "model_rename_button", "Give the selected user model a new name."
        )
        self.export_button = _button(
            "Export…", "model_export_button", "Save a copy of the selected model file, e.g. to share it."
        )
        self.delete_button = _button(
            "Delete", "model_delete_button", "Delete the selected user model (asks first)."
        )
        self.bioimageio_button = _button(
            "Export as bioimage.io…",
            "model_bioimageio_button",
            "Write the selected model as a bioimage.io package (.zip) for Fiji (deepImageJ), QuPath, ilastik "
            "or bioimageio.core: weights as PyTorch, TorchScript and ONNX, a test image, the model card. "
            "Click again to cancel a running export.",
        )
        self.exporter = PackageExporter(self)
        self.exporter.message.connect(self.message)
        self.exporter.running.connect(self._on_exporting)
        self.bioimageio_button.clicked.connect(self.export_bioimageio_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.list.currentItemChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        for button in (self.rename_button, self.export_button, self.delete_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("Models (shipped ones cannot be renamed or deleted):"))
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.bioimageio_button)
        self.entries: list[ModelEntry] = []
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """Re-read the model folders; keep or set the selection."""
        current = select or (self.selected().name if self.selected() else None)
        self.entries = list_models()
        self.list.clear()
        for entry in self.entries:
            item = QListWidgetItem(entry.name + (" (shipped)" if entry.shipped else ""))
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setToolTip(entry.info.summary())
            if entry.shipped:
                item.setForeground(Qt.GlobalColor.gray)
            self.list.addItem(item)
            if entry.name == current:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def select(self, name: str) -> bool:
        """Select a model by name; False if it is not listed."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return True
        return False

    def selected(self) -> ModelEntry | None:
        """The selected model entry, if any."""
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def rename_selected(self) -> None:
        """Ask for a name and rename the selected user model."""
        entry = self.selected()
        if entry is None or entry.shipped:
            return
        new_name = ask_new_name(self, entry.name)
        if not new_name or new_name == entry.name:
            return
        try:
            rename_model(entry, new_name)
        except MedsegError as exc:
            self.message.emit(f"Rename failed: {exc}")
            return
        self.refresh(select=new_name)
        self.message.emit(f"Renamed '{entry.name}' to '{new_name}'.")
        self.models_changed.emit()

    def export_selected(self) -> None:
        """Copy the selected model file where the user chooses."""
        entry = self.selected()
        if entry is None:
            return
        destination = choose_export_path(self, str(Path.home() / entry.path.name))
        if not destination:
            return
        try:
            path = export_model(entry, destination)
        except MedsegError as exc:
            self.message.emit(f"Export failed: {exc}")
            return
        self.message.emit(f"Exported '{entry.name}' to {path}.")

    def export_bioimageio_selected(self) -> None:
        """Export the selected model as a bioimage.io package in a worker; a second click cancels."""
        if self.exporter.worker is not None:
            self.exporter.cancel()
            return
        entry = self.selected()
        if entry is not None:
            self.exporter.start(entry, self)

    def _on_exporting(self, running: bool) -> None:
        self.bioimageio_button.setText("Cancel export" if running else "Export as bioimage.io…")
        self._update_buttons()

    def delete_selected(self) -> None:
        """Delete the selected user model after confirmation."""
        entry = self.selected()
        if entry is None or entry.shipped:
            return
        if not ask_confirmation(
            self, "Delete model", f"Delete the model '{entry.name}'? This cannot be undone."
        ):
            return
        try:
            entry.path.unlink()
        except OSError as exc:
            self.message.emit(f"Delete failed: {exc.strerror or exc}")
            return
        self.refresh()
        self.message.emit(f"Deleted '{entry.name}'.")
        self.models_changed.emit()

    def _update_buttons(self, *_: object) -> None:
        entry = self.selected()
        self.export_button.setEnabled(entry is not None)
        self.bioimageio_button.setEnabled(entry is not None or self.exporter.worker is not None)
        user = entry is not None and not entry.shipped
        self.rename_button.setEnabled(user)
        self.delete_button.setEnabled(user)


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button
