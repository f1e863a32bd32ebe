"""What a semantic model's labels hold: the area of each class, and the objects counted.

A semantic label image holds class indices, not objects. Its summary is

* the area of each class (pixels, fraction of the image, and physical area
  when the pixel size is known), from :func:`class_areas`;
* its objects, from :func:`semantic_objects`: for a model whose class draws
  boundaries around cells (``ModelInfo.encloses``, e.g. EM membranes), the
  regions that class encloses (:func:`enclosed_regions`), named *cells*;
  otherwise each connected region of a class other than the background
  (e.g. each lung), named *regions*.

Image borders count as closing a region: a cell cut by the border is one
object, as in a manual count of the field of view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: Enclosed regions smaller than this (pixels) are gaps in a boundary, not cells.
MIN_ENCLOSED_PIXELS = 16

#: 4-connectivity: a one-pixel diagonal boundary still separates two cells.
_FOUR = ndi.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class SemanticObjects:
    """The objects of a semantic label image.

    Attributes
    ----------
    labels : ndarray
        ``(H, W)`` int32, 0 = none, 1..N = objects in raster order of their
        first pixel.
    classes : ndarray
        Class name of each object (``classes[k - 1]`` for label ``k``).
    noun : str
        What the objects are, for counts: ``"cells"`` or ``"regions"``.
    """

    labels: np.ndarray
    classes: np.ndarray
    noun: str

    @property
    def count(self) -> int:
        """Number of objects."""
        return len(self.classes)


def count_noun(task: str, encloses: str | None = None) -> str:
    """What a model's count counts: ``"objects"``, ``"cells"`` or ``"regions"``."""
    if task == "instance":
        return "objects"
    return "cells" if encloses else "regions"


def count_description(task: str, encloses: str | None = None) -> str:
    """:func:`count_noun` with how the objects were found, e.g. ``"cells (regions enclosed by membrane)"``."""
    noun = count_noun(task, encloses)
    if noun == "cells":
        return f"cells (regions enclosed by {encloses})"
    if noun == "regions":
        return "regions (connected areas of each class)"
    return noun


def class_areas(
    labels: np.ndarray, classes: Sequence[str], spacing: Sequence[float] | None = None, unit: str = "um"
) -> dict[str, np.ndarray]:
    """Area of every class of a 2-D semantic label image.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` class indices.
    classes : sequence of str
        Class names, index 0 first; indices beyond them are named by number.
    spacing : sequence of float, optional
        Pixel size ``(dy, dx)`` in ``unit``; adds an ``area_<unit>2`` column.
    unit : str
        Name of the physical unit.

    Returns
    -------
    dict of str to ndarray
        Columns ``class``, ``pixels`` and ``fraction`` (of all pixels), one
        row per class of ``classes`` (absent ones with 0) and per other index
        present.
    """
    labels = np.asarray(labels)
    values = np.clip(labels.astype(np.int64, copy=False).ravel(), 0, None)
    pixels = np.bincount(values, minlength=len(classes))
    names = [classes[i] if i < len(classes) else str(i) for i in range(len(pixels))]
    keep = np.array([i < len(classes) or pixels[i] > 0 for i in range(len(pixels))])
    table = {
        "class": np.array(names, dtype=object)[keep],
        "pixels": pixels[keep].astype(np.int64),
        "fraction": pixels[keep] / max(labels.size, 1),
    }
    if spacing is not None:
        dy, dx = (float(s) for s in spacing[-2:])
        table[f"area_{unit}2"] = table["pixels"] * dy * dx
    return table


def enclosed_regions(labels: np.ndarray, boundary: int, min_size: int = MIN_ENCLOSED_PIXELS) -> np.ndarray:
    """The regions that class ``boundary`` encloses, as instance labels.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` class indices.
    boundary : int
        Index of the class that draws the boundaries (e.g. membrane).
    min_size : int
        Regions of fewer pixels are dropped (gaps in a boundary).

    Returns
    -------
    ndarray
        ``(H, W)`` int32 labels of the 4-connected regions of pixels not of
        class ``boundary``, numbered 1..N in raster order of their first pixel.
    """
    regions, n = ndi.label(np.asarray(labels) != boundary, structure=_FOUR)
    if n == 0:
        return regions.astype(np.int32)
    sizes = np.bincount(regions.ravel(), minlength=n + 1)
    keep = sizes >= min_size
    keep[0] = False
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return renumber[regions]


def class_regions(labels: np.ndarray, classes: Sequence[str]) -> SemanticObjects:
    """Each 4-connected region of a class other than the first, as one object."""
    labels = np.asarray(labels)
    regions = np.zeros(labels.shape, dtype=np.int32)
    names: list[str] = []
    for value in np.unique(labels[labels > 0]):
        pieces, n = ndi.label(labels == value, structure=_FOUR)
        regions[pieces > 0] = pieces[pieces > 0] + len(names)
        names += [classes[value] if value < len(classes) else str(value)] * n
    regions, order = _raster_order(regions)
    return SemanticObjects(regions, np.array(names, dtype=object)[order], "regions")


def semantic_objects(labels: np.ndarray, classes: Sequence[str], encloses: str | None = None) -> SemanticObjects:
    """The objects of a semantic label image (see the module notes)."""
    if encloses is None:
        return class_regions(labels, classes)
    cells = enclosed_regions(labels, list(classes).index(encloses))
    return SemanticObjects(cells, np.full(int(cells.max(initial=0)), "cell", dtype=object), "cells")


def _raster_order(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber labels 1..N by their first pixel in raster order; also the old index of each new label."""
    flat = regions.ravel()
    ids, first = np.unique(flat, return_index=True)
    ids, first = ids[ids > 0], first[ids > 0]
    old = ids[np.argsort(first)]
    renumber = np.zeros(int(flat.max(initial=0)) + 1, dtype=np.int32)
    renumber[old] = np.arange(1, len(old) + 1, dtype=np.int32)
    return renumber[regions], old - 1
