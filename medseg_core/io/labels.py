"""Read and write integer label images (one integer per object, 0 = background)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

from ..atomic import atomic_path
from .errors import (
    InvalidData,
    MedsegIOError,
    UnsupportedFormat,
    UnsupportedShape,
    WriteFailed,
    file_error,
    library_errors,
)
from .image import MIN_SIDE
from .raster import read_raster_array
from .read import read_image, suffix_of
from .units import OME_UNIT, micrometres_per

#: Suffixes :func:`write_labels` writes (always TIFF).
LABEL_WRITE_SUFFIXES = (".tif", ".tiff")
#: TIFF ``Software`` tag of the files :func:`write_labels` writes (see :func:`is_medseg_labels`).
LABELS_SOFTWARE = "MedSeg labels"
_LOSSY = (".jpg", ".jpeg")
_UINT16_LIMIT = 1 << 16
_UINT32_LIMIT = 1 << 32


def _check_values(array: np.ndarray, path: Path, action: str) -> int:
    """Refuse non-integer or negative labels; return the largest label."""
    if array.dtype == bool:
        return int(array.any())
    kind = array.dtype.kind
    if kind not in "uif":
        raise file_error(InvalidData, path, f"labels of type {array.dtype} are not integers", action=action)
    if kind == "f":
        if not np.isfinite(array).all():
            raise file_error(InvalidData, path, "labels contain NaN or infinite values", action=action)
        if not np.array_equal(array, np.floor(array)):
            raise file_error(InvalidData, path, "labels contain non-integer values", action=action)
    low, high = array.min(), array.max()
    if low < 0:
        raise file_error(InvalidData, path, f"labels contain negative values (min {low})", action=action)
    return int(high)


def _check_shape(array: np.ndarray, path: Path, action: str) -> None:
    """Labels must be ``YX`` or ``ZYX`` with Y and X sides of at least 2 pixels."""
    if array.ndim not in (2, 3):
        raise file_error(
            UnsupportedShape, path, f"labels must be 2-D or 3-D, got shape {array.shape}", action=action
        )
    if array.size == 0 or min(array.shape[-2:]) < MIN_SIDE:
        raise file_error(UnsupportedShape, path, f"label image of shape {array.shape} is too small", action=action)


def _unsigned(array: np.ndarray, high: int) -> np.ndarray:
    """Return labels as an unsigned integer array (unsigned input unchanged)."""
    if array.dtype.kind == "u":
        return array
    if array.dtype.kind == "i":
        return array.astype(np.dtype(f"u{array.dtype.itemsize}"))
    if high < _UINT16_LIMIT:
        return array.astype(np.uint16)
    return array.astype(np.uint32 if high < _UINT32_LIMIT else np.uint64)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read a label image (TIFF or PNG; also BMP, NIfTI, DICOM).

    Parameters
    ----------
    path : str or os.PathLike
        The label file. Palette PNGs give their palette indices.

    Returns
    -------
    numpy.ndarray
        Unsigned integer ``(Y, X)`` or ``(Z, Y, X)`` array (uint8, uint16,
        uint32 or uint64; floats holding whole numbers are converted).

    Raises
    ------
    MedsegIOError
        Any error of :func:`medseg_core.io.read_image`; :class:`UnsupportedFormat`
        for JPEG (lossy); :class:`UnsupportedShape` for multichannel images;
        :class:`InvalidData` for negative, fractional or non-finite values.
    """
    path = Path(path)
    if suffix_of(path) in _LOSSY:
        raise file_error(UnsupportedFormat, path, "JPEG is lossy and cannot hold label images")
    image = read_image(path)
    array = image.array
    if "C" in image.meta.axes and image.meta.format in ("png", "bmp"):
        indices = read_raster_array(path, palette_indices=True)
        if indices.ndim == 2:
            array = indices
    if array.ndim != len(image.meta.axes.replace("C", "")):
        raise file_error(
            UnsupportedShape, path, f"labels must have a single channel, got axes {image.meta.axes} {array.shape}"
        )
    high = _check_values(array, path, "read")
    return _unsigned(array, high)


def is_medseg_labels(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a label image written by :func:`write_labels`.

    Such files carry :data:`LABELS_SOFTWARE` in their TIFF ``Software`` tag.
    Only the file's header is read. A file that is not a readable TIFF gives
    False: reading it (:func:`read_image`) reports why.
    """
    path = Path(path)
    if suffix_of(path) not in LABEL_WRITE_SUFFIXES or not path.is_file():
        return False
    try:
        with library_errors(path, "not a readable TIFF file"), tifffile.TiffFile(path) as tif:
            tag = tif.pages.first.tags.get("Software")
    except MedsegIOError:
        return False
    return tag is not None and tag.value == LABELS_SOFTWARE


def _tiff_options(shape_axes: str, spacing: tuple[float, ...] | None, unit: str) -> dict:
    """Keyword arguments of ``tifffile.imwrite``: OME axes, pixel size and resolution."""
    metadata: dict = {"axes": shape_axes}
    options: dict = {
        "photometric": "minisblack",
        "compression": "zlib",
        "ome": True,
        "metadata": metadata,
        "software": LABELS_SOFTWARE,
    }
    if spacing is None:
        return options
    for axis, size in zip(shape_axes, spacing):
        metadata[f"PhysicalSize{axis}"] = size
        metadata[f"PhysicalSize{axis}Unit"] = OME_UNIT[unit]
    um = micrometres_per(unit)
    options["resolution"] = (1e4 / (spacing[-1] * um), 1e4 / (spacing[-2] * um))  # pixels per cm
    options["resolutionunit"] = "CENTIMETER"
    return options


def _check_spacing(spacing: Sequence[float] | None, ndim: int, unit: str, path: Path) -> tuple[float, ...] | None:
    """Validate ``spacing`` against the label dimensions; ``None`` for unit ``"px"``."""
    if spacing is None or unit == "px":
        return None
    if unit not in OME_UNIT:
        raise file_error(
            InvalidData, path, f"unknown unit {unit!r}; use one of {', '.join(OME_UNIT)} or 'px'", action="write"
        )
    try:
        values = tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        values = ()
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise file_error(
            InvalidData,
            path,
            f"spacing {tuple(spacing)!r} must hold {ndim} finite positive numbers",
            action="write",
        )
    return values


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    spacing: tuple[float, ...] | None = None,
    *,
    unit: str = "um",
) -> Path:
    """Write a label image as a zlib-compressed OME-TIFF, atomically.

    The file is uint16 when the largest label is below 65536, else uint32.
    It is written to a temporary file beside ``path`` and renamed over it,
    so an existing file is never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
        Target ``.tif``/``.tiff`` file; parent folders are created.
    labels : numpy.ndarray
        ``(Y, X)`` or ``(Z, Y, X)`` non-negative integers (bool, or floats
        holding whole numbers, are accepted).
    spacing : tuple of float, optional
        Pixel size per axis (``(dy, dx)`` or ``(dz, dy, dx)``) in ``unit``;
        stored as OME PhysicalSize and as X/Y resolution (pixels per cm).
    unit : str, optional
        Unit of ``spacing``: ``"um"`` (default), ``"nm"``, ``"mm"``, ``"cm"``,
        ``"m"``, or ``"px"`` to store no pixel size.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    UnsupportedFormat
        ``path`` does not end in ``.tif``/``.tiff``.
    UnsupportedShape
        Not 2-D/3-D, empty, or a side shorter than 2 pixels.
    InvalidData
        Negative, fractional, non-finite or too large (>= 2**32) labels; bad spacing or unit.
    WriteFailed
        The file could not be written; any existing file is unchanged.
    """
    path = Path(path)
    if suffix_of(path) not in LABEL_WRITE_SUFFIXES:
        raise file_error(UnsupportedFormat, path, "labels are written as TIFF (.tif or .tiff)", action="write")
    array = np.asarray(labels)
    _check_shape(array, path, "write")
    high = _check_values(array, path, "write")
    if high >= _UINT32_LIMIT:
        raise file_error(InvalidData, path, f"largest label {high} does not fit in uint32", action="write")
    data = array.astype(np.uint16 if high < _UINT16_LIMIT else np.uint32)
    options = _tiff_options("ZYX" if data.ndim == 3 else "YX", _check_spacing(spacing, data.ndim, unit, path), unit)
    with library_errors(path, "writing the label file failed", WriteFailed, action="write"):
        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, data, **options)
    return path
