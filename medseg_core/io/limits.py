"""Size checks made from an image's header, before any pixel is decoded.

A header declares the image's shape and pixel type, so the decoded size is
known before decoding starts. Two limits apply:

* **Decompression bombs.** A small compressed file can declare an enormous
  image (a 100,000 x 100,000 PNG of zeros takes a few kilobytes). An image
  plane (height x width) of more than :func:`max_image_pixels` pixels is
  refused; the default, :data:`DEFAULT_MAX_IMAGE_PIXELS` (one gigapixel,
  e.g. 31,600 x 31,600), is far above a microscope or scanner image.
  Set the environment variable ``MEDSEG_MAX_IMAGE_PIXELS`` to a larger
  whole number to read bigger images from a trusted source.
* **Free memory.** An image whose decoding needs more memory than is
  available (``MemAvailable`` of ``/proc/meminfo``, or psutil elsewhere)
  is refused, with a message that names its size, instead of being read
  until the system runs out of memory.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import MedsegIOError
from .errors import ImageTooLarge, file_error

#: Environment variable that sets the largest image plane decoded, in pixels.
MAX_PIXELS_ENV = "MEDSEG_MAX_IMAGE_PIXELS"
#: Largest image plane decoded when the environment variable is not set.
DEFAULT_MAX_IMAGE_PIXELS = 1_000_000_000
#: Decoding holds the decoded pixels and about one working copy (reordering, type conversion).
WORKING_COPIES = 2


def max_image_pixels() -> int:
    """The largest image plane (height x width, in pixels) MedSeg decodes.

    Returns
    -------
    int
        ``MEDSEG_MAX_IMAGE_PIXELS`` when set, else :data:`DEFAULT_MAX_IMAGE_PIXELS`.

    Raises
    ------
    MedsegIOError
        The environment variable is set to something other than a positive
        whole number (``"2000000000"``, ``"2_000_000_000"`` and ``"2e9"`` are accepted).
    """
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise MedsegIOError(f"the environment variable {MAX_PIXELS_ENV} must be a whole number of pixels, got {text!r}")
    return int(value)


def available_memory() -> int | None:
    """Bytes of memory available for new data, or ``None`` when the system does not say.

    Linux: ``MemAvailable`` of ``/proc/meminfo`` (free memory plus the caches
    the kernel can drop). Elsewhere: ``psutil.virtual_memory().available``
    when psutil is installed.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # noqa: PLC0415 (optional: only where /proc/meminfo is missing)
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _bytes(count: float) -> str:
    """``"512 MB"``, ``"2.5 GB"``."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    return f"{max(count / 1e6, 0.1):.1f} MB"


def check_image_size(
    path: str | os.PathLike, shape: tuple[int, ...], dtype: np.dtype | str, plane: tuple[int, int]
) -> None:
    """Refuse an image, from its header, before decoding it.

    Parameters
    ----------
    path : str or os.PathLike
        The file or DICOM folder (for messages).
    shape : tuple of int
        Shape of the decoded array, every axis.
    dtype : numpy.dtype or str
        Type of the decoded pixels.
    plane : tuple of int
        ``(height, width)`` of one image plane.

    Raises
    ------
    ImageTooLarge
        The plane has more than :func:`max_image_pixels` pixels, or decoding
        needs more memory than :func:`available_memory`.
    MedsegIOError
        ``MEDSEG_MAX_IMAGE_PIXELS`` is not a whole number.
    """
    height, width = (int(n) for n in plane)
    limit = max_image_pixels()
    if height * width > limit:
        raise file_error(
            ImageTooLarge,
            path,
            f"image of {width} x {height} pixels exceeds the decompression-bomb limit of {limit:,} pixels; "
            f"if you trust the file, raise the limit with the environment variable {MAX_PIXELS_ENV}",
        )
    dtype = np.dtype(dtype)
    size = math.prod(int(n) for n in shape) * dtype.itemsize
    need = size * WORKING_COPIES
    free = available_memory()
    if free is not None and need > free:
        raise file_error(
            ImageTooLarge,
            path,
            f"image of shape {tuple(int(n) for n in shape)} and type {dtype.name} takes {_bytes(size)} decoded; "
            f"reading it needs about {_bytes(need)} but only {_bytes(free)} of memory is available",
        )
