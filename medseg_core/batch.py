"""Whole-folder operations behind the CLI: segment many files, evaluate a model.

These are plain functions so that scripts can use them without the CLI.
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .errors import MedsegError
from .io import is_supported, read_image, read_labels, write_labels
from .measure import measure, measurements_to_csv
from .metrics import ObjectMetricAccumulator, PixelMetricAccumulator
from .model import SegmentationModel
from .segment import segment
from .training.data import apply_class_map, file_stem, pair_files
from .training.validate import summarize


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to segment: files as given, folders expanded to their images.

    A folder that is itself a DICOM series (MedSeg can read it as one image)
    stays one input; other folders give their supported files, sorted.
    Missing paths are kept so that the caller reports them.
    """
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and not is_supported(path):
            paths += sorted(p for p in path.iterdir() if p.is_file() and is_supported(p))
        else:
            paths.append(path)
    return paths


@dataclass
class FileOutcome:
    """What happened to one input of :func:`segment_files`."""

    path: Path
    count: int | None = None
    error: str | None = None
    outputs: list[Path] = field(default_factory=list)


def segment_files(
    paths: Iterable[Path],
    model: SegmentationModel,
    out_dir: str | os.PathLike,
    report: Callable[[FileOutcome], None] | None = None,
    **options,
) -> list[FileOutcome]:
    """Segment each file; write labels, per-object CSVs and ``counts.csv``.

    A file that fails is recorded with its error message and skipped.

    Parameters
    ----------
    paths : iterable of Path
        Input files (see :func:`expand_inputs`).
    model : SegmentationModel
        The model.
    out_dir : path-like
        Gets ``<stem>_labels.tif``, ``<stem>_objects.csv`` and ``counts.csv``.
    report : callable, optional
        Called with each :class:`FileOutcome` as soon as it is known.
    **options
        Passed to :func:`~medseg_core.segment`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for path in paths:
        outcome = FileOutcome(path)
        try:
            data = read_image(path)
            result = segment(data.array, model, axes=data.meta.axes, **options)
            stem = file_stem(path)
            labels_path = write_labels(
                out_dir / f"{stem}_labels.tif", result.labels, data.meta.spacing, unit=data.meta.unit
            )
            objects_path = out_dir / f"{stem}_objects.csv"
            atomic_write_text(objects_path, _objects_csv(result.labels, data, path.name))
            outcome.count = result.count
            outcome.outputs = [labels_path, objects_path]
        except MedsegError as exc:
            outcome.error = str(exc)
        except MemoryError:
            outcome.error = f"{path.name}: not enough memory to segment this image"
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    rows = "".join(f"{o.path.name},{o.count}\n" for o in outcomes if o.error is None)
    atomic_write_text(out_dir / "counts.csv", "file,count\n" + rows)
    return outcomes


def _objects_csv(labels: np.ndarray, data, name: str) -> str:
    """Measurements of every object, one CSV (slices get a ``z`` column)."""
    image = data.array
    spacing = data.meta.spacing
    unit = data.meta.unit if spacing else "px"
    if labels.ndim == 2:
        return measurements_to_csv(measure(labels, image, spacing, unit), {"image": name})
    parts = []
    for z in range(labels.shape[0]):
        table = measure(labels[z], image[z], spacing[-2:] if spacing else None, unit)
        text = measurements_to_csv(table, {"image": name, "z": str(z)})
        parts.append(text if z == 0 else text.split("\n", 1)[1])
    return "".join(parts)


def parse_class_map(text: str | None) -> dict[int, int] | None:
    """Parse ``"0:1,255:0"`` into ``{0: 1, 255: 0}``."""
    if not text:
        return None
    try:
        return {int(k): int(v) for k, v in (item.split(":") for item in text.split(","))}
    except ValueError:
        raise MedsegError(f"class map '{text}' is not of the form 'value:class,value:class'") from None


def evaluate_folders(
    model: SegmentationModel,
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    class_map: Mapping[int, int] | None = None,
    names: Iterable[str] | None = None,
    report: Callable[[str, int, int], None] | None = None,
    **options,
) -> dict:
    """Segment every image that has a mask and score the result.

    Parameters
    ----------
    model : SegmentationModel
        Model to evaluate.
    images_dir, masks_dir : path-like
        Pairs are matched by file stem.
    class_map : mapping, optional
        Semantic models: stored mask value -> class index.
    names : iterable of str, optional
        Only these stems.
    report : callable, optional
        ``report(name, index, total)`` after each image.

    Returns
    -------
    dict
        ``{"model", "n_images", "pixel": {accuracy, precision, recall, f1,
        iou}, "per_class_dice": {...}}`` (semantic) or ``"objects":
        {"0.5": {ap, f1, precision, recall}, "0.75": ..., "0.9": ...,
        "map_50_95": ...}`` (instance).
    """
    pairs = pair_files(images_dir, masks_dir)
    if names is not None:
        wanted = set(names)
        pairs = [p for p in pairs if file_stem(p[0]) in wanted]
    if not pairs:
        raise MedsegError(f"none of the requested images has a mask in {masks_dir}")
    info = model.info
    instance = info.task == "instance"
    pixels = PixelMetricAccumulator(2 if instance else len(info.classes))
    objects = ObjectMetricAccumulator() if instance else None
    for i, (image_path, mask_path) in enumerate(pairs):
        data = read_image(image_path)
        truth = read_labels(mask_path)
        if class_map:
            truth = apply_class_map(truth, class_map, mask_path.name)
        pred = segment(data.array, model, axes=data.meta.axes, **options).labels
        if pred.shape != truth.shape:
            raise MedsegError(f"{mask_path.name}: mask {truth.shape} and image {pred.shape} differ in size")
        if instance:
            pixels.add(pred > 0, truth > 0)
            objects.add(pred, truth)
        else:
            pixels.add(pred, truth)
        if report is not None:
            report(file_stem(image_path), i + 1, len(pairs))
    pixel = pixels.result()
    flat = summarize(pixel, objects.result() if objects else None, info.classes)
    result = {
        "model": info.name,
        "n_images": len(pairs),
        "pixel": {k: flat[k] for k in ("accuracy", "precision", "recall", "f1", "iou")},
    }
    if instance:
        obj = objects.result()
        result["objects"] = {
            str(t): {k: float(obj["thresholds"][t][k]) for k in ("ap", "f1", "precision", "recall")}
            for t in (0.5, 0.75, 0.9)
        }
        result["objects"]["map_50_95"] = float(obj["map_50_95"])
    else:
        result["per_class_dice"] = {name: float(pixel["per_class"][c]["f1"]) for c, name in enumerate(info.classes)}
        result["pixel_error"] = 1.0 - float(pixel["accuracy"])
    return result


def format_table(result: dict) -> str:
    """Plain-text table of an :func:`evaluate_folders` result."""
    out = _io.StringIO()
    out.write(f"model {result['model']} on {result['n_images']} images\n")
    out.write("pixel    " + "  ".join(f"{k} {v:.4f}" for k, v in result["pixel"].items()) + "\n")
    if "objects" in result:
        for t, m in result["objects"].items():
            if t == "map_50_95":
                out.write(f"objects  mean AP@0.5:0.95 {m:.4f}\n")
            else:
                out.write(f"objects  IoU {t:<4} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()) + "\n")
    else:
        out.write("dice     " + "  ".join(f"{k} {v:.4f}" for k, v in result["per_class_dice"].items()) + "\n")
        out.write(f"pixel error {result['pixel_error']:.4f}\n")
    return out.getvalue()
