"""The work a Segment run does in its thread: plain Python, no Qt.

:func:`run_jobs` is a generator, fed to ``napari.qt.threading.create_worker``:
it yields ``(fraction, message)`` pairs (overall progress of all images)
and returns a list of ``(job, Segmentation)``, or a :class:`Failure` with a
one-line message for errors the user can act on (bad model, bad image).
Cancelling (``worker.quit()``) stops it at the next yield; nothing is
returned then.

:func:`warm_up` does a run's first-call work ahead, in a worker started when
the panel opens and whenever another model is chosen.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg_core.errors import MedsegError
from medseg_core.model import SegmentationModel, load_model_file
from medseg_core.progress import Progress
from medseg_core.segment import Segmentation, segment, segment_iter

#: Share of one image's progress bar given to each stage.
_STAGE_SPAN = {"normalise": (0.0, 0.05), "network": (0.05, 0.85), "postprocess": (0.85, 1.0)}


@dataclass
class Job:
    """One image to segment: a private copy of the pixels plus layer geometry."""

    name: str
    data: np.ndarray
    axes: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    info: dict = field(default_factory=dict)


@dataclass
class Failure:
    """A run that stopped on a :class:`~medseg_core.errors.MedsegError`."""

    message: str


class ModelCache:
    """Keeps the last loaded model, reloaded when its file, the device or the backend changes.

    Attributes
    ----------
    backend : str
        Inference backend, ``"auto"``, ``"torch"`` or ``"onnx"`` (see
        :func:`medseg_core.exchange.onnx_backend.resolve_backend`; the
        Segment panel's setting).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._model: SegmentationModel | None = None
        self._lock = threading.Lock()
        self.backend = "auto"

    def get(self, path: str | os.PathLike, device: Any = "auto") -> SegmentationModel:
        """The model in ``path`` on ``device`` with :attr:`backend`, loading it only when needed."""
        from medseg_core.device import resolve_device
        from medseg_core.exchange.onnx_backend import with_backend

        path = Path(path)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        resolved = resolve_device(device)
        backend = self.backend
        key = (str(path), stamp, str(resolved), backend)
        with self._lock:
            if key != self._key or self._model is None:
                model = load_model_file(path, device=resolved)
                self._model = with_backend(model, backend, threads=inference_threads())
                self._key = key
            return self._model


def _fraction(record: Progress, state: dict) -> float:
    """Fraction of one image done, from a progress record (tracks the slice)."""
    if record.stage in ("normalise", "postprocess") and record.total > 0:
        state["z"], state["nz"] = min(record.done, record.total - 1), record.total
    low, high = _STAGE_SPAN.get(record.stage, (0.0, 1.0))
    within = low + (high - low) * record.fraction if record.stage == "network" else low
    if record.stage == "postprocess" and record.done >= record.total:
        return 1.0
    return (state.get("z", 0) + within) / max(1, state.get("nz", 1))


def inference_threads() -> int:
    """CPU threads the app gives the network: all but one core, left for the interface.

    On a busy few-core machine this also makes inference faster, as the
    interface thread no longer pre-empts the network's threads.
    """
    import torch

    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1))


def warm_up(cache: ModelCache, model_path: str | os.PathLike | None, device: Any = "auto") -> None:
    """Do a Segment run's first-call work now, in a worker thread, so the first click does none.

    - napari imports pandas when it adds the first Labels layer (~0.4 s on
      the UI thread);
    - vispy builds the line patterns of a Labels layer's outline overlay
      (``DashAtlas``) the first time one is added (~0.1 s on the UI thread);
      it caches them, so building them here keeps that out of the click;
    - the model is loaded into ``cache`` on ``device`` and run once on a
      tiny image (torch's and the post-processing's first-call set-up).

    A model that cannot be loaded or run is left alone: the Segment run
    that needs it reports why (:class:`Failure`).
    """
    import pandas  # noqa: F401
    from vispy.visuals.line.dash_atlas import DashAtlas

    DashAtlas()
    if model_path is None:
        return
    try:
        segment(np.zeros((64, 64), np.float32), cache.get(model_path, device))
    except MedsegError:
        return


def run_jobs(
    jobs: list[Job], model_path: str | os.PathLike, options: dict, cache: ModelCache, device: Any = "auto"
) -> Generator[tuple[float, str], None, list[tuple[Job, Segmentation]] | Failure]:
    """Segment every job in turn on ``device``; see the module docstring."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(inference_threads())  # OpenMP: affects this worker thread's parallel regions
    try:
        yield 0.0, "loading model"
        model = cache.get(model_path, device)
        results = []
        for index, job in enumerate(jobs):
            prefix = f"{job.name}: " if len(jobs) > 1 else ""
            gen = segment_iter(job.data, model, axes=job.axes, **options)
            state: dict = {}
            while True:
                try:
                    record = next(gen)
                except StopIteration as stop:
                    results.append((job, stop.value))
                    break
                overall = (index + _fraction(record, state)) / len(jobs)
                yield min(1.0, overall), prefix + (record.message or record.stage)
        return results
    except MedsegError as exc:
        return Failure(str(exc))
    finally:
        torch.set_num_threads(previous)
