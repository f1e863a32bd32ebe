"""Read PNG, JPEG and BMP images with imageio (Pillow backend)."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .errors import UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image

#: MedSeg format name of each suffix this module reads.
RASTER_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp"}


def _format_name(path: Path) -> str:
    """Return ``"png"``, ``"jpeg"`` or ``"bmp"`` from the suffix (``"png"`` if unknown)."""
    return RASTER_FORMATS.get(path.suffix.lower(), "png")


def read_raster_array(path: Path, *, palette_indices: bool = False) -> np.ndarray:
    """Decode the first frame of a PNG/JPEG/BMP file.

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty file.
    palette_indices : bool, optional
        Return the indices of a palette ("P" mode) image instead of its
        colours; used for label images.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` as stored (16-bit grayscale stays uint16).

    Raises
    ------
    CorruptFile
        Not an image, truncated or damaged.
    """
    kind = _format_name(path).upper()
    with library_errors(path, f"not a readable {kind} image"):
        mode = None
        if palette_indices and iio.immeta(path, plugin="pillow").get("mode") == "P":
            mode = "P"
        return np.asarray(iio.imread(path, plugin="pillow", index=0, mode=mode))


def read_raster(path: Path) -> ImageData:
    """Read a PNG, JPEG or BMP file.

    Grayscale becomes ``YX``; RGB and RGBA become ``YXC`` (RGBA keeps its
    four channels); gray + alpha drops the alpha channel and becomes ``YX``.
    Palette images are returned as their RGB(A) colours. Only the first
    frame of an animated PNG is read.

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty file.

    Returns
    -------
    ImageData
        Spacing is unknown (``None``, unit ``"px"``).

    Raises
    ------
    CorruptFile
        Not an image, truncated or damaged.
    UnsupportedShape
        Too small, or an unexpected number of dimensions.
    """
    array = read_raster_array(path)
    original_dtype = array.dtype
    if array.ndim == 3 and array.shape[-1] == 2:  # gray + alpha
        array = array[..., 0]
    if array.ndim == 2:
        axes = "YX"
    elif array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        axes = "YXC"
    else:
        raise file_error(UnsupportedShape, path, f"unexpected image shape {array.shape}")
    return make_image(array, axes, source=path, fmt=_format_name(path), original_dtype=original_dtype)
