"""Recount after edits: debounced, off the UI thread for large images, stale results dropped.

A :class:`Recounter` follows one labels layer. Edits arrive as the layer's
``paint`` and ``data`` events and, for undo/redo (which only refresh the
layer) or in-place writes, through ``set_data`` and a cheap checksum poll.
Requests are debounced; each run gets a generation number and a result is
delivered only if no newer run started meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QTimer, Signal

from ._export import _layer_inputs, summarise_plane
from ._large import is_large_layer, large_summary
from ._layer_state import checksum
from ._layers import current_plane, image_plane

#: Planes with more pixels than this are measured in a worker thread.
THREAD_MIN_PIXELS = 512 * 512


@dataclass
class CountResult:
    """A finished count of one plane of a labels layer."""

    layer: Any
    z: int | None
    table: dict[str, np.ndarray]
    checksum: int
    generation: int
    areas: dict[str, np.ndarray] | None = None

    @property
    def count(self) -> int:
        """Number of objects."""
        return len(self.table.get("label", ()))


class Recounter(QObject):
    """Measure the displayed plane of a labels layer whenever it changes.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        For the current slice and the linked image.
    parent : QObject, optional
        Qt parent.
    delay_ms : int
        Debounce delay after the last change.
    poll_ms : int
        Interval of the checksum poll (0 disables it).
    """

    counted = Signal(object)

    def __init__(self, viewer: Any, parent: QObject | None = None, delay_ms: int = 200, poll_ms: int = 1000) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.layer = None
        self.generation = 0
        self.thread_min_pixels = THREAD_MIN_PIXELS
        self.workers: set = set()
        self.closed = False
        self._launched_checksum: int | None = None
        self._debounce = QTimer(self, singleShot=True, interval=delay_ms)
        self._debounce.timeout.connect(self._launch)
        self._poll = QTimer(self, interval=poll_ms)
        self._poll.timeout.connect(self._check)
        if poll_ms:
            self._poll.start()
        viewer.dims.events.current_step.connect(self._on_step)

    def set_layer(self, layer: Any) -> None:
        """Follow ``layer`` (a Labels layer or None) and count it after the debounce delay.

        Debounced like an edit, so that a burst of layer changes (opening
        several files, the viewer removing every layer as it closes) starts
        one count, or none once :meth:`close` is called.
        """
        if layer is self.layer or self.closed:
            return
        self._disconnect()
        self.layer = layer
        self._launched_checksum = None
        if layer is not None:
            for name in ("paint", "data", "set_data"):
                getattr(layer.events, name).connect(self.request)
        self.generation += 1
        self.request()

    def _disconnect(self) -> None:
        if self.layer is not None:
            for name in ("paint", "data", "set_data"):
                getattr(self.layer.events, name).disconnect(self.request)

    def close(self) -> None:
        """Stop timers, forget the layer and start no more counts (a running one still ends)."""
        if self.closed:
            return
        self.closed = True
        self._poll.stop()
        self._debounce.stop()
        self._disconnect()
        self.layer = None
        self.viewer.dims.events.current_step.disconnect(self._on_step)

    def request(self, *_args: Any) -> None:
        """Schedule a recount (restarts the debounce delay)."""
        self._debounce.start()

    def _on_step(self, *_args: Any) -> None:
        if self.layer is not None and self.layer.ndim > 2:
            self.request()

    def _check(self) -> None:
        """Poll: recount when the displayed plane changed without an event."""
        if self.layer is None or self._debounce.isActive() or is_large_layer(self.layer):
            return
        plane, _ = current_plane(self.viewer, self.layer)
        if checksum(plane) != self._launched_checksum:
            self.request()

    def _launch(self) -> None:
        self._debounce.stop()
        self.generation += 1
        generation, layer = self.generation, self.layer
        if layer is None:
            self.counted.emit(CountResult(None, None, {}, 0, generation))
            return
        if is_large_layer(layer):  # a block run's labels: its objects CSV, read off the UI thread
            job, deliver = partial(large_summary, layer), partial(self._deliver, generation, layer, None, 0)
            worker = create_worker(job, _start_thread=False)
            worker.returned.connect(deliver)
            self.workers.add(worker)
            worker.finished.connect(lambda: self.workers.discard(worker))
            worker.start()
            return
        view, z = current_plane(self.viewer, layer)
        plane = np.array(view, copy=True)
        self._launched_checksum = value = checksum(plane)
        image, spacing, unit, semantic = _layer_inputs(self.viewer, layer)
        pixels = image_plane(image, plane.shape, z)
        pixels = None if pixels is None else np.array(pixels, copy=True)
        job = partial(summarise_plane, plane, pixels, spacing, unit, semantic)
        deliver = partial(self._deliver, generation, layer, z, value)
        if plane.size < self.thread_min_pixels:
            deliver(job())
            return
        worker = create_worker(job, _start_thread=False)
        worker.returned.connect(deliver)
        self.workers.add(worker)
        worker.finished.connect(lambda: self.workers.discard(worker))
        worker.start()

    def _deliver(self, generation: int, layer: Any, z: int | None, value: int, summary: tuple) -> None:
        if generation != self.generation or layer is not self.layer:
            return  # a newer count started meanwhile: this one is stale
        table, areas = summary
        self.counted.emit(CountResult(layer, z, table, value, generation, areas))

    @property
    def busy(self) -> bool:
        """Whether a recount is scheduled or running."""
        return self._debounce.isActive() or bool(self.workers)
