"""Per-layer bookkeeping kept in ``layer.metadata["medseg"]`` (no global state).

Image layers opened by MedSeg carry where they came from (``source``,
``axes``, ``spacing``, ``unit``); labels layers made by MedSeg also name
their image (``image``) and the model task. Two checksums tell whether a
labels layer was edited since it was made or saved (``baseline``) and
whether its current content was ever written to disk (``saved``).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

KEY = "medseg"
#: ``baseline`` value that means "always counts as edited" (restored work).
ALWAYS_EDITED = -1


def info(layer: Any) -> dict:
    """The MedSeg metadata dict of a layer (created empty when missing)."""
    meta = layer.metadata
    value = meta.get(KEY)
    if not isinstance(value, dict):
        value = {}
        meta[KEY] = value
    return value


def checksum(array: np.ndarray) -> int:
    """A fast content checksum (Adler-32 of the bytes, mixed with shape and dtype)."""
    array = np.ascontiguousarray(array)
    head = f"{array.shape}{array.dtype.str}".encode()
    return zlib.adler32(memoryview(array).cast("B"), zlib.adler32(head))


def set_baseline(layer: Any, *, saved: bool = False, edited: bool = False) -> None:
    """Record the current labels as the unedited state (and as saved if ``saved``)."""
    value = checksum(np.asarray(layer.data))
    meta = info(layer)
    meta["baseline"] = ALWAYS_EDITED if edited else value
    if saved:
        meta["saved"] = value


def is_edited(layer: Any) -> bool:
    """True when the labels differ from their baseline (made, saved or loaded state)."""
    meta = info(layer)
    if meta.get("large"):  # a block run's OME-Zarr store: on disk, not edited in the app, never loaded whole
        return False
    if "baseline" not in meta:
        return bool(np.asarray(layer.data).any())
    return meta["baseline"] == ALWAYS_EDITED or meta["baseline"] != checksum(np.asarray(layer.data))


def is_unsaved(layer: Any) -> bool:
    """True when the current labels are not empty and were never written to disk."""
    if info(layer).get("large"):  # written by the block run as it went
        return False
    data = np.asarray(layer.data)
    if info(layer).get("saved") == checksum(data):
        return False
    return bool(data.any()) or is_edited(layer)


def mark_saved(layer: Any, path: str | Path) -> None:
    """Record a successful save of the labels to ``path``."""
    set_baseline(layer, saved=True)
    info(layer)["saved_path"] = str(path)


def source_path(layer: Any) -> str | None:
    """The file an image (or the image of a labels layer) was read from."""
    meta = info(layer)
    if meta.get("source"):
        return str(meta["source"])
    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path else None


def spacing_of(layer: Any) -> tuple[tuple[float, ...] | None, str]:
    """Physical pixel size (per spatial axis) and unit, or ``(None, "px")``."""
    meta = info(layer)
    spacing, unit = meta.get("spacing"), meta.get("unit", "px")
    if not spacing or unit == "px":
        return None, "px"
    return tuple(float(s) for s in spacing), str(unit)


def image_axes(layer: Any) -> str:
    """Axes string (``YX``, ``YXC``, ``ZYX``, ``ZYXC``) of an image layer's data."""
    ndim = np.ndim(layer.data)
    axes = info(layer).get("axes")
    if isinstance(axes, str) and len(axes) == ndim:
        return axes
    if getattr(layer, "rgb", False):
        return {3: "YXC", 4: "ZYXC"}.get(ndim, "")
    return {2: "YX", 3: "ZYX"}.get(ndim, "")


def napari_units(unit: str | None, n: int) -> tuple[str, ...] | None:
    """napari ``units`` for a MedSeg unit name, or None when not physical."""
    names = {"um": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter", "m": "meter"}
    return (names[unit],) * n if unit in names else None
