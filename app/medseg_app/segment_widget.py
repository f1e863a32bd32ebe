"""The Segment panel: pick a model, segment the selected images off the UI thread."""

from __future__ import annotations

import napari
import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from medseg_core.errors import MedsegError
from medseg_core.semantic_summary import count_noun
from medseg_core.stain import looks_like_he

from . import _dialogs
from ._devices import backend_choices, device_choices
from ._history import apply_labels
from ._layer_state import KEY, checksum, image_axes, info, is_edited, napari_units
from ._layers import find_layer, labels_name, selected_images
from ._model_picker import ModelPicker
from ._large import LargeJob, LargeSegmentation, labels_layer_kwargs, large_jobs, run_large_jobs
from ._segment_job import Failure, Job, ModelCache, run_jobs, warm_up
from ._tooltips import tip
from ._units import shown_units

#: The model the panel suggests for H&E images.
HE_MODEL = "nuclei-he"


class SegmentWidget(QWidget):
    """Segment the selected image layer(s) with a MedSeg model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose layers are segmented (napari passes it by annotation).

    Attributes
    ----------
    warmed : str or None
        Path of the model the last warm-up (:func:`~._segment_job.warm_up`,
        run when the panel opens and when another model is chosen) finished
        with, "" when there was no model; None until the first one ends.
    """

    #: Emitted with the names of the labels layers made by a finished run.
    segmented = Signal(list)

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("medseg_segment_widget")
        self.viewer = napari_viewer
        self.worker = None
        self.warmed: str | None = None
        self._warm_worker = None
        self._warming = ("", "auto")
        self._warmed_device: str | None = None
        self._cache = ModelCache()
        self._show_progress = qthrottled(self._apply_progress, timeout=200, parent=self)

        self.models = ModelPicker(self)
        self.device_combo = QComboBox(objectName="device_combo")
        for value, text in device_choices():
            self.device_combo.addItem(text, value)
        self.device_combo.setToolTip(tip("device_combo"))
        self.backend_combo = QComboBox(objectName="backend_combo")
        for value, text in backend_choices():
            self.backend_combo.addItem(text, value)
        self.backend_combo.setToolTip(tip("backend_combo"))
        self.tile_spin = self._spin("tile_spin", 128, 4096, 512, step=64, suffix=" px")
        self.min_size_spin = self._spin("min_size_spin", -1, 1_000_000, -1, suffix=" px")
        self.min_size_spin.setSpecialValueText("model default")
        self.threshold_spin = QDoubleSpinBox(objectName="threshold_spin", decimals=2, singleStep=0.05)
        self.threshold_spin.setRange(0.0, 0.99)
        self.threshold_spin.setSpecialValueText("model default")
        self.threshold_spin.setToolTip(tip("threshold_spin"))

        self.target_label = QLabel(objectName="target_label", wordWrap=True)
        self.segment_button = QPushButton("Segment", objectName="segment_button")
        self.cancel_button = QPushButton("Cancel", objectName="cancel_button", enabled=False)
        self.progress_bar = QProgressBar(objectName="progress_bar", maximum=1000, textVisible=False)
        self.status_label = QLabel(objectName="segment_status_label")
        # progress text changes many times a second: a fixed-size label never relayouts the window
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        for widget in (self.segment_button, self.cancel_button, self.progress_bar):
            widget.setToolTip(tip(widget.objectName()))

        form = QFormLayout()
        form.addRow("Model", self.models)
        form.addRow("Device", self.device_combo)
        form.addRow("Backend", self.backend_combo)
        form.addRow("Tile size", self.tile_spin)
        form.addRow("Min. object size", self.min_size_spin)
        form.addRow("Threshold", self.threshold_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.segment_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.target_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)

        self.segment_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.models.changed.connect(self._on_model)
        self.device_combo.currentIndexChanged.connect(lambda *_: self._warm_up())
        self.backend_combo.currentIndexChanged.connect(self._on_backend)
        self.viewer.layers.selection.events.changed.connect(self._update_target)
        self.viewer.layers.events.inserted.connect(self._update_target)
        self.viewer.layers.events.removed.connect(self._update_target)
        self._on_model()
        self._update_target()

    def _spin(self, name: str, low: int, high: int, value: int, *, step: int = 1, suffix: str = "") -> QSpinBox:
        spin = QSpinBox(objectName=name, minimum=low, maximum=high, singleStep=step, suffix=suffix)
        spin.setValue(value)
        spin.setToolTip(tip(name))
        return spin

    # ----------------------------------------------------------------- state
    def _on_model(self, *_args) -> None:
        model = self.models.current_info()
        defaults = getattr(model, "postprocess", {}) or {}
        self.min_size_spin.setToolTip(f"{tip('min_size_spin')} (model default: {defaults.get('min_size', 0)} px)")
        self.threshold_spin.setToolTip(f"{tip('threshold_spin')} (model default: {defaults.get('threshold', 0.5)})")
        self._update_target()
        self._warm_up()

    def device(self) -> str:
        """The chosen device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``."""
        return self.device_combo.currentData() or "auto"

    def select_device(self, device: str) -> bool:
        """Choose a device by value; False (choice unchanged) when it is not offered here."""
        index = self.device_combo.findData(device)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        return index >= 0

    def backend(self) -> str:
        """The chosen inference backend: ``"auto"``, ``"torch"`` or ``"onnx"``."""
        return self.backend_combo.currentData() or "auto"

    def select_backend(self, backend: str) -> bool:
        """Choose a backend by value; False (choice unchanged) when it is not offered here."""
        index = self.backend_combo.findData(backend)
        if index >= 0:
            self.backend_combo.setCurrentIndex(index)
        return index >= 0

    def _on_backend(self, *_args) -> None:
        """Runs after this use the chosen backend; the model is loaded (and warmed) again with it."""
        self._cache.backend = self.backend()
        self.warmed = None
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the chosen model and do the first-call work in a worker, one warm-up at a time."""
        path = self.models.current_path() or ""
        if self._warm_worker is not None or (path, self.device()) == (self.warmed, self._warmed_device):
            return
        self._warming = path, self.device()
        self._warm_worker = create_worker(warm_up, self._cache, path or None, self.device(), _start_thread=False)
        self._warm_worker.finished.connect(self._on_warmed)  # a bound slot: never called once the panel is deleted
        self._warm_worker.start()

    def _on_warmed(self) -> None:
        self._warm_worker = None
        self.warmed, self._warmed_device = self._warming
        self._warm_up()  # another model may have been chosen meanwhile

    def _update_target(self, *_args) -> None:
        images = selected_images(self.viewer)
        if images:
            text = "Image: " + ", ".join(layer.name for layer in images) + self._he_hint(images)
        else:
            text = "Select an image layer to segment."
        self.target_label.setText(text)
        idle = self.worker is None
        self.segment_button.setEnabled(idle and bool(images) and self.models.current_path() is not None)

    def _he_hint(self, images: list) -> str:
        """A suggestion (never a switch) to use nuclei-he on an image that looks like H&E."""
        info = self.models.current_info()
        if HE_MODEL not in self.models.names() or (info is not None and info.name == HE_MODEL):
            return ""
        if not any(layer.rgb and looks_like_he(np.asarray(layer.data)) for layer in images):
            return ""
        return f"\nThis looks like H&E-stained tissue: the '{HE_MODEL}' model is trained for it (non-commercial use only)."

    def options(self) -> dict:
        """Keyword options for :func:`medseg_core.segment_iter` from the controls."""
        opts: dict = {"tile": self.tile_spin.value(), "overlap": min(64, self.tile_spin.value() // 4)}
        if self.min_size_spin.value() >= 0:
            opts["min_size"] = self.min_size_spin.value()
        if self.threshold_spin.value() > 0:
            opts["threshold"] = self.threshold_spin.value()
        return opts

    @property
    def running(self) -> bool:
        """Whether a segmentation is in progress."""
        return self.worker is not None

    # ------------------------------------------------------------------- run
    def _jobs(self) -> list[Job]:
        jobs = []
        for layer in selected_images(self.viewer):
            axes = image_axes(layer)
            if not axes:
                show_error(f"Cannot segment '{layer.name}': {np.ndim(layer.data)}-D images are not supported")
                continue
            data = np.array(layer.data, copy=True)  # a private copy: never the layer
            spatial = len(axes.replace("C", ""))
            jobs.append(
                Job(
                    name=layer.name,
                    data=data,
                    axes=axes,
                    scale=tuple(layer.scale[-spatial:]),
                    translate=tuple(layer.translate[-spatial:]),
                    info=dict(info(layer)),
                )
            )
        return jobs

    def run(self) -> None:
        """Segment the selected image layers in a thread worker."""
        if self.running:
            return
        path = self.models.current_path()
        if path is None:
            show_error("No model available: add a model file to the user models folder")
            return
        large = large_jobs(selected_images(self.viewer))  # segmented in blocks from their files
        jobs = large or self._jobs()
        if not jobs:
            show_info("Select an image layer to segment")
            return
        edited = [
            layer.name
            for job in jobs
            if (layer := find_layer(self.viewer, labels_name(job.name), Labels)) is not None and is_edited(layer)
        ]
        if edited and not _dialogs.ask_overwrite(self, edited):
            return
        self.worker = create_worker(
            run_large_jobs if large else run_jobs, jobs, path, self.options(), self._cache, device=self.device(),
            _start_thread=False,
        )
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_returned)
        self.worker.finished.connect(self._on_finished)
        self.segment_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.status_label.setText("starting")
        self.worker.start()

    def cancel(self) -> None:
        """Ask the running worker to stop; nothing is added."""
        if self.worker is not None:
            self.status_label.setText("cancelling…")
            self.cancel_button.setEnabled(False)
            self.worker.quit()

    def shutdown(self) -> None:
        """Cancel a running segmentation (the window is closing)."""
        self.cancel()

    def _on_progress(self, value: tuple[float, str]) -> None:
        self._show_progress(value)  # throttled: each repaint of the window costs a frame

    def _apply_progress(self, value: tuple[float, str]) -> None:
        if self.worker is None:
            return
        fraction, message = value
        self.progress_bar.setValue(int(round(fraction * 1000)))
        self.status_label.setText(message)

    def _on_finished(self) -> None:
        self._show_progress.cancel()
        aborted = self.worker is not None and self.worker.abort_requested
        self.worker = None
        self.cancel_button.setEnabled(False)
        self.progress_bar.setValue(0)
        if aborted:
            self.status_label.setText("cancelled")
        self._update_target()

    def _on_returned(self, result) -> None:
        if isinstance(result, Failure):
            self.status_label.setText("failed")
            show_error(result.message)
            return
        names, counts = [], []
        for job, segmentation in result:
            large = isinstance(job, LargeJob)
            layer = self._add_large_result(job, segmentation) if large else self._add_result(job, segmentation)
            names.append(layer.name)
            counts.append(f"{layer.name}: {segmentation.count} {count_noun(segmentation.task, segmentation.encloses)}")
        self.status_label.setText("; ".join(counts))
        if names:
            self.viewer.layers.selection.active = find_layer(self.viewer, names[-1], Labels)
        self.segmented.emit(names)

    def _add_large_result(self, job: LargeJob, segmentation: LargeSegmentation) -> Labels:
        """A multiscale Labels layer over the block run's OME-Zarr store (replacing an older one)."""
        levels, kwargs = labels_layer_kwargs(job, segmentation)
        old = find_layer(self.viewer, kwargs["name"], Labels)
        if old is not None:
            self.viewer.layers.remove(old)
        if segmentation.failed:
            show_error(f"{job.name}: {len(segmentation.failed)} blocks failed; Segment again to retry them")
        return self.viewer.add_labels(levels, **kwargs)

    def _add_result(self, job: Job, segmentation) -> Labels:
        name = labels_name(job.name)
        meta = {
            "image": job.name,
            "source": job.info.get("source"),
            "spacing": job.info.get("spacing"),
            "unit": job.info.get("unit", "px"),
            "task": segmentation.task,
            "classes": list(segmentation.classes),
            "encloses": segmentation.encloses,
            "model": segmentation.model_name,
            "baseline": checksum(segmentation.labels),
        }
        layer = find_layer(self.viewer, name, Labels)
        if layer is not None and np.shape(layer.data) == segmentation.labels.shape:
            try:  # one undoable step, so Ctrl+Z brings the edits back
                apply_labels(layer, segmentation.labels)
            except MedsegError:
                layer.data = segmentation.labels
            info(layer).update(meta)
            return layer
        if layer is not None:
            self.viewer.layers.remove(layer)
        kwargs = {"name": name, "scale": job.scale, "translate": job.translate, "metadata": {KEY: meta}}
        image = find_layer(self.viewer, job.name, Image)  # the result shows the units its image shows
        ndim = segmentation.labels.ndim
        units = shown_units(image, ndim) if image is not None else napari_units(meta["unit"], ndim)
        if units:
            kwargs["units"] = units
        return self.viewer.add_labels(segmentation.labels, **kwargs)
