"""napari reader contribution: every image :mod:`medseg_core.io` reads.

TIFF/OME-TIFF, PNG, JPEG, BMP, DICOM files and DICOM series folders, NIfTI.
The pixel spacing becomes the layer ``scale`` (and ``units``), colour images
open as RGB layers, other multi-channel images as one layer per channel.
A file that cannot be read shows a one-line notification and adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error

from medseg_core.errors import MedsegError

from ._layer_state import KEY, napari_units

LayerData = tuple
PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]

_MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".nii.gz")


def _paths(path: PathOrPaths) -> list[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_paths` when every path is something MedSeg reads, else None."""
    from medseg_core.io import is_supported

    paths = _paths(path)
    if not paths or not all(is_supported(p) for p in paths):
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


def read_paths(path: PathOrPaths) -> list[LayerData]:
    """Read each path into an image layer; unreadable ones only notify.

    Returns
    -------
    list of tuple
        Layer data, or ``[(None,)]`` (napari's "nothing to add") when no
        file could be read.
    """
    from medseg_core.io import read_image

    out: list[LayerData] = []
    for p in _paths(path):
        try:
            out.extend(image_layer_data(read_image(p)))
        except MedsegError as exc:
            show_error(str(exc))
        except MemoryError:
            show_error(f"Cannot read \"{p}\": not enough memory")
    return out or [(None,)]
