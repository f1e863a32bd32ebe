"""napari reader contribution: every image :mod:`medseg_core.io` reads.

TIFF/OME-TIFF, PNG, JPEG, BMP, DICOM files and DICOM series folders, NIfTI.
The pixel spacing becomes the layer ``scale`` (and ``units``), colour images
open as RGB layers, other multi-channel images as one layer per channel.
Label images MedSeg saved (:func:`medseg_core.io.labels.is_medseg_labels`,
e.g. ``cells_labels.tif``) open as Labels layers named for their image
(``"cells labels"``), so yesterday's corrections can be continued.
A file that cannot be read shows a one-line notification and adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error

from medseg_core.errors import MedsegError

from ._layer_state import KEY, checksum, napari_units
from ._layers import labels_name

LayerData = tuple
PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]

_MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".nii.gz")
#: End of the file name the Count panel suggests for saved labels (``<image>_labels.tif``).
LABELS_FILE_SUFFIX = "_labels"


def _paths(path: PathOrPaths) -> list[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_paths` when every path is something MedSeg reads, else None."""
    from medseg_core.io import is_supported

    from ._large import is_large_path

    paths = _paths(path)
    if not paths or not all(is_supported(p) or is_large_path(p) for p in paths):
        return None
    return read_paths


def layer_name(source: str | os.PathLike) -> str:
    """Layer name for a file: its name without the (double) suffix."""
    name = Path(source).name
    for suffix in _MULTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix else name


def image_layer_data(image: Any, name: str | None = None) -> list[LayerData]:
    """napari layer data for a :class:`medseg_core.io.ImageData`.

    Parameters
    ----------
    image : ImageData
        Pixels and metadata from :func:`medseg_core.io.read_image`.
    name : str, optional
        Layer name (default: the file name without suffix).

    Returns
    -------
    list of tuple
        ``[(array, kwargs, "image")]``.
    """
    meta = image.meta
    array = image.array
    spatial_axes = meta.axes.replace("C", "")
    info = {
        "source": str(Path(meta.source).resolve()),
        "axes": meta.axes,
        "spacing": list(meta.spacing) if meta.spacing else None,
        "unit": meta.unit,
        "format": meta.format,
    }
    kwargs: dict[str, Any] = {"name": name or layer_name(meta.source), "metadata": {KEY: info}}
    if meta.spacing:
        kwargs["scale"] = tuple(meta.spacing)
        units = napari_units(meta.unit, len(spatial_axes))
        if units:
            kwargs["units"] = units
    if "C" in meta.axes:
        if array.shape[-1] in (3, 4):
            kwargs["rgb"] = True
        else:
            kwargs["channel_axis"] = array.ndim - 1
            info["axes"] = spatial_axes
    return [(array, kwargs, "image")]


def labels_layer_data(image: Any) -> list[LayerData]:
    """napari layer data for a label image MedSeg saved.

    Parameters
    ----------
    image : ImageData
        The label file as read by :func:`medseg_core.io.read_image`.

    Returns
    -------
    list of tuple
        ``[(array, kwargs, "labels")]``: a layer named ``"<image> labels"``
        (``<image>`` is the file name without ``_labels``), whose metadata
        names that image and records the file as saved, so reopening it
        leaves nothing unsaved.
    """
    meta = image.meta
    stem = layer_name(meta.source)
    image_name = stem[: -len(LABELS_FILE_SUFFIX)] if stem.endswith(LABELS_FILE_SUFFIX) else stem
    value = checksum(image.array)
    info = {
        "image": image_name,
        "spacing": list(meta.spacing) if meta.spacing else None,
        "unit": meta.unit,
        "saved_path": str(Path(meta.source).resolve()),
        "baseline": value,
        "saved": value,
    }
    kwargs: dict[str, Any] = {"name": labels_name(image_name), "metadata": {KEY: info}}
    if meta.spacing:
        kwargs["scale"] = tuple(meta.spacing)
        units = napari_units(meta.unit, image.array.ndim)
        if units:
            kwargs["units"] = units
    return [(image.array, kwargs, "labels")]


def read_paths(path: PathOrPaths) -> list[LayerData]:
    """Read each path into an image layer (a labels layer for labels MedSeg saved); unreadable ones only notify.

    Returns
    -------
    list of tuple
        Layer data, or ``[(None,)]`` (napari's "nothing to add") when no
        file could be read.
    """
    from medseg_core.io import read_image
    from medseg_core.io.labels import is_medseg_labels

    out: list[LayerData] = []
    from ._large import is_label_store, is_large_path, large_labels_layer_data, large_layer_data

    for p in _paths(path):
        try:
            if is_large_path(p):  # lazy multiscale, nothing read yet
                labels = is_medseg_labels(p) or is_label_store(p)
                out.extend(large_labels_layer_data(p, layer_name(p)) if labels else large_layer_data(p, layer_name(p)))
                continue
            image = read_image(p)
            out.extend(labels_layer_data(image) if is_medseg_labels(p) else image_layer_data(image))
        except MedsegError as exc:
            show_error(str(exc))
        except MemoryError:
            show_error(f"Cannot read \"{p}\": not enough memory")
    return out or [(None,)]
