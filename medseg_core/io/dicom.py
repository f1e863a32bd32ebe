"""Read single DICOM files (single- or multi-frame) with pydicom; helpers shared with series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from .errors import CorruptFile, NoPixelData, UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image
from .limits import check_image_size

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PREAMBLE = 128
_DEFER = "1 KB"  # header-only reads leave large values (pixels) on disk


def has_dicom_preamble(path: Path) -> bool:
    """Return True if ``path`` is a file with ``DICM`` after the 128-byte preamble."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_PREAMBLE + 4)
    except OSError:
        return False
    return head[_PREAMBLE:] == b"DICM"


def read_dataset(path: Path, *, header_only: bool = False) -> pydicom.Dataset:
    """Parse a DICOM file; files without the ``DICM`` preamble are read leniently.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    header_only : bool, optional
        Defer reading large elements (the pixels) until they are used.

    Returns
    -------
    pydicom.Dataset

    Raises
    ------
    CorruptFile
        Not a DICOM file, or damaged.
    """
    defer = _DEFER if header_only else None
    with library_errors(path, "not a readable DICOM file"):
        try:
            return pydicom.dcmread(path, defer_size=defer)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, defer_size=defer, force=True)
        if "Rows" not in ds and not has_pixel_data(ds):
            raise file_error(CorruptFile, path, "not a DICOM file (no DICM header, no image tags)")
        return ds


def has_pixel_data(ds: pydicom.Dataset) -> bool:
    """Return True if the dataset holds (possibly deferred) pixel data."""
    return any(keyword in ds for keyword in _PIXEL_KEYWORDS)


def find_value(ds: pydicom.Dataset, keyword: str, frame: int | None = None) -> object | None:
    """Return a tag value from the dataset or its functional groups.

    Looks at the top level, then (enhanced multi-frame files) inside the
    per-frame group of ``frame`` (when given), then the shared groups.

    Parameters
    ----------
    ds : pydicom.Dataset
        A dataset.
    keyword : str
        DICOM keyword, e.g. ``"PixelSpacing"``.
    frame : int, optional
        Frame index for per-frame functional groups.

    Returns
    -------
    object or None
        The value, or ``None`` when absent or empty.
    """
    value = ds.get(keyword)
    if value not in (None, ""):
        return value
    groups = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if frame is not None and per_frame is not None and frame < len(per_frame):
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for group in groups:
        for element in group:
            if element.VR == "SQ" and element.value:
                value = element.value[0].get(keyword)
                if value not in (None, ""):
                    return value
    return None


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    """Return ``count`` floats from a DICOM multi-value, or ``None``."""
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None


def pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """Return ``(dy, dx)`` in mm from PixelSpacing (or ImagerPixelSpacing)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _floats(find_value(ds, keyword), 2)
        if value is not None and min(value) > 0:
            return value  # type: ignore[return-value]
    return None


def slice_normal(ds: pydicom.Dataset) -> np.ndarray | None:
    """Return the unit normal of the image plane from ImageOrientationPatient."""
    cosines = _floats(find_value(ds, "ImageOrientationPatient"), 6)
    if cosines is None:
        return None
    normal = np.cross(np.array(cosines[:3]), np.array(cosines[3:]))
    length = float(np.linalg.norm(normal))
    return normal / length if length > 1e-6 else None


def position(ds: pydicom.Dataset, frame: int | None = None) -> tuple[float, ...] | None:
    """Return ImagePositionPatient (x, y, z) in mm, or ``None``."""
    return _floats(find_value(ds, "ImagePositionPatient", frame), 3)


def fallback_slice_spacing(ds: pydicom.Dataset) -> float:
    """Slice spacing from SpacingBetweenSlices or SliceThickness; 1.0 when neither is usable."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(find_value(ds, keyword))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            return value
    return 1.0


def spacing_from_positions(positions: list[tuple[float, ...]], normal: np.ndarray) -> float | None:
    """Median distance between consecutive slice positions along ``normal``, or ``None``."""
    if len(positions) < 2:
        return None
    along = np.sort(np.asarray(positions, dtype=float) @ normal)
    gaps = np.abs(np.diff(along))
    gaps = gaps[gaps > 1e-6]
    return float(np.median(gaps)) if gaps.size else None


def rescale(array: np.ndarray, ds: pydicom.Dataset, frame: int | None = None) -> np.ndarray:
    """Apply RescaleSlope/RescaleIntercept; float32 when they are not (1, 0).

    Colour images and datasets without the tags are returned unchanged.
    """
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return array
    try:
        slope = float(find_value(ds, "RescaleSlope", frame) or 1.0)  # type: ignore[arg-type]
        intercept = float(find_value(ds, "RescaleIntercept", frame) or 0.0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return array
    if slope == 1.0 and intercept == 0.0:
        return array
    out = array.astype(np.float32)
    out *= np.float32(slope)
    out += np.float32(intercept)
    return out


def check_declared_size(ds: pydicom.Dataset, path: Path, slices: int = 1) -> None:
    """Refuse, before decoding, pixels too large for the limits of :mod:`medseg_core.io.limits`.

    The size comes from Rows, Columns, NumberOfFrames, SamplesPerPixel and
    BitsAllocated; nothing is checked when the header does not give it
    (decoding then fails with its own message).

    Parameters
    ----------
    ds : pydicom.Dataset
        Header of one file.
    path : pathlib.Path
        The file, or the folder of a series (for messages).
    slices : int, optional
        Files of this size read together (a series).

    Raises
    ------
    ImageTooLarge
    """
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        samples, bits = int(ds.get("SamplesPerPixel") or 1), int(ds.get("BitsAllocated") or 0)
    except (TypeError, ValueError):
        return
    if rows < 1 or columns < 1:
        return
    if "DoubleFloatPixelData" in ds:
        dtype = "float64"
    elif "FloatPixelData" in ds:
        dtype = "float32"
    else:
        dtype = f"uint{8 if bits <= 8 else 16 if bits <= 16 else 32 if bits <= 32 else 64}"
    shape = (slices * frame_count(ds), rows, columns) + ((samples,) if samples > 1 else ())
    check_image_size(path, shape if shape[0] > 1 else shape[1:], dtype, plane=(rows, columns))


def decode_pixels(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """Return the stored pixel values of ``ds`` (no rescale).

    Raises
    ------
    NoPixelData
        The dataset has no pixel data element.
    ImageTooLarge
        The header declares pixels beyond the decompression-bomb limit or
        the free memory (checked before decoding).
    CorruptFile
        The pixels cannot be decoded (truncated, or a compression whose
        decoder is not installed).
    """
    if not has_pixel_data(ds):
        raise file_error(NoPixelData, path, "DICOM file has no pixel data")
    with library_errors(path, "cannot decode DICOM pixel data"):
        check_declared_size(ds, path)
        return np.asarray(ds.pixel_array)


def frame_count(ds: pydicom.Dataset) -> int:
    """Return NumberOfFrames (1 when absent or invalid)."""
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _multiframe_dz(ds: pydicom.Dataset, frames: int) -> float:
    """Slice spacing of a multi-frame file from per-frame positions, else from tags."""
    normal = slice_normal(ds)
    positions = [position(ds, i) for i in range(frames)]
    if normal is not None and all(p is not None for p in positions):
        dz = spacing_from_positions(positions, normal)  # type: ignore[arg-type]
        if dz is not None:
            return dz
    return fallback_slice_spacing(ds)


def read_dicom_file(path: Path) -> ImageData:
    """Read one DICOM file; multi-frame files become ``ZYX`` stacks.

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty file (any suffix).

    Returns
    -------
    ImageData
        ``YX``/``YXC`` (single frame) or ``ZYX``/``ZYXC`` (multi-frame);
        values rescaled to float32 when RescaleSlope/Intercept are non-trivial;
        spacing in mm from PixelSpacing (and slice spacing for stacks).

    Raises
    ------
    CorruptFile, NoPixelData, UnsupportedShape
    """
    ds = read_dataset(path)
    raw = decode_pixels(ds, path)
    frames = frame_count(ds)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    axes = ("ZYX" if frames > 1 else "YX") + ("C" if samples > 1 else "")
    if raw.ndim != len(axes):
        raise file_error(UnsupportedShape, path, f"pixel array of shape {raw.shape} does not match its header")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if frames > 1 and per_frame is not None and len(per_frame) == frames:
        array = np.stack([rescale(raw[i], ds, i) for i in range(frames)])
    else:
        array = rescale(raw, ds)
    plane = pixel_spacing(ds)
    spacing = None
    if plane is not None:
        spacing = (_multiframe_dz(ds, frames), *plane) if frames > 1 else plane
    return make_image(
        array, axes, source=path, fmt="dicom", spacing=spacing, unit="mm", original_dtype=raw.dtype
    )
