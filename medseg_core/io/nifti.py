"""Read NIfTI-1/2 volumes (``.nii``, ``.nii.gz``) with nibabel."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.lib import recfunctions

from .errors import UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image
from .limits import check_image_size

#: Reported unit and factor from a NIfTI ``xyzt_units`` spatial unit ("unknown" is taken as mm).
_UNITS = {"mm": ("mm", 1.0), "unknown": ("mm", 1.0), "meter": ("mm", 1e3), "micron": ("um", 1.0)}


def _load(path: Path) -> tuple[np.ndarray, np.dtype, tuple[float, ...], str]:
    """Return the scaled data (X, Y, Z, ... order), stored dtype, zooms and spatial unit."""
    with library_errors(path, "not a readable NIfTI file"):
        with open(path, "rb"):
            pass  # nibabel reports a file it may not read as "could not read": open it first to say why
        img = nib.load(str(path), mmap=False)
        header = img.header
        stored = np.dtype(img.get_data_dtype())
        _check_size(img, stored, path)
        data = np.asarray(img.dataobj)
        zooms = tuple(float(f"{float(z):.7g}") for z in header.get_zooms())  # float32 header values
        unit = header.get_xyzt_units()[0] if hasattr(header, "get_xyzt_units") else "unknown"
    if data.dtype.names:  # RGB24 / RGBA32 structured voxels
        data = recfunctions.structured_to_unstructured(data)
    elif data.dtype == np.float64 and stored != np.float64:
        data = data.astype(np.float32)  # scl_slope/scl_inter applied by nibabel
    return data, stored, zooms, str(unit)


def _check_size(img: nib.spatialimages.SpatialImage, stored: np.dtype, path: Path) -> None:
    """Refuse, from the header, a volume too large to decode (scaled values are float64 while read)."""
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 2:
        return  # refused by read_nifti, which names the shape
    slope, inter = getattr(img.dataobj, "slope", 1.0), getattr(img.dataobj, "inter", 0.0)
    scaled = (slope, inter) != (1.0, 0.0) and stored.kind != "V"
    check_image_size(path, shape, np.float64 if scaled else stored, plane=(shape[1], shape[0]))


def read_nifti(path: Path) -> ImageData:
    """Read a NIfTI file, transposing its X, Y, Z storage order to ``ZYX``.

    The affine (orientation) is not applied: the array is the stored voxel
    grid with its axes reversed, so voxel ``[k, j, i]`` is stored voxel
    ``(i, j, k)``. Singleton axes beyond the first two are dropped; a
    remaining fourth axis (time) with a singleton Z is read as the stack.
    Values with ``scl_slope``/``scl_inter`` are returned scaled (float32).

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty ``.nii`` or ``.nii.gz`` file.

    Returns
    -------
    ImageData
        ``YX`` or ``ZYX`` (``...C`` for RGB voxels), spacing ``(dz, dy, dx)``
        from the header zooms, unit ``"mm"`` (``"um"`` for micron headers).

    Raises
    ------
    CorruptFile
        Not NIfTI, truncated or damaged.
    ImageTooLarge
        The header declares a volume beyond the decompression-bomb limit or
        the free memory (checked before decoding).
    UnsupportedShape
        More than three non-singleton spatial/time axes, or too small.
    """
    data, stored, zooms, unit_name = _load(path)
    if data.size == 0:
        raise file_error(UnsupportedShape, path, f"image has no pixels (shape {data.shape})")
    channels = data.ndim > len(zooms)
    spatial_shape = data.shape[:-1] if channels else data.shape
    if len(spatial_shape) < 2:
        raise file_error(UnsupportedShape, path, f"NIfTI image of shape {data.shape} is not 2-D or 3-D")
    keep = [i for i, n in enumerate(spatial_shape) if i < 2 or n != 1]
    if len(keep) > 3:
        raise file_error(
            UnsupportedShape,
            path,
            f"NIfTI image of shape {data.shape} has more than three non-singleton axes; "
            "save a single volume",
        )
    new_shape = [spatial_shape[i] for i in keep] + ([data.shape[-1]] if channels else [])
    data = data.reshape(new_shape)
    spatial = len(keep)
    order = list(range(spatial))[::-1] + ([spatial] if channels else [])
    data = np.transpose(data, order)
    axes = ("ZYX" if spatial == 3 else "YX") + ("C" if channels else "")
    unit, factor = _UNITS.get(unit_name, ("mm", 1.0))
    spacing = None
    if len(zooms) >= max(keep) + 1:
        spacing = tuple(zooms[i] * factor for i in keep)[::-1]
        if spatial == 3 and keep[2] > 2:
            spacing = (1.0, *spacing[1:])  # a time axis read as Z has no spatial step
    return make_image(data, axes, source=path, fmt="nifti", spacing=spacing, unit=unit, original_dtype=stored)
