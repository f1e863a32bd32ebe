"""Images larger than memory: block-wise segmentation with stitched, canonical labels.

:func:`segment_large_iter` segments a TIFF / OME-TIFF / Zarr image block by
block (memory bounded by the block), stitches objects across block borders
(each object is kept by the block holding its centre, duplicates on borders
dropped, numbers canonical), writes OME-Zarr with a pyramid or a tiled
TIFF, and the per-object CSV in chunks. A run that stops keeps its finished
blocks and resumes. Dask is imported only by :mod:`medseg_core.large.dask_run`.

The names below are loaded on first use, so that ``medseg --help`` (which
imports :mod:`medseg_core.large.command`) does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Block": "plan",
    "BlockPlan": "plan",
    "plan_blocks": "plan",
    "DEFAULT_BLOCK": "plan",
    "DEFAULT_HALO": "plan",
    "LargeResult": "run",
    "default_work_folder": "run",
    "segment_large_iter": "run",
    "LargeImage": "source",
    "from_array": "source",
    "open_large": "source",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
