"""Read a folder holding a DICOM series as one ``ZYX`` volume.

Policy for mixed folders: files are grouped by SeriesInstanceUID and the
series with the most image files is read, silently (ties: the smallest UID).
Within that series every slice must have the same size; otherwise the
folder is refused with :class:`UnsupportedShape`. Files that are not DICOM
(no ``DICM`` preamble and no ``.dcm``/``.dicom``/``.ima`` suffix) and DICOM
files without pixel data (reports, DICOMDIR) are ignored. Sub-folders are
not searched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom

from .dicom import (
    check_declared_size,
    decode_pixels,
    fallback_slice_spacing,
    frame_count,
    has_dicom_preamble,
    has_pixel_data,
    pixel_spacing,
    position,
    read_dataset,
    read_dicom_file,
    rescale,
    slice_normal,
    spacing_from_positions,
)
from .errors import MedsegIOError, NoPixelData, UnsupportedFormat, UnsupportedShape, file_error, library_errors
from .image import ImageData, make_image

#: Suffixes taken as DICOM even without a preamble.
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


def _iter_candidates(folder: Path) -> Iterator[Path]:
    """Yield the files directly in ``folder`` that look like DICOM, sorted by name."""
    with library_errors(folder, "cannot list the folder", UnsupportedFormat):
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for entry in entries:
        try:
            if not entry.is_file() or entry.name.upper() == "DICOMDIR":
                continue
        except OSError:
            continue
        if entry.suffix.lower() in DICOM_SUFFIXES or has_dicom_preamble(entry):
            yield entry


def folder_has_dicom(folder: Path) -> bool:
    """Return True if ``folder`` directly contains at least one DICOM-looking file."""
    try:
        return next(_iter_candidates(folder), None) is not None
    except MedsegIOError:
        return False


def _instance_number(ds: pydicom.Dataset) -> int:
    """InstanceNumber, or 0 when missing or invalid."""
    try:
        return int(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _largest_series(folder: Path, files: list[Path]) -> list[tuple[Path, pydicom.Dataset]]:
    """Headers of the files of the series with the most image files."""
    groups: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    readable = 0
    for path in files:
        try:
            ds = read_dataset(path, header_only=True)
        except MedsegIOError:
            continue  # a stray non-DICOM file does not spoil the series
        readable += 1
        if has_pixel_data(ds):
            groups[str(ds.get("SeriesInstanceUID", ""))].append((path, ds))
    if not groups:
        problem = "no DICOM file in the folder has pixel data" if readable else "no readable DICOM file in the folder"
        raise file_error(NoPixelData if readable else UnsupportedFormat, folder, problem)
    uid = min(groups, key=lambda key: (-len(groups[key]), key))
    return groups[uid]


def _sorted_slices(items: list[tuple[Path, pydicom.Dataset]]) -> tuple[list, float]:
    """Sort slices along the slice normal (else by InstanceNumber); return them and dz."""
    first = items[0][1]
    normal = slice_normal(first)
    positions = [position(ds) for _, ds in items]
    if normal is not None and all(p is not None for p in positions):
        keys = [float(np.dot(p, normal)) for p in positions]  # type: ignore[arg-type]
        order = sorted(range(len(items)), key=lambda i: (keys[i], _instance_number(items[i][1])))
        dz = spacing_from_positions(positions, normal)  # type: ignore[arg-type]
    else:
        order = sorted(range(len(items)), key=lambda i: (_instance_number(items[i][1]), items[i][0].name))
        dz = None
    return [items[i] for i in order], (dz if dz is not None else fallback_slice_spacing(first))


def read_dicom_series(folder: Path) -> ImageData:
    """Read the largest DICOM series in ``folder`` as a ``ZYX`` (or ``ZYXC``) volume.

    Slices are sorted by ImagePositionPatient projected on the slice normal
    (from ImageOrientationPatient), falling back to InstanceNumber. Each
    slice's RescaleSlope/Intercept is applied (float32 result when any is
    non-trivial).

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder.

    Returns
    -------
    ImageData
        Format ``"dicom-series"``, unit ``"mm"``, spacing ``(dz, dy, dx)``
        with dz from the slice positions (else SpacingBetweenSlices,
        SliceThickness, or 1.0). A series of one file is read like a single
        DICOM file.

    Raises
    ------
    UnsupportedFormat
        The folder holds no DICOM file.
    NoPixelData
        No DICOM file in it has pixel data.
    UnsupportedShape
        Slices of different sizes, or multi-frame files mixed into a series.
    ImageTooLarge
        The slices together exceed the free memory (checked before decoding).
    CorruptFile
        A slice of the chosen series cannot be decoded.
    """
    files = list(_iter_candidates(folder))
    if not files:
        raise file_error(
            UnsupportedFormat, folder, "folder contains no DICOM files (a folder is read as one DICOM series)"
        )
    items = _largest_series(folder, files)
    if len(items) == 1:
        image = read_dicom_file(items[0][0])
        image.meta.source, image.meta.format = folder, "dicom-series"
        return image
    if any(frame_count(ds) > 1 for _, ds in items):
        raise file_error(UnsupportedShape, folder, "series mixes several multi-frame DICOM files")
    sizes = {(int(ds.get("Rows", 0)), int(ds.get("Columns", 0))) for _, ds in items}
    if len(sizes) > 1:
        raise file_error(UnsupportedShape, folder, f"series has slices of different sizes {sorted(sizes)}")
    check_declared_size(items[0][1], folder, slices=len(items))
    items, dz = _sorted_slices(items)
    slices, dtypes = [], set()
    for path, ds in items:
        raw = decode_pixels(ds, path)
        dtypes.add(str(raw.dtype))
        slices.append(rescale(raw, ds))
    if any(s.dtype == np.float32 for s in slices) and any(s.dtype != np.float32 for s in slices):
        slices = [s.astype(np.float32) for s in slices]
    with library_errors(folder, "slices cannot be stacked", UnsupportedShape):
        volume = np.stack(slices)
    axes = "ZYXC" if volume.ndim == 4 else "ZYX"
    plane = pixel_spacing(items[0][1])
    spacing = (dz, *plane) if plane is not None else None
    original = dtypes.pop() if len(dtypes) == 1 else str(volume.dtype)
    return make_image(
        volume, axes, source=folder, fmt="dicom-series", spacing=spacing, unit="mm", original_dtype=original
    )
