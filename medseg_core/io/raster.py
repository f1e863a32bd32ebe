"""Read PNG, JPEG and BMP images with imageio (Pillow backend).

The header is read first, with Pillow, and the image refused before
decoding when it is too large (see :mod:`medseg_core.io.limits`). While
MedSeg decodes, Pillow's own decompression-bomb guard
(``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels by default, which
would refuse a 14,000 x 14,000 slide scan) is set to MedSeg's limit, under
a lock, and restored afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageMode

from .errors import UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image
from .limits import check_image_size, max_image_pixels

#: MedSeg format name of each suffix this module reads.
RASTER_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp"}

_PIL_GUARD = threading.Lock()


@contextmanager
def _pil_guard(pixels: int | None) -> Iterator[None]:
    """Set ``PIL.Image.MAX_IMAGE_PIXELS`` to ``pixels`` (``None``: no check) while the block runs."""
    with _PIL_GUARD:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _declared(path: Path) -> tuple[tuple[int, int, int], np.dtype, str]:
    """Shape ``(height, width, channels)``, pixel type and Pillow mode of the first frame, not decoded.

    Palette images count four channels: imageio decodes them to RGB(A).
    """
    with _pil_guard(None), Image.open(path) as image:  # MedSeg checks the size itself, next
        width, height = image.size
        mode = ImageMode.getmode(image.mode)
    channels = 4 if "P" in mode.bands else len(mode.bands)
    return (height, width, channels), np.dtype(mode.typestr), image.mode


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
    ImageTooLarge
        Beyond the decompression-bomb limit or the free memory.
    PermissionDenied
        The file may not be read.
    """
    kind = _format_name(path).upper()
    with library_errors(path, f"not a readable {kind} image"):
        shape, dtype, mode = _declared(path)
        check_image_size(path, shape, dtype, plane=shape[:2])
        with _pil_guard(max_image_pixels()):
            pixels = iio.imread(path, plugin="pillow", index=0, mode="P" if palette_indices and mode == "P" else None)
        return np.asarray(pixels)


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
