"""The image container returned by every reader, and the checks applied to it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidData, UnsupportedShape, file_error

#: Axis orders a reader may return: channels always last, Z first.
AXES = ("YX", "YXC", "ZYX", "ZYXC")

#: Smallest allowed length of a Y or X side.
MIN_SIDE = 2


@dataclass
class ImageMeta:
    """Where an image came from and how to interpret its array.

    Attributes
    ----------
    axes : str
        One of ``"YX"``, ``"YXC"``, ``"ZYX"``, ``"ZYXC"`` (channels last, Z first).
    spacing : tuple of float or None
        Physical pixel size per spatial axis, in the order of the spatial
        axes of ``axes`` (``(dy, dx)`` or ``(dz, dy, dx)``); ``None`` when unknown.
    unit : str
        Unit of ``spacing``: ``"um"`` (microscopy), ``"mm"`` (DICOM, NIfTI),
        ``"px"`` when the spacing is unknown.
    source : pathlib.Path
        The file (or DICOM folder) that was read.
    format : str
        ``"tiff"``, ``"png"``, ``"jpeg"``, ``"bmp"``, ``"dicom"``,
        ``"dicom-series"`` or ``"nifti"``.
    original_dtype : str
        Data type of the stored pixels, before rescaling or bool conversion.
    """

    axes: str
    spacing: tuple[float, ...] | None
    unit: str
    source: Path
    format: str
    original_dtype: str


@dataclass
class ImageData:
    """A numeric pixel array and its :class:`ImageMeta`.

    Attributes
    ----------
    array : numpy.ndarray
        Pixels, shape consistent with ``meta.axes``.
    meta : ImageMeta
        Axes, spacing, unit and origin of ``array``.
    """

    array: np.ndarray
    meta: ImageMeta


def _clean_spacing(spacing: Sequence[float] | None, n_spatial: int) -> tuple[float, ...] | None:
    """Return ``spacing`` as floats when it is complete, finite and positive, else ``None``."""
    if spacing is None or len(spacing) != n_spatial:
        return None
    try:
        values = tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        return None
    if all(math.isfinite(v) and v > 0 for v in values):
        return values
    return None


def make_image(
    array: np.ndarray,
    axes: str,
    *,
    source: str | Path,
    fmt: str,
    spacing: Sequence[float] | None = None,
    unit: str = "px",
    original_dtype: str | np.dtype | None = None,
) -> ImageData:
    """Check a decoded array and wrap it in :class:`ImageData`.

    Singleton Z and C axes are dropped (with their spacing entry), bool
    becomes uint8, and the array is made C-contiguous.

    Parameters
    ----------
    array : numpy.ndarray
        Decoded pixels whose axes are ``axes``.
    axes : str
        One of :data:`AXES`.
    source : str or pathlib.Path
        File the pixels came from (used in messages and ``meta.source``).
    fmt : str
        Value of ``meta.format``.
    spacing : sequence of float, optional
        Spacing of the spatial axes of ``axes``, in ``unit``. Dropped (set to
        ``None`` with unit ``"px"``) unless complete, finite and positive.
    unit : str, optional
        Unit of ``spacing``.
    original_dtype : str or numpy.dtype, optional
        Stored data type; ``array.dtype`` by default.

    Returns
    -------
    ImageData

    Raises
    ------
    UnsupportedShape
        No pixels, a Y or X side shorter than :data:`MIN_SIDE`, or axes that do
        not match the array.
    InvalidData
        Pixels that are not real numbers (complex, structured, object).
    """
    source = Path(source)
    array = np.asarray(array)
    original = str(np.dtype(original_dtype) if original_dtype is not None else array.dtype)
    if axes not in AXES or array.ndim != len(axes):
        raise file_error(
            UnsupportedShape, source, f"array of shape {array.shape} does not fit axes {axes!r}"
        )
    if array.size == 0:
        raise file_error(UnsupportedShape, source, f"image has no pixels (shape {array.shape})")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "uif":
        raise file_error(InvalidData, source, f"pixel type {array.dtype} is not supported")
    spatial = [a for a in axes if a != "C"]
    spacing = _clean_spacing(spacing, len(spatial))
    for axis in ("C", "Z"):
        if axis in axes and array.shape[axes.index(axis)] == 1:
            i = axes.index(axis)
            array = array.squeeze(axis=i)
            axes = axes.replace(axis, "")
            if spacing is not None and axis == "Z":
                spacing = spacing[1:]
    sides = {a: n for a, n in zip(axes, array.shape) if a in "YX"}
    if min(sides.values()) < MIN_SIDE:
        raise file_error(
            UnsupportedShape,
            source,
            f"image is too small (shape {array.shape}, axes {axes}; "
            f"each side needs at least {MIN_SIDE} pixels)",
        )
    meta = ImageMeta(
        axes=axes,
        spacing=spacing,
        unit=unit if spacing is not None else "px",
        source=source,
        format=fmt,
        original_dtype=original,
    )
    return ImageData(array=np.ascontiguousarray(array), meta=meta)
