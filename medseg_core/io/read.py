"""Open any supported image: dispatch by suffix, folders as DICOM series."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .dicom import has_dicom_preamble, read_dicom_file
from .dicom_series import folder_has_dicom, read_dicom_series
from .errors import CorruptFile, FileNotFound, UnsupportedFormat, file_error, library_errors
from .image import ImageData
from .nifti import read_nifti
from .raster import read_raster
from .tiff import read_tiff

_READERS: dict[str, Callable[[Path], ImageData]] = {
    ".tif": read_tiff,
    ".tiff": read_tiff,
    ".png": read_raster,
    ".jpg": read_raster,
    ".jpeg": read_raster,
    ".bmp": read_raster,
    ".dcm": read_dicom_file,
    ".dicom": read_dicom_file,
    ".nii": read_nifti,
    ".nii.gz": read_nifti,
}

#: File suffixes :func:`read_image` reads (lower case; ``.ome.tif`` is covered by ``.tif``).
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_READERS)


def suffix_of(path: str | os.PathLike) -> str:
    """Return the lower-case suffix of ``path``, treating ``.nii.gz`` as one suffix.

    Examples
    --------
    >>> suffix_of("brain.NII.GZ")
    '.nii.gz'
    >>> suffix_of("cells.ome.tif")
    '.tif'
    """
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def is_supported(path: str | os.PathLike) -> bool:
    """Return True if :func:`read_image` would try to read ``path``.

    True for a known suffix (whether or not the file exists), a file of any
    name that starts with a DICOM preamble, or a folder that directly holds
    DICOM files. Never raises.

    Parameters
    ----------
    path : str or os.PathLike
        File or folder.

    Returns
    -------
    bool
    """
    try:
        path = Path(path)
        if path.is_dir():
            return folder_has_dicom(path)
        if suffix_of(path) in _READERS:
            return True
        return path.is_file() and has_dicom_preamble(path)
    except (OSError, TypeError, ValueError):
        return False


def _reader_for(path: Path) -> Callable[[Path], ImageData]:
    """Pick the reader of an existing, non-empty file."""
    suffix = suffix_of(path)
    reader = _READERS.get(suffix)
    if reader is not None:
        return reader
    if has_dicom_preamble(path):
        return read_dicom_file
    kind = f"file type {suffix!r}" if suffix else "file without a suffix"
    raise file_error(
        UnsupportedFormat, path, f"unsupported {kind}; supported: {', '.join(SUPPORTED_SUFFIXES)} or a DICOM folder"
    )


def read_image(path: str | os.PathLike) -> ImageData:
    """Read an image file, or a folder holding a DICOM series.

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF/OME-TIFF, PNG, JPEG, BMP, DICOM (``.dcm`` or any file with a
        DICOM preamble), NIfTI (``.nii``, ``.nii.gz``) file, or a folder of
        DICOM files.

    Returns
    -------
    ImageData
        ``array`` with axes ``meta.axes`` (``YX``, ``YXC``, ``ZYX`` or
        ``ZYXC``), spacing and unit in ``meta``.

    Raises
    ------
    MedsegIOError
        Always one of the subclasses in :mod:`medseg_core.io.errors`, with
        a one-line message naming the file: :class:`FileNotFound`,
        :class:`PermissionDenied`, :class:`UnsupportedFormat`,
        :class:`CorruptFile` (empty, truncated, wrong content),
        :class:`NoPixelData`, :class:`UnsupportedShape` (too small, too many
        axes), :class:`ImageTooLarge` (beyond ``MEDSEG_MAX_IMAGE_PIXELS`` or
        the free memory, refused from the header), :class:`InvalidData`.
        Exceptions from bugs in MedSeg itself are logged and propagate.

    Examples
    --------
    >>> image = read_image("cells.tif")  # doctest: +SKIP
    >>> image.meta.axes, image.meta.spacing, image.meta.unit  # doctest: +SKIP
    ('YX', (0.65, 0.65), 'um')
    """
    path = Path(path)
    with library_errors(path, "unexpected error while reading"):
        if not path.exists():
            raise file_error(FileNotFound, path, "no such file or folder")
        if path.is_dir():
            return read_dicom_series(path)
        if not path.is_file():
            raise file_error(UnsupportedFormat, path, "not a regular file")
        if path.stat().st_size == 0:
            raise file_error(CorruptFile, path, "file is empty (0 bytes)")
        return _reader_for(path)(path)
