"""Lazy access to images larger than memory: tiled TIFF / OME-TIFF and (OME-)Zarr.

A :class:`LargeImage` reads any rectangle of a 2-D image (grayscale or with
channels) without decoding the rest: TIFF files through tifffile's zarr
store (:meth:`tifffile.TiffPage.aszarr`), Zarr arrays and OME-Zarr
multiscale groups through :mod:`zarr`. Nothing here holds more than the
rectangle asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.errors import CorruptFile, FileNotFound, UnsupportedFormat, UnsupportedShape, file_error, library_errors

#: File name endings opened by :func:`open_large`.
LARGE_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".zarr", ".ome.zarr")


@dataclass
class LargeImage:
    """A 2-D image read rectangle by rectangle.

    Attributes
    ----------
    levels : list
        Array-likes (zarr arrays, or a NumPy array), full resolution first,
        each ``(H, W)`` or ``(H, W, C)`` after ``channel_first`` is undone.
    channel_first : bool
        The stored arrays are ``(C, H, W)``; :meth:`read` returns ``(h, w, C)``.
    path : Path or None
        The file, or None for an in-memory array.
    spacing : tuple of float or None
        ``(dy, dx)`` in ``unit`` when the file says.
    unit : str
        Unit of ``spacing``.
    """

    levels: list[Any]
    channel_first: bool = False
    path: Path | None = None
    spacing: tuple[float, float] | None = None
    unit: str = "um"
    _handle: Any = field(default=None, repr=False)

    def level_shape(self, level: int = 0) -> tuple[int, int]:
        """``(height, width)`` of a pyramid level."""
        shape = self.levels[level].shape
        return (int(shape[-2]), int(shape[-1])) if self.channel_first else (int(shape[0]), int(shape[1]))

    @property
    def height(self) -> int:
        """Rows of the full-resolution image."""
        return self.level_shape()[0]

    @property
    def width(self) -> int:
        """Columns of the full-resolution image."""
        return self.level_shape()[1]

    @property
    def channels(self) -> int | None:
        """Channels, or None for a grayscale image."""
        shape = self.levels[0].shape
        if len(shape) == 2:
            return None
        return int(shape[0] if self.channel_first else shape[-1])

    @property
    def axes(self) -> str:
        """``"YX"`` or ``"YXC"`` (the layout :meth:`read` returns)."""
        return "YX" if self.channels is None else "YXC"

    @property
    def dtype(self) -> np.dtype:
        """Pixel type."""
        return np.dtype(self.levels[0].dtype)

    @property
    def name(self) -> str:
        """File name for messages, or ``"array"``."""
        return self.path.name if self.path is not None else "array"

    def read(self, y0: int, y1: int, x0: int, x1: int, level: int = 0) -> np.ndarray:
        """Pixels of rows ``y0:y1`` and columns ``x0:x1`` as a NumPy array.

        Raises
        ------
        CorruptFile
            A tile of the rectangle cannot be decoded (the message names the rectangle).
        """
        array = self.levels[level]
        where = f"rows {y0}-{y1}, columns {x0}-{x1}"
        with library_errors(self.path or "array", f"damaged tile in {where}"):
            if self.channel_first:
                data = np.moveaxis(np.asarray(array[:, y0:y1, x0:x1]), 0, -1)
            else:
                data = np.asarray(array[y0:y1, x0:x1])
        return data

    def close(self) -> None:
        """Release the open file, if any."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def from_array(array: np.ndarray, spacing: tuple[float, float] | None = None) -> LargeImage:
    """Wrap an in-memory ``(H, W)`` or ``(H, W, C)`` array (tests, the app's small layers)."""
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] > 8):
        raise InputError(f"the block runner segments 2-D images (YX or YXC), got shape {array.shape}")
    return LargeImage([array], spacing=spacing)


def open_large(path: str | os.PathLike) -> LargeImage:
    """Open a TIFF / OME-TIFF file or a (OME-)Zarr store without reading its pixels.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (tiled or striped; pyramids are used for viewing)
        or a ``.zarr`` folder (an array, or an OME-Zarr multiscale group).

    Returns
    -------
    LargeImage

    Raises
    ------
    MedsegIOError
        Missing, unreadable or not a 2-D image (stacks and time series are
        refused with their shape).
    """
    path = Path(path)
    if not path.exists():
        raise file_error(FileNotFound, path, "no such file or folder")
    name = path.name.lower()
    if name.endswith((".zarr", ".zarr/")) or (path.is_dir() and _is_zarr(path)):
        return _open_zarr(path)
    if name.endswith((".tif", ".tiff")):
        return _open_tiff(path)
    raise file_error(UnsupportedFormat, path, "the block runner reads TIFF, OME-TIFF and Zarr images")


def _is_zarr(path: Path) -> bool:
    return any((path / marker).exists() for marker in ("zarr.json", ".zgroup", ".zarray"))


def _open_tiff(path: Path) -> LargeImage:
    import tifffile  # noqa: PLC0415
    import zarr  # noqa: PLC0415

    from ..io.tiff_spacing import tiff_spacing  # noqa: PLC0415

    with library_errors(path, "not a readable TIFF file"):
        handle = tifffile.TiffFile(path)
        try:
            if not handle.series:
                raise file_error(CorruptFile, path, "TIFF file contains no image")
            series = handle.series[0]
            axes = series.axes.replace("S", "C")
            channel_first = _check_axes(path, axes, series.shape)
            levels = []
            for level in range(len(series.levels)):
                store = series.aszarr(level=level)
                array = zarr.open_array(store, mode="r")
                levels.append(_squeeze(array, axes))
            found = tiff_spacing(handle)
        except BaseException:
            handle.close()
            raise
    spacing = (found["Y"], found["X"]) if "Y" in found and "X" in found else None
    return LargeImage(levels, channel_first=channel_first, path=path, spacing=spacing, _handle=handle)


def _check_axes(path: Path, axes: str, shape: tuple[int, ...]) -> bool:
    """Whether channels come first; refuse anything but one 2-D plane (with channels)."""
    extra = [(a, n) for a, n in zip(axes, shape) if a not in "YXC" and n > 1]
    if extra or "Y" not in axes or "X" not in axes:
        raise file_error(
            UnsupportedShape,
            path,
            f"the block runner segments one 2-D plane (with channels), not axes {axes} {tuple(shape)}",
        )
    kept = "".join(a for a, n in zip(axes, shape) if a in "YXC" and (a != "C" or n > 1))
    if kept not in ("YX", "YXC", "CYX"):
        raise file_error(UnsupportedShape, path, f"unsupported axis order {axes}")
    return kept == "CYX"


class _Squeezed:
    """An array-like view that drops singleton axes other than Y, X and C of a zarr array."""

    def __init__(self, array: Any, index: tuple) -> None:
        self.array, self.index = array, index
        kept = [n for n, i in zip(array.shape, index) if isinstance(i, slice)]
        self.shape = tuple(kept)
        self.dtype = array.dtype
        self.ndim = len(kept)

    def __getitem__(self, key: tuple) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        full, it = [], iter(key)
        for i in self.index:
            full.append(next(it, slice(None)) if isinstance(i, slice) else i)
        return self.array[tuple(full)]


def _squeeze(array: Any, axes: str) -> Any:
    index = tuple(slice(None) if (a in "YX" or (a == "C" and n > 1)) else 0 for a, n in zip(axes, array.shape))
    if all(isinstance(i, slice) for i in index):
        return array
    return _Squeezed(array, index)


def _open_zarr(path: Path) -> LargeImage:
    import zarr  # noqa: PLC0415

    with library_errors(path, "not a readable Zarr store"):
        node = zarr.open(str(path), mode="r")
        if isinstance(node, zarr.Array):
            axes = {2: "YX", 3: "YXC" if node.shape[-1] <= 8 else "CYX"}.get(node.ndim, "")
            if not axes:
                raise file_error(UnsupportedShape, path, f"a Zarr array of shape {node.shape} is not a 2-D image")
            return LargeImage([node], channel_first=axes == "CYX", path=path)
        attrs = dict(node.attrs)
        multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if not multiscales:
            raise file_error(UnsupportedFormat, path, "a Zarr group without OME-Zarr 'multiscales' metadata")
        meta = multiscales[0]
        names = [str(a["name"] if isinstance(a, dict) else a).upper() for a in meta.get("axes", [])]
        arrays = [node[d["path"]] for d in meta["datasets"]]
        axes = "".join("C" if n == "C" else n for n in names) or ("YX" if arrays[0].ndim == 2 else "CYX")
        channel_first = _check_axes(path, axes, arrays[0].shape)
        spacing = _ngff_spacing(meta, names)
    return LargeImage([_squeeze(a, axes) for a in arrays], channel_first=channel_first, path=path, spacing=spacing)


def _ngff_spacing(meta: dict, names: list[str]) -> tuple[float, float] | None:
    try:
        scale = next(t["scale"] for t in meta["datasets"][0]["coordinateTransformations"] if t["type"] == "scale")
        return float(scale[names.index("Y")]), float(scale[names.index("X")])
    except (KeyError, StopIteration, ValueError, IndexError, TypeError):
        return None
