"""Write label images larger than memory: OME-Zarr with a pyramid, or a tiled BigTIFF.

Blocks write their cores into an OME-Zarr level 0 whose chunks never
straddle two cores, so blocks finished by different workers never write the
same chunk. The pyramid levels (each half the size of the one before, by
taking every second pixel, which keeps label values) and the tiled TIFF are
made from level 0 one chunk or one row of tiles at a time.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from ..io.errors import WriteFailed, file_error, library_errors
from ..progress import Progress

#: Level 0 chunk side when it divides the block side (else the block side).
CHUNK = 512
#: The pyramid stops at the first level no larger than this on both sides.
SMALLEST_LEVEL = 1024
#: Tile side of tiled TIFF output.
TIFF_TILE = 512


def chunk_side(block: int) -> int:
    """Level 0 chunk side for cores of ``block`` pixels."""
    return CHUNK if block % CHUNK == 0 else block


def pyramid_shapes(height: int, width: int) -> list[tuple[int, int]]:
    """Shapes of the levels: full size, then halved until both sides are at most :data:`SMALLEST_LEVEL`."""
    shapes = [(height, width)]
    while max(shapes[-1]) > SMALLEST_LEVEL:
        h, w = shapes[-1]
        shapes.append((-(-h // 2), -(-w // 2)))
    return shapes


def check_disk_space(folder: str | os.PathLike, height: int, width: int, itemsize: int = 4, copies: int = 2) -> None:
    """Refuse a run whose labels could not fit on the output disk, before any work.

    The bound is the uncompressed labels (``itemsize`` bytes a pixel) times
    ``copies`` (the Zarr store and the final file; compression usually makes
    it far smaller, but a dense image of small objects compresses little).

    Raises
    ------
    WriteFailed
        ``folder``'s disk has less free space than that.
    """
    need = height * width * itemsize * copies
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free:
        raise file_error(
            WriteFailed,
            folder,
            f"labels of {width:,} x {height:,} pixels may need {need / 1e9:,.1f} GB but the disk has only "
            f"{free / 1e9:,.1f} GB free",
            action="write",
        )


def create_ome_zarr(path: str | os.PathLike, height: int, width: int, block: int, dtype: np.dtype, spacing=None):
    """Create (or reopen) an OME-Zarr (NGFF 0.4) label group; return its level 0 array.

    Reopening keeps what earlier blocks wrote (a resumed run).
    """
    import zarr  # noqa: PLC0415

    path = Path(path)
    shapes = pyramid_shapes(height, width)
    c = chunk_side(block)
    with library_errors(path, "cannot create the Zarr store", WriteFailed, action="write"):
        group = zarr.open_group(str(path), mode="a", zarr_format=2)
        for level, shape in enumerate(shapes):
            name = str(level)
            side = c if level == 0 else min(CHUNK, c)
            if name in group and tuple(group[name].shape) == shape and group[name].dtype == dtype:
                continue
            group.create_array(
                name, shape=shape, chunks=(side, side), dtype=dtype, fill_value=0, overwrite=True,
                compressors=_compressor(),
            )
        dy, dx = spacing if spacing else (1.0, 1.0)
        group.attrs["multiscales"] = [
            {
                "version": "0.4",
                "name": path.name,
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "datasets": [
                    {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": [dy * 2**i, dx * 2**i]}]}
                    for i in range(len(shapes))
                ],
            }
        ]
        group.attrs["image-label"] = {"version": "0.4", "source": {"image": "../../"}}
    return group["0"]


def _compressor():
    from numcodecs import Zstd  # noqa: PLC0415

    return Zstd(level=3)


def build_pyramid(path: str | os.PathLike) -> Generator[Progress, None, None]:
    """Fill levels 1.. of an OME-Zarr label group from level 0, one chunk at a time."""
    import zarr  # noqa: PLC0415

    group = zarr.open_group(str(path), mode="r+")
    names = sorted((k for k in group.array_keys() if k.isdigit()), key=int)
    jobs = []
    for level in names[1:]:
        arr = group[level]
        side = arr.chunks[0]
        jobs += [(int(level), y, x) for y in range(0, arr.shape[0], side) for x in range(0, arr.shape[1], side)]
    for i, (level, y, x) in enumerate(jobs):
        if i % 16 == 0:
            yield Progress("pyramid", i, len(jobs), f"pyramid level {level}")
        target, source = group[str(level)], group[str(level - 1)]
        side = target.chunks[0]
        y1, x1 = min(target.shape[0], y + side), min(target.shape[1], x + side)
        target[y:y1, x:x1] = source[2 * y : 2 * y1 : 2, 2 * x : 2 * x1 : 2]
    yield Progress("pyramid", len(jobs), len(jobs), "pyramid done")


def zarr_to_tiff(
    level0, path: str | os.PathLike, dtype: np.dtype, spacing=None
) -> Generator[Progress, None, None]:
    """Copy a 2-D Zarr array into a tiled, compressed BigTIFF, one row of tiles at a time."""
    import tifffile  # noqa: PLC0415

    from ..atomic import atomic_path  # noqa: PLC0415
    from ..io.labels import LABELS_SOFTWARE  # noqa: PLC0415 (marks MedSeg's label files, see is_medseg_labels)

    height, width = level0.shape
    rows = math.ceil(height / TIFF_TILE)
    progress: list[Progress] = []

    def tiles() -> Iterator[np.ndarray]:
        for r in range(rows):
            y0 = r * TIFF_TILE
            strip = np.asarray(level0[y0 : min(height, y0 + TIFF_TILE)], dtype=dtype)
            for x0 in range(0, width, TIFF_TILE):
                tile = np.zeros((TIFF_TILE, TIFF_TILE), dtype=dtype)
                part = strip[:, x0 : x0 + TIFF_TILE]
                tile[: part.shape[0], : part.shape[1]] = part
                yield tile
            progress.append(Progress("write", r + 1, rows, "writing the labels TIFF"))

    extra = {}
    if spacing:
        extra = {"resolution": (1e4 / spacing[1], 1e4 / spacing[0]), "resolutionunit": "CENTIMETER"}
    path = Path(path)
    with library_errors(path, "writing failed", WriteFailed, action="write"), atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp, tiles(), shape=(height, width), dtype=dtype, tile=(TIFF_TILE, TIFF_TILE), compression="zlib",
            bigtiff=True, software=LABELS_SOFTWARE, **extra,
        )
    yield from progress


class CsvChunks:
    """Append per-object tables to a CSV file block by block; :meth:`commit` moves it into place."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.rows = 0
        with library_errors(self.tmp, "cannot write the objects CSV", WriteFailed, action="write"):
            self._fh = open(self.tmp, "w", encoding="utf-8", newline="")
        self._header = False

    def add(self, text: str) -> None:
        """Add the CSV text of one table (its header line is written once)."""
        if not text:
            return
        header, _, body = text.partition("\n")
        with library_errors(self.tmp, "cannot write the objects CSV", WriteFailed, action="write"):
            if not self._header:
                self._fh.write(header + "\n")
                self._header = True
            self._fh.write(body)
        self.rows += body.count("\n")

    def commit(self, header: str) -> None:
        """Close and rename to the final path (``header`` is written when no table came)."""
        with library_errors(self.path, "cannot write the objects CSV", WriteFailed, action="write"):
            if not self._header:
                self._fh.write(header + "\n")
            self._fh.close()
            os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Close and delete the partial file."""
        self._fh.close()
        self.tmp.unlink(missing_ok=True)
