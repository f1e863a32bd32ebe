"""One kind of unit for all layers, so napari does not keep reporting inconsistent units.

napari converts between physical units (µm, mm) but not between pixels and
a physical unit: while a viewer holds a pixel image and a µm image, it shows
"Inconsistent units across layers" on every layer added or removed. The
viewer therefore shows physical units only while every layer has them;
otherwise all layers show pixels. A layer's ``scale`` never changes, and
measurements keep using the spacing in the MedSeg metadata.

napari checks the units while it adds a layer, before any listener of the
layer list runs: a file whose units differ from the open layers still gets
that one warning when it opens. Layers MedSeg makes for an image take the
units the image shows, so they never do.
"""

from __future__ import annotations

from typing import Any

from ._layer_state import KEY, napari_units

PIXEL = "pixel"


def _unit_names(layer: Any) -> tuple[str, ...]:
    return tuple(str(unit) for unit in layer.units)


class ConsistentUnits:
    """Keeps the units of a viewer's layers consistent as layers come and go.

    A layer opened or made by MedSeg shows the unit of its metadata; any
    other layer the units it had when it was added.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer to watch.
    """

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self._first_seen: dict[int, tuple[str, ...]] = {}
        viewer.layers.events.inserted.connect(self.update)
        viewer.layers.events.removed.connect(self._on_removed)
        self.update()

    def close(self) -> None:
        """Stop watching the viewer."""
        self.viewer.layers.events.inserted.disconnect(self.update)
        self.viewer.layers.events.removed.disconnect(self._on_removed)

    def _on_removed(self, event: Any) -> None:
        self._first_seen.pop(id(event.value), None)
        self.update()

    def physical_units(self, layer: Any) -> tuple[str, ...] | None:
        """The physical units ``layer`` should show, or None when it has only pixels."""
        meta = layer.metadata.get(KEY)
        if isinstance(meta, dict) and "unit" in meta:
            return napari_units(meta["unit"], layer.ndim) if meta.get("spacing") else None
        units = self._first_seen.setdefault(id(layer), _unit_names(layer))
        return None if PIXEL in units else units

    def update(self, *_args: Any) -> None:
        """Give every layer its physical units if all have them, else pixels."""
        layers = list(self.viewer.layers)
        wanted = [self.physical_units(layer) for layer in layers]
        physical = all(units is not None for units in wanted)
        for layer, units in zip(layers, wanted):
            target = units if physical else (PIXEL,) * layer.ndim
            if _unit_names(layer) != target:
                layer.units = target


def shown_units(layer: Any, ndim: int) -> tuple[str, ...]:
    """The units ``layer`` shows for its last ``ndim`` axes: for a new layer made from it."""
    return _unit_names(layer)[-ndim:]
