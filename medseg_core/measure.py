"""Per-object measurements of a label image, and their CSV export."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from skimage.measure import regionprops_table
from skimage.segmentation import relabel_sequential

from .atomic import atomic_write_text
from .semantic_summary import SemanticObjects, semantic_objects

#: Columns of :func:`measure`, in order (physical-unit columns follow when spacing is known).
COLUMNS = (
    "label",
    "area_px",
    "centroid_y",
    "centroid_x",
    "bbox_min_y",
    "bbox_min_x",
    "bbox_max_y",
    "bbox_max_x",
    "mean_intensity",
    "min_intensity",
    "max_intensity",
    "equivalent_diameter_px",
    "eccentricity",
    "solidity",
    "perimeter_px",
)


def measure(
    labels: np.ndarray,
    image: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    unit: str = "um",
) -> dict[str, np.ndarray]:
    """Measure every object of a 2-D instance label image.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` integer labels, 0 (and any negative value) = background;
        labels need not be consecutive.
    image : ndarray, optional
        ``(H, W)`` or ``(H, W, C)`` intensities (colour is averaged); the
        intensity columns are NaN without it.
    spacing : sequence of float, optional
        Pixel size ``(dy, dx)`` in ``unit``; adds ``area_<unit>2``,
        ``equivalent_diameter_<unit>`` and ``perimeter_<unit>`` columns.
        With unequal ``dy`` and ``dx`` the physical perimeter is approximate
        (pixel perimeter times the mean step).
    unit : str
        Name of the physical unit for the column headers.

    Returns
    -------
    dict of str to ndarray
        One column per measurement, one entry per object, sorted by label
        (the layout of :func:`skimage.measure.regionprops_table`).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"measure needs a 2-D label image, got shape {labels.shape}")
    labels, original_ids = _compact_labels(labels)
    intensity = None
    if image is not None:
        intensity = np.asarray(image, dtype=np.float32)
        if intensity.ndim == 3:
            intensity = intensity.mean(axis=-1)
        if intensity.shape != labels.shape:
            raise ValueError(f"image shape {intensity.shape} differs from labels shape {labels.shape}")
    props = ["label", "area", "centroid", "bbox", "equivalent_diameter_area", "solidity", "perimeter"]
    if intensity is not None:
        props += ["intensity_mean", "intensity_min", "intensity_max"]
    table = regionprops_table(labels, intensity_image=intensity, properties=props)
    n = len(table["label"])
    nan = np.full(n, np.nan)
    out = {
        "label": (table["label"] if original_ids is None else original_ids[table["label"]]).astype(np.int64),
        "area_px": table["area"].astype(np.int64),
        "centroid_y": table["centroid-0"],
        "centroid_x": table["centroid-1"],
        "bbox_min_y": table["bbox-0"],
        "bbox_min_x": table["bbox-1"],
        "bbox_max_y": table["bbox-2"],
        "bbox_max_x": table["bbox-3"],
        "mean_intensity": table.get("intensity_mean", nan),
        "min_intensity": table.get("intensity_min", nan),
        "max_intensity": table.get("intensity_max", nan),
        "equivalent_diameter_px": table["equivalent_diameter_area"],
        "eccentricity": _eccentricity(labels, table),
        "solidity": table["solidity"],
        "perimeter_px": table["perimeter"],
    }
    if spacing is not None:
        dy, dx = (float(s) for s in spacing[-2:])
        mean_step = (dy + dx) / 2
        out[f"area_{unit}2"] = out["area_px"] * dy * dx
        out[f"equivalent_diameter_{unit}"] = out["equivalent_diameter_px"] * np.sqrt(dy * dx)
        out[f"perimeter_{unit}"] = out["perimeter_px"] * mean_step
    return out


def measure_semantic(
    labels: np.ndarray,
    classes: Sequence[str],
    encloses: str | None = None,
    image: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    unit: str = "um",
    objects: SemanticObjects | None = None,
) -> dict[str, np.ndarray]:
    """:func:`measure` of the objects of a 2-D semantic label image.

    The objects are those of :func:`medseg_core.semantic_summary.semantic_objects`:
    the cells that class ``encloses`` draws around, or else each connected
    region of a class. A leading ``class`` column names each object's class
    (``"cell"`` for enclosed regions). ``objects`` passes them when they are
    known already (:attr:`medseg_core.segment.Segmentation.objects`).
    """
    if objects is None:
        objects = semantic_objects(labels, classes, encloses)
    table = measure(objects.labels, image, spacing, unit)
    return {"class": objects.classes[table["label"] - 1], **table}


def _eccentricity(labels: np.ndarray, table: dict[str, np.ndarray]) -> np.ndarray:
    """Eccentricity of the ellipse with the same second moments, for every object at once.

    The same value as regionprops' ``eccentricity``, from per-label pixel
    sums (``np.bincount``) and the table's area and centroid, instead of a
    Python loop over objects: in a worker thread that loop starved the UI
    thread of the GIL.
    """
    ids = table["label"]
    flat = labels.ravel()
    keep = flat > 0
    flat = flat[keep]
    rows, cols = np.divmod(np.flatnonzero(keep), labels.shape[1])
    rows, cols = rows.astype(np.float64), cols.astype(np.float64)
    size = int(ids.max(initial=0)) + 1
    n = table["area"].astype(np.float64)
    mean_r, mean_c = table["centroid-0"], table["centroid-1"]
    var_r = np.bincount(flat, rows * rows, size)[ids] / n - mean_r**2
    var_c = np.bincount(flat, cols * cols, size)[ids] / n - mean_c**2
    cov = np.bincount(flat, rows * cols, size)[ids] / n - mean_r * mean_c
    half_sum, root = (var_r + var_c) / 2, np.sqrt(((var_r - var_c) / 2) ** 2 + cov**2)
    major, minor = half_sum + root, np.maximum(half_sum - root, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(major > 0, np.sqrt(np.clip(1 - minor / major, 0, 1)), 0.0)


def _compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels as int32 (negative = background), and a map back to the input labels.

    Returns ``(compact, original_ids)``. Usually ``compact`` is the input
    cast and ``original_ids`` is None (identity). Labels above 2**31 - 1
    (which used to wrap around and vanish silently) or far larger than the
    image (regionprops allocates one slot per label value) are renumbered
    ``1..n``; then ``original_ids[k]`` is the input label of object ``k``.
    """
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        labels = labels.astype(np.int64)
    if np.issubdtype(labels.dtype, np.signedinteger) and labels.size and labels.min() < 0:
        labels = np.where(labels > 0, labels, 0)
    top = int(labels.max(initial=0))
    if top <= min(np.iinfo(np.int32).max, 2 * labels.size + 1024):
        return labels.astype(np.int32, copy=False), None
    compact, _, inverse = relabel_sequential(labels)
    original_ids = np.asarray(inverse[np.arange(int(compact.max()) + 1)], dtype=np.int64)
    return compact.astype(np.int32, copy=False), original_ids


def measurements_to_csv(table: dict[str, np.ndarray], extra: dict[str, str] | None = None) -> str:
    """CSV text of a :func:`measure` table, with a header row.

    ``extra`` adds constant leading columns (e.g. ``{"image": "a.tif"}``).
    """
    extra = extra or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*extra, *table])
    columns = list(table.values())
    n = len(columns[0]) if columns else 0
    for i in range(n):
        writer.writerow([*extra.values(), *(_fmt(col[i]) for col in columns)])
    return buffer.getvalue()


def write_measurements_csv(
    path: str | os.PathLike, table: dict[str, np.ndarray], extra: dict[str, str] | None = None
) -> Path:
    """Write :func:`measurements_to_csv` atomically to ``path``."""
    return atomic_write_text(path, measurements_to_csv(table, extra))


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{float(value):.6g}"
    return str(value)
