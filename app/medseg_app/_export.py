"""Measuring a labels layer, exporting the table and saving the labels.

The measuring functions are plain NumPy (they run in worker threads); the
export/save functions ask for a path through :mod:`._dialogs` and report
through napari notifications, never tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_error, show_info

from medseg_core.errors import MedsegError
from medseg_core.measure import measure, measure_semantic, write_measurements_csv
from medseg_core.semantic_summary import class_areas

from . import _dialogs
from ._large import is_large_layer, large_summary
from ._layer_state import info, mark_saved, source_path, spacing_of
from ._layers import image_of, image_plane


@dataclass(frozen=True)
class Semantic:
    """What the measuring needs to know of a semantic labels layer."""

    classes: list[str]
    encloses: str | None = None


def semantic_of(layer: Any) -> Semantic | None:
    """The :class:`Semantic` description of a labels layer that a semantic model made, else None."""
    meta = info(layer)
    if meta.get("task") != "semantic" or not meta.get("classes"):
        return None
    return Semantic(list(meta["classes"]), meta.get("encloses"))


def measure_plane(
    labels: np.ndarray,
    image: np.ndarray | None = None,
    spacing: tuple[float, ...] | None = None,
    unit: str = "um",
    semantic: Semantic | None = None,
) -> dict[str, np.ndarray]:
    """:func:`medseg_core.measure.measure` of one plane.

    With ``semantic`` (a semantic labels layer: values are class indices),
    the objects are its cells or class regions
    (:func:`medseg_core.measure.measure_semantic`), with a ``class`` column.
    """
    spacing = spacing[-2:] if spacing else None
    if image is not None and image.shape[:2] != labels.shape:
        image = None
    if semantic is None:
        return measure(labels, image, spacing, unit)
    return measure_semantic(labels, semantic.classes, semantic.encloses, image, spacing, unit)


def summarise_plane(
    labels: np.ndarray,
    image: np.ndarray | None = None,
    spacing: tuple[float, ...] | None = None,
    unit: str = "um",
    semantic: Semantic | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """:func:`measure_plane`, and the area of each class for a semantic layer (else None)."""
    table = measure_plane(labels, image, spacing, unit, semantic)
    areas = None if semantic is None else class_areas(labels, semantic.classes)
    return table, areas


def _layer_inputs(viewer: Any, layer: Any) -> tuple[Any, tuple[float, ...] | None, str, Semantic | None]:
    spacing, unit = spacing_of(layer)
    return image_of(viewer, layer), spacing, unit, semantic_of(layer)


def full_table(viewer: Any, layer: Any) -> dict[str, np.ndarray]:
    """Measurements of every object of a labels layer (every slice of a stack, with a ``z`` column)."""
    if is_large_layer(layer):  # a block run's labels: the table it wrote
        return large_summary(layer)[0]
    image, spacing, unit, semantic = _layer_inputs(viewer, layer)
    data = np.asarray(layer.data)
    if data.ndim == 2:
        return measure_plane(data, image_plane(image, data.shape, None), spacing, unit, semantic)
    parts = []
    for z in range(data.shape[0]):
        table = measure_plane(data[z], image_plane(image, data.shape[1:], z), spacing, unit, semantic)
        parts.append({"z": np.full(len(table["label"]), z, dtype=np.int64), **table})
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def image_column(viewer: Any, layer: Any) -> str:
    """Value of the CSV ``image`` column: the image file name, else a layer name."""
    image = image_of(viewer, layer)
    source = source_path(layer) or (source_path(image) if image is not None else None)
    if source:
        return Path(source).name
    return image.name if image is not None else layer.name


def _suggested(layer: Any, suffix: str) -> str:
    source = source_path(layer)
    stem = layer.name.replace(" ", "_")
    folder = Path(source).parent if source else Path.home()
    return str(folder / f"{stem}{suffix}")


def export_csv(parent: Any, viewer: Any, layer: Any, table: dict | None = None) -> Path | None:
    """Ask for a path and write the measurements CSV of ``layer`` (atomic).

    ``table`` may be a current :func:`full_table` result to avoid measuring again.
    """
    if layer is None:
        show_info("No labels layer to export")
        return None
    path = _dialogs.choose_save_path(parent, "Export measurements", _suggested(layer, ".csv"), "CSV files (*.csv)")
    if not path:
        return None
    try:
        table = table if table is not None else full_table(viewer, layer)
        written = write_measurements_csv(path, table, extra={"image": image_column(viewer, layer)})
    except (MedsegError, OSError, ValueError) as exc:
        show_error(f"Could not export the measurements: {exc}")
        return None
    show_info(f"Saved {len(table['label'])} objects to {written}")
    return Path(written)


def save_labels(parent: Any, viewer: Any, layer: Any) -> Path | None:
    """Ask for a path and write ``layer`` as a TIFF label image (atomic); clears its recovery copy."""
    from medseg_core.io import write_labels

    from . import recovery

    if layer is None:
        show_info("No labels layer to save")
        return None
    if is_large_layer(layer):  # never loaded whole: the block run wrote it as it went
        show_info(f"These labels are saved already, as they were made: {info(layer).get('labels_path')}")
        return None
    path = _dialogs.choose_save_path(parent, "Save labels", _suggested(layer, ".tif"), "TIFF label image (*.tif *.tiff)")
    if not path:
        return None
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        path = f"{path}.tif"
    spacing, unit = spacing_of(layer)
    try:
        data = np.asarray(layer.data)
        if spacing is not None and len(spacing) != data.ndim:
            spacing = None
        written = write_labels(path, data, spacing=spacing, unit=unit if spacing else "um")
    except (MedsegError, OSError) as exc:
        show_error(f"Could not save the labels: {exc}")
        return None
    mark_saved(layer, written)
    recovery.clear(layer, viewer)
    show_info(f"Saved labels to {written}")
    return Path(written)
