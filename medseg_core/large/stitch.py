"""Stitch the blocks' objects into one label image with canonical numbers.

Three steps, all with memory bounded by a few blocks:

1. :func:`find_duplicates`: an object on a core border is kept by each
   block whose widened core holds its centroid; pairs from neighbouring
   blocks with (almost) the same centroid and overlapping boxes are one
   object, and only the copy of the lower-numbered block stays.
2. :func:`canonical_numbers`: the objects left are numbered ``1..N`` in
   raster order of their first pixel. The numbers depend only on the
   objects, never on which worker finished first, so one process, one Dask
   worker and many give identical arrays.
3. :func:`compose_core`: the labels of one core, painted from the block and
   its neighbours; where two objects claim a pixel, the block's own object
   wins, then the lower-numbered block's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .block import OWNER_MARGIN, BlockObjects
from .plan import Block, BlockPlan


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iy = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ix = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iy * ix
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _near_border(centroid: np.ndarray, core: tuple[int, int, int, int]) -> np.ndarray:
    """Objects whose centroid lies outside the core or within the margin of its edge."""
    y0, y1, x0, x1 = core
    m = OWNER_MARGIN
    cy, cx = centroid[:, 0], centroid[:, 1]
    return (cy < y0 + m) | (cy >= y1 - m) | (cx < x0 + m) | (cx >= x1 - m)


def find_duplicates(plan: BlockPlan, meta: dict[int, BlockObjects]) -> dict[int, np.ndarray]:
    """Objects kept twice, by the block that should drop them.

    Parameters
    ----------
    plan : BlockPlan
        The plan.
    meta : dict
        Block index -> its objects (metadata only is enough). Missing blocks
        (failed) have no objects.

    Returns
    -------
    dict
        Block index -> boolean array, True for the objects it drops.
    """
    drop = {i: np.zeros(len(m.first), dtype=bool) for i, m in meta.items()}
    for block in plan.blocks:
        mine = meta.get(block.index)
        if mine is None or len(mine.first) == 0:
            continue
        candidates = np.flatnonzero(_near_border(mine.centroid, block.core))
        if candidates.size == 0:
            continue
        for other in plan.neighbours(block):
            theirs = meta.get(other.index)
            if other.index >= block.index or theirs is None or len(theirs.first) == 0:
                continue
            for k in candidates:
                close = np.hypot(*(theirs.centroid - mine.centroid[k]).T) <= 2 * OWNER_MARGIN
                for j in np.flatnonzero(close & ~drop[other.index]):
                    if _box_iou(mine.bbox[k], theirs.bbox[j]) > 0.5:
                        drop[block.index][k] = True
                        break
    return drop


def canonical_numbers(meta: dict[int, BlockObjects], drop: dict[int, np.ndarray]) -> tuple[dict[int, np.ndarray], int]:
    """Number all kept objects ``1..N`` in raster order of their first pixel.

    Returns
    -------
    luts : dict
        Block index -> uint32 array mapping the block's local labels
        (``0..n``) to final ones (0 for dropped objects).
    total : int
        N, the number of objects.
    """
    keys, owners = [], []
    for index in sorted(meta):
        keep = np.flatnonzero(~drop[index])
        first = meta[index].first[keep]
        keys.append(np.column_stack([first, np.full(len(keep), index), keep]))
        owners.append((index, keep))
    if not keys:
        return {}, 0
    table = np.concatenate(keys) if keys else np.zeros((0, 4), np.int64)
    order = np.lexsort((table[:, 3], table[:, 2], table[:, 1], table[:, 0]))
    final = np.empty(len(table), dtype=np.uint32)
    final[order] = np.arange(1, len(table) + 1, dtype=np.uint32)
    luts, start = {}, 0
    for index, keep in owners:
        lut = np.zeros(len(meta[index].first) + 1, dtype=np.uint32)
        lut[keep + 1] = final[start : start + len(keep)]
        luts[index] = lut
        start += len(keep)
    return luts, len(table)


def compose_core(
    plan: BlockPlan, block: Block, luts: dict[int, np.ndarray], load: Callable[[int], np.ndarray | None]
) -> np.ndarray:
    """Final labels of one block's core.

    Parameters
    ----------
    plan : BlockPlan
        The plan.
    block : Block
        The block whose core is composed.
    luts : dict
        From :func:`canonical_numbers`.
    load : callable
        ``load(index)`` returns a block's padded local labels, or None for a
        failed block.

    Returns
    -------
    ndarray
        uint32 labels of ``block.core``.
    """
    y0, y1, x0, x1 = block.core
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.uint32)
    others = sorted((b for b in plan.neighbours(block) if b.index != block.index), key=lambda b: -b.index)
    for source in [*others, block]:  # painted last wins: the block itself, then lower indices
        lut = luts.get(source.index)
        if lut is None:
            continue
        py0, py1, px0, px1 = source.padded
        ty0, ty1, tx0, tx1 = max(y0, py0), min(y1, py1), max(x0, px0), min(x1, px1)
        if ty0 >= ty1 or tx0 >= tx1:
            continue
        local = load(source.index)
        if local is None:
            continue
        piece = lut[local[ty0 - py0 : ty1 - py0, tx0 - px0 : tx1 - px0]]
        target = out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0]
        np.copyto(target, piece, where=piece > 0)
    return out
