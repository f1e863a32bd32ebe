"""Whole-folder operations behind the CLI: segment many files, evaluate a model.

These are plain functions so that scripts can use them without the CLI.
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .batch_run import BatchRun, FileOutcome
from .errors import MedsegError, MedsegIOError
from .io import is_supported, read_image, write_labels
from .io.errors import WriteFailed, describe, library_errors, one_line
from .measure import measure, measure_semantic, measurements_to_csv
from .model import SegmentationModel
from .normalize import select_channel
from .outputs import OutputPaths, display_path, is_output_name
from .progress import Progress, drain
from .reference import ReferenceSamples
from .scoring import score_iter
from .segment import Segmentation, segment
from .semantic_summary import class_areas
from .training.data import file_stem, pair_files


def expand_inputs(
    inputs: Iterable[str | os.PathLike], on_error: Callable[[Path, str], None] | None = None
) -> list[Path]:
    """Files to segment: files as given, folders expanded to their images.

    A folder that is itself a DICOM series (MedSeg can read it as one image)
    stays one input; other folders give their supported files, sorted,
    except hidden files and MedSeg's own label images (``*_labels.tif``), so
    that an output folder given as input is not segmented again. Files named
    one by one are always kept, and missing paths too, so that the caller
    reports them. A path given twice counts once.

    Parameters
    ----------
    inputs : iterable of path-like
        Files and folders.
    on_error : callable, optional
        ``on_error(folder, message)`` for a folder that cannot be listed;
        the other inputs are still expanded. Without it such a folder raises.

    Raises
    ------
    MedsegIOError
        A folder cannot be listed and there is no ``on_error``.
    """
    paths: list[Path] = []
    seen: set[str] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir() and not is_supported(path):
            try:
                found = sorted(p for p in path.iterdir() if _is_image_to_segment(p))
            except OSError as exc:
                message = one_line(f'Cannot read "{display_path(path)}": {exc.strerror or describe(exc)}')
                if on_error is None:
                    raise MedsegIOError(message) from None
                on_error(path, message)
                continue
        else:
            found = [path]
        for p in found:
            key = os.path.normcase(os.path.abspath(p))
            if key not in seen:
                seen.add(key)
                paths.append(p)
    return paths


def _is_image_to_segment(path: Path) -> bool:
    return not path.name.startswith(".") and not is_output_name(path) and path.is_file() and is_supported(path)


def segment_files(
    paths: Sequence[Path],
    model: SegmentationModel,
    out_dir: str | os.PathLike,
    report: Callable[[FileOutcome], None] | None = None,
    progress: Callable[[Path, Progress], None] | None = None,
    *,
    channel: int | None = None,
    **options,
) -> list[FileOutcome]:
    """Segment each file; write labels, per-object CSVs and ``counts.csv``.

    The output folder is checked before the first image. A file that fails
    (unreadable, unwritable results, full disk) is recorded with a one-line
    error and the next one is processed; ``counts.csv`` always gets the
    files that succeeded, also when the run is interrupted.

    Parameters
    ----------
    paths : sequence of Path
        Input files (see :func:`expand_inputs`).
    model : SegmentationModel
        The model.
    out_dir : path-like
        Gets ``<stem>_labels.tif`` and ``<stem>_objects.csv`` per input, in
        the input's subfolder and under a distinct name
        (:func:`~medseg_core.outputs.plan_outputs`), and the rows of this
        run appended to ``counts.csv`` (:mod:`medseg_core.counts`).
    report : callable, optional
        Called with each :class:`FileOutcome` as soon as it is known.
    progress : callable, optional
        ``progress(path, record)`` with every :class:`~medseg_core.Progress`
        record of the engine (tiles done, slices...).
    channel : int, optional
        Channel to segment (see :func:`~medseg_core.normalize.select_channel`).
    **options
        Passed to :func:`~medseg_core.segment`.

    Raises
    ------
    MedsegIOError
        The output folder cannot be written, holds a ``counts.csv`` that is
        not MedSeg's, or ``counts.csv`` could not be written at the end.
    """
    outcomes = []
    with BatchRun(paths, out_dir, model.info.name) as run:
        for i, (path, plan) in enumerate(zip(paths, run.plans)):
            on_progress = None if progress is None else partial(progress, path)
            outcome = _segment_file(path, plan, model, on_progress, channel, options)
            outcomes.append(outcome)
            run.add(i, outcome)
            if report is not None:
                report(outcome)
    return outcomes


def _segment_file(
    path: Path,
    plan: OutputPaths,
    model: SegmentationModel,
    progress: Callable[[Progress], None] | None,
    channel: int | None,
    options: dict,
) -> FileOutcome:
    """Segment one file and write its results; errors end up in the outcome."""
    outcome = FileOutcome(path)
    try:
        data = read_image(path)
        image, axes = select_channel(data.array, data.meta.axes, model.info.in_channels, channel)
        result = segment(image, model, axes=axes, progress=progress, **options)
        write_labels(plan.labels, result.labels, data.meta.spacing, unit=data.meta.unit)
        tables = {plan.objects: _objects_csv(result, data, display_path(path.name))}
        if result.task == "semantic":
            tables[plan.classes] = _classes_csv(result, data, display_path(path.name))
        for target, text in tables.items():
            with library_errors(target, "writing failed", WriteFailed, action="write"):
                atomic_write_text(target, text)
        outcome.count, outcome.counted = result.count, result.counted
        outcome.outputs = [plan.labels, *tables]
    except MedsegError as exc:
        outcome.error = str(exc)
    except OSError as exc:
        outcome.error = one_line(f'Cannot process "{display_path(path)}": {describe(exc)}')
    except MemoryError:
        outcome.error = f"{display_path(path.name)}: not enough memory to segment this image"
    return outcome


def _objects_csv(result: Segmentation, data, name: str) -> str:
    """Measurements of every object, one CSV (slices get a ``z`` column).

    The objects of a semantic model are its cells or class regions
    (:func:`~medseg_core.measure.measure_semantic`), with a ``class`` column.
    """
    spacing = data.meta.spacing
    unit = data.meta.unit if spacing else "px"

    def table(z: int, labels: np.ndarray, image: np.ndarray) -> dict[str, np.ndarray]:
        if result.task == "semantic":
            objects = result.objects[z] if result.objects else None
            return measure_semantic(labels, result.classes, result.encloses, image, spacing, unit, objects)
        return measure(labels, image, spacing, unit)

    return _per_plane_csv(result.labels, data.array, name, table)


def _classes_csv(result: Segmentation, data, name: str) -> str:
    """Area of every class of a semantic result, one CSV (slices get a ``z`` column)."""
    spacing = data.meta.spacing
    unit = data.meta.unit if spacing else "px"
    return _per_plane_csv(
        result.labels, data.array, name, lambda _z, labels, _image: class_areas(labels, result.classes, spacing, unit)
    )


def _per_plane_csv(
    labels: np.ndarray,
    image: np.ndarray,
    name: str,
    table: Callable[[int, np.ndarray, np.ndarray], dict[str, np.ndarray]],
) -> str:
    """One CSV of ``table(z, labels, image)`` over the planes (slices get a ``z`` column)."""
    if labels.ndim == 2:
        return measurements_to_csv(table(0, labels, image), {"image": name})
    parts = []
    for z in range(labels.shape[0]):
        text = measurements_to_csv(table(z, labels[z], image[z]), {"image": name, "z": str(z)})
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
    *,
    channel: int | None = None,
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
    channel : int, optional
        Channel to segment (see :func:`~medseg_core.normalize.select_channel`).

    Returns
    -------
    dict
        ``{"model", "n_images", "pixel": {accuracy, precision, recall, f1,
        iou}, "per_class_dice": {...}}`` (semantic) or ``"objects":
        {"0.5": {ap, f1, precision, recall}, "0.75": ..., "0.9": ...,
        "map_50_95": ...}`` (instance).

    Raises
    ------
    InputError
        A mask does not hold the model's classes, or instance labels
        (:func:`~medseg_core.reference.check_reference`).
    """
    pairs = pair_files(images_dir, masks_dir)
    if names is not None:
        wanted = set(names)
        pairs = [p for p in pairs if file_stem(p[0]) in wanted]
    if not pairs:
        raise MedsegError(f"none of the requested images has a mask in {masks_dir}")
    samples = ReferenceSamples(pairs, model.info, class_map, channel)

    def progress(record: Progress) -> None:
        if report is not None and record.done > samples.reported:
            samples.reported = record.done
            report(file_stem(pairs[record.done - 1][0]), record.done, len(pairs))

    return drain(score_iter(model, samples, **options), progress).report()


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
        out.write(f"objects  AJI {result['aji']:.4f}  PQ {result['pq']:.4f} (means over images)\n")
        out.write(f"count    mean absolute error per image {result['count_error']['mean_absolute']:.2f}\n")
    else:
        out.write("dice     " + "  ".join(f"{k} {v:.4f}" for k, v in result["per_class_dice"].items()) + "\n")
        out.write(f"pixel error {result['pixel_error']:.4f}\n")
    return out.getvalue()
