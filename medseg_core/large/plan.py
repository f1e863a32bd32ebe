"""The block plan of a large image: cores that tile it, each read with a halo around it.

Every pixel belongs to the *core* of exactly one block. A block is segmented
on its core plus a halo on every side (cut at the image border), so an
object whose centre lies in the core is seen whole as long as the halo is
wider than the object.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

#: Block sides and halos are multiples of this, so that a model's resampling
#: (``input_scale`` 0.5) sees every block on the same pixel grid.
ALIGN = 16
#: Default core side and halo, in pixels.
DEFAULT_BLOCK, DEFAULT_HALO = 2048, 128


@dataclass(frozen=True)
class Block:
    """One block of a :func:`plan_blocks` plan.

    Attributes
    ----------
    index : int
        Position in raster order (row by row).
    row, col : int
        Position in the grid of blocks.
    core : tuple of int
        ``(y0, y1, x0, x1)``: the pixels this block decides.
    padded : tuple of int
        ``(y0, y1, x0, x1)``: the core and its halo, cut at the image border.
    """

    index: int
    row: int
    col: int
    core: tuple[int, int, int, int]
    padded: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        """``"block 3 (row 0, column 3)"`` for messages."""
        return f"block {self.index} (row {self.row}, column {self.col})"


@dataclass(frozen=True)
class BlockPlan:
    """All blocks of an image.

    Attributes
    ----------
    height, width : int
        Image size.
    block, halo : int
        Core side and halo width, in pixels.
    rows, cols : int
        Grid size.
    blocks : tuple of Block
        In raster order.
    """

    height: int
    width: int
    block: int
    halo: int
    rows: int
    cols: int
    blocks: tuple[Block, ...]

    def neighbours(self, block: Block) -> list[Block]:
        """The blocks whose padded area reaches into ``block``'s core, ``block`` included."""
        out = []
        for r in range(max(0, block.row - 1), min(self.rows, block.row + 2)):
            for c in range(max(0, block.col - 1), min(self.cols, block.col + 2)):
                out.append(self.blocks[r * self.cols + c])
        return out


def plan_blocks(height: int, width: int, block: int = DEFAULT_BLOCK, halo: int = DEFAULT_HALO) -> BlockPlan:
    """Cut an image into blocks.

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    block : int
        Side of a core, a multiple of :data:`ALIGN`.
    halo : int
        Pixels added on each side of a core; must exceed the largest object's
        diameter (objects wider than the halo may be cut, and are reported).

    Returns
    -------
    BlockPlan

    Raises
    ------
    InputError
        A block side or halo that is not a positive multiple of :data:`ALIGN`
        (the halo may be 0), or a halo larger than the block.
    """
    if block < ALIGN or block % ALIGN:
        raise InputError(f"the block side must be a positive multiple of {ALIGN} pixels, got {block}")
    if halo < 0 or halo % ALIGN:
        raise InputError(f"the halo must be a multiple of {ALIGN} pixels, got {halo}")
    if halo > block:
        raise InputError(f"the halo ({halo} px) cannot be wider than a block ({block} px)")
    if height < 1 or width < 1:
        raise InputError(f"cannot plan blocks for an image of {width} x {height} pixels")
    rows, cols = -(-height // block), -(-width // block)
    blocks = []
    for r in range(rows):
        for c in range(cols):
            y0, x0 = r * block, c * block
            y1, x1 = min(height, y0 + block), min(width, x0 + block)
            padded = (max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            blocks.append(Block(len(blocks), r, c, (y0, y1, x0, x1), padded))
    return BlockPlan(height, width, block, halo, rows, cols, tuple(blocks))
