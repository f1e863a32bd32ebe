"""Images larger than memory: block-wise segmentation with stitched, canonical labels.

``segment_large_iter`` segments a TIFF / OME-TIFF / Zarr image block by
block (memory bounded by the block), stitches objects across block borders
(each object is kept by the block holding its centre, duplicates on borders
dropped, numbers canonical), writes OME-Zarr with a pyramid or a tiled
TIFF, and the per-object CSV in chunks. A run that stops keeps its finished
blocks and resumes. Dask is imported only by :mod:`medseg_core.large.dask_run`.
"""

from .plan import Block, BlockPlan, plan_blocks
from .run import DEFAULT_BLOCK, DEFAULT_HALO, LargeResult, default_work_folder, segment_large_iter
from .source import LargeImage, from_array, open_large

__all__ = [
    "DEFAULT_BLOCK",
    "DEFAULT_HALO",
    "Block",
    "BlockPlan",
    "LargeImage",
    "LargeResult",
    "default_work_folder",
    "from_array",
    "open_large",
    "plan_blocks",
    "segment_large_iter",
]
