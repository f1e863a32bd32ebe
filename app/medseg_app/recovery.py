"""Never lose work: autosave edited labels, offer them back, guard quitting.

Edited labels layers are written (after ``idle_ms`` without further
changes) to ``user_data_dir()/recovery/<key>.tif`` with a JSON sidecar
(source image, layer name, time). ``<key>`` is a hash of the image's
source path, or of the layer name when the image has no file. Opening an
image whose recovery file is newer than the image file offers to restore
it (:func:`medseg_app._dialogs.ask_restore`). An explicit save clears the
recovery copy (:func:`clear`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, QTimer

from medseg_core.atomic import atomic_write_text
from medseg_core.errors import MedsegError
from medseg_core.registry import user_data_dir

from . import _dialogs
from ._large import is_large_layer
from ._layer_state import ALWAYS_EDITED, KEY, checksum, info, is_edited, set_baseline, source_path
from ._layers import image_of, labels_name
from ._units import shown_units

DEFAULT_IDLE_MS = 10_000


def recovery_dir() -> Path:
    """Folder of the recovery files."""
    path = user_data_dir() / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


def key_for(source: str | None, name: str) -> str:
    """Recovery key: hash of the resolved source path, else of the image layer name."""
    text = f"file:{Path(source).resolve()}" if source else f"layer:{name}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _labels_key(layer: Labels, viewer: Any = None) -> str:
    meta = info(layer)
    image = image_of(viewer, layer) if viewer is not None else None
    source = meta.get("source") or (source_path(image) if image is not None else None)
    name = meta.get("image") or (image.name if image is not None else layer.name)
    return key_for(source, name)


def _paths(key: str) -> tuple[Path, Path]:
    folder = recovery_dir()
    return folder / f"{key}.tif", folder / f"{key}.json"


def write_recovery(key: str, labels: np.ndarray, record: dict) -> Path:
    """Write labels and sidecar for ``key`` (both atomically)."""
    from medseg_core.io import write_labels

    tif, sidecar = _paths(key)
    write_labels(tif, labels)
    atomic_write_text(sidecar, json.dumps(record, indent=1))
    return tif


def find(source: str | None, name: str) -> dict | None:
    """The recovery record for an image, or None (also None when the image file is newer)."""
    tif, sidecar = _paths(key_for(source, name))
    if not (tif.is_file() and sidecar.is_file()):
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if source and os.path.exists(source) and os.path.getmtime(source) >= record.get("timestamp", 0):
        return None
    record["path"] = str(tif)
    return record


def clear(layer: Labels, viewer: Any = None) -> None:
    """Delete the recovery copy of a labels layer (after an explicit save)."""
    for path in _paths(_labels_key(layer, viewer)):
        path.unlink(missing_ok=True)


def clear_key(key: str) -> None:
    """Delete the recovery files of ``key``."""
    for path in _paths(key):
        path.unlink(missing_ok=True)


class RecoveryManager(QObject):
    """Autosaves edited labels layers of a viewer and offers restores.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer to watch.
    parent : QObject, optional
        Qt parent (the main window).
    idle_ms : int
        Autosave after this long without changes.
    """

    def __init__(self, viewer: Any, parent: QObject | None = None, idle_ms: int = DEFAULT_IDLE_MS) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.saved: dict[int, int] = {}  # id(layer) -> checksum autosaved
        self.workers: set = set()
        self._timer = QTimer(self, singleShot=True, interval=idle_ms)
        self._timer.timeout.connect(self.autosave)
        viewer.layers.events.inserted.connect(self._on_inserted)
        for layer in list(viewer.layers):
            self._watch(layer)

    def close(self) -> None:
        """Stop autosaving and stop watching the viewer."""
        self._timer.stop()
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)

    def _on_inserted(self, event: Any) -> None:
        self._watch(event.value)
        if isinstance(event.value, Image):
            image = event.value  # ask once the layer list has settled
            QTimer.singleShot(0, lambda: self.offer_restore(image) if image in self.viewer.layers else None)

    def _watch(self, layer: Any) -> None:
        if not isinstance(layer, Labels):
            return
        if "baseline" not in info(layer):
            set_baseline(layer, saved=True)  # opened or created outside MedSeg: current state is on disk/empty
        for name in ("paint", "data", "set_data"):
            getattr(layer.events, name).connect(self.changed)

    def changed(self, *_args: Any) -> None:
        """Note a change: (re)start the idle timer."""
        self._timer.start()

    def autosave(self) -> list[str]:
        """Write every edited labels layer not yet autosaved in its current state."""
        written = []
        for layer in [layer for layer in self.viewer.layers if isinstance(layer, Labels)]:
            if is_large_layer(layer):  # on disk already (an OME-Zarr store); never loaded whole
                continue
            data = np.asarray(layer.data)
            value = checksum(data)
            if self.saved.get(id(layer)) == value or not is_edited(layer):
                continue
            meta = info(layer)
            image = image_of(self.viewer, layer)
            record = {
                "source": meta.get("source") or (source_path(image) if image is not None else None),
                "image": meta.get("image") or (image.name if image is not None else layer.name),
                "layer": layer.name,
                "time": datetime.now().isoformat(timespec="seconds"),
                "timestamp": time.time(),
                "meta": {k: v for k, v in meta.items() if k in ("spacing", "unit", "task", "classes", "encloses", "model")},
            }
            key = key_for(record["source"], record["image"])
            worker = create_worker(write_recovery, key, data.copy(), record, _start_thread=False)
            worker.returned.connect(lambda _p, lid=id(layer), v=value: self.saved.__setitem__(lid, v))
            self.workers.add(worker)
            worker.finished.connect(lambda w=worker: self.workers.discard(w))
            worker.start()
            written.append(layer.name)
        return written

    def offer_restore(self, image: Image) -> Labels | None:
        """If autosaved labels exist for ``image``, ask and restore them as a labels layer."""
        record = find(source_path(image), image.name)
        if record is None:
            return None
        if not _dialogs.ask_restore(None, image.name, record.get("time", "an earlier session")):
            clear_key(key_for(source_path(image), image.name))
            return None
        from medseg_core.io import read_labels

        try:
            data = read_labels(record["path"])
        except MedsegError as exc:
            show_error(f"Could not restore the labels of '{image.name}': {exc}")
            return None
        if data.shape != tuple(np.shape(image.data)[: data.ndim]):
            show_error(f"The autosaved labels of '{image.name}' do not fit the image ({data.shape})")
            return None
        meta = dict(record.get("meta") or {})
        meta.update({"image": image.name, "source": source_path(image), "restored": record.get("time")})
        meta["baseline"] = ALWAYS_EDITED  # restored work counts as unsaved edits
        spatial = data.ndim
        kwargs = {"name": record.get("layer") or labels_name(image.name), "metadata": {KEY: meta}}
        kwargs["scale"] = tuple(image.scale[-spatial:])
        kwargs["translate"] = tuple(image.translate[-spatial:])
        kwargs["units"] = shown_units(image, spatial)
        layer = self.viewer.add_labels(data, **kwargs)
        show_info(f"Restored the labels of '{image.name}' from {record.get('time')}")
        return layer

    def wait(self, timeout_ms: int = 5000) -> None:
        """Block until pending autosaves are written (for tests and quitting)."""
        from qtpy.QtCore import QCoreApplication

        deadline = time.monotonic() + timeout_ms / 1000
        while self.workers and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
