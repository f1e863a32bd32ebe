"""Image IO: read microscopy and radiology images, read and write label images.

Typical use::

    from medseg_core.io import read_image, write_labels
    image = read_image("cells.ome.tif")     # ImageData(array, meta)
    image.meta.axes, image.meta.spacing     # ("ZYX", (2.0, 0.5, 0.5))
    write_labels("cells_labels.tif", labels, spacing=image.meta.spacing)

Every failure is a :class:`medseg_core.errors.MedsegIOError` subclass (see
:mod:`medseg_core.io.errors`) with a one-line message naming the file.
Images are checked from their header before decoding: a plane of more than
``MEDSEG_MAX_IMAGE_PIXELS`` pixels (environment variable, default one
gigapixel) or an image larger than the free memory is refused with
:class:`ImageTooLarge` (see :mod:`medseg_core.io.limits`).
"""

from ..errors import MedsegIOError
from .errors import (
    CorruptFile,
    FileNotFound,
    ImageTooLarge,
    InvalidData,
    NoPixelData,
    PermissionDenied,
    UnsupportedFormat,
    UnsupportedShape,
    WriteFailed,
)
from .image import ImageData, ImageMeta
from .labels import read_labels, write_labels
from .read import SUPPORTED_SUFFIXES, is_supported, read_image

__all__ = [
    "SUPPORTED_SUFFIXES",
    "CorruptFile",
    "FileNotFound",
    "ImageData",
    "ImageMeta",
    "ImageTooLarge",
    "InvalidData",
    "MedsegIOError",
    "NoPixelData",
    "PermissionDenied",
    "UnsupportedFormat",
    "UnsupportedShape",
    "WriteFailed",
    "is_supported",
    "read_image",
    "read_labels",
    "write_labels",
]
