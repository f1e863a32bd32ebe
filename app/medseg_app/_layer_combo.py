"""A combo box of the viewer's labels layers that follows the active layer."""

from __future__ import annotations

from typing import Any

from napari.layers import Labels
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QWidget


class LabelsLayerCombo(QComboBox):
    """Lists the labels layers; selecting a labels layer in napari selects it here.

    Emits :attr:`layer_changed` with the chosen layer (or None).
    """

    layer_changed = Signal(object)

    def __init__(self, viewer: Any, parent: QWidget | None = None, name: str = "labels_combo") -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.viewer = viewer
        self._current: Any = None
        self._layers: list[Labels] = []
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._refill)
        viewer.layers.events.moved.connect(self._refill)
        viewer.layers.selection.events.active.connect(self._on_active)
        self.currentIndexChanged.connect(self._on_index)
        self._refill()
        active = viewer.layers.selection.active
        if isinstance(active, Labels):
            self.set_layer(active)

    def _labels(self) -> list[Labels]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Labels)]

    def _refill(self, *_args: Any) -> None:
        layers = self._labels()
        keep = self._current if self._current in layers else (layers[-1] if layers else None)
        self.blockSignals(True)
        self.clear()
        self._layers = layers
        for layer in layers:
            self.addItem(layer.name)
            layer.events.name.disconnect(self._refill)
            layer.events.name.connect(self._refill)
        self.blockSignals(False)
        self.set_layer(keep, force=True)

    def _on_inserted(self, event: Any) -> None:
        self._refill()
        if isinstance(event.value, Labels):
            self.set_layer(event.value)

    def _on_active(self, event: Any) -> None:
        if isinstance(event.value, Labels):
            self.set_layer(event.value)

    def _on_index(self, index: int) -> None:
        self.set_layer(self._layers[index] if 0 <= index < len(self._layers) else None)

    def set_layer(self, layer: Any, force: bool = False) -> None:
        """Choose ``layer``; emits :attr:`layer_changed` when it differs."""
        index = next((i for i, item in enumerate(self._layers) if item is layer), -1)
        if layer is not None and index < 0:
            return
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)
        if layer is not self._current or force:
            changed = layer is not self._current
            self._current = layer
            if changed:
                self.layer_changed.emit(layer)

    def layer(self) -> Labels | None:
        """The chosen labels layer."""
        return self._current
