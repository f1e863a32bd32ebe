"""Segment one block and keep the objects it owns.

A block is segmented on its padded area (core + halo) exactly as a whole
image is (:func:`~medseg_core.segment.predict_plane` and the same
post-processing), normalised with the whole image's levels. It then keeps the objects whose centroid
lies in its core, widened by :data:`OWNER_MARGIN` pixels: the centroid of
one object seen by two neighbouring blocks differs by a fraction of a pixel,
so an object on a core border is kept by both and never by neither; the
stitcher (:mod:`medseg_core.large.stitch`) removes the duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..model import SegmentationModel
from ..normalize import select_channel
from ..progress import drain
from ..segment import labels_from_probabilities, predict_plane
from .plan import Block

#: Pixels by which a core is widened when deciding which objects a block keeps.
OWNER_MARGIN = 2.0


@dataclass
class BlockObjects:
    """The objects a block keeps, in its padded area.

    Attributes
    ----------
    labels : ndarray
        uint32, the padded area's shape; kept objects numbered ``1..n``
        in raster order of their first pixel, everything else 0.
    first : ndarray
        ``(n, 2)`` int64 image coordinates of each object's first pixel in
        raster order (the key of the canonical numbering).
    centroid : ndarray
        ``(n, 2)`` float64 image coordinates.
    bbox : ndarray
        ``(n, 4)`` int64 ``(y0, x0, y1, x1)`` in image coordinates.
    area : ndarray
        ``(n,)`` pixels.
    cut : int
        Kept objects touching the halo's outer edge (inside the image):
        objects wider than the halo, possibly cut.
    """

    labels: np.ndarray
    first: np.ndarray
    centroid: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    cut: int

    def save(self, path) -> None:
        """Write to an ``.npz`` file (compressed)."""
        np.savez_compressed(
            path, labels=self.labels, first=self.first, centroid=self.centroid, bbox=self.bbox,
            area=self.area, cut=np.int64(self.cut),
        )

    @classmethod
    def load(cls, path, labels: bool = True) -> BlockObjects:
        """Read what :meth:`save` wrote; ``labels=False`` skips the pixels (metadata only)."""
        with np.load(path) as data:
            return cls(
                labels=data["labels"] if labels else np.zeros((0, 0), np.uint32),
                first=data["first"], centroid=data["centroid"], bbox=data["bbox"],
                area=data["area"], cut=int(data["cut"]),
            )


def owned_objects(labels: np.ndarray, block: Block, image_shape: tuple[int, int]) -> BlockObjects:
    """Keep the objects of a padded area whose centroid lies in the (widened) core.

    Parameters
    ----------
    labels : ndarray
        Instance labels of ``block.padded``.
    block : Block
        The block.
    image_shape : tuple of int
        ``(height, width)`` of the image (to tell the image border from the halo's edge).

    Returns
    -------
    BlockObjects
    """
    py0, py1, px0, px1 = block.padded
    cy0, cy1, cx0, cx1 = block.core
    labels = np.asarray(labels)
    n = int(labels.max(initial=0))
    if n == 0:
        return _empty(labels.shape)
    area = np.bincount(labels.ravel(), minlength=n + 1).astype(np.float64)
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(labels.ravel(), rows.ravel(), n + 1) / area + py0
        cx = np.bincount(labels.ravel(), cols.ravel(), n + 1) / area + px0
    del rows, cols
    m = OWNER_MARGIN
    keep = (area > 0) & (cy >= cy0 - m) & (cy < cy1 + m) & (cx >= cx0 - m) & (cx < cx1 + m)
    keep[0] = False
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return _empty(labels.shape)
    slices = ndi.find_objects(labels)
    first, bbox = [], []
    for k in kept:
        sy, sx = slices[k - 1]
        top = labels[sy.start, sx] == k
        first.append((sy.start + py0, sx.start + int(np.argmax(top)) + px0))
        bbox.append((sy.start + py0, sx.start + px0, sy.stop + py0, sx.stop + px0))
    first = np.asarray(first, dtype=np.int64)
    order = np.lexsort((first[:, 1], first[:, 0]))
    kept, first, bbox = kept[order], first[order], np.asarray(bbox, dtype=np.int64)[order]
    lut = np.zeros(n + 1, dtype=np.uint32)
    lut[kept] = np.arange(1, kept.size + 1, dtype=np.uint32)
    height, width = image_shape
    inner_edge = (
        (bbox[:, 0] == py0) & (py0 > 0) | (bbox[:, 2] == py1) & (py1 < height)
        | (bbox[:, 1] == px0) & (px0 > 0) | (bbox[:, 3] == px1) & (px1 < width)
    )
    return BlockObjects(
        labels=lut[labels], first=first, centroid=np.stack([cy[kept], cx[kept]], axis=1), bbox=bbox,
        area=area[kept].astype(np.int64), cut=int(inner_edge.sum()),
    )


def _empty(shape: tuple[int, ...]) -> BlockObjects:
    return BlockObjects(
        np.zeros(shape, np.uint32), np.zeros((0, 2), np.int64), np.zeros((0, 2)), np.zeros((0, 4), np.int64),
        np.zeros(0, np.int64), 0,
    )


def segment_block(
    pixels: np.ndarray, axes: str, block: Block, image_shape: tuple[int, int], model: SegmentationModel,
    levels: np.ndarray, options: dict, *, channel: int | None = None, tile: int = 512, overlap: int = 64,
    batch_size: int = 4,
) -> BlockObjects:
    """Segment the padded area of a block and keep the objects it owns.

    Parameters
    ----------
    pixels : ndarray
        The padded area's pixels, ``(h, w)`` or ``(h, w, C)``.
    axes : str
        ``"YX"`` or ``"YXC"``.
    block : Block
        Which block (for ownership).
    image_shape : tuple of int
        ``(height, width)`` of the whole image.
    model : SegmentationModel
        An instance model.
    levels : ndarray
        Whole-image intensity levels (:func:`~medseg_core.large.levels.image_levels`).
    options : dict
        From :func:`~medseg_core.segment.postprocess_options`.
    channel, tile, overlap, batch_size
        As in :func:`~medseg_core.segment.segment_iter`.
    """
    pixels, _ = select_channel(pixels, axes, model.info.in_channels, channel)
    probs = drain(predict_plane(pixels, model, tile, overlap, batch_size, levels=levels))
    labels = labels_from_probabilities(probs, "instance", options)
    del probs
    return owned_objects(labels, block, image_shape)
