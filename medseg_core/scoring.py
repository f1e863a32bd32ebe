"""One scoring path for every number MedSeg reports about a model.

:func:`score_iter` segments each annotated image exactly as
:func:`~medseg_core.segment.segment` does (same normalisation, input scale,
tiling, post-processing, at the image's own resolution) and compares the
labels with the reference. Validation during training, the metrics stored in
a model file, ``medseg evaluate``, the model cards and the fine-tuning
reports all come from here, so they agree to the last digit.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .metrics import ObjectMetricAccumulator, PixelMetricAccumulator
from .model import ModelInfo, SegmentationModel
from .progress import Progress
from .segment import segment_iter

#: IoU thresholds whose AP, F1, precision and recall are reported in full.
REPORTED_IOUS = (0.5, 0.75, 0.9)


@dataclass
class Sample:
    """An image with its reference labels.

    Attributes
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` image as read from disk.
    truth : ndarray
        ``(H, W)`` instance labels (instance models) or class indices
        (semantic models, after any class map).
    name : str
        Shown in progress messages.
    axes : str, optional
        Axes of ``image``; a sample is one plane, so when omitted ``"YX"``
        for a 2-D image and ``"YXC"`` (channels last) otherwise.
    """

    image: np.ndarray
    truth: np.ndarray
    name: str = ""
    axes: str | None = None

    def __post_init__(self) -> None:
        if not self.axes:
            self.axes = "YX" if np.ndim(self.image) == 2 else "YXC"


@dataclass
class Scores:
    """Accumulated comparison of predicted and reference labels of one model.

    Use :meth:`add` per image, then :meth:`metrics` (flat names, as stored in
    model files and shown in training plots) or :meth:`report` (the nested
    form ``medseg evaluate`` prints and writes).
    """

    info: ModelInfo
    n_images: int = 0
    counts: list[tuple[str, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        instance = self.info.task == "instance"
        self._pixels = PixelMetricAccumulator(2 if instance else len(self.info.classes))
        self._objects = ObjectMetricAccumulator() if instance else None

    def add(self, pred: np.ndarray, truth: np.ndarray, name: str = "") -> None:
        """Add one image's predicted and reference labels (same shape)."""
        if pred.shape != truth.shape:
            raise InputError(f"{name or 'image'}: reference {truth.shape} and prediction {pred.shape} differ in size")
        if self._objects is not None:
            self._pixels.add(pred > 0, truth > 0)
            self._objects.add(pred, truth)
            self.counts.append((name, _n_labels(truth), _n_labels(pred)))
        else:
            self._pixels.add(pred, truth)
        self.n_images += 1

    def metrics(self) -> dict[str, float]:
        """Flat metrics: ``accuracy``, ``precision``, ``recall``, ``f1``, ``iou``, then
        ``ap50`` and ``map`` (mean AP over IoU 0.5:0.95) for instance models or
        ``dice_<class>`` for semantic ones.

        Pixel scores are foreground vs background for instance models and the
        mean over the foreground classes for semantic ones.
        """
        pixel = self._pixels.result()
        classes = self.info.classes
        if self._objects is None and len(classes) > 2:
            fg = [pixel["per_class"][c] for c in range(1, len(classes))]
            flat = {k: float(np.mean([m[k] for m in fg])) for k in ("precision", "recall", "f1", "iou")}
        else:
            flat = {k: float(pixel[k]) for k in ("precision", "recall", "f1", "iou")}
        flat["accuracy"] = float(pixel["accuracy"])
        if self._objects is not None:
            objects = self._objects.result()
            flat["ap50"] = float(objects["thresholds"][0.5]["ap"])
            flat["map"] = float(objects["map_50_95"])
        else:
            for c, name in enumerate(classes):
                flat[f"dice_{name}"] = float(pixel["per_class"][c]["f1"])
        return flat

    def report(self) -> dict:
        """The nested form ``medseg evaluate`` prints.

        ``{"model", "n_images", "pixel": {...}}`` plus, for instance models,
        ``"objects"`` (AP, F1, precision, recall at IoU 0.5, 0.75, 0.9 and
        ``map_50_95``), ``"aji"`` and ``"pq"`` (per-image means, see
        :class:`~medseg_core.metrics.ObjectMetricAccumulator`) and
        ``"count_error"``; for semantic models ``"per_class_dice"`` and
        ``"pixel_error"``.
        """
        flat = self.metrics()
        result = {
            "model": self.info.name,
            "n_images": self.n_images,
            "pixel": {k: flat[k] for k in ("accuracy", "precision", "recall", "f1", "iou")},
        }
        if self._objects is not None:
            objects = self._objects.result()
            result["objects"] = {
                str(t): {k: float(objects["thresholds"][t][k]) for k in ("ap", "f1", "precision", "recall")}
                for t in REPORTED_IOUS
            }
            result["objects"]["map_50_95"] = float(objects["map_50_95"])
            result["aji"] = float(objects["aji"])
            result["pq"] = float(objects["pq"])
            errors = [abs(pred - true) for _, true, pred in self.counts]
            result["count_error"] = {
                "mean_absolute": float(np.mean(errors)) if errors else 0.0,
                "per_image": {name: {"true": true, "predicted": pred} for name, true, pred in self.counts},
            }
        else:
            pixel = self._pixels.result()
            result["per_class_dice"] = {
                name: float(pixel["per_class"][c]["f1"]) for c, name in enumerate(self.info.classes)
            }
            result["pixel_error"] = 1.0 - flat["accuracy"]
        return result


def score_iter(
    model: SegmentationModel,
    samples: Sequence[Sample],
    *,
    should_stop: Callable[[], bool] | None = None,
    **options,
) -> Generator[Progress, None, Scores | None]:
    """Segment every sample and score it; yield progress; return the :class:`Scores`.

    Parameters
    ----------
    model : SegmentationModel
        The model, used as :func:`~medseg_core.segment.segment` uses it.
    samples : sequence of Sample
        Annotated images.
    should_stop : callable, optional
        Polled between steps of each image; when it returns True scoring is
        abandoned and None is returned.
    **options
        Post-processing and tiling options of
        :func:`~medseg_core.segment.segment_iter` (default: the model's).
    """
    scores = Scores(model.info)
    for i, sample in enumerate(samples):
        label = sample.name or f"image {i + 1}"
        gen = segment_iter(sample.image, model, axes=sample.axes, **options)
        try:
            while True:
                if should_stop is not None and should_stop():
                    gen.close()
                    return None
                record = next(gen)
                yield Progress("score", i, len(samples), f"scoring {label} ({i + 1}/{len(samples)}): {record.message}")
        except StopIteration as stop:
            scores.add(stop.value.labels, sample.truth, sample.name)
    yield Progress("score", len(samples), len(samples), f"scored {len(samples)} images")
    return scores


def _n_labels(labels: np.ndarray) -> int:
    values = np.unique(labels)
    return int(len(values) - (1 if values.size and values[0] == 0 else 0))
