"""Read TIFF and OME-TIFF files (single images, stacks, multichannel) with tifffile."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile

from .errors import CorruptFile, UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image
from .limits import check_image_size
from .tiff_spacing import tiff_spacing

#: Largest channel axis kept as channels; a longer ``C`` axis is read as a stack.
MAX_CHANNELS = 8

#: tifffile logs these (about one tag or vendor metadata) without the pixels being damaged.
_HARMLESS_LOG = ("TiffTag.fromfile", "for tag #", "OME series", "Philips", "Indica", "NDTiff")

_CHANNEL_AXES = "CS"  # tifffile: C channel, S samples (RGB)
_PLANE_AXES = "YX"


class _ErrorRecords(logging.Handler):
    """Collect ERROR records that tifffile logs from the current thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        message = record.getMessage()
        if not any(text in message for text in _HARMLESS_LOG):
            self.messages.append(message)


@contextmanager
def _tifffile_log_errors() -> Iterator[_ErrorRecords]:
    """Capture tifffile's logged structure errors (truncated page chains, failed reshapes)."""
    logger = logging.getLogger("tifffile")
    handler = _ErrorRecords()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _axes_summary(axes: str, shape: tuple[int, ...]) -> str:
    """Return e.g. ``"TZCYX (2, 5, 3, 64, 64)"``."""
    return f"{axes} {tuple(shape)}"


def arrange_axes(data: np.ndarray, axes: str, path: Path) -> tuple[np.ndarray, str, str | None]:
    """Reorder a tifffile series array into one of ``YX``, ``YXC``, ``ZYX``, ``ZYXC``.

    Singleton axes other than Y and X are dropped. ``C``/``S`` become the
    last (channel) axis; any other remaining axis (Z, T, I, Q, ...) becomes Z.

    Parameters
    ----------
    data : numpy.ndarray
        Array of ``series.asarray()``.
    axes : str
        ``series.axes``, one letter per dimension of ``data``.
    path : pathlib.Path
        File name for messages.

    Returns
    -------
    array : numpy.ndarray
        The array in the new order.
    axes : str
        Its MedSeg axes.
    stack_letter : str or None
        tifffile letter of the axis that became Z (``"Z"``, ``"T"``, ...).

    Raises
    ------
    UnsupportedShape
        No Y/X axes, more than four non-singleton axes, two stack axes (e.g.
        T and Z), or two channel axes.
    """
    if len(axes) != data.ndim:
        raise file_error(UnsupportedShape, path, f"axes {axes!r} do not match shape {data.shape}")
    if data.size == 0:
        raise file_error(UnsupportedShape, path, f"image has no pixels (shape {data.shape})")
    keep = [i for i, (a, n) in enumerate(zip(axes, data.shape)) if n != 1 or a in _PLANE_AXES]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if axes.count("Y") != 1 or axes.count("X") != 1:
        raise file_error(UnsupportedShape, path, f"no Y/X image plane in {_axes_summary(axes, data.shape)}")
    if data.ndim > 4:
        raise file_error(
            UnsupportedShape,
            path,
            f"{data.ndim}-D image {_axes_summary(axes, data.shape)} is not supported; "
            "MedSeg reads 2-D images and Z (or T) stacks, with optional channels",
        )
    channel = [a for a in axes if a in _CHANNEL_AXES]
    stack = [a for a in axes if a not in _CHANNEL_AXES + _PLANE_AXES]
    if len(channel) == 1 and not stack and data.shape[axes.index(channel[0])] > MAX_CHANNELS:
        stack, channel = channel, []  # a long "channel" axis is a stack
    if len(channel) > 1 or len(stack) > 1:
        kind = "channel" if len(channel) > 1 else "stack"
        raise file_error(
            UnsupportedShape,
            path,
            f"image {_axes_summary(axes, data.shape)} has several {kind} axes; "
            "save a single time point, z-stack or channel set",
        )
    if channel and data.shape[axes.index(channel[0])] > MAX_CHANNELS:
        raise file_error(
            UnsupportedShape,
            path,
            f"image {_axes_summary(axes, data.shape)} has more than {MAX_CHANNELS} channels",
        )
    order = stack + ["Y", "X"] + channel
    data = np.transpose(data, [axes.index(a) for a in order])
    new_axes = ("Z" if stack else "") + "YX" + ("C" if channel else "")
    return data, new_axes, (stack[0] if stack else None)


def _plane(axes: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """``(height, width)`` of a series from its axes; without Y and X, every value counts as one plane."""
    if "Y" in axes and "X" in axes:
        return shape[axes.index("Y")], shape[axes.index("X")]
    return 1, math.prod(shape)


def _spacing(found: dict[str, float], axes: str, stack_letter: str | None) -> tuple[float, ...] | None:
    """Assemble the spacing tuple for ``axes`` from the sizes found in the metadata.

    Z takes ``PhysicalSizeZ``/ImageJ ``spacing`` when the stack axis is Z;
    otherwise (a T stack, or a plain multi-page file) dz is 1.0 in the same
    unit, as in ImageJ's default calibration.
    """
    if "X" not in found or "Y" not in found:
        return None
    plane = (found["Y"], found["X"])
    if "Z" not in axes:
        return plane
    dz = found.get("Z") if stack_letter == "Z" else None
    return (dz if dz is not None else 1.0, *plane)


def read_tiff(path: Path) -> ImageData:
    """Read the first series of a TIFF / OME-TIFF / ImageJ TIFF file.

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty file.

    Returns
    -------
    ImageData
        Axes ``YX``, ``YXC``, ``ZYX`` or ``ZYXC``; spacing in micrometres
        (``"um"``) when the file gives a pixel size.

    Raises
    ------
    CorruptFile
        Not a TIFF file, truncated, or damaged.
    ImageTooLarge
        The header declares an image beyond the decompression-bomb limit or
        the free memory (checked before decoding).
    UnsupportedShape
        See :func:`arrange_axes` and :func:`medseg_core.io.image.make_image`.
    """
    with library_errors(path, "not a readable TIFF file"), _tifffile_log_errors() as log:
        with tifffile.TiffFile(path) as tf:
            if not tf.series:
                raise file_error(CorruptFile, path, "TIFF file contains no image")
            series = tf.series[0]
            axes = series.axes
            if series.dtype is not None:  # None: a pixel type tifffile cannot decode (it says so below)
                check_image_size(path, series.shape, series.dtype, plane=_plane(axes, series.shape))
            data = series.asarray()
            found = tiff_spacing(tf)
    if log.messages:
        raise file_error(CorruptFile, path, f"damaged or truncated TIFF file ({log.messages[0]:.200})")
    original_dtype = data.dtype
    data, new_axes, stack_letter = arrange_axes(data, axes, path)
    return make_image(
        data,
        new_axes,
        source=path,
        fmt="tiff",
        spacing=_spacing(found, new_axes, stack_letter),
        unit="um",
        original_dtype=original_dtype,
    )
