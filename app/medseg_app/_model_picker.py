"""Model picker: shipped and user models, refreshed when a model file appears."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QToolButton, QWidget

from medseg_core.registry import ModelEntry, list_models, user_models_dir

from ._tooltips import tip

PATH_ROLE = Qt.ItemDataRole.UserRole
INFO_ROLE = Qt.ItemDataRole.UserRole + 1


def entry_text(entry: ModelEntry) -> str:
    """Text of a model in the picker: its name, "(user)" for fine-tuned ones, and a use restriction."""
    text = entry.name if entry.shipped else f"{entry.name}  (user)"
    restriction = entry.info.use_restriction
    return f"{text}  ⚠ {restriction}" if restriction else text


class ModelPicker(QWidget):
    """A combo box of models plus a refresh button.

    The user models folder is watched with :class:`QFileSystemWatcher`, so a
    model saved by the Fine-tune panel (or copied there) appears at once.
    The selection is kept (by path) across refreshes.
    """

    #: Emitted with the selected model path (or "" when none).
    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox(objectName="model_combo")
        self.combo.setToolTip(tip("model_combo"))
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        refresh = QToolButton(objectName="refresh_models_button", text="⟳")
        refresh.setToolTip(tip("refresh_models_button"))
        refresh.clicked.connect(self.refresh)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(refresh)

        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.refresh)
        self.watcher = QFileSystemWatcher(self)
        self._watch_folder()
        self.watcher.directoryChanged.connect(lambda _path: self._debounce.start())
        self.combo.currentIndexChanged.connect(self._on_index)
        self.refresh()

    def _watch_folder(self) -> None:
        folder = str(user_models_dir())
        if folder not in self.watcher.directories():
            self.watcher.addPath(folder)

    def refresh(self) -> None:
        """Re-list the models, keeping the current selection when it still exists."""
        self._watch_folder()
        current = self.current_path()
        entries = list_models()
        self.combo.blockSignals(True)
        self.combo.clear()
        for entry in entries:
            self.combo.addItem(entry_text(entry))
            index = self.combo.count() - 1
            self.combo.setItemData(index, str(entry.path), PATH_ROLE)
            self.combo.setItemData(index, entry.info.summary(), Qt.ItemDataRole.ToolTipRole)
            self.combo.setItemData(index, entry.info, INFO_ROLE)
        if not entries:
            self.combo.addItem("no models found")
            self.combo.setItemData(0, "", PATH_ROLE)
        paths = [self.combo.itemData(i, PATH_ROLE) for i in range(self.combo.count())]
        preferred = [p for p in paths if p and Path(p).stem == "nuclei"]
        choice = current if current in paths else (preferred[0] if preferred else paths[0])
        self.combo.setCurrentIndex(paths.index(choice))
        self.combo.blockSignals(False)
        self._on_index()

    def _on_index(self, *_args) -> None:
        summary = self.combo.currentData(Qt.ItemDataRole.ToolTipRole) or ""
        self.combo.setToolTip(f"{tip('model_combo')}\n\n{summary}".strip())
        self.changed.emit(self.current_path() or "")

    def current_path(self) -> str | None:
        """Path of the selected model, or None."""
        return self.combo.currentData(PATH_ROLE) or None

    def names(self) -> list[str]:
        """Names (file stems) of the listed models."""
        return [Path(p).stem for i in range(self.combo.count()) if (p := self.combo.itemData(i, PATH_ROLE))]

    def current_info(self):
        """:class:`~medseg_core.model.ModelInfo` of the selected model, or None."""
        return self.combo.currentData(INFO_ROLE)

    def select(self, name_or_path: str) -> bool:
        """Select a model by name or path; False when not listed."""
        for i in range(self.combo.count()):
            path = self.combo.itemData(i, PATH_ROLE)
            if path and (path == str(name_or_path) or Path(path).stem == name_or_path):
                self.combo.setCurrentIndex(i)
                return True
        return False
